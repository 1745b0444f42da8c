"""Build the gold-standard results table for `bench/search.py` with the real workflow.

Runs the workflow on the demo data with the `grid` controller over a model
space (default: the product's own, `config/model_space.yaml`; every
architecture once per run) for several training seeds, and stacks the runs'
histories into one results table with a `replicate` column:
`bench/data/results.tsv` (with each child's per-epoch validation losses in
`val_loss_curve`, for replaying successive halving), with the space copied beside it as
`bench/data/space.yaml` so that the two stay a pair. Each row is a real
trained and scored child, so the table is a faithful "mock black box" for
replay.

    python bench/build_table.py [--space YAML] [--replicates 3] [--cores 2] [--epochs 15]

``--dataset YAML`` trains on another dataset instead of the demo: a file with one
entry, ``{name: {...dataset block as in config/config.yaml...}}`` (for example
``bench/datasets/gata_foxa.yaml``, a simulated genome with other planted motifs,
other priors and another window), so that a strategy chosen on one table can be
reported on another.

``--extend`` keeps the replicates already in ``--out`` and trains only the missing
ones: replicate ``r`` always trains with seed ``r + 1``, so a table extended from 2 to 3
replicates holds the trainings a 3-replicate build would run. The table's record beside it
(``results.build.yaml`` for ``results.tsv``:
dataset, epochs, space) must match the arguments, so that one table never mixes two
datasets.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=ROOT / "config" / "model_space.yaml")
    parser.add_argument("--replicates", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "data" / "results.tsv")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temp dir)")
    parser.add_argument(
        "--dataset", type=Path, help="YAML {name: dataset block} to train on instead of the demo"
    )
    parser.add_argument(
        "--extend", action="store_true",
        help="keep the replicates already in --out and train only the missing ones",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from bionas.records.space import load_space

    space = load_space(args.space)
    children = 4 if space.size % 4 == 0 else 1
    steps = space.size // children
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bionas-table-"))
    work.mkdir(parents=True, exist_ok=True)
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    dataset = "demo"
    if args.dataset is not None:
        datasets = yaml.safe_load(args.dataset.read_text())
        if not isinstance(datasets, dict) or len(datasets) != 1:
            sys.exit(f"{args.dataset}: expected one entry, {{name: dataset block}}")
        dataset = next(iter(datasets))
        base["datasets"] = datasets
    training = {"epochs": args.epochs, "patience": 3}
    record = {"dataset": base["datasets"][dataset] if args.dataset else "demo", **training,
              "space": yaml.safe_load(args.space.read_text())}
    tables = _kept_replicates(args, record, space) if args.extend else []
    for replicate in range(len(tables), args.replicates):
        config = dict(base)
        config["run"] = f"grid_seed{replicate + 1}"
        config["search"] = {
            "space": str(args.space.resolve()),
            "controller": "grid",
            "steps": steps,
            "children_per_step": children,
            "lambda": 1.0,
        }
        config["training"] = {**training, "seed": replicate + 1}
        path = work / f"config_{replicate}.yaml"
        path.write_text(yaml.safe_dump(config))
        history = f"results/{dataset}/{config['run']}/search/step_{steps:03d}/history.tsv"
        cmd = [
            sys.executable, "-m", "snakemake", "-s", str(ROOT / "workflow" / "Snakefile"),
            "--directory", str(work), "--configfile", str(path), "--cores", str(args.cores),
            "--quiet", "all", "--", history,
        ]
        print(f"replicate {replicate + 1}: training {space.size} architectures ...", flush=True)
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(proc.stderr[-3000:])
        table = pd.read_csv(work / history, sep="\t")
        table["replicate"] = replicate
        table["val_loss_curve"] = [
            _curve(work / history.rsplit("/", 2)[0], int(step), int(child))
            for step, child in zip(table["step"], table["child"], strict=True)
        ]
        tables.append(table)
    columns = [*space.layer_names, "val_loss", "knowledge", "val_auroc", "replicate", "status",
               "val_loss_curve"]  # fmt: skip
    out = pd.concat(tables, ignore_index=True)[columns]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, sep="\t", index=False)
    copy = args.out.parent / "space.yaml"
    if copy.resolve() != args.space.resolve():
        copy.write_text(
            f"# The space of {args.out.name} (a copy of {args.space.name}, written by "
            f"bench/build_table.py).\n{args.space.read_text()}"
        )
    args.out.with_suffix(".build.yaml").write_text(
        f"# How {args.out.name} was built (bench/build_table.py); --extend checks it.\n"
        + yaml.safe_dump(record, sort_keys=False)
    )
    print(f"wrote {len(out)} rows ({space.size} architectures x {args.replicates}) to {args.out}")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _kept_replicates(args: argparse.Namespace, record: dict, space) -> list[pd.DataFrame]:
    """The replicates of an existing --out table, one frame each, after checking that it was
    built with the same dataset, epochs and space as this run (the .build.yaml beside it)."""
    built = args.out.with_suffix(".build.yaml")
    if not args.out.exists():
        return []
    if not built.exists():
        sys.exit(f"{built}: missing; --extend needs the record of how {args.out} was built")
    before = yaml.safe_load(built.read_text())
    for key, value in record.items():
        if before.get(key) != value:
            sys.exit(f"{built}: {key} differs from this run's; --extend cannot mix two builds")
    table = pd.read_csv(args.out, sep="\t", keep_default_na=False, dtype=str)
    groups = dict(list(table.groupby(table["replicate"].astype(int))))
    if len(groups) > args.replicates:
        sys.exit(f"{args.out}: holds {len(groups)} replicates, more than --replicates {args.replicates}")
    if sorted(groups) != list(range(len(groups))):
        sys.exit(f"{args.out}: replicates {sorted(groups)}, expected 0 to {len(groups) - 1}")
    for replicate, rows in groups.items():
        if len(rows) != space.size:
            sys.exit(f"{args.out}: replicate {replicate} has {len(rows)} rows, expected {space.size}")
    kept = [groups[r] for r in sorted(groups)]
    print(f"kept {len(kept)} replicate(s) of {args.out}", flush=True)
    return kept


def _curve(search: Path, step: int, child: int) -> str:
    """The child's validation loss after every epoch (its train.json), comma-separated: what
    a replay of successive halving needs (bionas.search.replay)."""
    import json

    record = json.loads((search / f"step_{step:03d}" / f"child_{child:02d}" / "train.json").read_text())
    values = (record.get("history") or {}).get("val_loss") or []
    return ",".join("nan" if v is None else repr(float(v)) for v in values)


if __name__ == "__main__":
    sys.exit(main())
