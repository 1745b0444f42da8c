"""Benchmark: attributions + TF-MoDISco of the final model against training its replicates.

Reads a finished workflow run (``make demo``, or any run directory): the wall
time Snakemake measured for the ``attribute_final`` job and the summed wall
time of the ``train_final`` jobs (the final model's replicates), both from
``benchmarks/``. Then runs ``bionas attribute`` once more on the same inputs
in a fresh process, with the run's compilation cache now warm, and times it.

Prints both ratios (attribute / final training). The workflow's own job paid
for compiling modisco-lite's and memelite's kernels when the cache was new
(the first run in a directory); every later run pays the warm figure. PASS
when the warm ratio is below 1.

Usage::

    .venv/bin/python bench/attribute.py [RUN_DIR] [--dataset demo] [--run default]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT = 1.0


def seconds(paths: list[Path]) -> float:
    """Summed ``s`` column of Snakemake benchmark files."""
    total = 0.0
    for path in paths:
        with path.open(newline="") as handle:
            total += sum(float(row["s"]) for row in csv.DictReader(handle, delimiter="\t"))
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", default=".", type=Path)
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--run", default="default")
    args = parser.parse_args(argv)
    root, ds, run = args.run_dir, args.dataset, args.run
    train = sorted((root / "benchmarks/train_final" / ds / run).rglob("*.tsv"))
    job = root / "benchmarks/attribute_final" / ds / f"{run}.tsv"
    if not train or not job.is_file():
        print(f"no train_final or attribute_final benchmark under {root / 'benchmarks'}: "
              "finish a run with interpret.modisco on first (make demo)")  # fmt: skip
        return 2
    train_s, job_s = seconds(train), seconds([job])
    results = root / "results" / ds
    with tempfile.TemporaryDirectory(prefix="bionas-bench-") as out:
        cmd = [
            sys.executable, "-m", "bionas", "attribute",
            "--model", str(results / run / "final/model.keras"),
            "--test", str(results / "data/test.npz"), "--priors", str(results / "priors.meme"),
            "--families", str(root / "results/motifs/families.tsv"),
            "--cache-dir", str(root / ".cache/bionas/numba"), "--threads", "2", "--out-dir", out,
        ]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        warm_s = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-3000:])
        return 1
    print(f"final training ({len(train)} replicate jobs, benchmarks/):  {train_s:7.1f} s")
    print(f"attribute_final job of the run (benchmarks/):      {job_s:7.1f} s  "
          f"ratio {job_s / train_s:.2f}")  # fmt: skip
    print(f"bionas attribute again, warm cache (timed here):   {warm_s:7.1f} s  "
          f"ratio {warm_s / train_s:.2f}")  # fmt: skip
    ok = warm_s / train_s < LIMIT
    print(f"{'PASS' if ok else 'FAIL'}: warm ratio {warm_s / train_s:.2f} (target < {LIMIT:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
