"""Speed-up of a search from running children in parallel: --cores 1 vs --cores 2.

Builds the demo's data once, copies it into two fresh work directories, then
runs the same search (the demo's model space and training settings, fewer
steps; same seed) with
``--cores 1`` and ``--cores 2`` and prints the wall times and the ratio of
their medians. Target: a speed-up of at least 1.7x on 2 cores.

The runs alternate in the order 1, 2, 2, 1, 1, 2, ... (``--repeats`` runs
of each), so a shared machine's slow and fast minutes fall on both sides:
one run of each, one after the other, has given 1.62x and 2.07x for the
same code.

    python bench/parallel.py [--steps 3] [--children 4] [--in-flight 2] [--epochs N] [--repeats 2]

``--in-flight`` is ``search.in_flight`` (default: the config's default, 2):
with 1 every step waits for its slowest child before the next is proposed.

Without --epochs the children train as in the demo (early stopping); both runs
train identically since training is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEFILE = ROOT / "workflow" / "Snakefile"


def snakemake(workdir: Path, cores: int, *targets: str) -> float:
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"), "--cores", str(cores), "--quiet", "all",
        "--", *targets,
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"snakemake --cores {cores} failed:\n{proc.stderr[-3000:]}")
    return seconds


def job_seconds(work: Path, rule: str, name: str) -> float:
    """Wall seconds of one job from its Snakemake benchmark file."""
    path = work / "benchmarks" / rule / "demo" / "bench" / f"{name}.tsv"
    return float(path.read_text().splitlines()[1].split("\t")[0])


def explain(work: Path, steps: int, children: int, total: float, in_flight: int) -> None:
    """Where the --cores 1 run spent its time, and the best --cores 2 could do.

    Per step the children are independent, the rest (propose, update) is a
    chain. With 2 cores the children of a step run two at a time in child
    order as Snakemake starts them; their makespan, from the --cores 1 job
    times, bounds the speed-up a perfect executor could reach.
    """
    child_sum = serial = makespan = 0.0
    for step in range(1, steps + 1):
        d = [
            job_seconds(work, "train_child", f"step_{step:03d}/child_{k:02d}")
            + job_seconds(work, "score_child", f"step_{step:03d}/child_{k:02d}")
            for k in range(children)
        ]
        child_sum += sum(d)
        free = [0.0, 0.0]
        for seconds in d:  # list scheduling in child order on two workers
            i = free.index(min(free))
            free[i] += seconds
        makespan += max(free)
        serial += job_seconds(work, "propose_architectures", f"step_{step:03d}")
        serial += job_seconds(work, "update_controller", f"step_{step:03d}")
    other = total - child_sum - serial
    print(f"--cores 1 breakdown: children {child_sum:.1f} s, propose + update {serial:.1f} s, "
          f"init and Snakemake's own time {other:.1f} s")
    barrier = total / (makespan + serial + other)
    # without the barrier the two cores share all children; the chain of proposals and
    # updates still runs one job at a time
    sliding = total / (max(child_sum / 2, makespan / steps) + serial + other)
    bound = barrier if in_flight == 1 else sliding
    print(f"children's makespan on 2 cores with a barrier after every step: {makespan:.1f} s "
          f"(uneven child lengths: {child_sum / makespan:.2f}x on the children alone)")
    print(f"the speed-up these job times allow: {barrier:.2f}x with a barrier (in_flight 1), "
          f"{sliding:.2f}x without; this run (in_flight {in_flight}): {bound:.2f}x")


def slower(one: Path, two: Path, steps: int, children: int) -> None:
    """How much longer the same children took when two ran at once.

    Training is deterministic, so both runs train the same epochs: a longer
    wall time on 2 cores is contention (shared caches, memory, the disk when
    two jobs import TensorFlow from a cold page cache), not more work.
    """
    def total(work: Path) -> float:
        return sum(
            job_seconds(work, "train_child", f"step_{s:03d}/child_{k:02d}")
            for s in range(1, steps + 1) for k in range(children)
        )

    one, two = total(one), total(two)
    print(f"train_child wall time summed: {one:.1f} s with --cores 1, {two:.1f} s with --cores 2 "
          f"({100 * (two / one - 1):+.0f}% from running two at once)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--children", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=2, help="search.in_flight (default 2)")
    parser.add_argument("--epochs", type=int, help="fixed epochs per child (default: the demo's)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per core count")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bionas-parallel-"))
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["run"] = "bench"
    config["search"] = {
        "space": str(ROOT / "config" / "model_space.yaml"),
        "steps": args.steps,
        "children_per_step": args.children,
        "in_flight": args.in_flight,
    }
    if args.epochs:
        # Fixed epochs (no early stop): shorter children, a larger serial share.
        config["training"] = {"epochs": args.epochs, "patience": args.epochs}
    data = base / "data"
    data.mkdir()
    (data / "config.yaml").write_text(yaml.safe_dump(config))
    print(f"building the demo data once in {data} ...", flush=True)
    snakemake(data, 2, "results/demo/data/train.npz", "results/demo/priors.meme")

    history = f"results/demo/bench/search/step_{args.steps:03d}/history.tsv"
    times: dict[int, list[float]] = {1: [], 2: []}
    order = [(1, 2), (2, 1)]
    for r in range(args.repeats):
        for cores in order[r % 2]:
            work = base / f"cores{cores}_{len(times[cores]) + 1}"
            shutil.copytree(data, work, symlinks=True)
            # Same data, fresh search: the copied .snakemake metadata keeps the data up to date.
            times[cores].append(snakemake(work, cores, history))
            print(f"--cores {cores}: {times[cores][-1]:7.1f} s", flush=True)
    histories = {p.read_text() for p in base.glob(f"cores*/{history}")}
    median = {cores: statistics.median(t) for cores, t in times.items()}
    speedup = median[1] / median[2]
    epochs = f"{args.epochs} epochs each" if args.epochs else "demo training settings"
    print(f"search: {args.steps} steps x {args.children} children, in_flight {args.in_flight}, {epochs}")
    print(f"median of {args.repeats}: --cores 1 {median[1]:.1f} s, --cores 2 {median[2]:.1f} s")
    print(f"speed-up --cores 2 over --cores 1: {speedup:.2f}x (target >= 1.7x)")
    explain(base / "cores1_1", args.steps, args.children, times[1][0], args.in_flight)
    slower(base / "cores1_1", base / "cores2_1", args.steps, args.children)
    print(f"identical histories: {len(histories) == 1}")
    ok = speedup >= 1.7 and len(histories) == 1
    print("PASS" if ok else "FAIL")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
