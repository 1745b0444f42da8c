"""The tiny search run a second time, from scratch, in a fresh directory: a second
snakemake started on that directory while the run is going is refused, the run finishes
anyway, and its result is exactly that of the first run (the session's finished tiny run).

"From scratch" is the whole workflow, the simulated genome and the data stages included.
What may differ between the two runs, and why, is :data:`workflow_helpers.VOLATILE`
(wall times, cache hits) plus the report page (it shows wall times and dates) and the
save time and Python object ids Keras writes into a ``.keras`` file; everything else,
the trained weights included, must be equal to the last bit.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from workflow_helpers import (
    compare_results,
    finished_tiny_run,
    kill_run,
    load_case,
    snakemake_command,
    write_config,
)

pytestmark = pytest.mark.workflow

RUN = "results/tiny/tiny"
STEPS = 2
LOCK_MESSAGE = "Directory cannot be locked"


class TwoRuns(NamedTuple):
    workdir: Path
    first_status: int
    first_log: str
    second: subprocess.CompletedProcess
    first_running_after_second: bool
    locks_after_second: bool


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return finished_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def two_runs(finished, tmp_path_factory) -> TwoRuns:
    """Start the tiny run in a fresh directory; once it holds Snakemake's locks and runs
    jobs, run the same command there a second time; then let the first finish. The first
    is SIGKILLed (by its process group) if anything goes wrong."""
    workdir = tmp_path_factory.mktemp("second_run")
    write_config(workdir, load_case("tiny"))
    cmd, env = snakemake_command(workdir, "--cores", "2")
    log_path = workdir.parent / f"{workdir.name}.log"
    with open(log_path, "w") as log:
        first = subprocess.Popen(
            cmd, cwd=workdir, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        locks = workdir / ".snakemake" / "locks"
        deadline = time.monotonic() + 300
        while not (locks.is_dir() and any(locks.iterdir()) and (workdir / "logs").is_dir()):
            assert first.poll() is None, "the first run ended before the second could start"
            assert time.monotonic() < deadline, "the first run never took its locks"
            time.sleep(0.1)
        second = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=300)
        running = first.poll() is None
        kept = locks.is_dir() and any(locks.iterdir())
        first.wait(timeout=900)
    except BaseException:
        kill_run(first, workdir)
        raise
    return TwoRuns(workdir, first.returncode, log_path.read_text(), second, running, kept)


def test_a_second_snakemake_on_a_running_directory_is_refused(two_runs):
    second = two_runs.second
    assert second.returncode != 0, "the second snakemake ran beside the first"
    assert LOCK_MESSAGE in second.stderr + second.stdout, second.stderr[-3000:]
    assert two_runs.first_running_after_second, "the first run had ended: nothing was tested"
    # The refused run left the first run's locks alone (bionas.pipeline.locks saw it alive), and
    # the first finished and released them.
    assert two_runs.locks_after_second
    assert two_runs.first_status == 0, two_runs.first_log[-4000:]
    assert not any((two_runs.workdir / ".snakemake" / "locks").glob("*"))


def test_a_rerun_from_scratch_gives_exactly_the_same_result(two_runs, finished):
    """Same config, same seed: the same proposals at every step, byte-identical
    history.tsv (rewards to the last printed digit), the same final architecture,
    and every other output equal as the module docstring says."""
    assert two_runs.first_status == 0, two_runs.first_log[-4000:]
    again = two_runs.workdir
    for step in range(1, STEPS + 1):
        for name in ("proposals.json", "history.tsv"):
            rel = f"{RUN}/search/step_{step:03d}/{name}"
            assert (again / rel).read_bytes() == (finished / rel).read_bytes(), rel
        rel = f"{RUN}/controller/step_{step:03d}/state.json"
        assert (again / rel).read_bytes() == (finished / rel).read_bytes(), rel
    for rel in ("final/architecture.json", "final/summary.json", "final/test_metrics.tsv"):
        assert (again / RUN / rel).read_bytes() == (finished / RUN / rel).read_bytes(), rel
    assert compare_results(again, finished) == []
