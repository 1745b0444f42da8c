"""Benchmark: windows -> one-hot tensors against fetching the same sequences with pyfaidx.

Builds a seeded random genome (8 x 7 Mb = 56 Mb) and 100,000 peaks in a
temporary directory, cuts 1,000 bp windows around them with the library
functions ``bionas prepare`` uses, then measures side by side:

  (a) pyfaidx alone: ``Fasta(...)[chrom][start:end]`` for every window;
  (b) our path: read the windows table and encode every window
      (``read_windows`` + ``encode_windows``), in memory;
  (c) the CLI end to end (``bionas prepare`` then ``bionas encode``, writing
      the .npz files), as subprocesses.

Targets: (b) within 1.25x of (a); the 100 Mbp of windows encoded in under
10 s; peak memory of (b) under 3x the output tensor. Prints PASS/FAIL per
target. Run: ``.venv/bin/python bench/encode.py [--windows N] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from bionas.data.encode import encode_windows
from bionas.data.genome import Genome
from bionas.data.peaks import read_peaks
from bionas.data.prepare import prepare
from bionas.data.simulate import write_fasta
from bionas.records.windows import read_windows, write_summary, write_windows

CHROMS, CHROM_LENGTH, WIDTH, SEED, REPEATS = 8, 7_000_000, 1000, 1, 3


def build_inputs(root: Path, n_windows: int) -> tuple[Path, Path]:
    """Random genome (iid, GC 0.4, a few N runs) and a narrowPeak file of ``n_windows`` peaks."""
    rng = np.random.default_rng(SEED)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    seqs = {}
    for k in range(CHROMS):
        seq = bases[rng.choice(4, size=CHROM_LENGTH, p=[0.3, 0.2, 0.2, 0.3])]
        for s in rng.integers(0, CHROM_LENGTH - 1000, size=5):
            seq[s : s + 500] = ord("N")
        seqs[f"chr{k + 1}"] = seq
    fasta = root / "genome.fa"
    write_fasta(fasta, seqs)
    (root / "genome.fa.fai").unlink()  # let the benchmark time indexing
    per = np.full(CHROMS, n_windows // CHROMS)
    per[: n_windows % CHROMS] += 1
    rows = []
    for k in range(CHROMS):
        summits = np.sort(
            rng.choice(np.arange(WIDTH, CHROM_LENGTH - WIDTH), size=per[k], replace=False)
        )
        rows.append(
            pd.DataFrame(
                {
                    "chrom": f"chr{k + 1}",
                    "start": summits - 100,
                    "end": summits + 150,
                    "name": ".",
                    "score": 500,
                    "strand": ".",
                    "signal": 10.0,
                    "p": 5.0,
                    "q": 4.0,
                    "summit": 100,
                }
            )
        )
    peaks = root / "peaks.narrowPeak"
    pd.concat(rows).to_csv(peaks, sep="\t", header=False, index=False)
    return fasta, peaks


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--windows", type=int, default=100_000, help="number of windows (default: %(default)s)"
    )
    parser.add_argument("--keep", default=None, help="work in this directory and keep it")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bionas-bench-") as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        (fasta, peaks), t_build = timed(build_inputs, root, args.windows)
        genome_mb = CHROMS * CHROM_LENGTH / 1e6
        print(
            f"inputs: {genome_mb:.0f} Mb genome, {args.windows:,} peaks, built in {t_build:.1f} s"
        )

        genome, t_index = timed(Genome, fasta)
        print(f"index (vectorised .fai scan): {t_index:.2f} s")

        # windows with the library functions `bionas prepare` runs (no negatives: the
        # windows cover the genome too densely for background sampling)
        task_peaks = read_peaks(peaks, "bench")
        prepared, t_prepare = timed(
            prepare,
            genome,
            [task_peaks],
            WIDTH,
            "shuffle",
            0.0,
            val_chroms=["chr7"],
            test_chroms=["chr8"],
            seed=SEED,
        )
        windows_tsv = root / "windows.tsv"
        write_windows(windows_tsv, prepared.table)
        write_summary(root / "summary.tsv", prepared.summary)
        n = len(prepared.table)
        mbp = n * WIDTH / 1e6
        print(f"prepare (library, {n:,} windows): {t_prepare:.2f} s")

        # The first touch of fresh memory is slow on some VMs (the host backs guest pages
        # lazily); touch as much as the tensors need once so neither side pays it.
        warm = np.ones((n + n // 2, WIDTH, 4), dtype=np.uint8)
        del warm
        import pyfaidx

        table = prepared.table
        triples = list(
            zip(table["chrom"], table["start"].tolist(), table["end"].tolist(), strict=True)
        )

        def run_pyfaidx():
            fa = pyfaidx.Fasta(str(fasta), as_raw=True, sequence_always_upper=True)
            out = [fa[c][s:e] for c, s, e in triples]
            fa.close()
            return out

        def run_ours():
            with Genome(fasta) as g:
                wt = read_windows(windows_tsv, g.sizes)
                return encode_windows(g, wt, None)

        # (a) and (b) interleaved, best of REPEATS each
        t_pyfaidx = t_ours = float("inf")
        for _ in range(REPEATS):
            seqs, t = timed(run_pyfaidx)
            t_pyfaidx = min(t_pyfaidx, t)
            del seqs
            enc, t = timed(run_ours)
            t_ours = min(t_ours, t)
            del enc
            gc.collect()
        # peak memory of (b), traced in a separate run (tracing slows Python code)
        tracemalloc.start()
        enc = run_ours()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tensor = enc.X.nbytes + enc.y.nbytes
        # correctness spot check against pyfaidx
        from bionas.data.onehot import decode

        seqs = run_pyfaidx()
        assert len(seqs) == n and len(seqs[0]) == WIDTH
        for i in np.random.default_rng(0).integers(0, n, size=100):
            assert decode(enc.X[i])[0] == seqs[i]
        del seqs, enc
        gc.collect()

        ratio = t_ours / t_pyfaidx
        mem_ratio = peak / tensor
        print(f"timings: best of {REPEATS}, interleaved")
        print(f"(a) pyfaidx fetch only:        {t_pyfaidx:6.2f} s  ({mbp / t_pyfaidx:6.1f} Mbp/s)")
        print(f"(b) bionas read+encode:        {t_ours:6.2f} s  ({mbp / t_ours:6.1f} Mbp/s)")
        print(f"    ratio (b)/(a):             {ratio:6.2f}x")
        print(
            f"    peak traced memory:        {peak / 2**20:8.0f} MiB  vs tensors {tensor / 2**20:.0f} MiB ({mem_ratio:.2f}x)"
        )

        results = [
            ("encode within 1.25x of pyfaidx fetch", ratio <= 1.25, f"{ratio:.2f}x"),
            (f"{mbp:.0f} Mbp encoded in < 10 s", t_ours < 10, f"{t_ours:.2f} s"),
            ("peak memory < 3x output tensors", mem_ratio < 3, f"{mem_ratio:.2f}x"),
        ]

        if not args.no_cli:
            exe = [sys.executable, "-m", "bionas"]
            cmd_prepare = [
                *exe, "prepare", "--genome", str(fasta), "--peaks", f"bench={peaks}", "--window", str(WIDTH),
                "--negative-ratio", "0", "--val-chroms", "chr7", "--test-chroms", "chr8",
                "--out", str(root / "cli_windows.tsv"), "--summary", str(root / "cli_summary.tsv"),
            ]  # fmt: skip
            cmd_encode = [
                *exe, "encode", "--genome", str(fasta), "--windows", str(root / "cli_windows.tsv"),
                "--out-dir", str(root / "data"),
            ]  # fmt: skip
            _, t_cli_prepare = timed(subprocess.run, cmd_prepare, check=True, capture_output=True)
            _, t_cli_encode = timed(subprocess.run, cmd_encode, check=True, capture_output=True)
            rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            size = sum(p.stat().st_size for p in (root / "data").glob("*.npz")) / 2**20
            print(f"(c) CLI prepare:               {t_cli_prepare:6.2f} s")
            print(
                f"    CLI encode (+ .npz write): {t_cli_encode:6.2f} s  (max RSS {rss:.0f} MiB, .npz {size:.0f} MiB)"
            )
            total = t_cli_prepare + t_cli_encode
            print(
                f"    CLI total:                 {total:6.2f} s (informational: includes compressing the .npz)"
            )

        print()
        for name, ok, value in results:
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
        return 0 if all(ok for name, ok, _ in results[:3]) else 1


if __name__ == "__main__":
    sys.exit(main())
