"""The workflow on a real single-node SLURM cluster, through profiles/slurm.

A session fixture starts the cluster with scripts/slurm-local.sh (munged,
slurmctld, slurmd on this host) and always stops it again. Without the SLURM
binaries the tests are skipped, except in CI (the `CI` variable is set), where
that is a failure: `make test` installs them with scripts/setup-slurm.sh.
Starting the daemons needs root, or password-less sudo (as on CI runners).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, SNAKEFILE, absolute_paths, load_case, snakemake

pytestmark = pytest.mark.slurm

SLURM_LOCAL = ROOT / "scripts" / "slurm-local.sh"
PROFILE = ROOT / "profiles" / "slurm"
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "munged")
# Poll SLURM soon after each submission: the tiny jobs take seconds.
FAST = ("--jobs", "4", "--slurm-init-seconds-before-status-checks", "2", "--slurm-no-account")


def _which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; fail in CI, where SLURM must be there."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def _as_root() -> list[str] | None:
    """The prefix that runs a command as root: none for root, `sudo -n` where allowed."""
    if os.geteuid() == 0:
        return []
    if (
        _which("sudo")
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    ):
        return ["sudo", "-n"]
    return None


def _cluster(action: str, state_dir: Path, root: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*root, "bash", str(SLURM_LOCAL), action, "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM cluster; yields its state directory."""
    missing = [b for b in BINARIES if _which(b) is None]
    if missing:
        _unavailable(
            f"SLURM is not installed (missing {', '.join(missing)}); run scripts/setup-slurm.sh"
        )
    root = _as_root()
    if root is None:
        _unavailable(
            "scripts/slurm-local.sh needs root (or password-less sudo) to start"
            " munged, slurmctld and slurmd"
        )
    state_dir = Path(os.environ.get("BIONAS_SLURM_STATE_DIR", "/tmp/bionas-slurm"))
    if _cluster("status", state_dir, root).returncode == 0:
        # Started before the tests with this script: use it and leave it running.
        yield state_dir
        return
    started = _cluster("start", state_dir, root)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield state_dir
    finally:
        stopped = _cluster("stop", state_dir, root)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


def run_snakemake(workdir: Path, config: dict, *args: str, timeout: float = 600):
    """Run snakemake with the SLURM profile in `workdir`; interrupt it with SIGINT on timeout.

    SIGINT (not TERM) lets snakemake cancel its SLURM jobs before it exits.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(path), "--profile", str(PROFILE), *args,
    ]  # fmt: skip
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # A shell ignores SIGINT in background jobs and children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pytest.fail(f"snakemake did not finish within {timeout} s:\n{out[-5000:]}")
    return proc.returncode, out


def slurm_jobs(output: str) -> dict[str, str]:
    """SLURM job id -> state of every job that this snakemake run submitted."""
    run_id = re.search(r"SLURM run ID: (\S+)", output)
    assert run_id, output[-3000:]
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--name", run_id.group(1)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("|", 1) for line in listing.split())


def job_stats(output: str) -> dict[str, int]:
    """Rule -> number of jobs, from snakemake's 'Job stats' table."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    rows = (line.split() for line in table.splitlines()[3:])
    return {row[0]: int(row[1]) for row in rows if len(row) == 2 and row[0] != "total"}


def grouping_profile(directory: Path) -> tuple[Path, str]:
    """A second profile holding the slurm profile's commented-out grouping block.

    Returns its folder and the group name of the children (with wildcards).
    """
    lines = (PROFILE / "config.yaml").read_text().splitlines()
    first = lines.index("# groups:")
    block = []
    for line in lines[first:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    settings = yaml.safe_load("\n".join(block))
    assert set(settings) == {"groups", "group-components"}, settings
    (name,) = set(settings["groups"].values())
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(settings))
    return directory, name


def test_tiny_workflow_runs_through_slurm(slurm_cluster, tmp_path):
    """rule all of the tiny scenario; children grouped per step as the profile documents."""
    config = load_case("tiny")
    # The motif comparison compiles for about a minute; share its cache across runs.
    config.setdefault("interpret", {})["cache_dir"] = str(ROOT / ".numba_cache")
    grouping, group_name = grouping_profile(tmp_path / "grouping")
    work = tmp_path / "work"
    code, out = run_snakemake(
        work,
        config,
        *FAST,
        "--slurm-keep-successful-logs",
        "--profile",
        str(grouping),
        timeout=1200,
    )
    assert code == 0, out[-5000:]
    code, again = run_snakemake(work, config, "--dry-run")
    assert code == 0 and "Nothing to be done" in again, again[-3000:]

    # The search's results.
    steps = config["search"]["steps"]
    children = config["search"]["children_per_step"]
    search = work / "results/tiny/tiny/search"
    history = (search / f"step_{steps:03d}/history.tsv").read_text().splitlines()
    assert len(history) == 1 + steps * children
    assert (work / f"results/tiny/tiny/controller/step_{steps:03d}").is_dir()
    for step in range(1, steps + 1):
        for child in range(children):
            assert (search / f"step_{step:03d}/child_{child:02d}/metrics.json").is_file()

    # Every job but the local ones (`all`) ran in SLURM, and SLURM saw each finish
    # successfully: one job per rule instance, except the children: one per step.
    local = set(re.findall(r"^localrule (\w+):", out, flags=re.M))
    assert "all" in local, out[-3000:]
    grouped = {"train_child", "score_child"}
    stats = job_stats(out)
    ungrouped = {rule: n for rule, n in stats.items() if rule not in grouped | local}
    jobs = slurm_jobs(out)
    assert len(jobs) == sum(ungrouped.values()) + steps, (stats, jobs)
    assert set(jobs.values()) == {"COMPLETED"}, jobs
    logs = work / ".snakemake/slurm_logs"
    for rule, n in ungrouped.items():
        assert len(list((logs / f"rule_{rule}").rglob("*.log"))) == n, rule
    for step in range(1, steps + 1):
        group = group_name.format(dataset="tiny", run=config["run"], step=f"{step:03d}")
        (group_log,) = logs.glob(f"group_{group}_*/*.log")
        text = group_log.read_text()
        assert "--executor slurm-jobstep" in text
        assert text.count("bionas train-child") >= children, text[-3000:]
        assert text.count("bionas score-child") >= children, text[-3000:]


def test_failed_slurm_job_is_reported(slurm_cluster, tmp_path):
    """A job that fails inside SLURM fails the run, with its logs, instead of hanging."""
    shutil.copy(ROOT / "tests/data/tiny.fa", tmp_path / "genome.fa")
    bad = tmp_path / "a.bed"
    bad.write_text((ROOT / "tests/data/task_a.bed").read_text() + "chr1\t500\t-20\n")
    config = absolute_paths(
        {
            "datasets": {
                "lab": {
                    "genome": str(tmp_path / "genome.fa"),
                    "peaks": {"A": str(bad)},
                    "priors": {"meme": str(ROOT / "tests/data/motifs.meme")},
                    "window": 100,
                    "split": {"val": ["chr3"], "test": ["chr4"]},
                }
            }
        }
    )
    code, out = run_snakemake(
        tmp_path / "work", config, *FAST, "results/lab/data/train.npz", timeout=300
    )
    assert code != 0
    assert "Error in rule prepare_intervals" in out, out[-5000:]
    assert "SLURM status is: 'FAILED'" in out, out[-5000:]
    assert f"{bad}:" in out  # the rule's own log, shown by show-failed-logs
    jobs = slurm_jobs(out)
    assert list(jobs.values()) == ["FAILED", "FAILED"], jobs  # the profile retries once


#: The search of the fault tests: the tiny scenario to its first step's history, with
#: children long enough to be caught running.
FAULT_TARGET = "results/tiny/tiny/search/step_001/history.tsv"


def fault_config() -> dict:
    config = load_case("tiny")
    config["training"]["epochs"] = 40
    return config


def history_rows(path: Path) -> list[list[str]]:
    """The rows of a history without the columns that differ between equal runs."""
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    keep = [i for i, name in enumerate(lines[0]) if name not in {"cached"}]
    return [[row[i] for i in keep] for row in lines]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    """The fault tests' search run on local cores, without a fault: their reference."""
    work = tmp_path_factory.mktemp("local")
    local = snakemake(work, fault_config(), "--cores", "2", FAULT_TARGET)
    assert local.returncode == 0, local.stderr[-3000:]
    return work


@pytest.fixture(scope="module")
def local_history(local_run) -> list[list[str]]:
    return history_rows(local_run / FAULT_TARGET)


def with_local_data(local_run: Path, work: Path) -> Path:
    """``work`` holding the local reference run's data stages (the inputs, tensors and
    priors, with times kept, and Snakemake's records of them), so that a fault test's
    SLURM run starts at the search: the data stages go through SLURM in
    test_tiny_workflow_runs_through_slurm, and here they would add a minute of status
    polling to each fault test."""
    for name in ("results/tiny/input", "results/tiny/data", ".snakemake/metadata"):
        shutil.copytree(local_run / name, work / name)
    shutil.copy2(local_run / "results/tiny/priors.meme", work / "results/tiny/priors.meme")
    return work


def _cancel_running(plan: dict[str, int], done: threading.Event, cancelled: dict[str, list]) -> None:
    """scancel train_child jobs seen running for a second: ``plan[child]`` of child's jobs
    (its attempts, one after the other; polls squeue)."""
    seen: dict[str, float] = {}
    while not done.is_set() and any(len(cancelled[c]) < n for c, n in plan.items()):
        listing = subprocess.run(
            ["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        now = time.monotonic()
        for line in listing.split():
            job, _, comment = line.partition("|")
            child = comment.rsplit("_", 1)[-1]
            if not comment.startswith("rule_train_child_") or child not in plan:
                continue
            if len(cancelled[child]) < plan[child] and job not in cancelled[child]:
                if now - seen.setdefault(job, now) >= 1.0:
                    subprocess.run(["scancel", job], check=True)
                    cancelled[child].append(job)
        time.sleep(0.2)


def test_cancelled_child_jobs_are_retried_and_then_recorded_as_failed(
    slurm_cluster, tmp_path, local_run, local_history
):
    """scancel child 0's job once while it trains: the profile's retries submit it again
    (with the attempt's time and memory) and its row of the history is what a run without
    the fault gives (the same config run on local cores). scancel child 1's job on both of
    its attempts (training.attempts 2): the job is submitted a third time, with little time
    and memory, to record the child as failed (stop reason killed, the failure reward), and
    the run finishes with status 0. Adds about 2 minutes to CI (102 s measured on 2 cores
    with the data stages through SLURM, which it now takes from the local reference run
    that the fault tests share)."""
    config = fault_config()
    work = with_local_data(local_run, tmp_path / "slurm")
    done, cancelled = threading.Event(), {"00": [], "01": []}
    watcher = threading.Thread(target=_cancel_running, args=({"00": 1, "01": 2}, done, cancelled))
    watcher.start()
    try:
        code, out = run_snakemake(work, config, *FAST, FAULT_TARGET, timeout=900)
    finally:
        done.set()
        watcher.join()
    assert code == 0, out[-5000:]
    assert [len(cancelled[c]) for c in ("00", "01")] == [1, 2], cancelled
    jobs = slurm_jobs(out)
    assert all(jobs[job] == "CANCELLED" for job in cancelled["00"] + cancelled["01"]), jobs
    assert sorted(jobs.values()).count("CANCELLED") == 3, jobs
    history = history_rows(work / FAULT_TARGET)
    assert history[:2] == local_history[:2]  # the header and child 0
    status, reward = history[0].index("status"), history[0].index("reward")
    assert history[2][status] == "failed", history
    assert float(history[2][reward]) == config["search"].get("failure_reward", -10.0)
    record = json.loads(
        (work / "results/tiny/tiny/search/step_001/child_01/train.json").read_text()
    )
    assert record["stop_reason"] == "killed" and "started 2 times" in record["error"], record


def _train_child_logs(work: Path) -> list[Path]:
    return sorted((work / ".snakemake/slurm_logs/rule_train_child").rglob("*.log"))


def _killed_first_attempts(work: Path, out: str, children: int) -> None:
    """Each child's job ran twice, and SLURM killed the first attempt at its memory limit
    (its state may be FAILED or, when only the job's step was killed, COMPLETED: Snakemake
    then finds the child's output missing and retries all the same)."""
    logs = _train_child_logs(work)
    killed = [log for log in logs if "exceeded memory limit" in log.read_text()]
    assert len(logs) == 2 * children and len(killed) == children, [
        log.read_text()[-2000:] for log in logs
    ]
    jobs = slurm_jobs(out)
    assert all(jobs[log.stem] in ("FAILED", "COMPLETED", "OUT_OF_MEMORY") for log in killed), jobs


def test_a_child_job_over_its_memory_is_retried_with_more(
    slurm_cluster, tmp_path, local_run, local_history
):
    """A child job above its memory request is killed by SLURM (slurm-local.sh enforces
    --mem: jobacct_gather/linux with OverMemoryKill) and its SLURM log says so.

    First with 500 MB on both attempts (TensorFlow alone takes more): the first attempt of
    each child is killed; on the last one the child watches its job's memory, ends itself
    before SLURM would kill it, and is recorded as a failed child (stop reason memory, the
    failure reward; its log says it was memory), and the search goes on: the run ends
    with status 0. Then the children are trained again with 500 MB on the first attempt
    and 3000 MB on the retry (the rules scale memory by the attempt; here the test sets
    both): the first attempts are killed, the retries succeed, and the search's history
    is what a run without the fault gives. Adds about 3 minutes to CI (177 s measured on
    2 cores with the data stages through SLURM, which it now takes from the local run)."""
    config = fault_config()
    work = with_local_data(local_run, tmp_path / "slurm")
    code, out = run_snakemake(
        work, config, *FAST, FAULT_TARGET, "--slurm-keep-successful-logs", "--set-resources",
        "train_child:mem_mb=500", timeout=900,
    )  # fmt: skip
    assert code == 0, out[-5000:]
    children = config["search"]["children_per_step"]
    _killed_first_attempts(work, out, children)
    step = work / "results/tiny/tiny/search/step_001"
    history = history_rows(work / FAULT_TARGET)
    status = history[0].index("status")
    assert [row[status] for row in history[1:]] == ["failed"] * children, history
    for child in range(children):
        record = json.loads((step / f"child_{child:02d}/train.json").read_text())
        assert record["stop_reason"] == "memory", record
        metrics = json.loads((step / f"child_{child:02d}/metrics.json").read_text())
        assert metrics["reward"] == config["search"].get("failure_reward", -10.0), metrics
        log = work / f"logs/train_child/tiny/tiny/step_001/child_{child:02d}.log"
        assert "child failed: out of memory: the job's memory (500 MB)" in log.read_text()

    for child in step.glob("child_*"):
        shutil.rmtree(child)
    (work / FAULT_TARGET).unlink()
    for log in _train_child_logs(work):
        log.unlink()
    code, out = run_snakemake(
        work, config, *FAST, FAULT_TARGET, "--slurm-keep-successful-logs", "--set-resources",
        "train_child:mem_mb=500 if attempt == 1 else 3000", timeout=900,
    )  # fmt: skip
    assert code == 0, out[-5000:]
    _killed_first_attempts(work, out, children)
    assert history_rows(work / FAULT_TARGET) == local_history


def test_a_child_job_over_its_time_limit_is_retried_then_ends_itself(
    slurm_cluster, tmp_path, local_run
):
    """A child job past its runtime is ended by SLURM (TIMEOUT; its SLURM log says it was
    the time limit) and started again. Here the runtime is 1 minute on both attempts
    (SLURM's least; it ends the job 60-95 s in) for one child that trains at least 1,000
    epochs of batch 2 (early stopping's patience is 1,000; several minutes on 2 cores): on
    the last attempt the child watches its job's time, ends itself 30 s after it started
    and is recorded as a failed child (stop reason time_limit, the failure reward), so the
    run ends with status 0 instead of stopping at the child. That a retry with more time
    gives the search what a run without the fault gives is checked by the other fault
    tests (the same retry, after scancel and after the memory limit). Adds about 3
    minutes to CI: the first attempt's minute and a half, the last one's 40 s, SLURM's
    status polling (236 s measured on 2 cores with the data stages through SLURM, which it
    now takes from the local run)."""
    config = load_case("tiny")
    config["search"].update(steps=1, children_per_step=1)
    config["final"]["top_k"] = 1
    config["training"].update(epochs=3000, patience=1000, batch_size=2)
    work = with_local_data(local_run, tmp_path / "slurm")
    code, out = run_snakemake(
        work, config, *FAST, FAULT_TARGET, "--set-resources", "train_child:runtime=1",
        timeout=900,
    )  # fmt: skip
    assert code == 0, out[-5000:]
    jobs = slurm_jobs(out)
    assert sorted(jobs.values()).count("TIMEOUT") == 1, jobs
    (job,) = [j for j, state in jobs.items() if state == "TIMEOUT"]
    (log,) = [p for p in _train_child_logs(work) if p.stem == job]
    assert "DUE TO TIME LIMIT" in log.read_text(), log.read_text()[-3000:]
    assert len((work / FAULT_TARGET).read_text().splitlines()) == 2  # the header, the child
    child = work / "results/tiny/tiny/search/step_001/child_00"
    record = json.loads((child / "train.json").read_text())
    assert record["status"] == "failed" and record["stop_reason"] == "time_limit", record
    assert "the job's time limit (60 s)" in record["error"]
    metrics = json.loads((child / "metrics.json").read_text())
    assert metrics["reward"] == config["search"].get("failure_reward", -10.0), metrics
