"""``bionas select-architecture``: the candidates the final model is trained with.

From a finished search (``--history`` with ``--mode best_reward``: the
``--top-k`` distinct architectures with the highest rewards, recomputed at
``--lambda`` when it is given, from each child's recorded val_loss and K, so a
finished search is re-selected for another Lambda without training a child;
or ``--state``
with ``--mode controller``: the controller's most likely architecture) or from
an architecture JSON given by the user (``--architecture``, e.g. a previous
run's ``final/architecture.json`` to train a found architecture on new data
without searching). Writes a JSON list of architecture records, best first
(one record for the controller and given modes); ``bionas train-child
--architecture FILE --index I`` trains candidate I. With a history it also
prints where Lambda 0, 1, 2, 10 (and ``--lambda``) would land: each one's best
child and whether it lies on the Pareto front of (val_loss, K).
"""

from __future__ import annotations

import argparse

from bionas.commands.argtypes import number
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
    parser.add_argument(
        "--lambda", dest="lam", type=number(0, 1000), metavar="L",
        help="with --mode best_reward: rank the children by the reward at this Lambda, "
        "computed from their recorded val_loss (or val_auroc) and K (default: the rewards "
        "recorded by the search)",
    )
    parser.add_argument(
        "--reward", choices=("loss", "auroc"), default="loss",
        help="the reward kind --lambda recomputes (the search's search.reward; default loss)",
    )
    parser.add_argument("--out", required=True, metavar="candidates.json", help="output")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    needed = {"best_reward": "history", "controller": "state", "given": "architecture"}[args.mode]
    if getattr(args, needed) is None:
        raise InputError(f"--mode {args.mode} needs --{needed}")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")
    if args.lam is not None and args.mode != "best_reward":
        raise InputError(f"--lambda needs --mode best_reward (--mode {args.mode} does not rank "
                         "children by reward)")
    if args.top_k > 1 and args.mode != "best_reward":
        raise InputError(f"--top-k {args.top_k} needs --mode best_reward (--mode {args.mode} "
                         "gives one architecture)")
    if args.mode == "best_reward":
        from bionas.search.final import select_from_history

        candidates = select_from_history(args.history, space, args.top_k, args.lam, args.reward)
        _print_landings(args.history, space, args.lam, args.reward)
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


def _print_landings(history_path, space, lam: float | None, kind: str) -> None:
    """One line per Lambda: its best child, its objectives, and whether it is on the front."""
    from bionas.records.history import read_history
    from bionas.search.pareto import SHOWN_LAMBDAS, lambda_landings

    lambdas = sorted({*SHOWN_LAMBDAS, *([] if lam is None else [lam])})
    landings = lambda_landings(read_history(history_path, space), space, lambdas, kind)
    for row in landings.to_dict("records"):
        mark = "  <- --lambda" if lam is not None and row["lambda"] == lam else ""
        print(
            f"# lambda {row['lambda']:g}: step {row['step']} child {row['child']}, val_loss "
            f"{row['val_loss']:.4f}, K {row['knowledge']:.3f}, "
            f"{'on' if row['front'] else 'off'} the Pareto front: {row['layers']}{mark}"
        )
