"""A child on its job's last attempt ends itself, as a failed child, before the scheduler
would kill it (bionas.search.guard; the workflow side is in test_workflow_search.py and,
on a real SLURM cluster, test_slurm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers_child import child_args, setup_inputs

from bionas.pipeline.flags import child_resource
from bionas.search import guard
from bionas.search.guard import JobLimits, breach


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    setup_inputs(tmp_path)
    return tmp_path


def _bionas(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """``bionas ARGV`` in its own process: the guard ends the process it runs in."""
    env = {k: v for k, v in os.environ.items() if k != "BIONAS_WORKER"}
    return subprocess.run(
        [sys.executable, "-m", "bionas", *argv], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def test_limits_end_the_child_with_a_margin(monkeypatch):
    assert not JobLimits() and JobLimits(seconds=60) and JobLimits(memory_mb=500)
    assert JobLimits(seconds=60).stop_after == 30  # at least 30 s before the limit
    assert JobLimits(seconds=3600).stop_after == 3240  # 10 % of a long one
    assert JobLimits(seconds=20).stop_after == 1  # never less than a second
    assert breach(JobLimits(seconds=10_000, memory_mb=100_000), []) is None
    monkeypatch.setattr(guard, "process_age", lambda: 1.5)
    assert breach(JobLimits(seconds=32), []) is None
    reason, message = breach(JobLimits(seconds=31), [])
    assert reason == "time_limit" and "time limit (31 s)" in message and "after 2 s" in message
    # this process (pytest, numpy and more imported) is above 85 % of 10 MB
    reason, message = breach(JobLimits(memory_mb=10), [])
    assert reason == "memory" and message.startswith("out of memory: the job's memory (10 MB)")
    # the job's other processes count (here: this one again)
    own = guard.resident_mb()
    assert breach(JobLimits(memory_mb=own / 0.85 + 5), []) is None
    assert breach(JobLimits(memory_mb=own / 0.85 + 5), [os.getpid()])[0] == "memory"


def test_the_jobs_other_processes_are_found_up_to_its_snakemake_process(tmp_path):
    """A process started (through a shell) by one named like snakemake counts the shell and
    that process; run by hand (pytest's parents hold no snakemake), it counts none."""
    probe = "from bionas.search.guard import job_ancestors; import os; print(job_ancestors(), os.getppid())"
    script = f"import subprocess, sys; subprocess.run(['bash', '-c', '{sys.executable} -c \"{probe}\"; true'])"
    out = subprocess.run(
        ["bash", "-c", f'exec -a snakemake-job {sys.executable} -c "$0"', script],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    chain, parent = out.stdout.split("] ")
    ancestors = [int(p) for p in chain.strip("[").split(",")]
    assert len(ancestors) == 2 and ancestors[0] == int(parent), out.stdout + out.stderr
    assert guard.job_ancestors() == []


def test_training_jobs_get_more_on_a_retry_and_little_on_the_attempt_that_records():
    training = {"mem_mb": 3000, "runtime": 30, "gpus": 1, "attempts": 2}
    assert [child_resource(training, "mem_mb", a) for a in (1, 2, 3)] == [3000, 6000, 1000]
    assert [child_resource(training, "runtime", a) for a in (1, 2, 3)] == [30, 60, 10]
    assert [child_resource(training, "gpus", a) for a in (1, 2, 3)] == [1, 1, 0]
    small = {"mem_mb": 500, "runtime": 2, "gpus": 0, "attempts": 1}
    assert [child_resource(small, "mem_mb", a) for a in (1, 2)] == [500, 500]
    assert [child_resource(small, "runtime", a) for a in (1, 2)] == [2, 2]


def _killed_mid_training(inputs: Path, out: Path, *extra: str) -> None:
    """Start ``bionas train-child`` and SIGKILL it once it trains (its first epoch's line)."""
    argv = child_args(inputs, out, "--epochs", "1000", "--patience", "1000", *extra)
    env = {k: v for k, v in os.environ.items() if k != "BIONAS_WORKER"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bionas", *argv], cwd=inputs, env=env, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "epoch 1" in line.lower():
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert any("epoch 1" in line.lower() for line in seen), "".join(seen)[-3000:]
    assert "attempt 2 of 2" in "".join(seen)


def test_the_attempt_after_the_last_records_a_child_ended_from_outside(inputs):
    """The last training attempt (2 of 2) is killed with SIGKILL while it trains (what a
    cancelled, preempted or OOM-killed job looks like): attempt 3 does not train, it
    records the child as failed with stop reason killed (never cached, no model) and exits
    0, so the search goes on."""
    out = inputs / "child"
    _killed_mid_training(inputs, out, "--attempt", "2", "--attempts", "2")
    assert not (out / "train.json").exists()
    proc = _bionas(*child_args(inputs, out, "--attempt", "3", "--attempts", "2"), cwd=inputs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "failed" and record["stop_reason"] == "killed", record
    assert "started 2 times and every attempt was ended from outside" in record["error"]
    assert record["cache_key"] is None and record["model"] is None
    assert record["layers"] and record["step"] == 1 and record["child"] == 0
    assert "child failed: its job was started 2 times" in proc.stderr
    assert "tensorflow" not in proc.stderr.lower()
    assert sorted(p.name for p in out.iterdir()) == ["train.json"]


def test_the_attempt_after_the_last_repeats_the_error_the_last_ended_with(inputs):
    """A last attempt that ends with bionas's own error (here --fail-fatal and a child over
    its job's memory) is not hidden as a failed child: attempt 3 repeats its error, exit 2,
    nothing written. An earlier attempt's note is forgotten when a new attempt starts."""
    out = inputs / "child"
    args = ("--job-memory-mb", "200", "--fail-fatal", "--attempts", "2")
    proc = _bionas(*child_args(inputs, out, *args, "--attempt", "2"), cwd=inputs)
    assert proc.returncode == 1 and "child failed: out of memory" in proc.stderr, proc.stderr
    assert (out / guard.FAILED_ATTEMPT).is_file() and not (out / "train.json").exists()
    proc = _bionas(*child_args(inputs, out, *args, "--attempt", "3"), cwd=inputs)
    assert proc.returncode == 2, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "last training attempt (2 of 2) ended with an error: child failed: out of memory" in line
    assert not (out / "train.json").exists()
    # a new run of the child's attempts forgets it; attempt 1 of 2 does not watch the limits
    proc = _bionas(*child_args(inputs, out, *args, "--attempt", "1"), cwd=inputs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "train.json").read_text())["status"] == "ok"
    assert not (out / guard.FAILED_ATTEMPT).exists()
    # --attempt alone is refused
    proc = _bionas(*child_args(inputs, inputs / "other", "--attempt", "2"), cwd=inputs)
    assert proc.returncode == 2 and "--attempt needs --attempts" in proc.stderr


def test_a_child_over_its_jobs_memory_is_recorded_as_failed(inputs):
    """TensorFlow alone needs more than 200 MB: the child ends before training, exit 0,
    with a failed record whose error says it was the job's memory; with --fail-fatal it
    exits 1 and writes nothing."""
    out = inputs / "child"
    proc = _bionas(*child_args(inputs, out, "--job-memory-mb", "200"), cwd=inputs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "failed" and record["stop_reason"] == "memory", record
    assert "the job's memory (200 MB)" in record["error"] and record["cache_key"] is None
    assert record["layers"] and record["step"] == 1 and record["child"] == 0
    assert "child failed: out of memory" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["train.json"]  # no model, no temporaries

    fatal = inputs / "fatal"
    proc = _bionas(*child_args(inputs, fatal, "--job-memory-mb", "200", "--fail-fatal"), cwd=inputs)
    assert proc.returncode == 1 and "child failed: out of memory" in proc.stderr, proc.stderr
    assert not fatal.exists() or not list(fatal.iterdir())


def test_a_child_at_its_jobs_time_limit_is_recorded_as_failed(inputs):
    """A 31-second job: the child ends itself 30 s before, i.e. 1 s after it started,
    while training, and records it (TensorFlow's import alone takes longer)."""
    out = inputs / "child"
    argv = child_args(inputs, out, "--epochs", "1000", "--patience", "1000", "--job-seconds", "31")
    proc = _bionas(*argv, cwd=inputs)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "failed" and record["stop_reason"] == "time_limit", record
    assert "the job's time limit (31 s)" in record["error"]
    assert record["seconds"] >= 1
    assert sorted(p.name for p in out.iterdir()) == ["train.json"]


def test_the_guard_ends_the_process_once_and_stops_with_the_command(monkeypatch):
    exits: list[int] = []
    monkeypatch.setattr(guard, "_exit", exits.append)
    assert guard.start_guard(JobLimits(), lambda reason, message: 0) is None  # nothing to watch
    stop = guard.start_guard(JobLimits(memory_mb=1e9), lambda reason, message: 0)
    (watcher,) = [t for t in threading.enumerate() if t.name == "bionas-job-guard"]
    stop.set()  # the command is done: the thread ends, nothing exits
    watcher.join(2)
    assert not watcher.is_alive() and exits == []
    # over the limit already: on_breach runs in the caller, the process ends with its status
    reasons: list[str] = []
    stop = guard.start_guard(JobLimits(memory_mb=1), lambda reason, message: reasons.append(reason) or 3)
    assert exits == [3] and reasons == ["memory"] and stop.is_set()
    # on_breach finds the child finished meanwhile (None): no exit
    guard.start_guard(JobLimits(memory_mb=1), lambda reason, message: None)
    assert exits == [3]
    # from the thread: the limit is crossed while the command runs
    monkeypatch.setattr(guard, "POLL_SECONDS", 0.01)
    ages = iter([0.0] + [100.0] * 100)
    monkeypatch.setattr(guard, "process_age", lambda: next(ages))
    done = threading.Event()
    stop = guard.start_guard(JobLimits(seconds=60), lambda reason, message: done.set() or 0)
    assert done.wait(5) and reasons == ["memory"]
    stop.set()
