"""Benchmark: the data stage and a child's start on an hg38-sized genome.

Generates in a temporary directory (under /tmp, removed at the end unless
``--keep``):

* a genome with hg38's 24 primary chromosomes at their lengths (3.1 Gb at
  ``--scale 1``), 60 bp lines, N runs (telomeres, a centromere, scattered
  gaps), soft-masked (lower-case) runs over about 40% of it, GC varying by
  100 kb block (0.34-0.58), and small extra contigs (``_random``, ``chrUn_``,
  ``_alt``, chrM, chrEBV);
* two tasks of 100,000 narrowPeak peaks each (gzip; 40% of the second's
  peaks near the first's, peaks drawn towards GC-rich blocks, a few on the
  extra contigs), and a blacklist of 900 regions;

then runs, through the CLI, ``bionas prepare`` (1 kb windows, ``gc_matched``
negatives, chr8 validation, chr9 test) and ``bionas encode``, and side by
side the reference: pyfaidx indexing a fresh name of the same genome and
fetching the same windows, plus ``bedtools shuffle`` placing as many
negatives as the positives (outside peaks and blacklist). Printed: wall time
and peak RSS of each, and the ratios.

Then the children, started as processes the way a search starts them (one
thread, TensorFlow imported, the model built and its training step traced
first, as ``bionas train-child`` would before its first batch):

* one child: time from ``load_tensors`` to the end of its first training
  batch, and its private memory growth (``RssAnon`` in ``/proc/PID/status``)
  from loading the tensors to 50 training batches; side by side a child that
  reads ``X`` into memory and converts it to a tensor, as before;
* four children at once, each after reading every row of the training set
  once through the batch pipeline (what an epoch reads): their RSS and PSS
  (``/proc/PID/smaps_rollup``) and the RSS and PSS of their mapping of
  ``train.npz`` (``/proc/PID/smaps``). Four processes sharing one copy have
  a mapping PSS of about a quarter of its RSS each.

Targets (PASS/FAIL): prepare + encode within 2x of the reference; peak RSS of
prepare and of encode under 2x the tensors' size + 1 GiB (also shown for their
private memory alone: RSS counts the genome FASTA they map) and under 8 GiB; a
child's time to its first batch under 2 s and its RSS growth under 25% of
the tensors' size; the four children's mappings of ``train.npz`` add up to
one copy (sum of PSS within 1.1x of one child's RSS of it).

    python bench/scale.py [--scale 1.0] [--keep DIR] [--seed 1]

``--scale 0.05`` runs everything at 5% (genome, peaks, blacklist) for a quick check.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

HG38 = {
    "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555,
    "chr5": 181538259, "chr6": 170805979, "chr7": 159345973, "chr8": 145138636,
    "chr9": 138394717, "chr10": 133797422, "chr11": 135086622, "chr12": 133275309,
    "chr13": 114364328, "chr14": 107043718, "chr15": 101991189, "chr16": 90338345,
    "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
    "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415,
}  # fmt: skip
EXTRA = {
    "chrM": 16569, "chr1_KI270706v1_random": 175055, "chr14_GL000009v2_random": 201709,
    "chrUn_GL000220v1": 161802, "chrUn_KI270442v1": 392061, "chr6_GL000250v2_alt": 4672374,
    "chrEBV": 171823,
}  # fmt: skip
LINE, BLOCK, CHUNK = 60, 100_000, 6_000_000  # CHUNK: a multiple of LINE and BLOCK
GC_LEVELS = np.round(np.arange(0.34, 0.581, 0.02), 2)
PEAKS, BLACKLIST, WIDTH, BATCH = 100_000, 900, 1000, 64
GiB = 1 << 30


# -- inputs ------------------------------------------------------------------------


def _luts() -> np.ndarray:
    """(levels, 256) uint8: a random byte -> a base with the level's GC fraction."""
    out = np.empty((len(GC_LEVELS), 256), dtype=np.uint8)
    for k, gc in enumerate(GC_LEVELS):
        g = int(round(gc * 128))  # G and C each take g of 256 values
        at = (256 - 2 * g) // 2
        out[k] = np.frombuffer(
            b"G" * g + b"C" * g + b"A" * at + b"T" * (256 - 2 * g - at), dtype=np.uint8
        )
    return out


def write_genome(path: Path, sizes: dict[str, int], rng) -> dict[str, dict]:
    """Write the FASTA; return per sequence its N runs and the GC level of each block."""
    luts = _luts()
    layout = {}
    with open(path, "wb", buffering=1 << 22) as out:
        for name, length in sizes.items():
            out.write(f">{name}\n".encode())
            primary = name in HG38
            gaps = []
            if primary:
                tel = min(10_000, length // 100)
                cen_len = max(1000, int(length * 0.02))
                cen = int(length * rng.uniform(0.3, 0.45))
                gaps = [(0, tel), (length - tel, length), (cen, cen + cen_len)]
                for s in rng.integers(tel, length - tel - 60_000, size=max(1, length // 10_000_000)):
                    gaps.append((int(s), int(s) + int(rng.integers(1000, 50_000))))
            levels = rng.integers(0, len(GC_LEVELS), size=-(-length // BLOCK))
            layout[name] = {"gaps": gaps, "levels": levels, "length": length}
            for c0 in range(0, length, CHUNK):
                m = min(CHUNK, length - c0)
                raw = np.frombuffer(rng.bytes(m), dtype=np.uint8)
                seq = np.empty(m, dtype=np.uint8)
                for b0 in range(0, m, BLOCK):
                    seq[b0 : b0 + BLOCK] = luts[levels[(c0 + b0) // BLOCK]][raw[b0 : b0 + BLOCK]]
                # soft-masking: runs of mean 1 kb starting every 2 kb on average
                n_runs = m // 2000
                starts = rng.integers(0, m, size=n_runs)
                ends = np.minimum(m, starts + rng.exponential(1000, size=n_runs).astype(np.int64))
                depth = np.zeros(m + 1, dtype=np.int32)
                np.add.at(depth, starts, 1)
                np.add.at(depth, ends, -1)
                seq[np.cumsum(depth[:m]) > 0] |= 0x20
                for s, e in gaps:
                    s, e = max(s, c0) - c0, min(e, c0 + m) - c0
                    if s < e:
                        seq[s:e] = ord("N")
                full = m // LINE * LINE
                lines = np.empty((full // LINE, LINE + 1), dtype=np.uint8)
                lines[:, :LINE] = seq[:full].reshape(-1, LINE)
                lines[:, LINE] = ord("\n")
                out.write(lines.tobytes())
                if full < m:
                    out.write(seq[full:].tobytes() + b"\n")
    return layout


def _gap_free(layout: dict, chrom: str, start: int, end: int) -> bool:
    return all(e <= start or s >= end for s, e in layout[chrom]["gaps"])


def peak_positions(layout: dict, n: int, rng) -> tuple[list[str], np.ndarray]:
    """``n`` peak centres on the primary chromosomes, drawn towards GC-rich blocks."""
    chroms, centres = [], []
    names = [c for c in layout if c in HG38]
    block_chrom = np.concatenate([np.full(len(layout[c]["levels"]), i) for i, c in enumerate(names)])
    block_index = np.concatenate([np.arange(len(layout[c]["levels"])) for c in names])
    gc = GC_LEVELS[np.concatenate([layout[c]["levels"] for c in names])]
    weight = np.exp(8 * (gc - gc.mean()))
    weight /= weight.sum()
    while len(centres) < n:
        for b in rng.choice(len(weight), size=n - len(centres), p=weight):
            chrom = names[block_chrom[b]]
            centre = int(block_index[b]) * BLOCK + int(rng.integers(0, BLOCK))
            if centre + WIDTH < layout[chrom]["length"] and _gap_free(
                layout, chrom, centre - WIDTH, centre + WIDTH
            ):
                chroms.append(chrom)
                centres.append(centre)
    return chroms, np.array(centres, dtype=np.int64)


def write_peaks(path: Path, chroms: list[str], centres: np.ndarray, rng) -> None:
    """narrowPeak, gzip: widths 200-1,000, the summit at the centre."""
    n = len(centres)
    half = rng.integers(100, 500, size=n)
    start = np.maximum(0, centres - half)
    signal = rng.gamma(2.0, 10.0, size=n)
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i in np.argsort(-signal, kind="stable"):
            out.write(
                f"{chroms[i]}\t{start[i]}\t{centres[i] + half[i]}\tpeak{i}\t"
                f"{min(1000, int(signal[i] * 20))}\t.\t{signal[i]:.3f}\t{signal[i] / 2:.3f}\t"
                f"{signal[i] / 3:.3f}\t{centres[i] - start[i]}\n"
            )


def build_inputs(root: Path, scale: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    sizes = {c: max(2_000_000, int(n * scale)) for c, n in HG38.items()}
    sizes.update(EXTRA)
    t0 = time.perf_counter()
    layout = write_genome(root / "genome.fa", sizes, rng)
    t_genome = time.perf_counter() - t0
    n = max(1000, int(PEAKS * scale))
    chroms, centres = peak_positions(layout, n, rng)
    first = root / "task_a.narrowPeak.gz"
    write_peaks(first, chroms, centres, rng)
    # the second task: 40% near the first's peaks, the rest new
    k = int(0.4 * n)
    take = rng.choice(n, size=k, replace=False)
    c2, p2 = peak_positions(layout, n - k, rng)
    chroms2 = [chroms[i] for i in take] + c2
    centres2 = np.concatenate([centres[take] + rng.integers(-150, 150, size=k), p2])
    extra = [c for c in EXTRA if c != "chrM"]  # a few peaks the default 'primary' leaves out
    for j in range(20):
        chroms2[j] = extra[j % len(extra)]
        centres2[j] = 5000 + 100 * j
    write_peaks(root / "task_b.narrowPeak.gz", chroms2, centres2, rng)
    with open(root / "blacklist.bed", "w") as out:
        names = list(HG38)
        for _ in range(max(20, int(BLACKLIST * scale))):
            chrom = names[int(rng.integers(len(names)))]
            s = int(rng.integers(0, sizes[chrom] - 100_000))
            out.write(f"{chrom}\t{s}\t{s + int(rng.integers(1000, 50_000))}\n")
    return {"sizes": sizes, "genome_seconds": t_genome, "peaks": n}


# -- measured processes -----------------------------------------------------------


def run_measured(cmd: list[str], log: Path, **kwargs) -> tuple[float, int, int]:
    """Run ``cmd``; return (wall seconds, peak RSS, peak private RSS) in bytes. Exit if it fails.

    Peak RSS (the kernel's ``ru_maxrss``) counts the pages of files the process
    maps, such as the genome FASTA the data stages read through a memory map:
    clean page cache, shared and reclaimable. Peak private RSS (``RssAnon`` in
    ``/proc/PID/status``, read every 50 ms) is the memory the process itself
    allocated.
    """
    t0 = time.perf_counter()
    private = 0
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT, **kwargs)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("RssAnon:"):
                        private = max(private, int(line.split()[1]) * 1024)
            except OSError:
                pass
            time.sleep(0.05)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd[:4]))} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss * 1024, private


FETCH = """
import sys, pandas as pd, pyfaidx
t = pd.read_csv(sys.argv[2], sep="\\t", comment="#", usecols=["chrom", "start", "end"])
fa = pyfaidx.Fasta(sys.argv[1], as_raw=True, sequence_always_upper=True)
n = 0
for c, s, e in zip(t["chrom"], t["start"].tolist(), t["end"].tolist()):
    n += len(fa[c][s:e])
print(n)
"""


# -- children ----------------------------------------------------------------------

CHILD = """
import json, sys, time
t_start = time.perf_counter()
train_path, val_path, mode, n_batches, touch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"

def status():
    out = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile"):
            out[k] = int(v.split()[0]) * 1024
    return out

import numpy as np
from bionas.search.train import batches, configure_tensorflow
from bionas.search.builder import build_model
from bionas.records.space import load_space
from bionas.records.tensors import load_tensors
tf, keras = configure_tensorflow(1, 1)
space = load_space(sys.argv[6], window=int(sys.argv[7]))
model = build_model(space, json.loads(sys.argv[8]), int(sys.argv[7]), int(sys.argv[9]), seed=1)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3), loss="binary_crossentropy")
# trace the training step before the data arrives (the same shapes: no retrace later)
warm = tf.zeros((2 * %(batch)d, int(sys.argv[7]), 4)), tf.zeros((2 * %(batch)d, int(sys.argv[9])))
model.fit(tf.data.Dataset.from_tensor_slices(warm).batch(%(batch)d), epochs=1, verbose=0)
t_ready = time.perf_counter()
before = status()
marks = {}

class First(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            marks["first"] = time.perf_counter()
            marks["at_first"] = status()

t0 = time.perf_counter()
train = load_tensors(train_path, mmap=(mode == "mapped"))
val = load_tensors(val_path, mmap=(mode == "mapped"))
X = train.X if mode == "mapped" else tf.convert_to_tensor(train.X)  # as before: a tensor copy
val_X = tf.convert_to_tensor(val.X)  # what train_child does with the validation set
t_loaded = time.perf_counter()
model.fit(batches(tf, X, train.y, %(batch)d, seed=1), epochs=1, steps_per_epoch=n_batches,
          verbose=0, callbacks=[First()])
after = status()
out = {"mode": mode, "import_build_s": t_ready - t_start, "load_s": t_loaded - t0,
       "first_batch_s": marks["first"] - t0, "before": before, "at_first": marks["at_first"],
       "after": after, "mapped": bool(train.mapped), "tensor_bytes": int(train.X.nbytes + train.y.nbytes)}
if touch:  # read every row once, as an epoch does
    t1 = time.perf_counter()
    for _ in batches(tf, X, None, 4096):
        pass
    out["epoch_read_s"] = time.perf_counter() - t1
    out["after_epoch_read"] = status()
print(json.dumps(out), flush=True)
sys.stdin.readline()  # the parent reads /proc/PID/smaps meanwhile
"""


def _smaps(pid: int, target: Path) -> dict[str, int]:
    """Rss and Pss of the whole process and of its mappings of ``target``, bytes."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        if key in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Shared_Clean", "Private_Clean", "Private_Dirty"):
            out[key] = int(value.split()[0]) * 1024
    rss = pss = 0
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            inside = line.rstrip().endswith(str(target))
        elif inside and line.startswith("Rss:"):
            rss += int(head[1]) * 1024
        elif inside and line.startswith("Pss:"):
            pss += int(head[1]) * 1024
    out["file_rss"], out["file_pss"] = rss, pss
    return out


def start_children(args_list: list[list[str]]) -> list[tuple[subprocess.Popen, dict]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD % {"batch": BATCH}, *a],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )  # fmt: skip
        for a in args_list
    ]
    results = []
    for p in procs:
        line = p.stdout.readline()
        if not line:
            p.wait()
            sys.exit(f"a child failed (exit {p.returncode}); rerun it by hand to see why")
        results.append((p, json.loads(line)))
    return results


def release(children) -> None:
    for p, _ in children:
        p.stdin.write("\n")
        p.stdin.flush()
        p.wait()


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# -- main --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="genome and peaks as a fraction of hg38 (default 1)")
    parser.add_argument("--keep", default=None, help="work in this directory and keep it")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batches", type=int, default=50, help="training batches per child (default 50)")
    args = parser.parse_args(argv)
    if not 0.001 <= args.scale <= 1.0:
        parser.error("--scale must be between 0.001 and 1")
    if shutil.which("bedtools") is None:
        sys.exit("bedtools is not on PATH (Debian: apt-get install bedtools)")
    tmp = None if args.keep else tempfile.mkdtemp(prefix="bionas-scale-", dir="/tmp")
    root = Path(args.keep or tmp)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return _run(root, args)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _run(root: Path, args) -> int:
    with open("/proc/loadavg") as f:
        print(f"load average at start: {' '.join(f.read().split()[:3])}; {os.cpu_count()} CPUs")
    info = build_inputs(root, args.scale, args.seed)
    genome = root / "genome.fa"
    gb = genome.stat().st_size / 1e9
    print(
        f"inputs: {gb:.2f} GB FASTA ({len(info['sizes'])} sequences) in {info['genome_seconds']:.0f} s; "
        f"2 x {info['peaks']:,} peaks; scale {args.scale}"
    )
    exe = [sys.executable, "-m", "bionas"]
    t_prep, rss_prep, anon_prep = run_measured(
        [*exe, "prepare", "--genome", genome, "--peaks", f"a={root / 'task_a.narrowPeak.gz'}",
         f"b={root / 'task_b.narrowPeak.gz'}", "--blacklist", root / "blacklist.bed",
         "--window", str(WIDTH), "--negatives", "gc_matched", "--negative-ratio", "1",
         "--val-chroms", "chr8", "--test-chroms", "chr9", "--out", root / "windows.tsv",
         "--summary", root / "summary.tsv"],
        root / "prepare.log",
    )  # fmt: skip
    data = root / "data"
    t_enc, rss_enc, anon_enc = run_measured(
        [*exe, "encode", "--genome", genome, "--windows", root / "windows.tsv", "--out-dir", data],
        root / "encode.log",
    )  # fmt: skip

    # the reference: pyfaidx (its own index, of a second name of the same file) and bedtools
    import pandas as pd

    ref = root / "reference.fa"
    os.link(genome, ref)
    t_fetch, rss_fetch, _ = run_measured(
        [sys.executable, "-c", FETCH, ref, root / "windows.tsv"], root / "fetch.log"
    )
    table = pd.read_csv(root / "windows.tsv", sep="\t", comment="#", usecols=["chrom", "start", "end", "kind"])
    positives = table[table["kind"] == "peak"]
    positives[["chrom", "start", "end"]].to_csv(root / "positives.bed", sep="\t", header=False, index=False)
    with open(root / "genome.sizes", "w") as out:
        for c in HG38:
            out.write(f"{c}\t{info['sizes'][c]}\n")
    excl = pd.concat(
        [positives[["chrom", "start", "end"]],
         pd.read_csv(root / "blacklist.bed", sep="\t", header=None, names=["chrom", "start", "end"])]
    )  # fmt: skip
    excl.to_csv(root / "exclude.bed", sep="\t", header=False, index=False)
    with open(root / "shuffled.bed", "w") as out:
        t0 = time.perf_counter()
        subprocess.run(
            ["bedtools", "shuffle", "-i", root / "positives.bed", "-g", root / "genome.sizes",
             "-excl", root / "exclude.bed", "-seed", str(args.seed)],
            stdout=out, check=True,
        )  # fmt: skip
        t_shuffle = time.perf_counter() - t0

    sizes = {}
    for split in ("train", "val", "test"):
        with np.load(data / f"{split}.npz") as npz:
            sizes[split] = npz["X"].nbytes + npz["y"].nbytes
    tensors = sum(sizes.values())
    n_windows = len(table)
    ours, reference = t_prep + t_enc, t_fetch + t_shuffle
    print(f"windows: {n_windows:,} of {WIDTH} bp ({len(positives):,} peak windows); tensors {mib(tensors)}, "
          f".npz on disk {mib(sum((data / f'{s}.npz').stat().st_size for s in sizes))}")  # fmt: skip
    print(f"  bionas prepare (gc_matched):   {t_prep:7.1f} s   peak RSS {mib(rss_prep)} (private {mib(anon_prep)})")
    print(f"  bionas encode:                 {t_enc:7.1f} s   peak RSS {mib(rss_enc)} (private {mib(anon_enc)})")
    print(f"  reference pyfaidx index+fetch: {t_fetch:7.1f} s   peak RSS {mib(rss_fetch)}")
    print(f"  reference bedtools shuffle:    {t_shuffle:7.1f} s")
    print(f"  ratio (prepare+encode)/(reference): {ours:.1f} s / {reference:.1f} s = {ours / reference:.2f}x")

    # -- children
    space, layers = ROOT / "config" / "model_space.yaml", '["conv_k20_f64", "max4", "gavg", "drop_0.2", "none"]'
    common = [str(space), str(WIDTH), layers, "2"]
    train, val = str(data / "train.npz"), str(data / "val.npz")
    rows = {}
    for mode in ("mapped", "copied"):  # one at a time
        children = start_children([[train, val, mode, str(args.batches), "0", *common]])
        rows[mode] = children[0][1]
        release(children)
    one = rows["mapped"]
    grow = one["after"]["RssAnon"] - one["before"]["RssAnon"]
    grow_copy = rows["copied"]["after"]["RssAnon"] - rows["copied"]["before"]["RssAnon"]
    print(f"one child ({sizes['train'] / 2**20:,.0f} MiB of training tensors, {args.batches} batches of {BATCH}):")
    print(f"  TensorFlow import + model build + traced step: {one['import_build_s']:.1f} s (before the data)")
    for mode in ("mapped", "copied"):
        r = rows[mode]
        g = r["after"]["RssAnon"] - r["before"]["RssAnon"]
        print(f"  {mode:7s}: load {r['load_s']:.2f} s, first batch {r['first_batch_s']:.2f} s after load starts; "
              f"private RSS +{mib(g)}, file-backed RSS +{mib(r['after']['RssFile'] - r['before']['RssFile'])}")  # fmt: skip
    print("  (file-backed: page-cache pages of the mapped tensors, shared; the kernel maps whole cached")
    print("  folios, so the 1,024 rows load_tensors checks already map most of the file)")
    print(f"  ratio mapped/copied: first batch {one['first_batch_s'] / rows['copied']['first_batch_s']:.2f}x, "
          f"private RSS growth {grow / max(grow_copy, 1):.2f}x")

    children = start_children([[train, val, "mapped", "20", "1", *common] for _ in range(4)])
    target = data / "train.npz"
    maps = [_smaps(p.pid, target) for p, _ in children]
    release(children)
    print("four children at once, each after reading every training row once:")
    for k, ((_, r), m) in enumerate(zip(children, maps, strict=True)):
        print(f"  child {k}: RSS {mib(m['Rss'])}, PSS {mib(m['Pss'])}; train.npz mapping: RSS {mib(m['file_rss'])}, "
              f"PSS {mib(m['file_pss'])}; private {mib(m['Private_Dirty'] + m['Private_Clean'])} "
              f"(epoch read {r['epoch_read_s']:.1f} s)")  # fmt: skip
    sum_pss = sum(m["file_pss"] for m in maps)
    one_rss = max(m["file_rss"] for m in maps)
    print(f"  train.npz: sum of PSS {mib(sum_pss)} = {sum_pss / one_rss:.2f} x one child's RSS of it "
          f"({mib(one_rss)}; X is {mib(sizes['train'])})")

    limit = 2 * tensors + GiB
    results = [
        ("prepare + encode within 2x of the reference", ours <= 2 * reference, f"{ours / reference:.2f}x"),
        ("peak RSS under 2x tensors + 1 GiB", max(rss_prep, rss_enc) < limit, f"{mib(max(rss_prep, rss_enc))} vs {mib(limit)}"),
        ("peak private RSS under 2x tensors + 1 GiB", max(anon_prep, anon_enc) < limit, f"{mib(max(anon_prep, anon_enc))} vs {mib(limit)}"),
        ("data stage under 8 GiB", max(rss_prep, rss_enc) < 8 * GiB, mib(max(rss_prep, rss_enc))),
        ("child's first batch under 2 s after load starts", one["first_batch_s"] < 2, f"{one['first_batch_s']:.2f} s"),
        ("child's RSS growth under 25% of its tensors", grow < 0.25 * sizes["train"], f"{100 * grow / sizes['train']:.1f}%"),
        ("four children share one copy of train.npz", sum_pss < 1.1 * one_rss, f"{sum_pss / one_rss:.2f}x"),
    ]  # fmt: skip
    print()
    for name, ok, value in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}")
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {' '.join(f.read().split()[:3])}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
