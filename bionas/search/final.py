"""The end of a search: pick the candidates, then test their trained replicates.

:func:`select_from_history` takes the ``k`` distinct architectures with the
highest rewards (each by its best child; ties go to the earliest child, so the
choice is stable); :func:`select_from_controller` takes the controller's most
likely architecture. :func:`evaluate_replicates` scores every trained replicate
of the candidates on the held-out test chromosomes and keeps one: with the
replicates' ``metrics.json`` (``bionas score-child`` on the final models) the
one with the highest reward, the search's own objective, so Lambda weighs the
final choice as it weighed the search; without them the one with the lowest
validation loss. The test set is never used to choose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.records.history import read_history
from bionas.records.space import ModelSpace
from bionas.records.train_result import read_train_result


def select_from_history(
    history_path: str | PathLike,
    space: ModelSpace,
    k: int = 1,
    lam: float | None = None,
    kind: str = "loss",
) -> list[tuple[str, ...]]:
    """Layers of the ``k`` distinct successful architectures with the highest rewards.

    An architecture counts with its best child; ties go to the earliest child.
    With ``lam`` the rewards are computed anew from each child's recorded
    ``val_loss`` (or ``val_auroc``, ``kind="auroc"``) and ``knowledge`` at that
    Lambda (``final.lambda``), so a finished search is re-selected without
    training a child; else the recorded rewards (the search's Lambda) count.
    Raises InputError when the search has fewer than ``k`` such architectures.
    """
    history = read_history(history_path, space)
    if lam is not None:
        from bionas.search.pareto import rewards_for_lambda

        history = history.assign(reward=rewards_for_lambda(history, lam, kind))
    ok = history[(history["status"] == "ok") & np.isfinite(history["reward"].astype(float))]
    if ok.empty:
        raise InputError(
            "no child of the search trained successfully, so there is no architecture to "
            "choose; see the children's train.json files for their errors"
            + ("" if lam is None else f" (or, at Lambda {lam:g}, their knowledge K is missing)"),
            history_path,
        )
    rewards = ok["reward"].to_numpy(dtype=float)
    # Highest reward first, earliest row first among equal rewards.
    order = sorted(range(len(ok)), key=lambda i: (-rewards[i], i))
    chosen: list[tuple[str, ...]] = []
    for i in order:
        layers = tuple(str(ok.iloc[i][name]) for name in space.layer_names)
        if layers not in chosen:
            chosen.append(layers)
        if len(chosen) == k:
            return chosen
    raise InputError(
        f"the search trained {len(chosen)} distinct architectures successfully, but "
        f"final.top_k asks for {k} candidates; lower final.top_k",
        history_path,
    )


def select_from_controller(state_dir: str | PathLike, space: ModelSpace) -> tuple[str, ...]:
    """The controller's most likely architecture after its last update."""
    from bionas.search.strategies import load_controller

    controller, state = load_controller(state_dir, space)
    return tuple(controller.most_likely(state))


@dataclass(frozen=True)
class FinalEvaluation:
    """Test metrics of every replicate and the one kept.

    ``table`` has one row per trained model and task: ``candidate`` (0, 1, ...
    in the order the architectures first occur), ``replicate`` (within its
    candidate), ``layers``, ``seed``, ``task``, ``status``, ``val_loss``,
    ``knowledge``, ``reward`` (NaN without metrics), ``test_auroc``,
    ``test_auprc``, ``chosen``; ``chosen`` indexes ``results`` and
    ``candidate``/``replicate`` are its own, ``replicates`` the number of its
    candidate's replicates; ``y_true``/``y_score`` are the
    chosen model's test labels and predictions, ``(n, tasks)``.
    """

    table: pd.DataFrame
    chosen: int
    candidate: int
    replicate: int
    candidates: int
    replicates: int
    reward: float | None
    knowledge: float | None
    y_true: np.ndarray
    y_score: np.ndarray
    tasks: list[str]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _scored(
    result_paths: Sequence[str | PathLike],
    records: list[dict[str, Any]],
    metric_paths: Sequence[str | PathLike],
    space: ModelSpace,
) -> list[dict[str, Any]]:
    """The replicates' metrics.json, each checked against its train.json."""
    from bionas.records.metrics import read_metrics

    if len(metric_paths) != len(result_paths):
        raise InputError(
            f"{len(metric_paths)} metrics files for {len(result_paths)} train results; "
            "give one metrics.json per train.json, in the same order",
            metric_paths[0] if metric_paths else result_paths[0],
        )
    scored = []
    for path, result, record in zip(metric_paths, result_paths, records, strict=True):
        metrics = read_metrics(path, space, child=False)
        if metrics["id"] != record["id"] or (
            _finite(record["val_loss"]) and metrics["val_loss"] != record["val_loss"]
        ):
            raise InputError(
                f"these metrics were scored from another training than {result}; delete "
                "them and rerun score_final",
                path,
                key="id",
            )
        scored.append(metrics)
    return scored


#: How the final stage chooses between candidates (``final.choose``).
CHOICES = ("replicate", "median")


def candidate_medians(ids: Sequence[str], rewards: Sequence[float]) -> dict[str, float]:
    """The median reward of each candidate (by architecture id) over its replicates."""
    by_id: dict[str, list[float]] = {}
    for i, r in zip(ids, rewards, strict=True):
        by_id.setdefault(i, []).append(float(r))
    return {i: float(np.median(v)) for i, v in by_id.items()}


def _best_candidate(
    records: list[dict[str, Any]], scored: list[dict[str, Any]], ok: list[int]
) -> list[int]:
    """The successful replicates of the candidate with the highest median reward
    (ties: the candidate listed first)."""
    rewards = [m["reward"] if _finite(m["reward"]) else -math.inf for m in scored]
    medians = candidate_medians([r["id"] for r in records], rewards)
    order = list(dict.fromkeys(records[i]["id"] for i in ok))
    best = max(order, key=lambda c: (medians[c], -order.index(c)))
    return [i for i in ok if records[i]["id"] == best]


def evaluate_replicates(
    result_paths: Sequence[str | PathLike],
    test_path: str | PathLike,
    batch_size: int = 512,
    threads: int | None = None,
    metric_paths: Sequence[str | PathLike] | None = None,
    space: ModelSpace | None = None,
    choose: str = "replicate",
) -> FinalEvaluation:
    """Predict the test tensors with every successful replicate and score them.

    With ``metric_paths`` (one ``metrics.json`` per result, needs ``space``)
    the model kept is the successful one with the highest reward (then the
    lowest validation loss, then the first); without them, the successful one
    with the lowest validation loss. With ``choose="median"`` (needs
    ``metric_paths``) the candidate architecture is chosen first, by the median
    reward of its replicates (a failed replicate counts with its failure
    reward), and its best replicate is kept: one lucky training no longer
    decides between candidates. Every input is read and checked before
    TensorFlow is imported (configured with ``threads``, when given), so a bad
    file fails fast and quietly.
    """
    from bionas.records.tensors import load_tensors
    from bionas.search.evaluation import evaluate
    from bionas.search.train import batches, configure_tensorflow

    records = [read_train_result(p) for p in result_paths]
    scored = None
    if metric_paths is not None:
        if space is None:
            raise ValueError("metric_paths need the model space")
        scored = _scored(result_paths, records, metric_paths, space)
    ok = [
        i
        for i, r in enumerate(records)
        if r["status"] == "ok"
        and _finite(r["val_loss"])
        and (scored is None or (scored[i]["status"] == "ok" and _finite(scored[i]["reward"])))
    ]
    if not ok:
        errors = [
            (p, r.get("error") if r["status"] != "ok" or scored is None else scored[i]["error"])
            for i, (p, r) in enumerate(zip(result_paths, records))
        ]
        raise InputError(
            "no replicate of the final candidates trained successfully: "
            + "; ".join(f"{p}: {e}" for p, e in errors),
            result_paths[0],
        )
    if scored is None:
        chosen = min(ok, key=lambda i: (records[i]["val_loss"], i))
    else:
        if choose == "median":
            ok = _best_candidate(records, scored, ok)
        chosen = min(ok, key=lambda i: (-scored[i]["reward"], records[i]["val_loss"], i))
    # Candidates in the order their architectures first occur; replicates within each.
    first: dict[str, int] = {}
    seen: dict[str, int] = {}
    where = []
    for r in records:
        candidate = first.setdefault(r["id"], len(first))
        where.append((candidate, seen.get(r["id"], 0)))
        seen[r["id"]] = seen.get(r["id"], 0) + 1
    test = load_tensors(test_path)
    if threads is not None:
        configure_tensorflow(threads, seed=0)

    import keras
    import tensorflow as tf

    rows: list[dict[str, Any]] = []
    chosen_scores = None
    for i, (path, record) in enumerate(zip(result_paths, records)):
        base = {
            "candidate": where[i][0],
            "replicate": where[i][1],
            "layers": " ".join(record["layers"]),
            "seed": record.get("seed"),
            "status": record["status"] if scored is None else scored[i]["status"],
            "val_loss": record["val_loss"],
            "knowledge": math.nan if scored is None else scored[i]["knowledge"],
            "reward": math.nan if scored is None else scored[i]["reward"],
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
            "candidate",
            "replicate",
            "layers",
            "seed",
            "task",
            "status",
            "val_loss",
            "knowledge",
            "reward",
            "test_auroc",
            "test_auprc",
            "chosen",
        ],
    )
    pick = None if scored is None else scored[chosen]
    return FinalEvaluation(
        table=table,
        chosen=chosen,
        candidate=where[chosen][0],
        replicate=where[chosen][1],
        candidates=len(first),
        replicates=seen[records[chosen]["id"]],
        reward=None if pick is None else float(pick["reward"]),
        knowledge=None
        if pick is None or not _finite(pick["knowledge"])
        else float(pick["knowledge"]),
        y_true=np.asarray(test.y, dtype=np.float32),
        y_score=np.asarray(chosen_scores, dtype=np.float32),
        tasks=list(test.tasks),
    )


def _number(value: float) -> float | None:
    value = float(value)
    return None if math.isnan(value) else value


def final_summary(
    result: FinalEvaluation, record: Mapping[str, Any], chosen_by: str
) -> dict[str, Any]:
    """``final/summary.json``: the kept replicate (``record``, its train result) and its test metrics.

    ``chosen_by`` is ``reward`` or ``val_loss``; an undefined metric is null.
    """
    chosen = result.table[result.table["chosen"]]
    return {
        "layers": record["layers"],
        "id": record["id"],
        "chosen_candidate": result.candidate,
        "chosen_replicate": result.replicate,
        "seed": record.get("seed"),
        "val_loss": record["val_loss"],
        "knowledge": result.knowledge,
        "reward": result.reward,
        "chosen_by": chosen_by,
        "params": record.get("params"),
        "test": {
            row.task: {"auroc": _number(row.test_auroc), "auprc": _number(row.test_auprc)}
            for row in chosen.itertuples()
        },
        "test_auroc": _number(chosen["test_auroc"].mean()),
        "test_auprc": _number(chosen["test_auprc"].mean()),
        "candidates": result.candidates,
        "replicates": result.replicates,
    }
