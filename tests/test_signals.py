"""SIGTERM and SIGINT to a CLI stage: one line, exit 143/130, no partial output;
several outputs of one stage are committed as one set."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bionas.io import atomic_paths


def test_a_set_of_outputs_is_all_or_none(tmp_path):
    paths = [tmp_path / f"{s}.npz" for s in ("train", "val", "test")]
    with pytest.raises(RuntimeError):
        with atomic_paths(paths) as temps:
            temps[0].write_text("train")
            temps[1].write_text("val")
            raise RuntimeError("killed before the last split")
    assert list(tmp_path.iterdir()) == []
    with atomic_paths(paths) as temps:
        for tmp, text in zip(temps, ("a", "b", "c"), strict=True):
            tmp.write_text(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.npz", "train.npz", "val.npz"]
    assert paths[2].read_text() == "c"


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_a_stage_ends_it_cleanly(tmp_path, signum, status):
    """`bionas simulate` of a large genome, signalled while it writes: one line, the
    signal's exit status, and no file (not even a temporary) in its output folder."""
    out = tmp_path / "sim"
    proc = subprocess.Popen(
        [sys.executable, "-m", "bionas", "simulate", "--out-dir", str(out),
         "--chromosomes", "8", "--chrom-length", "6000000", "--sites", "2000"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.iterdir())):  # it has begun writing
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signum)
    err = proc.communicate(timeout=60)[1]
    if proc.returncode == 0:
        pytest.skip("the stage finished before the signal arrived")
    assert proc.returncode == status, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("bionas simulate: interrupted"), err
    assert "Traceback" not in err
    assert [p.name for p in Path(out).iterdir()] == []


def test_a_killed_writer_inside_a_set_leaves_temporaries_a_rerun_removes(tmp_path):
    """A writer that writes atomically into a member of a set leaves, when SIGKILLed, the
    temporary of a temporary; the next writer of the same path removes it."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from bionas.io import atomic_open, atomic_paths\n"
        "with atomic_paths([Path(sys.argv[1])]) as (tmp,):\n"
        "    with atomic_open(tmp, 'w') as handle:\n"
        "        handle.write('partial')\n"
        "        os.kill(os.getpid(), 9)\n"
    )
    target = tmp_path / "genome.fa"
    subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    left = [p.name for p in tmp_path.iterdir()]
    assert left and all(name.startswith(".") for name in left)
    with atomic_paths([target]) as (tmp,):
        tmp.write_text("done")
    assert [p.name for p in tmp_path.iterdir()] == ["genome.fa"]


def _command(monkeypatch, run):
    """Register ``bionas fake --out PATH`` running ``run(args)``, for run_command."""
    from types import SimpleNamespace

    from bionas.commands import registry

    module = SimpleNamespace(
        add_arguments=lambda parser: parser.add_argument("--out", type=Path), run=run
    )
    monkeypatch.setitem(registry.COMMANDS, "fake", ("fake", "a test command"))
    monkeypatch.setattr(registry, "_load", lambda name: module)
    return registry.run_command


def test_a_sigterm_whose_exception_is_swallowed_still_ends_the_command(
    tmp_path, monkeypatch, capsys
):
    """As when TensorFlow's C++ clears the exception raised in Python code it called:
    the command goes on, but nothing is renamed into place and it ends with 143."""
    import os

    from bionas.io import write_json

    signalled = []

    def run(args):
        if not signalled:
            signalled.append(True)
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                while True:
                    time.sleep(0.01)
            except BaseException:  # noqa: BLE001 - what the test is about
                pass
        write_json(args.out, {"done": True})
        return 0

    run_command = _command(monkeypatch, run)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "out.json"
    assert run_command(["fake", "--out", str(out)]) == 143
    assert "interrupted (SIGTERM)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) == before
    assert run_command(["fake", "--out", str(out)]) == 0  # the next command is not affected
    assert out.exists()


def test_inside_terminate_at_checks_sigterm_waits_for_a_check(monkeypatch):
    import os

    from bionas.errors import raise_if_terminated, terminate_at_checks

    reached = []

    def run(args):
        with terminate_at_checks():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler runs here, and only records it
            reached.append("after the signal")
            raise_if_terminated()
            reached.append("after the check")
        return 0

    assert _command(monkeypatch, run)(["fake"]) == 143
    assert reached == ["after the signal"]


@pytest.mark.training
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_tensorflow_trains_ends_the_command_after_the_batch(
    tmp_path, signum, status
):
    """`bionas train-child` (its own process, no worker) signalled in the middle of its
    training: the handler only records the signal inside TensorFlow (an exception raised
    there is lost, hangs or crashes it); the training stops after the current batch and
    the command ends with one line, 130 or 143, and nothing renamed into place."""
    import os

    from helpers_child import child_args, setup_inputs

    setup_inputs(tmp_path)
    out = tmp_path / "out"
    argv = child_args(tmp_path, out, "--patience", "0", "--threads", "1")
    argv[argv.index("--epochs") + 1] = "2000"
    env = {k: v for k, v in os.environ.items() if k != "BIONAS_WORKER"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bionas", *argv], env=env, stderr=subprocess.PIPE, text=True
    )
    lines = []
    for line in proc.stderr:  # wait for the second epoch: the training is under way
        lines.append(line)
        if "epoch 2:" in line:
            break
    assert proc.poll() is None, "".join(lines)
    proc.send_signal(signum)
    err = "".join(lines) + proc.communicate(timeout=120)[1]
    assert proc.returncode == status, err
    assert "Traceback" not in err and "SystemError" not in err, err
    assert err.rstrip().splitlines()[-1].startswith("bionas train-child: interrupted"), err
    assert not out.exists() or [p.name for p in out.iterdir()] == []


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_deferred_holds_in_a_process_with_threads(monkeypatch, signum, status):
    """With another thread running, the kernel gives the signal blocked in the main thread
    to that thread, and Python runs the handler in the main thread inside the block: a
    signal mask alone does not hold it back there. The block still runs to its end."""
    import os
    import threading

    from bionas.errors import signals_deferred

    stop = threading.Event()
    reached = []

    def run(args):
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            with signals_deferred():
                os.kill(os.getpid(), signum)
                time.sleep(0.1)  # a delivered signal's handler runs here
                reached.append("end of the block")
            reached.append("after the block")
        finally:
            stop.set()
            other.join()
        return 0

    assert _command(monkeypatch, run)(["fake"]) == status
    assert reached == ["end of the block"]


def test_a_watched_snakemake_signal_reaches_the_handler_before_and_sets_the_exit(capsys):
    """bionas.pipeline.interrupt, as the workflow's hooks use it: the signal goes on to
    the handler that was there (Snakemake's), and a failed run then ends with one line
    and 128 + the signal."""
    import os

    from bionas.pipeline import interrupt

    seen = []
    before = {s: signal.getsignal(s) for s in interrupt.SIGNALS}
    try:
        signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
        interrupt.exit_if_interrupted()  # no signal: the failure is the run's own
        assert interrupt.watch()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert seen == [signal.SIGTERM]
        with pytest.raises(SystemExit) as ended:
            interrupt.exit_if_interrupted()
        assert ended.value.code == 143
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("bionas: snakemake interrupted (SIGTERM)")
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        interrupt._arrived.clear()
