"""``bionas replay``: run a search against a table of recorded results, no training.

Each repeat r runs the controller with seed ``--seed + r`` for ``--budget``
proposals (``--batch`` per update), drawing one recorded replicate per
proposal and recomputing its reward as ``-(val_loss + lambda * knowledge)``.
It prints the gold-standard ranks (1 = best, by median over replicates) of the
best architecture seen and of the controller's final (most likely) one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bionas.commands.argtypes import non_negative_float, non_negative_int, positive_int
from bionas.commands.init_controller import add_settings_arguments, settings_from_args
from bionas.records.space import load_space
from bionas.search.replay import FinalSettings, read_table, replay
from bionas.search.strategies import CONTROLLERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, help="model-space YAML")
    parser.add_argument("--table", required=True, help="results TSV (or a search's history.tsv)")
    parser.add_argument("--controller", required=True, choices=list(CONTROLLERS), help="search strategy")
    parser.add_argument("--budget", required=True, type=positive_int, help="children per search")
    parser.add_argument(
        "--lambda", dest="lam", required=True, type=non_negative_float,
        help="weight of knowledge in the reward (0: plain search)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the first repeat (default 0)")
    parser.add_argument("--repeats", type=positive_int, default=1, help="searches, seeds seed..seed+R-1 (default 1)")
    parser.add_argument("--batch", type=positive_int, default=5, help="children per controller update (default 5)")
    parser.add_argument("--in-flight", type=positive_int, default=1,
                        help="search.in_flight: step s proposes from the state after step "
                        "s - N, told the proposals in between (default 1)")
    parser.add_argument("--fidelity-epochs", type=positive_int, nargs="+", metavar="E",
                        help="search.fidelity.epochs: replay successive halving at these budgets "
                        "(the table needs a val_loss_curve column)")
    parser.add_argument("--fidelity-keep", type=float, default=0.5, metavar="F",
                        help="search.fidelity.keep, a fraction in (0, 1) (default 0.5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    final = parser.add_argument_group("the final stage, as the config's final block sets it (what is kept)")
    final.add_argument("--select", choices=("best_reward", "controller"), default="best_reward",
                       help="final.select (default best_reward)")
    final.add_argument("--top-k", type=positive_int, default=1, help="final.top_k (default 1)")
    final.add_argument("--replicates", type=positive_int, default=3, help="final.replicates (default 3)")
    final.add_argument("--choose", choices=("replicate", "median"), default="replicate",
                       help="final.choose (default replicate)")
    add_settings_arguments(parser)


def _fmt(rank) -> str:
    return "-" if rank is None else str(rank)


def run(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    settings = settings_from_args(args)
    table = read_table(args.table, space)
    t0 = time.perf_counter()
    final = FinalSettings(args.select, args.top_k, args.replicates, args.choose)
    fidelity = None
    if args.fidelity_epochs:
        from bionas.search.fidelity import ladder

        fidelity = ladder(args.fidelity_epochs, args.fidelity_keep, args.batch, "--fidelity-epochs/--fidelity-keep")
    result = replay(space, table, args.controller, args.budget, args.lam, args.seed,
                    repeats=args.repeats, batch=args.batch, settings=settings, final=final,
                    in_flight=args.in_flight, fidelity=fidelity)
    seconds = time.perf_counter() - t0
    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
        return 0
    n_archs = len(table.rows)
    print(f"replay: {args.controller}, lambda {args.lam}, budget {args.budget}, batch {args.batch}; "
          f"{n_archs} architectures in the table, {space.size} in the space; {seconds:.1f} s")
    print("ranks are gold-standard ranks by median over replicates (1 = best): reward / loss / knowledge")
    print("final: the strategy's most likely architecture; kept: what the final stage keeps")
    if fidelity is not None:
        print(f"successive halving: epochs {list(fidelity.epochs)}, children per rung "
              f"{list(fidelity.counts)}; child-epochs per search: "
              f"{', '.join(str(rep['epochs']) for rep in result['repeats'])}")
    print(f"{'seed':>6}  {'best seen':>17}  {'final':>17}  {'kept':>17}  kept architecture")
    for rep in result["repeats"]:
        ranks = [" / ".join(_fmt(x[k]) for k in ("rank_reward", "rank_loss", "rank_knowledge"))
                 for x in (rep["best_seen"], rep["final"], rep["kept"])]
        arch = ", ".join(f"{k}={v}" for k, v in rep["kept"]["layers"].items())
        print(f"{rep['seed']:>6}  {ranks[0]:>17}  {ranks[1]:>17}  {ranks[2]:>17}  {arch}")
    return 0
