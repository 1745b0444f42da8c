"""The whole workflow on the tiny scenario: search, final model, resume after SIGKILLs
at random moments, and re-scoring without retraining when Lambda changes."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import (
    compare_results,
    finished_tiny_run,
    kill_run,
    load_case,
    snakemake,
    snakemake_command,
    write_config,
)

pytestmark = pytest.mark.workflow

RUN = "results/tiny/tiny"
STEPS, CHILDREN, TOP_K, REPLICATES = 2, 2, 2, 2


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
    # The final candidates: the TOP_K distinct architectures with the best rewards.
    layers = history[["conv1", "pool", "reduce"]].apply(list, axis=1)
    best_first = history.assign(layers=layers).sort_values("reward", ascending=False, kind="stable")
    distinct = []
    for arch in best_first["layers"]:
        if arch not in distinct:
            distinct.append(arch)
    candidates = json.loads((finished / RUN / "final/candidates.json").read_text())
    assert [c["layers"] for c in candidates] == distinct[:TOP_K]
    # Every replicate of every candidate is scored like a child; the highest reward is kept.
    scored = []
    for c in range(TOP_K):
        for r in range(REPLICATES):
            m = json.loads((finished / RUN / f"final/candidate_{c}/replicate_{r}/metrics.json").read_text())
            assert m["layers"] == candidates[c]["layers"] and m["status"] == "ok"
            assert np.isclose(m["reward"], -(m["val_loss"] + 1.0 * m["knowledge"]))
            scored.append((m["reward"], c, r, m["layers"]))
    best = max(scored, key=lambda t: t[0])
    summary = json.loads((finished / RUN / "final/summary.json").read_text())
    assert (summary["chosen_candidate"], summary["chosen_replicate"]) == best[1:3]
    assert summary["layers"] == best[3] and summary["reward"] == best[0]
    assert summary["candidates"] == TOP_K and summary["replicates"] == REPLICATES
    kept = json.loads((finished / RUN / "final/architecture.json").read_text())
    assert kept["layers"] == best[3] and kept["id"] == summary["id"]
    assert 0.0 <= summary["test_auroc"] <= 1.0
    metrics = pd.read_csv(finished / RUN / "final/test_metrics.tsv", sep="\t")
    assert len(metrics) == TOP_K * REPLICATES and metrics["chosen"].sum() == 1
    row = metrics[metrics["chosen"]].iloc[0]
    assert (row["candidate"], row["replicate"]) == best[1:3]
    assert (finished / RUN / "final/model.keras").stat().st_size > 0
    for step in range(1, STEPS + 1):
        assert (finished / f"logs/update_controller/tiny/tiny/step_{step:03d}.log").exists()
        assert (finished / f"benchmarks/train_child/tiny/tiny/step_{step:03d}/child_00.tsv").exists()
    # The TensorFlow jobs ran in the run's warm worker, which ended with the run.
    child_logs = list((finished / "logs/train_child/tiny/tiny").rglob("*.log"))
    assert len(child_logs) == STEPS * CHILDREN
    for log in child_logs:
        assert "bionas worker: ran in process" in log.read_text(), log
    served = (finished / "logs/worker.log").read_text()
    assert "jobs served, ending" in served
    assert not Path(served.split(" ready on ")[1].split()[0]).exists()  # socket removed
    # Nothing left to do, and no stale run record.
    again = snakemake(finished, load_case("tiny"), "--cores", "2", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def _mtimes(workdir: Path) -> dict[str, float]:
    """Modification times of every trained child's and final replicate's train.json."""
    return {
        str(p.relative_to(workdir)): p.stat().st_mtime_ns
        for pattern in ("search/step_*/child_*", "final/candidate_*/replicate_*")
        for p in workdir.glob(f"{RUN}/{pattern}/train.json")
    }


def _finished_jobs(workdir: Path) -> int:
    """Jobs Snakemake has finished so far (each writes its benchmark when it ends)."""
    return sum(1 for _ in (workdir / "benchmarks").rglob("*.tsv"))


#: Kill points of the resume test: after how many finished jobs (of the 23 with a
#: benchmark) snakemake and its jobs are killed, drawn with this seed.
KILL_SEED, KILLS = 20261128, 3


def test_a_step_in_flight_proposes_from_the_older_state_told_the_pending(finished, tmp_path, cli):
    """in_flight 2 (the default): step 2 is proposed from the first state, told step 1's
    proposals, so its children need not wait for step 1's slowest child."""
    search = finished / RUN / "search"
    out = tmp_path / "again.json"
    code, _out, err = cli(
        "propose", "--space", load_case("tiny")["search"]["space"],
        "--state", str(finished / RUN / "controller/step_000"), "--n", str(CHILDREN),
        "--step", "2", "--pending", str(search / "step_001/proposals.json"), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out.read_text()) == json.loads((search / "step_002/proposals.json").read_text())
    log = (finished / "logs/propose_architectures/tiny/tiny/step_002.log").read_text()
    assert "expected step" not in log


def test_resume_after_sigkills_at_random_moments_gives_the_same_result(finished, tmp_path):
    """SIGKILL snakemake and all its jobs at seeded random moments of one run, rerunning
    the same command after each kill; the last run finishes without retraining any child
    that had finished, and every output equals the uninterrupted run's (as in
    test_workflow_reruns: wall times and cache hits aside, to the last bit).

    A moment is a seeded number of finished jobs plus a seeded delay of up to 1.5 s, so
    that the kills fall in different stages whatever the speed of the machine."""
    config = load_case("tiny")
    write_config(tmp_path, config)
    cmd, env = snakemake_command(tmp_path, "--cores", "2")
    rng = random.Random(KILL_SEED)
    thresholds = sorted(rng.sample(range(1, 21), KILLS))
    trained: dict[str, float] = {}
    points = []
    for threshold in thresholds:
        delay = rng.uniform(0.0, 1.5)
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while _finished_jobs(tmp_path) < threshold:
                assert proc.poll() is None, f"the run ended before {threshold} jobs had finished"
                assert time.monotonic() < deadline, "the run never reached the kill point"
                time.sleep(0.05)
            time.sleep(delay)
            assert proc.poll() is None, "the run ended before it could be killed"
        finally:
            kill_run(proc, tmp_path)
        points.append(f"after {threshold} jobs + {delay:.1f} s: {_finished_jobs(tmp_path)} done")
        trained.update(_mtimes(tmp_path))
    assert not (tmp_path / RUN / "report/index.html").exists(), points

    resumed = snakemake(tmp_path, config, "--cores", "2")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    after = _mtimes(tmp_path)
    for path, mtime in trained.items():
        # A child whose job was cut between writing train.json and Snakemake recording
        # it as complete is rerun, but from the cache: it is never trained twice.
        record = json.loads((tmp_path / path).read_text())
        assert after[path] == mtime or record["cached"], f"{path} was trained again ({points})"
    assert compare_results(tmp_path, finished) == [], points


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
    # Step s proposes from the state after step s - in_flight (2 by default): the new rewards
    # of step 1 change the proposals of step 3 on, so both steps here keep their children.
    in_flight = config["search"].get("in_flight", 2)
    kept = [p for p in before if any(f"step_{s:03d}" in p for s in range(1, min(STEPS, in_flight) + 1))]
    assert kept and all(after[p] == before[p] for p in kept), "children were retrained"
    history = _history(workdir)
    assert np.allclose(history["reward"], -(history["val_loss"] + 5.0 * history["knowledge"]))
    # A retrained child of a later step (a new proposal) came from the cache or is a new id.
    for step in range(in_flight + 1, STEPS + 1):
        for child in range(CHILDREN):
            record = json.loads(
                (workdir / RUN / f"search/step_{step:03d}/child_{child:02d}/train.json").read_text()
            )
            seen_before = record["id"] in set(_history(finished)["id"])
            assert record["cached"] or not seen_before


def test_a_changed_setting_that_a_param_reads_beside_an_input_reruns_its_rules(finished, tmp_path):
    """Snakemake records no param that reads a rule's input: the settings such params hold
    (final.top_k, interpret.collection) are plain params too, so changing them reruns the
    rules that use them, and only the final stage and the motif comparison."""
    for key, value, rules in (
        (("final", "top_k"), 1, ["select_architecture"]),
        (("interpret", "collection"), "JASPAR2022", ["motif_families", "interpret_filters"]),
    ):
        workdir = tmp_path / key[1]
        shutil.copytree(finished, workdir, symlinks=True)
        config = load_case("tiny")
        config.setdefault(key[0], {})[key[1]] = value
        plan = snakemake(workdir, config, "--dry-run", "--cores", "2")
        assert plan.returncode == 0, plan.stderr[-3000:]
        for rule in rules:
            assert f"rule {rule}:" in plan.stdout, (key, rule, plan.stdout[-3000:])
        for rule in ("train_child", "score_child", "update_controller"):
            assert f"rule {rule}:" not in plan.stdout, (key, rule)


def test_children_over_their_jobs_memory_on_the_last_attempt_are_failed_children(finished, tmp_path):
    """training.attempts 1 (no retry) and 100 MB per child job: every child's only attempt is
    its last, so it watches its job's memory, ends itself before training and is recorded
    as failed with the failure reward; the search goes on (the controller learns from the
    failures) instead of the run stopping at the first child."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    config = load_case("tiny")
    config["run"] = "guard"
    config["training"].update(attempts=1, mem_mb=100)
    target = "results/tiny/guard/search/step_001/history.tsv"
    proc = snakemake(workdir, config, "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-4000:]
    history = pd.read_csv(workdir / target, sep="\t")
    assert len(history) == CHILDREN and set(history["status"]) == {"failed"}, history
    assert set(history["reward"]) == {config["search"].get("failure_reward", -10.0)}
    for child in range(CHILDREN):
        record = json.loads(
            (workdir / f"results/tiny/guard/search/step_001/child_{child:02d}/train.json").read_text()
        )
        assert record["stop_reason"] == "memory" and "the job's memory (100 MB)" in record["error"]
        log = workdir / f"logs/train_child/tiny/guard/step_001/child_{child:02d}.log"
        assert "child failed: out of memory" in log.read_text()
    assert (workdir / "results/tiny/guard/controller/step_001/state.json").is_file()


def _kill_attempts(child_dir: str, log: Path, attempts: tuple[str, ...], done, killed: list) -> None:
    """SIGKILL each job process of ``bionas train-child --out-dir .../child_dir`` whose
    ``--attempt`` K is in ``attempts``, once its log says it started (what scancel,
    preemption or the system's out-of-memory killer do to a job). ``killed`` gets each
    killed job's pid and ``--job-memory-mb``."""
    import psutil

    while not done.is_set() and len(killed) < len(attempts):
        for proc in psutil.process_iter(["pid", "cmdline"]):
            argv = proc.info["cmdline"] or []
            if "train-child" not in argv or "--attempt" not in argv:
                continue
            if proc.pid in [pid for pid, _ in killed]:
                continue
            out_dir = argv[argv.index("--out-dir") + 1] if "--out-dir" in argv else ""
            attempt = argv[argv.index("--attempt") + 1]
            started = log.is_file() and f"attempt {attempt} of" in log.read_text()
            if out_dir.endswith(child_dir) and attempt in attempts and started:
                try:
                    proc.kill()
                except psutil.Error:
                    continue
                killed.append((proc.pid, int(argv[argv.index("--job-memory-mb") + 1])))
        time.sleep(0.05)


def test_a_child_job_killed_on_every_attempt_is_a_failed_child(finished, tmp_path):
    """Child 1's job is killed with SIGKILL on both of its training attempts (the default
    training.attempts 2): the attempt after them does not train but records the child as
    failed (stop reason killed, the failure reward), the other child trains, and the run
    finishes with status 0. The run allows 8000 MB, less than the second attempt's 2 x 5000:
    the retry asks for what the run allows rather than waiting for ever. Adds about 70 s
    to CI."""
    import threading

    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    config = load_case("tiny")
    config["run"] = "killed"
    config["training"]["epochs"] = 30
    config["training"]["mem_mb"] = 5000
    target = "results/tiny/killed/search/step_001/history.tsv"
    done, killed = threading.Event(), []
    log = workdir / "logs/train_child/tiny/killed/step_001/child_01.log"
    watcher = threading.Thread(
        target=_kill_attempts, args=("step_001/child_01", log, ("1", "2"), done, killed)
    )
    watcher.start()
    try:
        limit = ("--resources", "mem_mb=8000")
        proc = snakemake(workdir, config, "--cores", "2", target, *limit, timeout=300)
    finally:
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [memory for _, memory in killed] == [5000, 8000], killed
    history = pd.read_csv(workdir / target, sep="\t")
    assert list(history["status"]) == ["ok", "failed"], history
    assert history["reward"].iloc[1] == config["search"].get("failure_reward", -10.0)
    child = workdir / "results/tiny/killed/search/step_001/child_01"
    record = json.loads((child / "train.json").read_text())
    assert record["stop_reason"] == "killed" and "started 2 times" in record["error"], record
    assert sorted(p.name for p in child.iterdir()) == ["metrics.json", "train.json"]
    assert "child failed: its job was started 2 times" in log.read_text()


def test_train_a_found_architecture_without_searching(finished, tmp_path):
    """New data, no search: point final.architecture at an earlier run's choice, in the
    same directory as the README does; the earlier run is neither rerun nor touched."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    source = workdir / RUN / "final"
    before = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    config = load_case("tiny")
    config["run"] = "reuse"
    config["final"]["architecture"] = f"{RUN}/final/architecture.json"  # top_k 2 unused
    target = "results/tiny/reuse/final/summary.json"
    plan = snakemake(workdir, config, "--cores", "2", "--dry-run", target)
    assert plan.returncode == 0, plan.stderr[-4000:]
    assert "run=tiny" not in plan.stdout, plan.stdout[-4000:]
    proc = snakemake(workdir, config, "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert not (workdir / "results/tiny/reuse/search").exists()
    assert not (workdir / "results/tiny/reuse/controller").exists()
    given = json.loads((source / "architecture.json").read_text())
    summary = json.loads((workdir / target).read_text())
    assert summary["layers"] == given["layers"]
    after = {p: p.read_bytes() for p in source.rglob("*") if p.is_file()}
    assert after == before, "the earlier run's final model was rewritten"
    # A missing architecture file is an error before any job runs.
    config["final"]["architecture"] = "nowhere/architecture.json"
    bad = snakemake(workdir, config, "--cores", "2", "--dry-run", target)
    assert bad.returncode != 0 and "[final.architecture]: cannot read" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr + bad.stdout


def test_every_strategy_runs_the_search_and_the_median_final_choice(tmp_path):
    """Each strategy drives the tiny search through Snakemake (one run name each, the
    data shared); the evolution run goes on to a final model chosen by median reward."""
    workdir = tmp_path / "work"
    for controller in ("evolution", "tpe", "nsga2", "gp", "random", "grid"):
        config = load_case("tiny")
        config["run"] = controller
        config["search"]["controller"] = controller
        config["search"]["evolution"] = {"population": 2, "tournament": 2}
        config["search"]["tpe"] = {"n_startup": 1}
        config["search"]["nsga2"] = {"population": 2}
        config["search"]["gp"] = {"n_startup": 2}
        if controller == "gp":  # step 2 proposes from the Gaussian process fitted on step 1
            config["search"]["in_flight"] = 1
        config["final"]["choose"] = "median"
        last = f"results/tiny/{controller}/search/step_{STEPS:03d}/history.tsv"
        targets = [last]
        if controller == "evolution":
            targets.append(f"results/tiny/{controller}/final/summary.json")
        proc = snakemake(workdir, config, "--cores", "2", *targets)
        assert proc.returncode == 0, proc.stderr[-3000:]
        history = pd.read_csv(workdir / last, sep="\t")
        assert len(history) == STEPS * CHILDREN and set(history["status"]) == {"ok"}
        archs = history[["conv1", "pool", "reduce"]].apply(tuple, axis=1)
        if controller in ("evolution", "tpe", "nsga2", "gp", "grid"):  # no repeats while the space lasts
            assert archs.is_unique, history
        state = json.loads((workdir / f"results/tiny/{controller}/controller/step_002/state.json").read_text())
        assert state["controller"] == controller and state["n_seen"] == STEPS * CHILDREN
    summary = json.loads((workdir / "results/tiny/evolution/final/summary.json").read_text())
    assert summary["chosen_by"] == "median_reward"


def test_a_pareto_search_reselects_for_a_new_final_lambda_without_training_a_child(tmp_path):
    """nsga2 with two objectives (val_loss, K) through the final model; then final.lambda
    changes: the final stage picks that Lambda's point of the front and trains it, and no
    child is trained, scored or learnt from again."""
    workdir = tmp_path / "work"
    config = load_case("tiny")
    config["run"] = "pareto"
    config["search"].update(controller="nsga2", objective="pareto", nsga2={"population": 2})
    config["final"].update(top_k=1, replicates=1, export=False)
    target = "results/tiny/pareto/final/summary.json"
    proc = snakemake(workdir, config, "--cores", "2", target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = workdir / "results/tiny/pareto"
    state = json.loads((run / f"controller/step_{STEPS:03d}/state.json").read_text())
    assert state["settings"]["objectives"] == 2 and state["n_seen"] == STEPS * CHILDREN
    assert all(v is None or len(v) == 2 for _, v in state["extra"]["history"])
    history = pd.read_csv(run / f"search/step_{STEPS:03d}/history.tsv", sep="\t")
    layers = ["conv1", "pool", "reduce"]

    def best_at(lam):
        reward = -(history["val_loss"] + lam * history["knowledge"])
        return list(history.loc[reward.idxmax(), layers])

    chosen = json.loads((run / "final/candidates.json").read_text())[0]["layers"]
    assert chosen == best_at(config["search"]["lambda"])
    children = {p: p.stat().st_mtime_ns for p in run.glob("search/step_*/child_*/*.json")}
    for lam in (0.0, 50.0):
        config["final"]["lambda"] = lam
        plan = snakemake(workdir, config, "--cores", "2", "--dry-run", target)
        assert plan.returncode == 0, plan.stderr[-3000:]
        for rule in ("train_child", "score_child", "update_controller", "propose"):
            assert f"rule {rule}:" not in plan.stdout, plan.stdout[-3000:]
        proc = snakemake(workdir, config, "--cores", "2", target)
        assert proc.returncode == 0, proc.stderr[-3000:]
        chosen = json.loads((run / "final/candidates.json").read_text())[0]["layers"]
        assert chosen == best_at(lam)
        log = (workdir / "logs/select_architecture/tiny/pareto.log").read_text()
        assert f"# lambda {lam:g}: " in log and "Pareto front" in log
    after = {p: p.stat().st_mtime_ns for p in run.glob("search/step_*/child_*/*.json")}
    assert after == children, "a child was trained or scored again"


def test_the_tiny_runs_model_scores_a_bed_file_to_tsv_and_bigwig(finished, tmp_path, cli):
    import pyBigWig

    peaks = finished / "results/tiny/input/peaks.narrowPeak"
    out, tracks = tmp_path / "scores.tsv", tmp_path / "tracks"
    status, _, err = cli("predict", "--model", finished / RUN / "final/model.keras",
                         "--genome", finished / "results/tiny/input/genome.fa",
                         "--regions", peaks, "--tasks", "bound", "--out", out,
                         "--bigwig-dir", tracks)  # fmt: skip
    assert status == 0, err
    got = pd.read_csv(out, sep="\t")
    n_peaks = sum(1 for line in peaks.read_text().splitlines() if line.strip())
    assert len(got) == n_peaks and list(got.columns)[-1] == "bound"
    bw = pyBigWig.open(str(tracks / "bound.bw"))
    try:
        n_entries = sum(len(bw.intervals(c) or ()) for c in bw.chroms())
    finally:
        bw.close()
    assert 0 < n_entries <= n_peaks  # overlapping windows share their bases


def test_the_final_model_is_exported_as_savedmodel_and_onnx(finished):
    record = json.loads((finished / RUN / "final/export/export.json").read_text())
    assert max(record["max_abs_difference"].values()) <= 1e-5
    assert (finished / RUN / "final/export/model.onnx").stat().st_size > 0
    assert (finished / RUN / "final/export/saved_model/saved_model.pb").is_file()


def test_the_final_model_scores_the_configured_range(finished):
    """datasets.tiny.predict tiles chr1:0-3000 every 500 bp with the final model, with bigWigs."""
    got = pd.read_csv(finished / RUN / "predict/predictions.tsv", sep="\t")
    assert list(got.columns) == ["chrom", "start", "end", "region", "bound"]
    assert got["start"].tolist() == list(range(0, 3000 - 100 + 1, 500))
    assert ((got["bound"] >= 0) & (got["bound"] <= 1)).all()
    # predict.bigwig: a track per task, every window's score at its centre
    import pyBigWig

    bw = pyBigWig.open(str(finished / RUN / "predict/bigwig/bound.bw"))
    try:
        entries = bw.intervals("chr1")
    finally:
        bw.close()
    assert [v for _, _, v in entries] == pytest.approx(got["bound"].tolist(), abs=1e-6)


def test_successive_halving_promotes_continues_and_learns_from_the_last_rung(tmp_path):
    """search.fidelity with three rungs (1, 2 and 4 epochs; 3 -> 2 -> 1 children) through
    Snakemake: every step's children train one epoch, the best two continue to two epochs
    and the best of those to four, each from its saved state; the history holds each
    child's result at the highest rung it reached, and a finished run has nothing to do."""
    workdir = tmp_path / "work"
    config = load_case("tiny")
    config["run"] = "halving"
    config["search"].update(
        controller="tpe", children_per_step=3, tpe={"n_startup": 1},
        fidelity={"epochs": [1, 2, 4], "keep": [2, 1]},
    )  # fmt: skip
    config["training"]["patience"] = 5
    last = f"results/tiny/halving/search/step_{STEPS:03d}/history.tsv"
    proc = snakemake(workdir, config, "--cores", "2", last)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = workdir / "results/tiny/halving"
    history = pd.read_csv(workdir / last, sep="\t")
    assert len(history) == STEPS * 3
    for step in range(1, STEPS + 1):
        where = run / f"search/step_{step:03d}"
        rows = history[history["step"] == step].set_index("child")
        assert sorted(rows["rung"]) == [0, 1, 2]
        rung0 = {c: json.loads((where / f"child_{c:02d}/metrics.json").read_text()) for c in range(3)}
        first = json.loads((where / "rung_1/promoted.json").read_text())
        ranked = sorted(range(3), key=lambda c: (-rung0[c]["reward"], c))
        assert [e["child"] for e in first["promoted"]] == ranked[:2]
        assert [e["from"] for e in first["promoted"]] == [f"child_{c:02d}" for c in ranked[:2]]
        second = json.loads((where / "rung_2/promoted.json").read_text())
        assert second["epochs"] == 4 and len(second["promoted"]) == 1
        top = second["promoted"][0]["child"]
        assert rows.loc[top, "rung"] == 2
        final = json.loads((where / "rung_2/slot_00/metrics.json").read_text())
        assert rows.loc[top, "reward"] == pytest.approx(final["reward"])
        trained = json.loads((where / "rung_2/slot_00/train.json").read_text())
        assert trained["epochs"] == 4 and len(trained["history"]["val_loss"]) == 4
        start = json.loads((where / f"{second['promoted'][0]['from']}/train.json").read_text())
        assert trained["history"]["val_loss"][:2] == start["history"]["val_loss"]
        assert not (where / "rung_2/slot_00/resume.keras").exists()  # the last rung keeps none
        dropped = ranked[2]
        assert rows.loc[dropped, "rung"] == 0
        assert rows.loc[dropped, "reward"] == pytest.approx(rung0[dropped]["reward"])
    state = json.loads((run / f"controller/step_{STEPS:03d}/state.json").read_text())
    assert state["n_seen"] == STEPS * 3
    # per step 3 x 1 epoch, then 2 x 1 more and 1 x 2 more (nothing stops early, nothing repeats)
    progress = json.loads((run / "search/progress.json").read_text())
    assert progress["child_epochs"] == STEPS * (3 + 2 + 2)
    plan = snakemake(workdir, config, "--cores", "2", "--dry-run", last)
    assert plan.returncode == 0 and "Nothing to be done" in plan.stdout + plan.stderr, plan.stdout[-2000:]
