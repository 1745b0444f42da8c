"""The whole workflow on the tiny scenario: search, final model, resume after SIGKILL,
and re-scoring without retraining when Lambda changes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import SNAKEFILE, finished_tiny_run, load_case, snakemake

pytestmark = pytest.mark.workflow

RUN = "results/tiny/tiny"
STEPS, CHILDREN, REPLICATES = 2, 2, 2


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One uninterrupted run of the tiny config (shared with the report tests)."""
    return finished_tiny_run(tmp_path_factory)


def _history(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / RUN / f"search/step_{STEPS:03d}/history.tsv", sep="\t")


def test_search_and_final_model(finished):
    history = _history(finished)
    assert len(history) == STEPS * CHILDREN
    assert list(history["step"]) == [1, 1, 2, 2]
    assert set(history["status"]) == {"ok"}
    assert np.all(np.isfinite(history["reward"]))
    # The reward is the BioNAS reward with the configured Lambda (1.0).
    expected = -(history["val_loss"] + 1.0 * history["knowledge"])
    assert np.allclose(history["reward"], expected)
    summary = json.loads((finished / RUN / "final/summary.json").read_text())
    chosen = history.loc[history["reward"].idxmax()]
    assert summary["layers"] == [chosen["conv1"], chosen["pool"], chosen["reduce"]]
    assert 0.0 <= summary["test_auroc"] <= 1.0
    metrics = pd.read_csv(finished / RUN / "final/test_metrics.tsv", sep="\t")
    assert len(metrics) == REPLICATES and metrics["chosen"].sum() == 1
    assert (finished / RUN / "final/model.keras").stat().st_size > 0
    for step in range(1, STEPS + 1):
        assert (finished / f"logs/update_controller/tiny/tiny/step_{step:03d}.log").exists()
        assert (finished / f"benchmarks/train_child/tiny/tiny/step_{step:03d}/child_00.tsv").exists()
    # Nothing left to do, and no stale run record.
    again = snakemake(finished, load_case("tiny"), "--cores", "2", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def _mtimes(workdir: Path) -> dict[str, float]:
    return {
        str(p.relative_to(workdir)): p.stat().st_mtime_ns
        for p in workdir.glob(f"{RUN}/search/step_*/child_*/train.json")
    }


def test_resume_after_sigkill_gives_the_same_result(finished, tmp_path):
    """SIGKILL snakemake and its jobs mid-search; the same command finishes the search
    without retraining finished children, and the result equals the uninterrupted run."""
    config = load_case("tiny")
    first = snakemake(tmp_path, config, "--dry-run")  # writes config.yaml
    assert first.returncode == 0, first.stderr
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"), "--cores", "2",
    ]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    target = tmp_path / RUN / "search/step_001/child_00/metrics.json"
    deadline = time.monotonic() + 600
    try:
        while not target.exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never reached the kill point"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / RUN / "final/summary.json").exists()
    before = _mtimes(tmp_path)
    assert before, "no child had finished before the kill"

    resumed = snakemake(tmp_path, config, "--cores", "2")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    after = _mtimes(tmp_path)
    for path, mtime in before.items():
        # A child whose job was cut between writing train.json and Snakemake recording
        # it as complete is rerun, but from the cache: it is never trained twice.
        record = json.loads((tmp_path / path).read_text())
        assert after[path] == mtime or record["cached"], f"{path} was trained again"
    # Equal to the uninterrupted run except for which rows came from the cache.
    pd.testing.assert_frame_equal(
        _history(tmp_path).drop(columns="cached"), _history(finished).drop(columns="cached")
    )
    a = json.loads((tmp_path / RUN / "final/summary.json").read_text())
    b = json.loads((finished / RUN / "final/summary.json").read_text())
    assert a == b


def test_lambda_change_rescores_without_retraining(finished, tmp_path):
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    config = load_case("tiny")
    config["search"]["lambda"] = 5.0
    plan = snakemake(workdir, config, "--dry-run", "--cores", "2")
    assert plan.returncode == 0, plan.stderr
    text = plan.stdout
    counts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    # Every child of step 1 is re-scored, none of them retrained.
    assert counts.get("score_child", 0) >= CHILDREN
    assert "wildcards: dataset=tiny, run=tiny, step=001, child=00" not in text.split(
        "rule train_child"
    )[-1] or counts.get("train_child", 0) <= CHILDREN
    before = _mtimes(workdir)
    run = snakemake(workdir, config, "--cores", "2")
    assert run.returncode == 0, run.stderr[-4000:]
    after = _mtimes(workdir)
    step1 = [p for p in before if "step_001" in p]
    assert all(after[p] == before[p] for p in step1), "step 1 children were retrained"
    history = _history(workdir)
    assert np.allclose(history["reward"], -(history["val_loss"] + 5.0 * history["knowledge"]))
    # Retrained step-2 children (new proposals) either came from the cache or are new ids.
    for child in range(CHILDREN):
        record = json.loads(
            (workdir / RUN / f"search/step_002/child_{child:02d}/train.json").read_text()
        )
        seen_before = record["id"] in set(_history(finished)["id"])
        assert record["cached"] or not seen_before


def test_train_a_found_architecture_without_searching(finished, tmp_path):
    """New data, no search: point final.architecture at an earlier run's choice."""
    config = load_case("tiny")
    config["run"] = "reuse"
    config["final"]["architecture"] = str(finished / RUN / "final/architecture.json")
    proc = snakemake(tmp_path, config, "--cores", "2", "results/tiny/reuse/final/summary.json")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not (tmp_path / "results/tiny/reuse/search").exists()
    assert not (tmp_path / "results/tiny/reuse/controller").exists()
    given = json.loads((finished / RUN / "final/architecture.json").read_text())
    summary = json.loads((tmp_path / "results/tiny/reuse/final/summary.json").read_text())
    assert summary["layers"] == given["layers"]
