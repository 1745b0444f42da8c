"""``bionas init-controller``: write the first state of a search controller.

The settings given here are stored in the state and used by every later
``propose`` and ``update-controller``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from bionas.records.space import load_space
from bionas.search.strategies import CONTROLLERS, get_controller

log = logging.getLogger(__name__)

#: flag -> (setting name, type, help) of the rl controller
RL_FLAGS = {
    "--learning-rate": ("learning_rate", float, "Adam learning rate (default 0.05)"),
    "--advantage": ("advantage", str, "rank (default): a child's rank among the step's children; baseline: its reward minus a moving baseline"),
    "--elite-fraction": ("elite_fraction", float, "share of all results so far that form the elite (default 0.2)"),
    "--elite-weight": ("elite_weight", float, "advantage of the elite's architectures in every update; 0: no elite (default 0.5)"),
    "--baseline-decay": ("baseline_decay", float, "decay of the moving-average reward baseline (default 0.3)"),
    "--entropy-weight": ("entropy_weight", float, "weight of the entropy bonus (default 0.005)"),
    "--lstm-units": ("lstm_units", int, "LSTM units (default 32)"),
    "--embedding-dim": ("embedding_dim", int, "option embedding size (default 16)"),
    "--algorithm": ("algorithm", str, "policy gradient: reinforce or ppo (default reinforce)"),
    "--ppo-clip": ("ppo_clip", float, "PPO clip range (default 0.2)"),
    "--ppo-epochs": ("ppo_epochs", int, "PPO gradient steps per update (default 4)"),
    "--temperature": ("temperature", float, "softmax temperature of the policy (default 1.0)"),
}


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The rl controller's settings as optional flags (shared with ``bionas replay``)."""
    group = parser.add_argument_group("rl controller settings (stored in the state)")
    choices = {"algorithm": ["reinforce", "ppo"], "advantage": ["rank", "baseline"]}
    for flag, (dest, kind, help_text) in RL_FLAGS.items():
        extra: dict[str, Any] = {"choices": choices[dest]} if dest in choices else {}
        group.add_argument(flag, dest=dest, type=kind, default=None, help=help_text, **extra)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags that were given (the rest take the controller's defaults)."""
    out = {}
    for dest, _, _ in RL_FLAGS.values():
        value = getattr(args, dest, None)
        if value is not None:
            out[dest] = value
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="model-space YAML")
    parser.add_argument("--controller", required=True, choices=list(CONTROLLERS), help="search strategy")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the search (default 0)")
    parser.add_argument("--out", required=True, help="directory for the state (state.json, weights.npz)")
    add_settings_arguments(parser)


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    controller = get_controller(args.controller, space, **settings_from_args(args))
    state = controller.init_state(args.seed)
    controller.save_state(state, args.out)
    log.info(
        "wrote a fresh %s controller state (seed %d, space of %d architectures) to %s",
        args.controller, args.seed, space.size, args.out,
    )
    return 0
