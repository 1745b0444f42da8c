"""The end of a search: pick the architecture, then test its trained replicates.

:func:`select_from_history` takes the child with the highest reward (ties go
to the earliest child, so the choice is stable); :func:`select_from_controller`
takes the controller's most likely architecture. :func:`evaluate_replicates`
scores every trained replicate of the final architecture on the held-out test
chromosomes and keeps the one with the lowest validation loss: the test set is
never used to choose.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.history import read_history
from bionas.space import ModelSpace
from bionas.train import read_train_result


def select_from_history(history_path: str | PathLike, space: ModelSpace) -> tuple[str, ...]:
    """Layers of the successful child with the highest reward (earliest on ties)."""
    history = read_history(history_path, space)
    ok = history[(history["status"] == "ok") & np.isfinite(history["reward"].astype(float))]
    if ok.empty:
        raise InputError(
            "no child of the search trained successfully, so there is no architecture to "
            "choose; see the children's train.json files for their errors",
            history_path,
        )
    best = ok.iloc[int(np.argmax(ok["reward"].to_numpy(dtype=float)))]
    return tuple(str(best[name]) for name in space.layer_names)


def select_from_controller(state_dir: str | PathLike, space: ModelSpace) -> tuple[str, ...]:
    """The controller's most likely architecture after its last update."""
    from bionas.controller import load_controller

    controller, state = load_controller(state_dir, space)
    return tuple(controller.most_likely(state))


@dataclass(frozen=True)
class FinalEvaluation:
    """Test metrics of every replicate and the one kept.

    ``table`` has one row per replicate and task: ``replicate``, ``seed``,
    ``task``, ``status``, ``val_loss``, ``test_auroc``, ``test_auprc``,
    ``chosen``; ``chosen`` indexes ``results``; ``y_true``/``y_score`` are the
    chosen model's test labels and predictions, ``(n, tasks)``.
    """

    table: pd.DataFrame
    chosen: int
    y_true: np.ndarray
    y_score: np.ndarray
    tasks: list[str]


def evaluate_replicates(
    result_paths: Sequence[str | PathLike],
    test_path: str | PathLike,
    batch_size: int = 512,
    threads: int | None = None,
) -> FinalEvaluation:
    """Predict the test tensors with every successful replicate and score them.

    The replicate kept is the successful one with the lowest validation loss.
    Every input is read and checked before TensorFlow is imported (configured
    with ``threads``, when given), so a bad file fails fast and quietly.
    """
    from bionas.metrics import evaluate
    from bionas.train import batches, configure_tensorflow, load_tensors

    records = [read_train_result(p) for p in result_paths]
    ids = {r["id"] for r in records}
    if len(ids) != 1:
        raise InputError(
            "the replicates were trained on different architectures; rerun train_final",
            result_paths[0],
        )
    ok = [
        i
        for i, r in enumerate(records)
        if r["status"] == "ok" and r["val_loss"] is not None and math.isfinite(r["val_loss"])
    ]
    if not ok:
        raise InputError(
            "no replicate of the final architecture trained successfully: "
            + "; ".join(f"{p}: {r.get('error')}" for p, r in zip(result_paths, records)),
            result_paths[0],
        )
    chosen = min(ok, key=lambda i: (records[i]["val_loss"], i))
    test = load_tensors(test_path)
    if threads is not None:
        configure_tensorflow(threads, seed=0)

    import keras
    import tensorflow as tf

    rows: list[dict[str, Any]] = []
    chosen_scores = None
    for i, (path, record) in enumerate(zip(result_paths, records)):
        base = {
            "replicate": i,
            "seed": record.get("seed"),
            "status": record["status"],
            "val_loss": record["val_loss"],
            "chosen": i == chosen,
        }
        if i not in ok:
            for task in test.tasks:
                rows.append({**base, "task": task, "test_auroc": math.nan, "test_auprc": math.nan})
            continue
        model_path = Path(path).parent / record["model"]
        try:
            model = keras.models.load_model(model_path, compile=False)
        except (OSError, ValueError) as err:
            raise InputError(
                f"cannot load the model ({err}); delete {Path(path).parent} and rerun train_final",
                model_path,
            ) from None
        if model.input_shape[1:] != test.X.shape[1:]:
            raise InputError(
                f"the model expects inputs of shape {model.input_shape[1:]}, the test tensors "
                f"are {test.X.shape[1:]}",
                test_path,
            )
        scores = model.predict(batches(tf, test.X, None, batch_size), verbose=0)
        scores = np.asarray(scores, dtype=np.float64)
        result = evaluate(test.y, scores, test.tasks)
        for task, metrics in result.per_task.items():
            rows.append(
                {**base, "task": task, "test_auroc": metrics.auroc, "test_auprc": metrics.auprc}
            )
        if i == chosen:
            chosen_scores = scores
    table = pd.DataFrame(
        rows,
        columns=[
            "replicate", "seed", "task", "status", "val_loss", "test_auroc", "test_auprc", "chosen"
        ],
    )
    return FinalEvaluation(
        table=table,
        chosen=chosen,
        y_true=np.asarray(test.y, dtype=np.float32),
        y_score=np.asarray(chosen_scores, dtype=np.float32),
        tasks=list(test.tasks),
    )
