"""The warm worker: jobs run in a forked process of a worker that has imported TensorFlow.

Each test starts a real worker (``bionas.worker.start``) and runs the job as
the workflow does, ``python -m bionas train-child ...`` with ``$BIONAS_WORKER``
set, then compares with the same command run without a worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_child import child_args, setup_inputs

from bionas import worker

pytestmark = [
    pytest.mark.training,
    pytest.mark.skipif(sys.platform != "linux", reason="the worker is used on Linux only"),
]

#: what may differ between two trainings of the same child
TIMES = {"seconds"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("worker")
    setup_inputs(tmp)
    return tmp


@pytest.fixture(scope="module")
def running(inputs):
    """A worker serving this test process; yields ``(process, socket path)``."""
    proc, path = worker.start(inputs / "worker.log")
    deadline = time.monotonic() + 120
    while "ready" not in (inputs / "worker.log").read_text():
        assert proc.poll() is None, (inputs / "worker.log").read_text()
        assert time.monotonic() < deadline, "the worker did not get ready in 120 s"
        time.sleep(0.2)
    yield proc, path
    worker.stop(proc, path)


def job(argv: list[str], socket_path: str | None, **kwargs) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop(worker.ENV, None)
    if socket_path is not None:
        env[worker.ENV] = socket_path
    return subprocess.Popen(
        [sys.executable, "-m", "bionas", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _out, err = proc.communicate(timeout=300)
    return proc.returncode, err


def record(out_dir: Path) -> dict:
    data = json.loads((out_dir / "train.json").read_text())
    return {k: v for k, v in data.items() if k not in TIMES}


def weights(out_dir: Path) -> list:
    import keras

    model = keras.saving.load_model(out_dir / "model.keras", compile=False)
    return [w.tolist() for w in model.get_weights()]


def trainers_of(worker_pid: int) -> list[int]:
    """Live child processes of the worker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == worker_pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def long_training(inputs: Path, out: Path, worker_pid: int, path: str, delay: float = 1.0):
    """Start a 2000-epoch job through the worker; ``(job, its trainer)`` ``delay`` s after
    the trainer started (one of an earlier job may still be ending: it is not the one)."""
    argv = child_args(inputs, out, "--patience", "0")
    argv[argv.index("--epochs") + 1] = "2000"
    earlier = set(trainers_of(worker_pid))
    started = job(argv, path)
    deadline = time.monotonic() + 60
    while not (trainers := [p for p in trainers_of(worker_pid) if p not in earlier]):
        assert time.monotonic() < deadline, "no trainer started"
        time.sleep(0.01)
    time.sleep(delay)
    return started, trainers


def wait_ended(trainers: list[int], worker_pid: int) -> None:
    """Wait until the processes ``trainers`` have ended (10 s at most)."""
    deadline = time.monotonic() + 10
    while set(trainers) & set(trainers_of(worker_pid)):
        assert time.monotonic() < deadline, "the trainer outlived its job"
        time.sleep(0.05)


def test_a_child_trained_in_the_worker_equals_one_trained_by_its_own_process(inputs, running):
    _proc, path = running
    rc, err = finish(job(child_args(inputs, inputs / "warm", "--threads", "1"), path))
    assert rc == 0, err
    assert "bionas worker: ran in process" in err  # it did run in the worker
    rc, err = finish(job(child_args(inputs, inputs / "cold", "--threads", "1"), None))
    assert rc == 0, err
    assert "bionas worker" not in err
    assert record(inputs / "warm") == record(inputs / "cold")
    assert weights(inputs / "warm") == weights(inputs / "cold")


def test_the_jobs_exit_status_and_messages_come_from_the_worker(inputs, running, tmp_path):
    _proc, path = running
    argv = child_args(inputs, tmp_path / "out")
    argv[argv.index("--train") + 1] = str(tmp_path / "missing.npz")
    rc, err = finish(job(argv, path))
    assert rc == 2
    assert "missing.npz" in err and "bionas worker: ran in process" in err
    assert not (tmp_path / "out" / "train.json").exists()
    # argparse errors too, with relative paths read from the job's directory
    rc, err = finish(job(["train-child", "--epochs", "zero"], path, cwd=tmp_path))
    assert rc == 2 and "--epochs" in err


def test_a_child_that_ends_itself_at_its_jobs_limit_reports_to_its_job(inputs, running, tmp_path):
    """The job guard (bionas.search.guard) ends the trainer; the job still gets its exit
    status and the failed child's record (--fail-fatal: status 1, nothing written)."""
    _proc, path = running
    for extra, status in (((), 0), (("--fail-fatal",), 1)):
        out = tmp_path / f"out{status}"
        rc, err = finish(job(child_args(inputs, out, "--job-memory-mb", "200", *extra), path))
        assert rc == status, err
        assert "child failed: out of memory: the job's memory (200 MB)" in err, err
        assert "ended without an exit status" not in err
        written = json.loads((out / "train.json").read_text()) if status == 0 else None
        assert status == 1 or written["stop_reason"] == "memory"
        assert status == 0 or not (out / "train.json").exists()


def test_without_a_reachable_worker_the_job_runs_itself(inputs, tmp_path):
    stale = str(tmp_path / "gone.sock")
    rc, err = finish(job(child_args(inputs, tmp_path / "out"), stale))
    assert rc == 0, err
    assert "bionas worker" not in err
    assert (tmp_path / "out" / "train.json").exists()


def test_a_killed_job_takes_its_trainer_with_it(inputs, running, tmp_path):
    proc, path = running
    out = tmp_path / "out"
    started, trainers = long_training(inputs, out, proc.pid, path)
    os.killpg(started.pid, signal.SIGKILL)
    started.wait()
    wait_ended(trainers, proc.pid)
    assert not (out / "train.json").exists()
    assert proc.poll() is None  # the worker itself goes on
    rc, err = finish(job(child_args(inputs, out), path))
    assert rc == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["model.keras", "train.json"]


@pytest.mark.parametrize(
    "signum, delay",
    [(signal.SIGTERM, d) for d in (0.0, 0.1, 0.3, 1.0)] + [(signal.SIGINT, d) for d in (0.3, 3.0)],
)
def test_a_signal_to_the_job_reaches_its_trainer(inputs, running, tmp_path, signum, delay):
    """Signalled as its trainer starts, sets up TensorFlow, traces or trains, the job ends
    with a failure status and no result. (A SIGTERM in the trainer's first second was
    once lost in CI: TensorFlow's C++ swallowed the exception its handler raised; see
    ``bionas.errors``.) Before the job knows its trainer, the signal ends the job (-15,
    -2) and the trainer with it; before the trainer's handler is set, it ends the
    trainer (1); after, the command (143 for SIGTERM, 130 for SIGINT). The trainer is a
    process with threads (its watcher, TensorFlow's pools): the signal may reach any."""
    proc, path = running
    started, trainers = long_training(inputs, tmp_path / "out", proc.pid, path, delay)
    started.send_signal(signum)
    rc, err = finish(started)
    status = 143 if signum == signal.SIGTERM else 130
    assert rc in (-signum, 1, status), err
    assert rc != 1 or "ended without an exit status" in err, err  # not a traceback
    assert rc != status or "bionas train-child: interrupted" in err, err
    assert "Traceback" not in err, err
    wait_ended(trainers, proc.pid)
    assert not (tmp_path / "out" / "train.json").exists()


def test_the_worker_ends_with_its_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        proc, path = worker.start(tmp_path / "worker.log", parent=parent.pid)
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        parent.kill()
        parent.wait()
    proc.wait(timeout=120)  # it may first finish its imports
    assert not Path(path).exists()
    assert "ending" in (tmp_path / "worker.log").read_text()


def test_a_new_worker_removes_the_sockets_of_killed_runs(tmp_path):
    import tempfile

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(tempfile.gettempdir()) / f"bionas-{os.getuid()}-{dead.pid}-1.sock"
    stale.touch()
    mine = Path(tempfile.gettempdir()) / f"bionas-{os.getuid()}-{os.getpid()}-1.sock"
    mine.touch()
    proc, path = worker.start(tmp_path / "worker.log")
    try:
        assert not stale.exists()
        assert mine.exists()  # its run is alive
    finally:
        worker.stop(proc, path)
        mine.unlink()
