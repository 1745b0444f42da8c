"""The two objectives of a search, their Pareto front, and where a Lambda lands on it.

A child is scored twice: by how well it predicts (``val_loss``, or
``val_auroc`` with ``search.reward: auroc``) and by how far its first-layer
filters are from the prior motifs (``K``). The reward ``-(val_loss + lam *
K)`` is one weighting of the two; with ``search.objective: pareto`` the search
optimises both and the weighting is chosen afterwards (``final.lambda``). As
both objectives are recorded for every child in ``history.tsv``, any Lambda
can re-select the final architecture from a finished search without training
a child again (:func:`rewards_for_lambda`, :func:`lambda_landings`).

Objectives are kept as "higher is better" pairs, ``(-val_loss, -K)`` or
``(val_auroc, -K)`` (:func:`objectives`), the convention of every controller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bionas.records.space import ModelSpace
from bionas.search.reward import compute_reward

#: The Lambdas ``bionas select-architecture`` and the report show besides the chosen one.
SHOWN_LAMBDAS = (0.0, 1.0, 2.0, 10.0)


def objectives(metrics: Mapping[str, Any], kind: str = "loss") -> tuple[float, float] | None:
    """``(predictive, -K)``, higher better, of a child's metrics; None when it failed or
    either is missing or not finite (the controller then treats it as failed)."""
    if metrics.get("status", "ok") != "ok":
        return None
    first = metrics.get("val_auroc") if kind == "auroc" else metrics.get("val_loss")
    k = metrics.get("knowledge")
    try:
        pair = (float(first), -float(k))
    except (TypeError, ValueError):
        return None
    if kind != "auroc":
        pair = (-pair[0], pair[1])
    return pair if all(np.isfinite(pair)) else None


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Which rows of ``points (n, m)`` (higher is better in every column) no other row dominates.

    A row is dominated by one that is at least as good in every column and
    better in one; equal rows do not dominate each other.
    """
    points = np.asarray(points, dtype=float)
    n = len(points)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        ge = np.all(points >= points[i], axis=1)
        gt = np.any(points > points[i], axis=1)
        keep[i] = not np.any(ge & gt)
    return keep


def rewards_for_lambda(history: pd.DataFrame, lam: float, kind: str = "loss") -> np.ndarray:
    """Every row's reward at Lambda ``lam`` (:func:`compute_reward`); NaN for a failed child
    or one whose metrics the reward needs are missing."""
    out = np.full(len(history), np.nan)
    for i, (status, loss, k, auroc) in enumerate(
        zip(history["status"], history["val_loss"], history["knowledge"], history["val_auroc"], strict=True)
    ):
        if status != "ok":
            continue
        try:
            out[i] = compute_reward(loss, k, lam, kind, val_auroc=auroc)
        except ValueError:
            continue
    return out


def front(history: pd.DataFrame, kind: str = "loss") -> pd.DataFrame:
    """The rows of the successful children whose two objectives are finite, with a
    boolean column ``front``: no other such child dominates it."""
    ok = history[history["status"] == "ok"].copy()
    first = ok["val_auroc"] if kind == "auroc" else -ok["val_loss"]
    pts = np.column_stack([first.to_numpy(dtype=float), -ok["knowledge"].to_numpy(dtype=float)])
    finite = np.all(np.isfinite(pts), axis=1)
    ok, pts = ok[finite], pts[finite]
    ok["front"] = pareto_mask(pts) if len(pts) else np.zeros(0, dtype=bool)
    return ok


def lambda_landings(
    history: pd.DataFrame,
    space: ModelSpace,
    lambdas: Iterable[float],
    kind: str = "loss",
) -> pd.DataFrame:
    """Where each Lambda's best child lies: one row per Lambda with ``lambda``, the
    architecture (``layers``, space-separated), ``val_loss``, ``knowledge``,
    ``val_auroc``, ``reward`` (at that Lambda), ``step``, ``child`` and ``front``
    (whether it is on the Pareto front of the two objectives)."""
    marked = front(history, kind)
    on_front = set(marked.index[marked["front"]])
    rows = []
    for lam in lambdas:
        rewards = rewards_for_lambda(history, float(lam), kind)
        if not np.any(np.isfinite(rewards)):
            continue
        # highest reward first, earliest row among equal rewards
        i = int(np.nanargmax(rewards))
        row = history.iloc[i]
        rows.append({
            "lambda": float(lam),
            "layers": " ".join(str(row[name]) for name in space.layer_names),
            "val_loss": float(row["val_loss"]),
            "knowledge": float(row["knowledge"]),
            "val_auroc": float(row["val_auroc"]),
            "reward": float(rewards[i]),
            "step": int(row["step"]),
            "child": int(row["child"]),
            "front": history.index[i] in on_front,
        })
    return pd.DataFrame(rows, columns=[
        "lambda", "layers", "val_loss", "knowledge", "val_auroc", "reward", "step", "child", "front",
    ])
