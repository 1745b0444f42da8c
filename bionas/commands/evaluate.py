"""``bionas evaluate``: test the final candidates' replicates on the held-out chromosomes.

Every successful model in ``--results`` (the replicates of one or more
candidate architectures) is scored on ``--test``. With ``--metrics`` (their
``metrics.json`` from ``bionas score-child``, in the same order) the one with
the highest reward is kept, so Lambda weighs the final choice as it weighed
the search; without, the one with the lowest validation loss. The test set
never chooses. The kept model is copied to ``--out-model`` and its
architecture written to ``--out-architecture``. Writes a TSV with one row per
model and task, the kept model's test predictions (``--out-predictions``,
``y_true``/``y_score``/``tasks``), and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bionas.commands.argtypes import positive_int
from bionas.io import atomic_paths, save_npz, write_json, write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        nargs="+",
        required=True,
        metavar="train.json",
        help="train.json of every replicate (from bionas train-child)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        metavar="metrics.json",
        help="metrics.json of every result, in the same order (bionas score-child): keep the "
        "highest reward instead of the lowest validation loss; needs --space",
    )
    parser.add_argument("--space", metavar="SPACE.yaml", help="model-space YAML (with --metrics)")
    parser.add_argument("--test", required=True, metavar="test.npz", help="test tensors")
    parser.add_argument("--out-metrics", required=True, metavar="test_metrics.tsv")
    parser.add_argument("--out-model", required=True, metavar="model.keras")
    parser.add_argument("--out-predictions", required=True, metavar="predictions.npz")
    parser.add_argument("--out-summary", required=True, metavar="summary.json")
    parser.add_argument(
        "--out-architecture", metavar="architecture.json", help="the kept model's architecture"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="TensorFlow threads")
    parser.add_argument(
        "--choose", choices=("replicate", "median"), default="replicate",
        help="with --metrics: keep the replicate with the highest reward (replicate), or first the "
        "candidate with the highest median reward over its replicates (median) "
        "(default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    from bionas.errors import InputError
    from bionas.records.architecture import make_architecture
    from bionas.records.space import load_space
    from bionas.records.train_result import read_train_result
    from bionas.search.final import evaluate_replicates, final_summary

    space = None
    for flag, given in (("--metrics", args.metrics), ("--out-architecture", args.out_architecture)):
        if given is not None and args.space is None:
            raise InputError(f"{flag} needs --space")
    if args.choose == "median" and args.metrics is None:
        raise InputError("--choose median needs --metrics (the replicates' rewards)")
    if args.space is not None:
        space = load_space(args.space)
    result = evaluate_replicates(
        args.results,
        args.test,
        threads=args.threads,
        metric_paths=args.metrics,
        space=space,
        choose=args.choose,
    )
    chosen_path = Path(args.results[result.chosen])
    record = read_train_result(chosen_path)
    architecture = None
    if args.out_architecture is not None:
        architecture = make_architecture(space, record["layers"])
        architecture["source"] = "final"
    chosen_by = {"replicate": "reward", "median": "median_reward"}[args.choose]
    summary = final_summary(result, record, chosen_by if args.metrics is not None else "val_loss")
    outputs = [args.out_model, args.out_predictions, args.out_metrics, args.out_summary]
    if architecture is not None:
        outputs.append(args.out_architecture)
    # the outputs are one set: a refused output path leaves none of them written
    with atomic_paths(outputs) as temps:
        shutil.copyfile(chosen_path.parent / record["model"], temps[0])
        save_npz(temps[1], y_true=result.y_true, y_score=result.y_score, tasks=result.tasks)
        write_text(temps[2], result.table.to_csv(sep="\t", index=False, na_rep="NA"))
        write_json(temps[3], summary)
        if architecture is not None:
            write_json(temps[4], architecture)
    print(json.dumps({"test_auroc": summary["test_auroc"], "test_auprc": summary["test_auprc"]}))
    return 0
