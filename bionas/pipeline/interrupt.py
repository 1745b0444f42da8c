"""SIGINT and SIGTERM to a Snakemake run of the workflow: one line and 130 or 143.

Snakemake stops on either signal: SIGINT (Ctrl-C) cancels the running jobs,
SIGTERM lets them finish and starts no more. Either way it then ends with its
generic failure (exit 1, "At least one job did not complete successfully"),
which a caller cannot tell from a failed job. The workflow's hooks
(``workflow/rules/hooks.smk``) call :func:`watch` when the run starts, which
records which signal arrived and passes it on to Snakemake's own handler, and
:func:`exit_if_interrupted` when the run fails, which ends the process with one
line on stderr and the signal's status (130, 143) instead. Snakemake has
removed the outputs of the jobs it stopped by then; bionas writes every output
under a temporary name, so none is left half-written, and the same command
resumes the run.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_arrived: list[int] = []  # the signals that arrived since watch(), in order


def watch() -> bool:
    """Record SIGINT and SIGTERM from now on, each handed on to the handler before.

    Returns False (and changes nothing) off the main thread, where Python cannot
    set handlers.
    """
    try:
        for signum in SIGNALS:
            signal.signal(signum, _recorder(signum, signal.getsignal(signum)))
    except ValueError:
        return False
    return True


def _recorder(signum: int, previous) -> Callable:
    def handler(received, frame):
        _arrived.append(received)
        if callable(previous):
            return previous(received, frame)
        if previous == signal.SIG_DFL:  # what the signal would have done: end the process
            signal.signal(received, signal.SIG_DFL)
            signal.raise_signal(received)
        return None  # ignored before: ignored still

    return handler


def interrupted() -> int | None:
    """The first SIGINT or SIGTERM since :func:`watch`, or None."""
    return _arrived[0] if _arrived else None


def exit_if_interrupted(what: str = "snakemake") -> None:
    """After a run that failed: if a signal had arrived, one line on stderr and
    ``SystemExit(128 + signal)``; else nothing (the failure is the run's own)."""
    signum = interrupted()
    if signum is None:
        return
    name = signal.Signals(signum).name
    how = (
        "the running jobs were cancelled"
        if signum == signal.SIGINT
        else "the running jobs were finished, no new one was started"
    )
    print(
        f"bionas: {what} interrupted ({name}): {how}; no output was left half-written, and "
        "the same command resumes the run",
        file=sys.stderr,
        flush=True,
    )
    raise SystemExit(128 + signum)
