"""Stale-lock clean-up after a hard kill."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from bionas.pipeline.locks import clear_stale_locks, register_run, release_run


def _locks(base):
    locks = base / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/x\n")
    return locks


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_dead_run_locks_are_removed(tmp_path):
    locks = _locks(tmp_path)
    register_run(tmp_path, pid=_dead_pid())
    dead = clear_stale_locks(tmp_path)
    assert len(dead) == 1
    assert not locks.exists()
    assert not any((tmp_path / "bionas-runs").iterdir())


def test_live_snakemake_keeps_locks(tmp_path):
    locks = _locks(tmp_path)
    # A live process whose command line names snakemake.
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "snakemake"],
    )
    try:
        register_run(tmp_path, pid=proc.pid)
        register_run(tmp_path, pid=_dead_pid())
        assert clear_stale_locks(tmp_path) == []
        assert locks.exists()
    finally:
        proc.kill()
        proc.wait()


def test_live_unrelated_process_with_reused_pid_counts_as_dead(tmp_path):
    locks = _locks(tmp_path)
    register_run(tmp_path, pid=os.getpid())  # pytest: alive, but not snakemake
    assert clear_stale_locks(tmp_path)
    assert not locks.exists()


def test_unknown_owner_keeps_locks(tmp_path):
    locks = _locks(tmp_path)
    assert clear_stale_locks(tmp_path) == []
    assert locks.exists()


def test_other_host_keeps_locks(tmp_path):
    locks = _locks(tmp_path)
    runs = tmp_path / "bionas-runs"
    runs.mkdir()
    (runs / f"not-{socket.gethostname()}-123").touch()
    register_run(tmp_path, pid=_dead_pid())
    assert clear_stale_locks(tmp_path) == []
    assert locks.exists()


def test_release(tmp_path):
    record = register_run(tmp_path)
    assert record.exists()
    release_run(record)
    assert not record.exists()
    release_run(record)  # twice is fine
