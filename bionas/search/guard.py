"""A child that ends itself before its job's scheduler would kill it.

On a cluster a child job over its time or memory is killed by the scheduler
(SLURM: TIMEOUT, or OUT_OF_MEMORY / "exceeded memory limit"), and nothing of it
is recorded. Snakemake retries the job with more time and memory
(``training.attempts``); on the **last** attempt the workflow gives the child
its job's limits (``--job-seconds``, ``--job-memory-mb``) and :func:`start_guard`
watches them from a thread: when the child is about to cross one, it writes
the child's ``train.json`` as a failed child (stop reason ``time_limit`` or
``memory``, which the search scores with ``search.failure_reward``) and ends
the process with status 0, so the search goes on instead of the whole run
stopping at a job that cannot succeed.

The limits are kept with a margin, because the scheduler counts what the
guard cannot see or reach in time:

* time: the job started before this process (Snakemake's job step, imports)
  and the record must be written before the limit, so the child ends
  ``max(30 s, 10 %)`` before the job's limit, counted from this process's
  start;
* memory: the scheduler adds up the job's processes, among them the
  Snakemake process that runs the child; the guard counts this process's
  resident memory plus that of its ancestors up to the nearest ``snakemake``
  process, against 85 % of the job's memory, every 0.02 s (importing
  TensorFlow alone adds several hundred MB within a second, and SLURM's
  memory enforcement may look every second).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: seconds between two looks at the clock and at the memory
POLL_SECONDS = 0.02
#: share of the job's memory the guard lets the child's processes use
MEMORY_SHARE = 0.85
#: called with the exit status just before the guard ends the process (the warm worker's
#: trainer reports the status to its job there: :mod:`bionas.worker`)
EXIT_HOOKS: list[Callable[[int], None]] = []
#: how the guard ends the process (tests that run commands in their own process replace it)
_exit = os._exit


@dataclass(frozen=True)
class JobLimits:
    """The limits of the job a child runs in (None: not watched)."""

    seconds: float | None = None
    memory_mb: float | None = None

    def __bool__(self) -> bool:
        return self.seconds is not None or self.memory_mb is not None

    @property
    def stop_after(self) -> float | None:
        """Seconds after the process started at which the child ends itself."""
        if self.seconds is None:
            return None
        return max(self.seconds - max(30.0, 0.1 * self.seconds), 1.0)


def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (field 3 is index 0)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def resident_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (from ``/proc``; 0 where unreadable)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * _page_size() / 1e6


def job_ancestors(max_depth: int = 8) -> list[int]:
    """Process ids between this process and the nearest ``snakemake`` ancestor (that one
    included): the other processes of the job, which its scheduler counts too. Empty
    when no ``snakemake`` process is among the first ``max_depth`` ancestors (a child
    run by hand). The warm worker (:mod:`bionas.worker`) is left out: this process is
    its fork, and the pages they share are counted here already."""
    chain: list[int] = []
    pid = os.getpid()
    for _ in range(max_depth):
        try:
            pid = int(_stat_fields(pid)[1])
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError, IndexError):
            return []
        if pid <= 1:
            return []
        if b"bionas.worker" in command:
            continue
        chain.append(pid)
        if b"snakemake" in command:
            return chain
    return []


def process_age() -> float:
    """Seconds since this process started (since the guard's import where ``/proc`` is
    not there)."""
    try:
        ticks = int(_stat_fields("self")[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(uptime - ticks / os.sysconf("SC_CLK_TCK"), 0.0)
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


def breach(limits: JobLimits, ancestors: list[int]) -> tuple[str, str] | None:
    """``(stop_reason, message)`` when the child must end now, else None."""
    stop_after = limits.stop_after
    if stop_after is not None:
        age = process_age()
        if age >= stop_after:
            return "time_limit", (
                f"the job's time limit ({limits.seconds:g} s) was about to be reached on its "
                f"last attempt: the child ended itself after {age:.0f} s"
            )
    if limits.memory_mb is not None:
        own = resident_mb()
        used = own + sum(resident_mb(pid) for pid in ancestors)
        allowed = MEMORY_SHARE * limits.memory_mb
        if used > allowed:
            return "memory", (
                f"out of memory: the job's memory ({limits.memory_mb:g} MB) was about to be "
                f"exceeded on its last attempt: the child used {own:.0f} MB and the job's other "
                f"processes {used - own:.0f} MB (the child ends at {allowed:.0f} MB in all)"
            )
    return None


def start_guard(
    limits: JobLimits, on_breach: Callable[[str, str], int | None]
) -> threading.Event | None:
    """Watch ``limits`` from a daemon thread until the returned event is set; on a breach
    call ``on_breach(stop_reason, message)``, which writes the failed child's record and
    returns the exit status, or None when the child has finished meanwhile (the guard
    then just stops), and end the process with that status (1 if ``on_breach`` raised).

    The process ends with :func:`os._exit`: whatever the main thread was doing
    (importing TensorFlow, training, saving) is abandoned; ``on_breach`` removes its
    temporaries (:func:`remove_own_temps`). The limits are checked once in the caller
    first, so a child that is over them already never starts its work.
    """
    if not limits:
        return None
    ancestors = job_ancestors() if limits.memory_mb is not None else []
    stop = threading.Event()

    def end(reason: str, message: str) -> None:
        status = 1
        try:
            status = on_breach(reason, message)
        finally:
            if status is not None:
                sys.stderr.flush()
                for hook in EXIT_HOOKS:
                    try:
                        hook(status)
                    except Exception:  # noqa: BLE001 - the process ends regardless
                        pass
                _exit(status)

    def watch() -> None:
        while not stop.wait(POLL_SECONDS):
            found = breach(limits, ancestors)
            if found is not None:
                end(*found)
                return

    found = breach(limits, ancestors)  # first here: the child may be done within a poll
    if found is not None:
        end(*found)
        stop.set()
        return stop
    threading.Thread(target=watch, name="bionas-job-guard", daemon=True).start()
    return stop


def remove_own_temps(directory: Path) -> None:
    """Remove the temporaries this process left in ``directory`` (:func:`bionas.io.atomic_path`
    names them ``.NAME.HOST-PID.*``)."""
    pattern = re.compile(rf"\..+-{os.getpid()}\.[a-z0-9_]+(\..*)?")
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                pass


# ---------------------------------------------------------------- the attempt after the last
#
# A job that the cluster ends from outside (scancel, preemption, a node that fails, the
# scheduler's own time or memory kill before the guard could act, the system's out-of-memory
# killer on a workstation) leaves no record: nothing runs in it any more. The workflow
# therefore starts a child's job once more after its last training attempt
# (``training.attempts`` + 1, with little time and memory): that attempt does not train; it
# records the child as failed (stop reason ``killed``) so the search goes on. A last attempt
# that ended with bionas's own error must not be hidden that way: it leaves a note
# (:data:`FAILED_ATTEMPT`) in the child's directory, and the attempt after it repeats the
# error, which stops the run as any failed job does.

#: the note a child's last training attempt leaves when it ends with its own error
FAILED_ATTEMPT = ".failed_attempt.json"


def note_failed_attempt(out_dir: Path, message: str) -> None:
    """Leave the note that the last training attempt ended with bionas's own error."""
    from bionas.io import write_json

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / FAILED_ATTEMPT, {"error": message, "pid": os.getpid()})
    except OSError:
        pass  # the error itself is reported all the same; the attempt after it says so


def clear_failed_attempt(out_dir: Path) -> None:
    """Remove an earlier attempt's note (a new attempt starts, or the note was read)."""
    try:
        (out_dir / FAILED_ATTEMPT).unlink(missing_ok=True)
    except OSError:
        pass


def failed_attempt(out_dir: Path) -> str | None:
    """The error the last training attempt ended with (its note), or None: it was ended from
    outside, or never started bionas."""
    import json

    try:
        note = json.loads((out_dir / FAILED_ATTEMPT).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return "unknown (its note is unreadable)"
    error = note.get("error") if isinstance(note, dict) else None
    return str(error) if error else "unknown (its note is empty)"


def killed_message(attempts: int) -> str:
    """The error of a child every training attempt of which was ended from outside."""
    times = "once" if attempts == 1 else f"{attempts} times"
    return (
        f"its job was started {times} and every attempt was ended from outside before the child "
        "finished (cancelled, preempted, a failed node, the scheduler's time or memory limit, "
        "or the system's out-of-memory killer; the job logs say which)"
    )
