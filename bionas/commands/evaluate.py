"""``bionas evaluate``: test the final model's replicates on the held-out chromosomes.

Every successful replicate is scored on ``--test``; the one with the lowest
validation loss is kept (the test set never chooses) and copied to
``--out-model``. Writes a TSV with one row per replicate and task, the kept
model's test predictions (``--out-predictions``, ``y_true``/``y_score``/
``tasks``), and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

from bionas.io import atomic_path, save_npz, write_json, write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results", nargs="+", required=True, metavar="train.json",
        help="train.json of every replicate (from bionas train-child)",
    )
    parser.add_argument("--test", required=True, metavar="test.npz", help="test tensors")
    parser.add_argument("--out-metrics", required=True, metavar="test_metrics.tsv")
    parser.add_argument("--out-model", required=True, metavar="model.keras")
    parser.add_argument("--out-predictions", required=True, metavar="predictions.npz")
    parser.add_argument("--out-summary", required=True, metavar="summary.json")
    parser.add_argument("--threads", type=int, default=1, help="TensorFlow threads")


def run(args: argparse.Namespace) -> int:
    from bionas.final import evaluate_replicates
    from bionas.train import read_train_result

    result = evaluate_replicates(args.results, args.test, threads=args.threads)
    chosen_path = Path(args.results[result.chosen])
    record = read_train_result(chosen_path)
    with atomic_path(args.out_model) as tmp:
        shutil.copyfile(chosen_path.parent / record["model"], tmp)
    save_npz(
        args.out_predictions,
        y_true=result.y_true,
        y_score=result.y_score,
        tasks=result.tasks,
    )
    write_text(args.out_metrics, result.table.to_csv(sep="\t", index=False, na_rep="NA"))
    chosen = result.table[result.table["chosen"]]
    summary = {
        "layers": record["layers"],
        "id": record["id"],
        "chosen_replicate": result.chosen,
        "seed": record.get("seed"),
        "val_loss": record["val_loss"],
        "params": record.get("params"),
        "test": {
            row.task: {"auroc": _num(row.test_auroc), "auprc": _num(row.test_auprc)}
            for row in chosen.itertuples()
        },
        "test_auroc": _num(chosen["test_auroc"].mean()),
        "test_auprc": _num(chosen["test_auprc"].mean()),
        "replicates": len(args.results),
    }
    write_json(args.out_summary, summary)
    print(json.dumps({"test_auroc": summary["test_auroc"], "test_auprc": summary["test_auprc"]}))
    return 0


def _num(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value
