"""``bionas promote``: which children of a rung continue to the next (successive halving).

Reads the ``metrics.json`` of every member of rung ``R - 1`` of one step
(the step's children for rung 1, the slots of rung ``R - 1`` after that),
ranks them by reward (failed children last, ties by child index) and writes
``promoted.json`` naming the best ``--n`` and the directory each continues
from (:mod:`bionas.search.fidelity`).
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import integer
from bionas.errors import InputError
from bionas.records.metrics import read_metrics
from bionas.records.space import load_space
from bionas.search.fidelity import member_of, promoted_record, rank, write_promoted

log = logging.getLogger("bionas.promote")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--metrics",
        required=True,
        nargs="+",
        metavar="metrics.json",
        help="metrics of every member of the rung before (step_S/child_NN/ or step_S/rung_R/slot_NN/)",
    )
    parser.add_argument("--rung", required=True, type=integer(1, 9), help="the rung promoted to (1-9)")
    parser.add_argument("--n", required=True, type=integer(1, 99), help="how many children continue")
    parser.add_argument(
        "--epochs", required=True, type=integer(1, 10000), help="epochs in all at the new rung"
    )
    parser.add_argument("--out", required=True, metavar="promoted.json", help="output")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    members = []
    for path in args.metrics:
        m = read_metrics(path, space)
        if m["rung"] != args.rung - 1:
            raise InputError(
                f"holds rung-{m['rung']} metrics; --rung {args.rung} promotes from rung {args.rung - 1}",
                path,
                key="rung",
            )
        members.append((member_of(path), m))
    steps = {m["step"] for _, m in members}
    if len(steps) > 1:
        raise InputError(
            f"the metrics files come from different steps ({', '.join(map(str, sorted(steps)))}); "
            "pass the members of one rung of one step",
            args.metrics[0],
        )
    if args.n > len(members):
        raise InputError(
            f"--n {args.n} promotes more children than the {len(members)} metrics file(s) given",
            args.metrics[0],
        )
    ranked = rank(members)
    record = promoted_record(steps.pop(), args.rung, args.epochs, ranked, args.n)
    write_promoted(args.out, record)
    log.info(
        "rung %d: %s continue to %d epochs",
        args.rung,
        ", ".join(f"child {e['child']} (reward {e['reward']:.4g})" for e in record["promoted"]),
        args.epochs,
    )
    return 0
