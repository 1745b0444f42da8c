"""``bionas propose``: controller state -> N architectures as JSON.

Writes a JSON list of ``{"step", "child", "layers", "id"}`` records, child
0..N-1. The proposals depend only on the state, ``--step`` and ``--pending``
(the proposals.json of earlier steps the state has not learnt from yet, with
``search.in_flight`` > 1), so rerunning a step gives the same architectures.
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import non_negative_int, positive_int
from bionas.records.architecture import make_architecture, read_architectures, write_architectures
from bionas.records.space import load_space
from bionas.search.strategies import load_controller

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="model-space YAML")
    parser.add_argument("--state", required=True, help="controller state directory")
    parser.add_argument("--n", required=True, type=positive_int, help="number of architectures")
    parser.add_argument("--step", required=True, type=non_negative_int, help="search step")
    parser.add_argument(
        "--pending", nargs="+", default=[], metavar="proposals.json",
        help="proposals of earlier steps still in flight (not learnt from by --state); the "
        "strategies that never repeat a child do not propose them again",
    )
    parser.add_argument("--out", required=True, help="proposals JSON")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    controller, state = load_controller(args.state, space)
    pending = [tuple(r["layers"]) for path in args.pending for r in read_architectures(path, space)]
    expected = state.step + 1 + len(args.pending)
    if args.step != expected:
        log.warning(
            "proposing for step %d from a state after %d update(s) and %d step(s) in flight "
            "(expected step %d)", args.step, state.step, len(args.pending), expected,
        )
    archs = controller.propose(state, args.n, args.step, pending)
    records = [make_architecture(space, names, step=args.step, child=k) for k, names in enumerate(archs)]
    write_architectures(args.out, records)
    log.info("step %d: %d proposal(s) (%d distinct) -> %s",
             args.step, len(records), len({r["id"] for r in records}), args.out)
    return 0
