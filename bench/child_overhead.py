"""Fixed cost of a child job: `bionas train-child` as a subprocess vs in a warm process.

One child of the demo's default size (Conv1D 32 filters k=14 -> global max pool
-> dense 16 -> sigmoid, from config/model_space.yaml), trained as the demo
trains its children (the config's default training: at most 30 epochs, early
stopping with patience 5, best epoch restored) on the demo's tensors
(``results/demo/data/{train,val}.npz``, made by ``make demo`` or
``snakemake --cores 2 results/demo/data/train.npz``; without them, synthetic
200 bp sequences with a planted motif, and the output says so), is run

* as ``python -m bionas train-child ...`` with ``$BIONAS_WORKER`` naming a
  warm worker (:mod:`bionas.worker`): what a Snakemake job does when the
  workflow runs on this machine (``training.warm_worker``, the default);
* as the same command without a worker: what a cluster job does (it imports
  TensorFlow itself);
* through ``bionas.cli.main([...])`` inside this process, after TensorFlow has
  been imported and one child has already been trained here (warm).

Runs of the kinds alternate, so all see the same machine load; medians are
compared, and the three results must be identical.

The difference between a job and the warm run is the per-job overhead
(interpreter start, imports, TensorFlow runtime start-up, exit). PASS when the
job through the worker costs at most 20% and at most 5 s more than the warm
run. The job without a worker is reported beside it, with a breakdown of its
fixed costs (each import timed in its own process).

Run: ``python bench/child_overhead.py [--data DIR] [--epochs 30] [--patience 5] [--repeats 2]``
(``--patience 0`` trains a fixed number of epochs).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bionas.pipeline.config import load_schema

REPO = Path(__file__).resolve().parents[1]
SPACE = REPO / "config" / "model_space.yaml"
LAYERS = ["conv_k14_f32", "none", "gmax", "none", "dense_16"]
MOTIF = "CCGCGCCCTCTGGCG"  # planted in half of the sequences
DEMO_DATA = REPO / "results" / "demo" / "data"
MAX_RATIO = 0.20
MAX_EXTRA_S = 5.0


def synthetic(n: int, length: int, seed: int) -> dict[str, np.ndarray]:
    """One-hot (n, length, 4) uint8 with the motif planted in a random half, labels (n, 1)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, size=(n, length))
    y = (rng.random(n) < 0.5).astype(np.float32)
    motif = np.array(["ACGT".index(b) for b in MOTIF])
    starts = rng.integers(0, length - len(motif), size=n)
    for i in np.flatnonzero(y):
        idx[i, starts[i] : starts[i] + len(motif)] = motif
    X = np.zeros((n, length, 4), dtype=np.uint8)
    np.put_along_axis(X, idx[..., None], 1, axis=2)
    return {
        "X": X,
        "y": y[:, None],
        "tasks": np.array(["planted"]),
        "regions": np.array([f"synth:{i * length}-{(i + 1) * length}" for i in range(n)]),
    }


def timed_subprocess(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    training = load_schema()["properties"]["training"]["properties"]
    parser.add_argument("--data", type=Path, default=DEMO_DATA,
                        help="directory with train.npz and val.npz (default: the demo's tensors)")
    parser.add_argument("--n", type=int, default=8000, help="synthetic training sequences (val: n/4)")
    parser.add_argument("--length", type=int, default=200, help="synthetic sequence length")
    parser.add_argument("--epochs", type=int, default=training["epochs"]["default"])
    parser.add_argument("--patience", type=int, default=training["patience"]["default"])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each kind (median taken)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)  # quiet the in-process runs

    from bionas.io import save_npz
    from bionas.records.architecture import make_architecture
    from bionas.records.space import load_space

    with tempfile.TemporaryDirectory(prefix="bionas-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if (args.data / "train.npz").exists() and (args.data / "val.npz").exists():
            data = args.data
            what = f"tensors of {data}"
        else:
            data = tmp
            save_npz(tmp / "train.npz", **synthetic(args.n, args.length, 1))
            save_npz(tmp / "val.npz", **synthetic(args.n // 4, args.length, 2))
            what = f"synthetic, {args.n} x {args.length} bp ({args.data} has no train.npz/val.npz)"
        with np.load(data / "train.npz") as npz:
            n_train, length = npz["X"].shape[:2]
        space = load_space(SPACE, window=int(length))
        (tmp / "arch.json").write_text(json.dumps(make_architecture(space, LAYERS)))

        def child_argv(out: str) -> list[str]:
            return [
                "train-child",
                "--space",
                str(SPACE),
                "--architecture",
                str(tmp / "arch.json"),
                "--train",
                str(data / "train.npz"),
                "--val",
                str(data / "val.npz"),
                "--out-dir",
                str(tmp / out),
                "--epochs",
                str(args.epochs),
                "--patience",
                str(args.patience),
                "--threads",
                str(args.threads),
                "--seed",
                "1",
            ]

        command = [sys.executable, "-m", "bionas"]
        from bionas import worker
        from bionas.cli import main as bionas_main

        server, socket_path = worker.start(tmp / "worker.log")
        plain_env = {k: v for k, v in os.environ.items() if k != worker.ENV}
        worker_env = {**plain_env, worker.ENV: socket_path}
        while "ready" not in (tmp / "worker.log").read_text():
            if server.poll() is not None:
                raise SystemExit(f"the worker failed: {(tmp / 'worker.log').read_text()}")
            time.sleep(0.1)

        def read(out: str) -> dict:
            return json.loads((tmp / out / "train.json").read_text())

        # warm: TensorFlow imported and its runtime started by one training in this process
        start = time.perf_counter()
        assert bionas_main(child_argv("warmup")) == 0
        first_in_process = time.perf_counter() - start
        sub_times, fast_times, warm_times, sub_train, warm_train = [], [], [], [], []
        for i in range(args.repeats):  # interleaved, so all kinds see the same machine load
            sub_times.append(timed_subprocess(command + child_argv(f"sub{i}"), plain_env))
            sub_train.append(read(f"sub{i}")["seconds"])
            fast_times.append(timed_subprocess(command + child_argv(f"fast{i}"), worker_env))
            start = time.perf_counter()
            assert bionas_main(child_argv(f"warm{i}")) == 0
            warm_times.append(time.perf_counter() - start)
            warm_train.append(read(f"warm{i}")["seconds"])
        record = read("warm0")
        assert read("sub0")["history"]["val_loss"] == record["history"]["val_loss"]
        assert read("fast0")["history"]["val_loss"] == record["history"]["val_loss"]
        worker.stop(server, socket_path)
        served = (tmp / "worker.log").read_text()
        assert f"{args.repeats} jobs served" in served, served

        # where the fixed time goes, each import in a fresh process
        python = [sys.executable, "-c"]
        breakdown = {
            "python start": statistics.median(
                timed_subprocess(python + ["pass"]) for _ in range(3)
            ),
            "import bionas.cli": timed_subprocess(python + ["import bionas.cli"]),
        }
        imports, exits = [], []
        for _ in range(2):
            start = time.perf_counter()
            out = subprocess.run(
                python
                + [
                    "import time; t = time.perf_counter(); import keras; print(time.perf_counter() - t)"
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            imports.append(float(out.stdout.split()[-1]))
            exits.append(wall - imports[-1] - breakdown["python start"])
        breakdown |= {
            "import keras + tensorflow": statistics.median(imports),
            "interpreter exit after importing them": statistics.median(exits),
            "cold TF runtime (training s, sub - warm)": statistics.median(sub_train)
            - statistics.median(warm_train),
        }
        from bionas.records.tensors import load_tensors

        start = time.perf_counter()
        load_tensors(data / "train.npz")
        load_tensors(data / "val.npz")
        breakdown["load + check + hash npz"] = time.perf_counter() - start

    sub = statistics.median(sub_times)
    warm = statistics.median(warm_times)
    fast = statistics.median(fast_times)
    extra = fast - warm
    ratio = extra / warm
    ok = ratio <= MAX_RATIO and extra <= MAX_EXTRA_S
    epochs = record["epochs"]
    per_epoch = statistics.median(warm_train) / epochs
    print(
        f"child: {' '.join(LAYERS)}; data: {what}, {n_train} training windows of {length} bp; "
        f"{epochs} epochs trained (max {args.epochs}, patience {args.patience}), "
        f"threads {args.threads}; params {record['params']}, val_auroc {record['val_auroc']:.3f}"
    )
    print(
        f"job, warm worker (local runs):  {fast:7.2f} s  runs {', '.join(f'{t:.2f}' for t in fast_times)}"
    )
    print(
        f"job, no worker (cluster jobs):  {sub:7.2f} s  runs {', '.join(f'{t:.2f}' for t in sub_times)}"
        f"  (difference {sub - warm:.2f} s, {(sub - warm) / warm:.0%})"
    )
    print(
        f"in process, warm:               {warm:7.2f} s  runs {', '.join(f'{t:.2f}' for t in warm_times)}"
    )
    print(f"in process, first after start:  {first_in_process:7.2f} s  (imports TensorFlow itself)")
    print(f"difference, worker job - warm:  {extra:7.2f} s  (limit {MAX_EXTRA_S:.1f} s)")
    print(f"ratio difference / warm:        {ratio:7.1%}  (limit {MAX_RATIO:.0%})")
    print("fixed costs of a job without a worker:")
    for what, seconds in breakdown.items():
        print(f"  {what:42s} {seconds:6.2f} s")
    print(
        f"training {per_epoch:.2f} s/epoch warm: without the worker the difference is "
        f"{MAX_RATIO:.0%} of a child that trains about "
        f"{(sub - warm) / (MAX_RATIO * per_epoch):.0f} epochs"
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
