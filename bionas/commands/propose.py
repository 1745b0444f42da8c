"""``bionas propose``: controller state -> N architectures as JSON.

Writes a JSON list of ``{"step", "child", "layers", "id"}`` records, child
0..N-1. The proposals depend only on the state and ``--step``, so rerunning a
step gives the same architectures.
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import non_negative_int, positive_int
from bionas.records.architecture import make_architecture, write_architectures
from bionas.records.space import load_space
from bionas.search.strategies import load_controller

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="model-space YAML")
    parser.add_argument("--state", required=True, help="controller state directory")
    parser.add_argument("--n", required=True, type=positive_int, help="number of architectures")
    parser.add_argument("--step", required=True, type=non_negative_int, help="search step")
    parser.add_argument("--out", required=True, help="proposals JSON")


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    controller, state = load_controller(args.state, space)
    if args.step != state.step + 1:
        log.warning(
            "proposing for step %d from a state after %d update(s) (expected step %d)",
            args.step, state.step, state.step + 1,
        )
    archs = controller.propose(state, args.n, args.step)
    records = [make_architecture(space, names, step=args.step, child=k) for k, names in enumerate(archs)]
    write_architectures(args.out, records)
    log.info("step %d: %d proposal(s) (%d distinct) -> %s",
             args.step, len(records), len({r["id"] for r in records}), args.out)
    return 0
