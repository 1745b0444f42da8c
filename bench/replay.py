"""Replay benchmark: does the rl controller beat random search at equal budgets?

For budgets of 25, 50 and 100 children (400 seeds each) it replays the ``rl``
and ``random`` controllers against a results table and compares the median
gold-standard reward rank (1 = best) of each search's final architecture
(rl: the policy's most likely architecture; random: the best seen).
PASS when rl's median rank is no worse than random's at 50 and better at 100.

Why 400 seeds: on the recorded demo table the best ten architectures lie
within the replicates' noise, and the median of 20 searches of one
controller moved between 3 and 10 from one block of 20 seeds to the next
(``--seeds 20`` gives random 3 at 50 on seeds 0-19, 6 on seeds 0-99 and 8 on
seeds 200-599). 400 seeds make a difference of one or two ranks mean
something, and the whole run takes about a minute.

Run: ``python bench/replay.py [TABLE] [--space SPACE] [--lambda L] [--seeds 100]``.
Without TABLE it uses ``bench/data/results.tsv`` if it exists; otherwise it
builds a synthetic table over the space (and says so).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bionas.records.space import ModelSpace, load_space
from bionas.search.replay import gold_standard, read_table, replay_search
from bionas.search.strategies import get_controller

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = ROOT / "bench" / "data" / "results.tsv"
DEFAULT_SPACE = ROOT / "config" / "model_space.yaml"
BUDGETS = (25, 50, 100)


def synthetic_table(space: ModelSpace, seed: int = 0, replicates: int = 3) -> pd.DataFrame:
    """Every architecture of ``space`` with ``replicates`` noisy rows.

    Each option adds a fixed amount to the loss and to the knowledge term;
    the first layer's effects on the two disagree (what lowers the loss
    raises K), and pairs of adjacent layers interact a little.
    """
    rng = np.random.default_rng(seed)
    loss_fx = [rng.normal(0, 0.03, k) for k in space.option_counts]
    k_fx = [rng.normal(0, 0.05, k) for k in space.option_counts]
    k_fx[0] = -1.5 * loss_fx[0] + rng.normal(0, 0.01, space.option_counts[0])
    inter = [rng.normal(0, 0.01, (a, b)) for a, b in zip(space.option_counts, space.option_counts[1:])]
    rows = []
    for names in space.architectures():
        idx = space.encode(names)
        loss = 0.45 + sum(fx[i] for fx, i in zip(loss_fx, idx, strict=True))
        loss += sum(m[a, b] for m, a, b in zip(inter, idx, idx[1:]))
        k = 0.4 + sum(fx[i] for fx, i in zip(k_fx, idx, strict=True))
        for r in range(replicates):
            rows.append({**dict(zip(space.layer_names, names, strict=True)),
                         "val_loss": loss + rng.normal(0, 0.01),
                         "knowledge": max(0.0, k + rng.normal(0, 0.02)),
                         "replicate": r})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", nargs="?", help="results TSV (default: bench/data/results.tsv)")
    parser.add_argument(
        "--space",
        help="model-space YAML (default: bench/data/space.yaml for the default table, "
        "else config/model_space.yaml)",
    )
    parser.add_argument("--lambda", dest="lam", type=float, default=0.0, help="weight of knowledge")
    parser.add_argument("--seeds", type=int, default=400, help="searches per controller and budget")
    parser.add_argument("--batch", type=int, default=5, help="children per update")
    args = parser.parse_args(argv)
    if args.space is None:
        uses_default = not args.table and DEFAULT_TABLE.exists()
        args.space = str(ROOT / "bench" / "data" / "space.yaml" if uses_default else DEFAULT_SPACE)
    space = load_space(args.space)
    tmp = None
    if args.table:
        path = Path(args.table)
    elif DEFAULT_TABLE.exists():
        path = DEFAULT_TABLE
    else:
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "synthetic.tsv"
        synthetic_table(space).to_csv(path, sep="\t", index=False)
        print(f"no table given and no {DEFAULT_TABLE.relative_to(ROOT)}: using a synthetic table "
              f"over {args.space} (every architecture, 3 replicates)")
    table = read_table(path, space)
    gold = gold_standard(table, args.lam)
    print(f"table {path}: {len(table.rows)} architectures; space {space.size}; lambda {args.lam}; "
          f"{args.seeds} seeds per cell; batch {args.batch}")
    medians: dict[tuple[str, int], float] = {}
    print("final: rl's most likely architecture, random's best seen; best seen: the best single "
          "reward observed (what select_architecture keeps by default)")
    print(f"{'controller':>10} {'budget':>7} {'median rank':>12} {'mean rank':>10} {'top-5':>6} "
          f"{'best seen':>10} {'s/search':>9}")
    for name in ("random", "rl"):
        ctrl = get_controller(name, space)
        for budget in BUDGETS:
            ranks, seen = [], []
            t0 = time.perf_counter()
            for seed in range(args.seeds):
                res = replay_search(table, ctrl, budget, args.lam, seed, args.batch)
                ranks.append(int(gold.at[res.final, "rank_reward"]) if res.final in gold.index
                             else len(gold) + 1)
                seen.append(int(gold.at[res.best_seen, "rank_reward"]))
            per = (time.perf_counter() - t0) / args.seeds
            medians[name, budget] = statistics.median(ranks)
            top5 = sum(r <= 5 for r in ranks)
            print(f"{name:>10} {budget:>7} {medians[name, budget]:>12.1f} {np.mean(ranks):>10.1f} "
                  f"{top5:>6} {statistics.median(seen):>10.1f} {per:>9.2f}")
    ok50 = medians["rl", 50] <= medians["random", 50]
    ok100 = medians["rl", 100] < medians["random", 100]
    ok = ok50 and ok100
    print(f"rl vs random, median final reward rank: at 50 {medians['rl', 50]:g} vs "
          f"{medians['random', 50]:g} ({'ok' if ok50 else 'worse'}), at 100 "
          f"{medians['rl', 100]:g} vs {medians['random', 100]:g} ({'better' if ok100 else 'not better'})")
    print("PASS" if ok else "FAIL")
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
