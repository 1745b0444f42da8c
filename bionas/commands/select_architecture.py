"""``bionas select-architecture``: the candidates the final model is trained with.

From a finished search (``--history`` with ``--mode best_reward``: the
``--top-k`` distinct architectures with the highest rewards; or ``--state``
with ``--mode controller``: the controller's most likely architecture) or from
an architecture JSON given by the user (``--architecture``, e.g. a previous
run's ``final/architecture.json`` to train a found architecture on new data
without searching). Writes a JSON list of architecture records, best first
(one record for the controller and given modes); ``bionas train-child
--architecture FILE --index I`` trains candidate I.
"""

from __future__ import annotations

import argparse

from bionas.errors import InputError
from bionas.records.architecture import make_architecture, read_architecture, write_architectures
from bionas.records.space import load_space


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
    parser.add_argument(
        "--top-k", type=int, default=1, metavar="K",
        help="with --mode best_reward: how many distinct architectures (default: 1)",
    )
    parser.add_argument("--out", required=True, metavar="candidates.json", help="output")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    needed = {"best_reward": "history", "controller": "state", "given": "architecture"}[args.mode]
    if getattr(args, needed) is None:
        raise InputError(f"--mode {args.mode} needs --{needed}")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.top_k > 1 and args.mode != "best_reward":
        raise InputError(f"--top-k {args.top_k} needs --mode best_reward (--mode {args.mode} "
                         "gives one architecture)")
    if args.mode == "best_reward":
        from bionas.search.final import select_from_history

        candidates = select_from_history(args.history, space, args.top_k)
    elif args.mode == "controller":
        from bionas.search.final import select_from_controller

        candidates = [select_from_controller(args.state, space)]
    else:
        candidates = [tuple(read_architecture(args.architecture, space)["layers"])]
    records = []
    for layers in candidates:
        record = make_architecture(space, layers)
        record["source"] = args.mode
        records.append(record)
        print(" ".join(layers))
    write_architectures(args.out, records)
    return 0
