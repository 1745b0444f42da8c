"""``bionas train-child``: train one child architecture on the tensors.

Writes ``OUT_DIR/model.keras`` and then, last, ``OUT_DIR/train.json`` (both
atomically; a failed child has no model). A child that cannot train (too many
parameters, NaN loss, out of memory) is recorded with ``status: failed`` and
exit status 0 so the search goes on; with ``--fail-fatal`` it exits 1 instead
and writes nothing. Bad input files exit 2 and leave nothing behind.

With ``--job-seconds`` / ``--job-memory-mb`` the child watches its job's limits and,
rather than be killed by the scheduler, ends itself as a failed child
(:mod:`bionas.search.guard`). The workflow gives them on every attempt of a child's job
with ``--attempt K --attempts N`` (``training.attempts``): they are watched on the last
attempt (K = N) only, and attempt N + 1 does not train: it records a child whose every
attempt was ended from outside (cancelled, preempted, killed) as failed, stop reason
``killed``, or repeats the error the last attempt ended with.

With ``--cache-dir``, a result of the same architecture, tensors (by content)
and settings is copied from the cache instead of training (``cached: true``;
:mod:`bionas.search.child`). The training flags are the fields of
:class:`bionas.records.train_result.TrainSettings`.

The format of ``train.json`` is in :mod:`bionas.records.train_result`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from bionas.commands.argtypes import integer, non_negative_int, number
from bionas.commands.registry import one_line
from bionas.errors import InputError, raise_if_terminated
from bionas.records.architecture import read_architecture
from bionas.records.space import load_space
from bionas.records.tensors import check_pair, load_tensors
from bionas.records.train_result import (
    MODEL_FILE,
    RESULT_FILE,
    RESUME_FILE,
    ChildResult,
    TrainSettings,
    child_record,
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
    parser.add_argument(
        "--job-seconds",
        type=number(0, low_open=True),
        metavar="S",
        help="the time limit of the job the child runs in (its last attempt): the child ends "
        "itself as failed (stop reason time_limit) max(30 s, 10%%) before it",
    )
    parser.add_argument(
        "--job-memory-mb",
        type=number(0, low_open=True),
        metavar="MB",
        help="the memory of the job the child runs in (its last attempt): the child ends itself "
        "as failed (stop reason memory) before it and its job's Snakemake process use 85%% of it",
    )
    parser.add_argument(
        "--attempt",
        type=integer(1, 100),
        metavar="K",
        help="which start of the child's job this is (the workflow's retries; with --attempts)",
    )
    parser.add_argument(
        "--attempts",
        type=integer(1, 99),
        metavar="N",
        help="the job is started N times to train: --job-seconds and --job-memory-mb are watched "
        "on attempt N only; attempt N + 1 does not train but records a child whose every attempt "
        "was ended from outside as failed (stop reason killed), or repeats the error of attempt N",
    )


class Finisher:
    """Writes a child's ``train.json`` once: from the main thread when the child is done, or
    from the job guard's thread when the child must end first (:mod:`bionas.search.guard`)."""

    def __init__(self, args: argparse.Namespace, out_dir: Path, command: str = "train-child"):
        self.args, self.out_dir, self.command = args, out_dir, command
        self._lock = threading.Lock()
        self._done = False
        if args.attempt is not None and args.attempts is None:
            raise InputError("--attempt needs --attempts (how many attempts train)", key="--attempt")

    @property
    def attempt_number(self) -> int:
        return self.args.attempt or 1

    @property
    def last_attempt(self) -> bool:
        """The limits are watched: the last training attempt, or no attempts given."""
        return self.args.attempts is None or self.attempt_number >= self.args.attempts

    @property
    def after_last_attempt(self) -> bool:
        """The attempt after the last one that trains: it only records (:meth:`record_ended`)."""
        return self.args.attempts is not None and self.attempt_number > self.args.attempts

    def finish(self, record: dict) -> int:
        with self._lock:
            self._done = True
            return finish(self.args, self.out_dir, record, self.command)

    def _failed(self, base: dict, settings: TrainSettings, reason: str, message: str, seconds: float) -> dict:
        result = ChildResult(status="failed", error=message, stop_reason=reason, params=0, seconds=seconds)
        record = child_record(base, result, settings, None)
        record["rung"] = base.get("rung", 0)
        return record

    def record_ended(self, base: dict, settings: TrainSettings) -> int:
        """The attempt after the last: record the child as failed (stop reason ``killed``) when
        its last attempt was ended from outside; repeat the error it ended with otherwise."""
        from bionas.search.child import remove_stale
        from bionas.search.guard import clear_failed_attempt, failed_attempt, killed_message

        attempts = self.args.attempts
        error = failed_attempt(self.out_dir)
        if error is not None:
            raise InputError(
                f"the child's last training attempt ({attempts} of {attempts}) ended with an "
                f"error: {error}",
                self.out_dir,
            )
        log.info("attempt %d: every training attempt of the child was ended from outside", self.attempt_number)
        remove_stale(self.out_dir)
        clear_failed_attempt(self.out_dir)
        return self.finish(self._failed(base, settings, "killed", killed_message(attempts), 0.0))

    @contextlib.contextmanager
    def attempt(self) -> Iterator[None]:
        """One training attempt of the workflow's (``--attempts``): on the last, leave the note
        that it ended with bionas's own error, if it does, for the attempt after it
        (:mod:`bionas.search.guard`); a signal is no such error (ended from outside)."""
        from bionas.search.guard import clear_failed_attempt, note_failed_attempt

        if self.args.attempts is None:
            yield
            return
        log.info("attempt %d of %d", self.attempt_number, self.args.attempts)
        clear_failed_attempt(self.out_dir)
        try:
            yield
        except KeyboardInterrupt:
            raise
        except Exception as err:
            raise_if_terminated()  # a signal that TensorFlow turned into another error
            if self.last_attempt:
                text = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
                note_failed_attempt(self.out_dir, one_line(text))
            raise

    @contextlib.contextmanager
    def guard(self, base: dict, settings: TrainSettings) -> Iterator[None]:
        """Watch the job's limits given by ``--job-seconds`` / ``--job-memory-mb`` while the
        block runs, on the last attempt only; ``base`` holds the record's architecture keys
        (``layers``, ``id``, ``step``, ``child``, and for a continued child ``rung``)."""
        from bionas.search.guard import JobLimits, process_age, remove_own_temps, start_guard

        if not self.last_attempt:
            yield
            return

        def on_breach(reason: str, message: str) -> int | None:
            with self._lock:
                if self._done:
                    return None
                self._done = True
                from bionas.search.child import remove_stale

                remove_own_temps(self.out_dir)
                remove_stale(self.out_dir)
                record = self._failed(base, settings, reason, message, process_age())
                return finish(self.args, self.out_dir, record, self.command)

        stop = start_guard(JobLimits(self.args.job_seconds, self.args.job_memory_mb), on_breach)
        try:
            yield
        finally:
            if stop is not None:
                stop.set()


def finish(args: argparse.Namespace, out_dir: Path, record: dict, command: str = "train-child") -> int:
    """Log the child's result and write its ``train.json`` (last); 1 for a failed child with
    ``--fail-fatal`` (nothing written)."""
    if record["status"] != "ok":
        if args.fail_fatal:
            print(f"bionas {command}: child failed: {record['error']}", file=sys.stderr)
            if args.attempts is not None and (args.attempt or 1) == args.attempts:
                from bionas.search.guard import note_failed_attempt

                note_failed_attempt(out_dir, f"child failed: {record['error']}")
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
    out_dir = Path(args.out_dir)
    finisher = Finisher(args, out_dir)
    if finisher.after_last_attempt:
        arch = read_architecture(args.architecture, load_space(args.space), index=args.index)
        return finisher.record_ended(arch, settings)
    with finisher.attempt():
        train = load_tensors(args.train)
        val = load_tensors(args.val)
        check_pair(train, val)
        space = load_space(args.space, window=train.length)
        arch = read_architecture(args.architecture, space, index=args.index)
        with finisher.guard(arch, settings):
            record = run_child(
                space, arch, train, val, settings, out_dir, args.cache_dir, keep_resume=args.keep_resume
            )
            return finisher.finish(record)
