"""``bionas select-architecture``: the architecture the final model is trained with.

From a finished search (``--history`` with ``--mode best_reward``, or
``--state`` with ``--mode controller``) or from an architecture JSON given by
the user (``--architecture``, e.g. a previous run's ``final/architecture.json``
to train a found architecture on new data without searching).
"""

from __future__ import annotations

import argparse

from bionas.errors import InputError
from bionas.io import write_json
from bionas.space import load_space, make_architecture, read_architecture


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--mode",
        choices=["best_reward", "controller", "given"],
        default="best_reward",
        help="best_reward: the child with the highest reward in --history; controller: the "
        "most likely architecture of the controller in --state; given: --architecture",
    )
    parser.add_argument("--history", metavar="history.tsv", help="history of the finished search")
    parser.add_argument("--state", metavar="DIR", help="controller state after the last step")
    parser.add_argument("--architecture", metavar="ARCH.json", help="an architecture JSON")
    parser.add_argument("--out", required=True, metavar="architecture.json", help="output")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    needed = {"best_reward": "history", "controller": "state", "given": "architecture"}[args.mode]
    if getattr(args, needed) is None:
        raise InputError(f"--mode {args.mode} needs --{needed}")
    if args.mode == "best_reward":
        from bionas.final import select_from_history

        layers = select_from_history(args.history, space)
    elif args.mode == "controller":
        from bionas.final import select_from_controller

        layers = select_from_controller(args.state, space)
    else:
        layers = read_architecture(args.architecture, space)["layers"]
    record = make_architecture(space, layers)
    record["source"] = args.mode
    write_json(args.out, record)
    print(" ".join(layers))
    return 0
