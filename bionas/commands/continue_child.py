"""``bionas continue-child``: continue a promoted child to its next rung (successive halving).

Reads the rung's ``promoted.json`` (``bionas promote``), takes the child of
``--slot``, and continues its training from the directory it was promoted
from (``model.keras``: best epoch, ``resume.keras``: last epoch with the
optimizer's state, ``train.json``) to the rung's epochs in all, never
retraining an epoch it already did (:func:`bionas.search.child.run_continuation`).
Writes ``OUT_DIR/model.keras`` (and ``resume.keras`` with ``--keep-resume``,
for a further rung) and then, last, ``OUT_DIR/train.json`` with ``rung`` set.
The training flags are those of ``bionas train-child`` but ``--epochs``,
which comes from ``promoted.json``; they must be the ones the child was
trained with.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from bionas.commands.argtypes import integer
from bionas.commands.train_child import Finisher, add_training_arguments
from bionas.errors import InputError
from bionas.records.tensors import check_pair, load_tensors
from bionas.records.train_result import (
    MODEL_FILE,
    RESULT_FILE,
    RESUME_FILE,
    TrainSettings,
    read_train_result,
)
from bionas.search.fidelity import read_promoted

log = logging.getLogger("bionas.continue_child")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--promoted", required=True, metavar="promoted.json", help="written by `bionas promote`"
    )
    parser.add_argument("--slot", required=True, type=integer(0, 98), help="which promoted child (0-based)")
    parser.add_argument("--train", required=True, metavar="train.npz", help="training tensors")
    parser.add_argument("--val", required=True, metavar="val.npz", help="validation tensors")
    parser.add_argument(
        "--out-dir",
        required=True,
        metavar="DIR",
        help=f"writes DIR/{MODEL_FILE} and DIR/{RESULT_FILE}",
    )
    parser.add_argument(
        "--keep-resume",
        action="store_true",
        help=f"also write DIR/{RESUME_FILE}, from which a further rung continues",
    )
    add_training_arguments(parser, skip=("epochs",))


def run(args: argparse.Namespace) -> int:
    from bionas.search.child import run_continuation

    promoted = read_promoted(args.promoted)
    if args.slot >= len(promoted["promoted"]):
        raise InputError(
            f"--slot {args.slot}: the rung promotes {len(promoted['promoted'])} child(ren)",
            args.promoted,
            key="promoted",
        )
    entry = promoted["promoted"][args.slot]
    step_dir = Path(args.promoted).parent.parent
    source = step_dir / entry["from"]
    previous = read_train_result(source / RESULT_FILE)
    if (previous["step"], previous["child"]) != (promoted["step"], entry["child"]):
        raise InputError(
            f"holds step {previous['step']} child {previous['child']}, but {args.promoted} promotes "
            f"step {promoted['step']} child {entry['child']} from it; rerun `bionas promote`",
            source / RESULT_FILE,
        )
    if previous.get("rung", 0) != promoted["rung"] - 1:
        raise InputError(
            f"is a rung-{previous.get('rung', 0)} result; rung {promoted['rung']} continues from "
            f"rung {promoted['rung'] - 1}",
            source / RESULT_FILE,
            key="rung",
        )
    fields = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings) if f.name != "epochs"}
    settings = TrainSettings(epochs=promoted["epochs"], **fields)
    earlier = {k: v for k, v in (previous.get("settings") or {}).items() if k != "epochs"}
    changed = sorted(k for k, v in earlier.items() if k in fields and fields[k] != v)
    if changed:
        raise InputError(
            f"the child was trained with other settings ({', '.join(changed)}); continue it with "
            "the flags it was trained with, or retrain the step",
            source / RESULT_FILE,
            key="settings",
        )
    if previous["status"] == "ok" and previous["epochs"] >= settings.epochs:
        log.info("the child already trained %d epochs (the rung's budget is %d)",
                 previous["epochs"], settings.epochs)
    continues = previous["status"] == "ok" and previous.get("stop_reason") == "epochs"
    if continues and previous["epochs"] < settings.epochs and not (source / RESUME_FILE).is_file():
        raise InputError(
            f"has no {RESUME_FILE} to continue from (train the child with --keep-resume)",
            source,
        )
    out_dir = Path(args.out_dir)
    finisher = Finisher(args, out_dir, "continue-child")
    base = {**{k: previous[k] for k in ("layers", "id", "step", "child")}, "rung": promoted["rung"]}
    if finisher.after_last_attempt:
        return finisher.record_ended(base, settings)
    with finisher.attempt():
        train = load_tensors(args.train)
        val = load_tensors(args.val)
        check_pair(train, val)
        with finisher.guard(base, settings):
            record = run_continuation(
                previous, source, promoted["rung"], train, val, settings, out_dir, args.keep_resume
            )
            return finisher.finish(record)
