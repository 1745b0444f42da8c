"""SIGKILL every kind of job at random moments: no output is ever left truncated.

Each job is the workflow's own shell command for it (from ``snakemake
--detailed-summary`` on a copy of the finished tiny run), run in that copy with
its outputs deleted: its inputs are the finished run's files, and the finished
run's outputs are the reference. At each kill point the job is started and its
process group SIGKILLed, either as soon as a temporary file appears beside an
output (that is, in the middle of a write) or after a seeded random delay within
the job's runtime. After every kill, each file under the job's output paths must
be absent, a temporary (hidden, never under a final name), or complete and equal
to the reference. Then the same command must finish, with every output equal to
the reference and every temporary of the killed attempts gone.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from workflow_helpers import (
    finished_tiny_run,
    is_temporary,
    kill_run,
    load_case,
    output_problem,
    snakemake,
)

pytestmark = pytest.mark.workflow

CACHE = "results/tiny/cache/children"


class Job(NamedTuple):
    rule: str
    command: str
    outputs: tuple[str, ...]
    log: str


#: rule, the output that picks one of its jobs, kill points (40 in all). The cheap
#: jobs (no TensorFlow, under a second) get more; train_final and score_final run
#: the same `bionas train-child` and `score-child` as train_child and score_child
#: and are left out. A job that writes only small
#: files often ends before the first point sees its temporary: that point counts as
#: "finished before the kill" and the job still has to pass every check.
KINDS = [
    ("simulate_demo", "genome.fa", 4),
    ("prepare_intervals", "windows.tsv", 4),
    ("encode_sequences", "train.npz", 4),
    ("fetch_priors", "priors.meme", 3),
    ("init_controller", "step_000", 2),
    ("propose_architectures", "step_001/proposals.json", 4),
    ("train_child", "step_001/child_00/train.json", 2),
    ("score_child", "step_001/child_00/metrics.json", 4),
    ("update_controller", "step_001/history.tsv", 3),
    ("select_architecture", "candidates.json", 3),
    ("evaluate_final", "summary.json", 3),
    ("interpret_filters", "matches.tsv", 2),
    ("report", "index.html", 2),
]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return finished_tiny_run(tmp_path_factory)


@pytest.fixture(scope="module")
def jobs(finished, tmp_path_factory) -> dict[str, list[Job]]:
    """Every job of the finished tiny run: its shell command, outputs and log, by rule."""
    work = tmp_path_factory.mktemp("summary")
    shutil.copytree(finished, work, symlinks=True, dirs_exist_ok=True)
    proc = snakemake(work, load_case("tiny"), "--detailed-summary")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = lines[0].split("\t")
    col = {name: header.index(name) for name in ("output_file", "rule", "log-file(s)", "shellcmd")}
    found: dict[tuple[str, str], list[str]] = {}
    logs = {}
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header) or not fields[col["shellcmd"]].strip():
            continue
        key = (fields[col["rule"]], fields[col["shellcmd"]])
        found.setdefault(key, []).append(fields[col["output_file"]])
        logs[key] = fields[col["log-file(s)"]]
    # The summary prints a command on one line, the newlines of an argument made "; ": the
    # report gets the configuration the workflow hands it (defaults filled in) instead, as
    # its model card records it.
    from bionas.pipeline.config import validate_config

    config = load_case("tiny")
    config.update(validate_config(config))
    config_text = shlex.quote(yaml.safe_dump(dict(config), sort_keys=False))
    out: dict[str, list[Job]] = {}
    for (rule, summary_command), outputs in found.items():
        command = re.sub(
            r"--config-text '[^']*'", lambda _: f"--config-text {config_text}", summary_command
        )
        out.setdefault(rule, []).append(
            Job(rule, command, tuple(outputs), logs[(rule, summary_command)])
        )
    return out


def _watched(work: Path, reference: Path, job: Job) -> list[tuple[Path, bool]]:
    """Where the job writes: (directory, recursive). Parents of its files hold their
    temporaries; a directory output is looked into whole; training also fills the cache."""
    dirs: dict[Path, bool] = {}
    for out in job.outputs:
        if (reference / out).is_dir():  # a directory() output
            dirs[work / out] = True
        dirs.setdefault((work / out).parent, False)
    if job.rule in ("train_child", "train_final"):
        dirs[work / CACHE] = True
    return list(dirs.items())


def _files(watched: list[tuple[Path, bool]]) -> set[Path]:
    """Files under the watched directories, and temporary directories (the cache's)."""
    files: set[Path] = set()
    for directory, recursive in watched:
        if directory.is_dir():
            found = directory.rglob("*") if recursive else directory.iterdir()
            files |= {p for p in found if not p.is_dir() or is_temporary(p.name)}
    return files


def _is_temporary(path: Path, work: Path) -> bool:
    return any(is_temporary(part) for part in path.relative_to(work).parts)


def _temporaries(work: Path, watched: list[tuple[Path, bool]]) -> set[Path]:
    return {p for p in _files(watched) if _is_temporary(p, work)}


def _problems(work: Path, reference: Path, watched, final: bool) -> list[str]:
    """Files under the job's output paths that are neither a temporary nor complete and
    equal to the reference; on the final check also every temporary left."""
    problems = []
    for path in sorted(_files(watched)):
        rel = path.relative_to(work)
        if path.name == ".snakemake_timestamp":
            continue
        if _is_temporary(path, work):
            if final:
                problems.append(f"{rel}: temporary left after the rerun")
            continue
        ref = reference / rel
        if not ref.exists():
            problems.append(f"{rel}: not written by the uninterrupted run")
            continue
        why = output_problem(path, ref)
        if why:
            problems.append(f"{rel}: {why}")
    return problems


def _typical_seconds(finished: Path, job: Job) -> float:
    """Wall time of the job in the finished run (its benchmark), at least 0.3 s."""
    bench = finished / job.log.replace("logs/", "benchmarks/", 1).replace(".log", ".tsv")
    try:
        return max(0.3, float(bench.read_text().splitlines()[-1].split("\t")[0]))
    except (OSError, IndexError, ValueError):
        return 2.0


def _start(work: Path, job: Job) -> subprocess.Popen:
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".numba_cache"))
    return subprocess.Popen(
        ["bash", "-c", job.command], cwd=work, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _attempt(work: Path, job: Job, watched, at_write: bool, delay: float) -> tuple[str, float]:
    """Start the job and SIGKILL it: at its first temporary file (``at_write``) or after
    ``delay`` seconds. Returns (what happened, seconds it ran)."""
    before = _temporaries(work, watched)
    proc = _start(work, job)
    start = time.monotonic()
    limit = start + (delay if not at_write else max(60.0, delay * 10))
    outcome = "killed"
    while True:
        if proc.poll() is not None:
            return "finished before the kill", time.monotonic() - start
        if at_write and _temporaries(work, watched) - before:
            outcome = "killed mid-write"
            break
        if time.monotonic() >= limit:
            break
        time.sleep(0.001 if at_write else 0.01)
    elapsed = time.monotonic() - start
    kill_run(proc, work)
    return outcome, elapsed


@pytest.mark.parametrize("rule, pick, points", KINDS, ids=[k[0] for k in KINDS])
def test_killed_job_leaves_no_truncated_output(
    rule, pick, points, jobs, finished, tmp_path, record_property
):
    matching = [job for job in jobs[rule] if any(o.endswith(pick) for o in job.outputs)]
    assert len(matching) == 1, f"{rule}: {len(matching)} jobs write {pick}"
    job = matching[0]
    work = tmp_path / "run"
    shutil.copytree(finished, work, symlinks=True)
    shutil.rmtree(work / CACHE)  # train for real, not from the cache
    for out in job.outputs:
        path = work / out
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    watched = _watched(work, finished, job)
    rng = random.Random(f"kill {rule}")
    typical = _typical_seconds(finished, job)
    outcomes = []
    for point in range(points):
        # The first point aims at a write; the others at a random moment of the run.
        delay = rng.uniform(0.1, 0.95) * typical
        outcome, elapsed = _attempt(work, job, watched, at_write=point == 0, delay=delay)
        if outcome == "finished before the kill":
            typical = min(typical, elapsed)
        outcomes.append(f"{outcome} at {elapsed:.2f} s")
        problems = _problems(work, finished, watched, final=False)
        assert not problems, f"after kill {point} ({outcomes[-1]}):\n" + "\n".join(problems)
    record_property("kill_points", outcomes)
    print(f"{rule}: " + "; ".join(outcomes))
    assert any(o.startswith("killed") for o in outcomes), f"{rule}: no kill hit the job"

    done = subprocess.run(
        ["bash", "-c", job.command], cwd=work, capture_output=True, text=True, timeout=600
    )
    log = (work / job.log).read_text(errors="replace") if (work / job.log).is_file() else ""
    assert done.returncode == 0, f"the rerun of {rule} failed:\n{log[-3000:]}"
    for out in job.outputs:
        assert (work / out).exists(), f"the rerun did not write {out}"
    problems = _problems(work, finished, watched, final=True)
    assert not problems, "after the rerun:\n" + "\n".join(problems)
