"""``bionas train-child``: train one child architecture on the tensors.

Writes ``OUT_DIR/model.keras`` and then, last, ``OUT_DIR/train.json`` (both
atomically; a failed child has no model). A child that cannot train (too many
parameters, NaN loss, out of memory) is recorded with ``status: failed`` and
exit status 0 so the search goes on; with ``--fail-fatal`` it exits 1 instead
and writes nothing. Bad input files exit 2 and leave nothing behind.

With ``--cache-dir``, a result of the same architecture, tensors (by content)
and settings is copied from the cache instead of training (``cached: true``;
:mod:`bionas.search.child`). The training flags are the fields of
:class:`bionas.records.train_result.TrainSettings`.

The format of ``train.json`` is in :mod:`bionas.records.train_result`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from bionas.commands.argtypes import integer, non_negative_int, number
from bionas.records.architecture import read_architecture
from bionas.records.space import load_space
from bionas.records.tensors import check_pair, load_tensors
from bionas.records.train_result import (
    MODEL_FILE,
    RESULT_FILE,
    RESUME_FILE,
    TrainSettings,
    write_train_result,
)

log = logging.getLogger("bionas.train_child")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--architecture",
        required=True,
        metavar="ARCH.json",
        help="one architecture record {step, child, layers, id}, or a JSON list of them "
        "(a step's proposals.json; pick one with --index)",
    )
    parser.add_argument(
        "--index",
        type=non_negative_int,
        metavar="K",
        help="which record of a list to train (0-based)",
    )
    parser.add_argument("--train", required=True, metavar="train.npz", help="training tensors")
    parser.add_argument("--val", required=True, metavar="val.npz", help="validation tensors")
    parser.add_argument(
        "--out-dir",
        required=True,
        metavar="DIR",
        help=f"writes DIR/{MODEL_FILE} and DIR/{RESULT_FILE}",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="C",
        help="reuse and store results keyed by architecture, tensor contents and settings",
    )
    add_training_arguments(parser)
    parser.add_argument(
        "--keep-resume",
        action="store_true",
        help=f"also write DIR/{RESUME_FILE} (the last epoch's weights and optimizer state), "
        "from which `bionas continue-child` continues (successive halving)",
    )


def add_training_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """A flag per :class:`TrainSettings` field (but ``skip``), and ``--fail-fatal``."""
    for f in dataclasses.fields(TrainSettings):
        if f.name in skip:
            continue
        low = f.metadata.get("minimum")
        kind = (
            integer(low, f.metadata.get("maximum")) if f.type == "int" else number(low, low_open=f.metadata.get("open", False))
        )
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=kind,
            default=f.default,
            help=f"{f.metadata['help']} (default: %(default)s)",
        )
    parser.add_argument(
        "--fail-fatal",
        action="store_true",
        help="a child that cannot train exits 1 instead of writing status: failed",
    )


def finish(args: argparse.Namespace, out_dir: Path, record: dict, command: str = "train-child") -> int:
    """Log the child's result and write its ``train.json`` (last); 1 for a failed child with
    ``--fail-fatal`` (nothing written)."""
    if record["status"] != "ok":
        if args.fail_fatal:
            print(f"bionas {command}: child failed: {record['error']}", file=sys.stderr)
            return 1
        log.warning("child failed: %s", record["error"])
    else:
        log.info(
            "val_loss %.4f, val_auroc %s, %d epochs (best %s), %.1f s%s",
            record["val_loss"],
            record["val_auroc"],
            record["epochs"],
            record["best_epoch"],
            record["seconds"],
            " (cached)" if record["cached"] else "",
        )
    write_train_result(out_dir / RESULT_FILE, record)
    return 0


def run(args: argparse.Namespace) -> int:
    from bionas.search.child import run_child

    settings = TrainSettings(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)}
    )
    train = load_tensors(args.train)
    val = load_tensors(args.val)
    check_pair(train, val)
    space = load_space(args.space, window=train.length)
    arch = read_architecture(args.architecture, space, index=args.index)
    out_dir = Path(args.out_dir)
    record = run_child(
        space, arch, train, val, settings, out_dir, args.cache_dir, keep_resume=args.keep_resume
    )
    return finish(args, out_dir, record)
