"""Search benchmark: every strategy replayed against recorded results.

For every controller, Lambda and budget (25, 50, 100 children, 5 per update)
it replays one search per seed (:func:`bionas.search.replay.replay_search`: each
proposal draws one recorded replicate) and ranks two answers of each search
by the gold standard (:func:`bionas.search.replay.gold_standard`, median over
replicates; 1 = best):

- final: the controller's ``most_likely`` architecture at the end;
- best seen: the architecture with the best single reward observed;
- kept: what the workflow's final stage keeps from the search with the
  ``--top-k``/``--replicates``/``--choose`` of the ``final`` block
  (:func:`bionas.search.replay.final_choice`; the defaults are the config's,
  where it is the best seen).

Per cell it prints the median and mean rank and the share in the gold top 5
of each, and the kept choice's median rank minus random search's best-seen
median rank in the same cell with a bootstrap 95% interval (negative: better
than random search's best seen), PASS when that difference is negative.

A controller is a name with optional settings, ``evolution:population=10,tournament=3``;
``NAME+sh`` runs it with successive halving (``--fidelity 3,7,15:0.34``, on a
table with per-epoch curves; every search then also prints the child-epochs
it cost, counted with ``--epochs`` for the searches without halving);
with ``--tsv`` every search's ranks are written to a table.

Run::

    python bench/search.py                          # recorded table, seeds 200-599
    python bench/search.py --synthetic              # synthetic table over the space
    python bench/search.py --seeds 0:200 --lambdas 0 --controllers evolution:population=10

Without TABLE it uses ``bench/data/results.tsv`` with ``bench/data/space.yaml``;
``--synthetic`` writes :func:`synthetic_table` over ``--space`` (default
``config/model_space.yaml``) to a temporary TSV and replays that instead.
The defaults of the evolution controller were tuned on seeds 0-199 at Lambda 0
of the recorded table; the default seeds 200-599 were not used for that.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.records.space import ModelSpace, load_space
from bionas.search.fidelity import ladder as make_ladder
from bionas.search.replay import (
    FinalSettings,
    ResultsTable,
    gold_standard,
    read_table,
    replay_search,
)
from bionas.search.strategies import get_controller

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = ROOT / "bench" / "data" / "results.tsv"
DEFAULT_SPACE = ROOT / "config" / "model_space.yaml"
BUDGETS = (25, 50, 100)
LAMBDAS = (0.0, 1.0, 2.0, 10.0)
CONTROLLERS = ("random", "rl", "evolution", "tpe", "nsga2", "gp")
TOP = 5
BOOTSTRAP = 2000
#: children per controller update (the workflow's children_per_step in the replays)
BATCH = 5


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


def parse_controller(spec: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value,key=value`` -> ``(name, settings)``; values are JSON or strings."""
    name, _, rest = spec.partition(":")
    settings: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected key=value in {spec!r}, got {item!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return name, settings


def parse_seeds(text: str) -> range:
    """``START:STOP`` -> ``range(START, STOP)``."""
    start, _, stop = text.partition(":")
    seeds = range(int(start), int(stop))
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seeds in {text!r}")
    return seeds


def run_cell(
    table: ResultsTable,
    gold: pd.DataFrame,
    spec: str,
    lam: float,
    budget: int,
    seeds: range,
    final: FinalSettings,
    in_flight: int = 1,
    fidelity: tuple[list[int], float] | None = None,
    epochs: int | None = None,
) -> pd.DataFrame:
    """One search per seed; the gold reward ranks of each search's final, best seen and kept
    choice, and the child-epochs it cost (with a table that has curves)."""
    name, settings = parse_controller(spec.removesuffix("+sh"))
    ladder = None
    if spec.endswith("+sh") and fidelity is not None:
        ladder = make_ladder(fidelity[0], fidelity[1], BATCH)
    ctrl = get_controller(name, table.space, **settings)
    worst = len(gold) + 1  # an architecture missing from the table ranks below all

    def rank(arch):
        return int(gold.at[arch, "rank_reward"]) if arch in gold.index else worst

    rows = []
    for seed in seeds:
        res = replay_search(table, ctrl, budget, lam, seed, batch=BATCH, final=final,
                            in_flight=in_flight, fidelity=ladder, epochs=epochs)
        rows.append({
            "epochs": res.epochs,
            "controller": spec, "lambda": lam, "budget": budget, "seed": seed,
            "final": rank(res.final), "best_seen": rank(res.best_seen), "kept": rank(res.chosen),
            "distinct": len(set(res.proposals)),
        })
    return pd.DataFrame(rows)


def median_difference(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """``median(a) - median(b)`` and its bootstrap 95% interval (independent resamples)."""
    ia = rng.integers(0, len(a), (BOOTSTRAP, len(a)))
    ib = rng.integers(0, len(b), (BOOTSTRAP, len(b)))
    diffs = np.median(a[ia], axis=1) - np.median(b[ib], axis=1)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(np.median(a) - np.median(b)), float(lo), float(hi)


def summarise(results: pd.DataFrame) -> str:
    """The table of medians, means, top-5 shares and the difference to random's best seen."""
    rng = np.random.default_rng(0)
    lines = [
        f"{'controller':<32} {'lambda':>6} {'budget':>6} | {'final: med':>10} {'mean':>6} "
        f"{'top5':>5} | {'best seen: med':>14} {'mean':>6} {'top5':>5} | "
        f"{'kept: med':>9} {'top5':>5} | {'kept - rnd seen (95% CI)':>24} {'vs rnd':>6} | {'distinct':>8}"
        f" | {'child-epochs':>12}"
    ]
    for (spec, lam, budget), cell in results.groupby(["controller", "lambda", "budget"], sort=False):
        final, seen, kept = (cell[c].to_numpy() for c in ("final", "best_seen", "kept"))
        cost = f"{np.median(cell['epochs']):.0f}" if cell["epochs"].max() > 0 else "-"
        ref = results[(results["controller"] == "random") & (results["lambda"] == lam)
                      & (results["budget"] == budget)]["best_seen"].to_numpy()
        if len(ref):
            d, lo, hi = median_difference(kept, ref, rng)
            vs = f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]"
            verdict = "PASS" if d < 0 else "FAIL"  # better than random search's best seen
        else:
            vs, verdict = "-", "-"
        lines.append(
            f"{spec:<32} {lam:>6g} {budget:>6} | {np.median(final):>10.1f} {final.mean():>6.1f} "
            f"{np.mean(final <= TOP):>5.0%} | {np.median(seen):>14.1f} {seen.mean():>6.1f} "
            f"{np.mean(seen <= TOP):>5.0%} | {np.median(kept):>9.1f} {np.mean(kept <= TOP):>5.0%} | "
            f"{vs:>24} {verdict:>6} | {cell['distinct'].mean():>8.1f}"
            f" | {cost:>12}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", nargs="?", help="results TSV (default: bench/data/results.tsv)")
    parser.add_argument("--space", help="model-space YAML (default: bench/data/space.yaml for the "
                        "default table, else config/model_space.yaml)")
    parser.add_argument("--synthetic", action="store_true",
                        help="replay a synthetic table over the space instead of a recorded one")
    parser.add_argument("--seeds", type=parse_seeds, default=range(200, 600),
                        help="START:STOP, one search per seed (default 200:600)")
    parser.add_argument("--lambdas", default=",".join(f"{x:g}" for x in LAMBDAS),
                        help="comma-separated weights of knowledge (default 0,1,2,10)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                        help="comma-separated children per search (default 25,50,100)")
    parser.add_argument("--controllers", nargs="+", default=list(CONTROLLERS),
                        help="name[:key=value,...] (default: " + " ".join(CONTROLLERS) + ")")
    parser.add_argument("--top-k", type=int, default=1, help="final.top_k of the kept choice (default 1)")
    parser.add_argument("--replicates", type=int, default=3,
                        help="final.replicates of the kept choice (default 3)")
    parser.add_argument("--choose", choices=("replicate", "median"), default="replicate",
                        help="final.choose of the kept choice (default replicate)")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="search.in_flight of the replayed searches (default 2, the config's)")
    parser.add_argument("--fidelity", metavar="E0,E1,...:KEEP",
                        help="successive halving (search.fidelity) for every controller named "
                        "NAME+sh, e.g. 3,7,15:0.34; needs a table with val_loss_curve")
    parser.add_argument("--epochs", type=int,
                        help="epochs of a fully trained child, to count the child-epochs of the "
                        "searches without halving (default: the last budget of --fidelity)")
    parser.add_argument("--gold", metavar="TABLE",
                        help="rank the answers by this table's medians instead of TABLE's own (e.g. "
                        "independent replicates of the same architectures: no search then sees "
                        "the trainings it is judged by)")
    parser.add_argument("--draw-replicate", type=int, metavar="R",
                        help="the searches draw only TABLE's replicate R and are judged by the "
                        "medians of its other replicates (as --gold with a split table)")
    parser.add_argument("--tsv", help="write every search's ranks here")
    args = parser.parse_args(argv)
    if args.table and args.synthetic:
        parser.error("give a TABLE or --synthetic, not both")
    default_table = not args.table and not args.synthetic
    space_path = args.space or str(ROOT / "bench" / "data" / "space.yaml" if default_table else DEFAULT_SPACE)
    space = load_space(space_path)
    with tempfile.TemporaryDirectory() as tmp:
        if args.synthetic:
            path = Path(tmp) / "synthetic.tsv"
            synthetic_table(space).to_csv(path, sep="\t", index=False)
        else:
            path = Path(args.table) if args.table else DEFAULT_TABLE
        judge_path = args.gold
        if args.draw_replicate is not None:
            if args.gold:
                parser.error("give --gold or --draw-replicate, not both")
            rows = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
            drawn = rows["replicate"].astype(int) == args.draw_replicate
            if not drawn.any() or drawn.all():
                parser.error(f"{path} needs replicate {args.draw_replicate} and at least one other")
            path, judge_path = Path(tmp) / "drawn.tsv", Path(tmp) / "judge.tsv"
            rows[drawn].to_csv(path, sep="\t", index=False)
            rows[~drawn].to_csv(judge_path, sep="\t", index=False)
        table = read_table(path, space)
        judge = read_table(judge_path, space) if judge_path else table
    final = FinalSettings(top_k=args.top_k, replicates=args.replicates, choose=args.choose)
    fidelity = None
    if args.fidelity:
        budgets_text, _, keep = args.fidelity.partition(":")
        fidelity = ([int(x) for x in budgets_text.split(",")], float(keep))
        make_ladder(fidelity[0], fidelity[1], BATCH)  # refuses a bad ladder now
    epochs = args.epochs or (fidelity[0][-1] if fidelity else None)
    if epochs is not None and not table.has_curves:
        parser.error(f"{path} has no val_loss_curve column: child-epochs and successive halving "
                     "need one (bench/build_table.py records it)")
    lambdas = [float(x) for x in args.lambdas.split(",")]
    budgets = [int(x) for x in args.budgets.split(",")]
    source = f"synthetic table over {space_path}" if args.synthetic else str(args.table or path)
    judged = f"median over the replicates of {args.gold}" if args.gold else "median over replicates"
    if args.draw_replicate is not None:
        source += f" (replicate {args.draw_replicate})"
        judged = "median over the other replicates"
    print(f"{source}: {len(table.rows)} architectures; space {space.size}; seeds "
          f"{args.seeds.start}-{args.seeds.stop - 1}; batch 5, {args.in_flight} step(s) in flight; ranks by the gold standard "
          f"({judged}, 1 = best)")
    frames = []
    for lam in lambdas:
        gold = gold_standard(judge, lam)
        for spec in args.controllers:
            t0 = time.perf_counter()
            for budget in budgets:
                frames.append(run_cell(table, gold, spec, lam, budget, args.seeds, final,
                                       args.in_flight, fidelity, epochs))
            print(f"  {spec} at lambda {lam:g}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    results = pd.concat(frames, ignore_index=True)
    if args.tsv:
        results.to_csv(args.tsv, sep="\t", index=False)
    print(summarise(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
