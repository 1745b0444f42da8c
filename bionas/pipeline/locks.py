"""Stale Snakemake locks after a hard kill.

Snakemake locks its output files in ``.snakemake/locks/`` while it runs and
removes the locks when it ends. A run killed with SIGKILL (or a lost login
session) leaves them behind, and the next run refuses to start until
``snakemake --unlock``. To let the same command simply resume, every run of
this workflow records its host and PID in ``.snakemake/bionas-runs/``; when a
new run starts and every recorded run on this host is dead, and no run of
another host is recorded, the locks are stale and are removed. A run that is
still alive (or unknown ownership: locks but no record) is left alone, so a
second concurrent run is still refused by Snakemake's own lock.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from bionas.io import pid_alive

RUNS = "bionas-runs"


def _record_name(host: str, pid: int) -> str:
    return f"{host}-{pid}"


def clear_stale_locks(snakemake_dir: str | os.PathLike) -> list[str]:
    """Remove locks left by killed runs; return the records of the dead runs found.

    Locks are removed only when at least one dead run of this host is recorded,
    no recorded run is alive, and no run of another host is recorded.
    """
    base = Path(snakemake_dir)
    runs = base / RUNS
    if not runs.is_dir():
        return []
    host = socket.gethostname()
    dead, alive, foreign = [], [], []
    for record in runs.iterdir():
        name, _, pid_text = record.name.rpartition("-")
        if name != host or not pid_text.isdigit():
            foreign.append(record.name)
        elif pid_alive(int(pid_text), command=b"snakemake"):
            alive.append(record.name)
        else:
            dead.append(record.name)
    for name in dead:
        (runs / name).unlink(missing_ok=True)
    locks = base / "locks"
    if dead and not alive and not foreign and locks.is_dir() and any(locks.iterdir()):
        shutil.rmtree(locks, ignore_errors=True)
        return dead
    return []


def register_run(snakemake_dir: str | os.PathLike, pid: int | None = None) -> Path:
    """Record this run (host and PID); returns the record's path."""
    runs = Path(snakemake_dir) / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    record = runs / _record_name(socket.gethostname(), os.getpid() if pid is None else pid)
    record.touch()
    return record


def release_run(record: str | os.PathLike) -> None:
    """Remove this run's record (at the end of a run, success or failure)."""
    Path(record).unlink(missing_ok=True)
