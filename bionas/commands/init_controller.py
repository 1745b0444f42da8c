"""``bionas init-controller``: write the first state of a search controller.

The settings given here are stored in the state and used by every later
``propose`` and ``update-controller``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from bionas.commands.argtypes import boolean, non_negative_int
from bionas.records.space import load_space
from bionas.search.strategies import CONTROLLERS, controller_class, get_controller

log = logging.getLogger(__name__)

def _settings() -> dict[str, list[tuple[str, Any]]]:
    """Setting name -> [(controller, Setting)] over every registered controller."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for name in CONTROLLERS:
        for key, setting in controller_class(name).SETTINGS.items():
            out.setdefault(key, []).append((name, setting))
    return out


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Every controller's settings as optional flags (shared with ``bionas replay``).

    The flags come from each controller's ``SETTINGS``; the chosen controller
    checks the values it is given and refuses a setting it does not have.
    """
    group = parser.add_argument_group("controller settings (stored in the state)")
    for key, owners in _settings().items():
        default = owners[0][1].default
        if isinstance(default, bool):
            kind = boolean
        elif isinstance(default, (int, float)):
            kind = type(default)
        else:
            kind = str
        help_text = "; ".join(f"{name}: {s.help}, {s.expected} (default {s.default})" for name, s in owners)
        group.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind, default=None, help=help_text)


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings flags that were given (the rest take the controller's defaults)."""
    return {key: getattr(args, key) for key in _settings() if getattr(args, key, None) is not None}


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
