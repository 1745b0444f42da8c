"""SIGINT and SIGTERM to `snakemake` running the tiny workflow: one line, 130 or 143, no
partial output, and the same command resumes to the result of an uninterrupted run.

Each test copies the session's finished tiny run, deletes its second search step and
everything after it, and starts Snakemake there (as ``--cores 2`` on this machine); once
a child of step 2 trains, it signals Snakemake: SIGINT to its process group, as Ctrl-C
at a terminal does (the jobs get it too), or SIGTERM to its process alone, as ``kill``
or a scheduler does. Then every file under ``results/`` must be complete and equal to
the finished run's (or absent), and the same command must finish the run, to the
finished run's result.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from workflow_helpers import (
    compare_results,
    finished_tiny_run,
    is_temporary,
    kill_run,
    output_problem,
    snakemake_command,
)

pytestmark = pytest.mark.workflow

RUN = "results/tiny/tiny"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return finished_tiny_run(tmp_path_factory)


def _from_step_two(finished: Path, work: Path) -> None:
    """A copy of the finished run without step 2 of its search and what follows it."""
    shutil.copytree(finished, work, symlinks=True)
    shutil.rmtree(work / "results/tiny/cache", ignore_errors=True)  # train, not from the cache
    for rel in ("search/step_002", "controller/step_002", "final", "interpret", "report"):
        shutil.rmtree(work / RUN / rel, ignore_errors=True)
    for name in ("leaderboard.tsv", "progress.json"):
        (work / RUN / "search" / name).unlink(missing_ok=True)
    # the logs of the deleted jobs too: the test waits for a step-2 child's first epoch in
    # its log, which the finished run's log already holds when that child trained there
    for logs in (work / "logs").glob("*/tiny/tiny/step_002"):
        shutil.rmtree(logs)



def _sigint_as_at_a_terminal() -> None:
    """SIGINT's default disposition in the run, as a command typed at a terminal has it: a
    test suite started in the background by a shell without job control (``make test &``)
    passes SIGINT on ignored, and Snakemake would then never see the Ctrl-C this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "signum, status, group",
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
    ids=["SIGINT-to-the-group", "SIGTERM-to-snakemake"],
)
def test_a_signalled_snakemake_ends_with_one_line_and_resumes(
    finished, tmp_path, signum, status, group
):
    """Adds about 1.5 minutes to CI per signal, the rerun to the end included (92 and
    105 s measured on 2 cores)."""
    work = tmp_path / "run"
    _from_step_two(finished, work)
    cmd, env = snakemake_command(work, "--cores", "2")
    proc = subprocess.Popen(
        cmd, cwd=work, env=env, start_new_session=True, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_sigint_as_at_a_terminal,
    )  # fmt: skip
    try:
        child_log = work / "logs/train_child/tiny/tiny/step_002/child_00.log"
        deadline = time.monotonic() + 300
        while not (child_log.exists() and "epoch 1:" in child_log.read_text()):
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no child of step 2 started training"
            time.sleep(0.05)
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        err = proc.communicate(timeout=300)[1]
    except BaseException:
        kill_run(proc, work)
        raise
    assert proc.returncode == status, err[-3000:]
    last = err.rstrip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last.startswith(f"bionas: snakemake interrupted ({name})"), err[-3000:]
    assert "Traceback" not in err, err[-3000:]

    problems = []
    for path in sorted((work / "results").rglob("*")):
        if path.is_dir() or is_temporary(path.name):
            continue
        rel = path.relative_to(work)
        reference = finished / rel
        problem = output_problem(path, reference if reference.exists() else None)
        if problem:
            problems.append(f"{rel}: {problem}")
    assert problems == []
    assert not [p for p in (work / "results").rglob("*") if is_temporary(p.name)]

    again = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert compare_results(work, finished) == []
