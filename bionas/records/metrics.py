"""A child's ``metrics.json``: written by ``bionas score-child``, read by the
controller update, the history and the final stage.

``metrics.json`` (strict JSON: an undefined value is null)::

    {"status": "ok" | "failed", "error": null | str,
     "layers", "id", "step", "child",                      (from train.json)
     "val_loss", "val_auroc", "val_auprc",                 (from train.json)
     "knowledge": float | null, "knowledge_per_prior": {motif id: float} | null,
     "reward": float, "lambda": float, "lambda_reg": float, "reward_kind": "loss" | "auroc",
     "temperature": float, "both_strands": bool,
     "epochs", "seconds", "params", "cached", "rung"}      (from train.json)

``rung`` (missing in older files: 0) is the successive-halving rung the
metrics belong to (``search.fidelity``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from bionas.errors import InputError, shown
from bionas.io import read_json, write_json
from bionas.records.space import ModelSpace
from bionas.records.train_result import json_safe
from bionas.records.values import as_float, is_int

#: Keys every ``metrics.json`` must hold.
METRICS_KEYS = (
    "status", "layers", "id", "step", "child", "val_loss", "val_auroc", "val_auprc",
    "knowledge", "reward", "epochs", "seconds", "cached",
)


_RERUN = "delete it and rerun the stage that wrote it"
STATUSES = ("ok", "failed")






def _optional_number(v: Any) -> bool:
    return v is None or as_float(v) is not None


def read_metrics(path: str | PathLike, space: ModelSpace, child: bool = True) -> dict[str, Any]:
    """Read and check one child's ``metrics.json`` (written by ``bionas score-child``).

    ``child=False`` reads the metrics of a final model, whose ``step`` and
    ``child`` are null. Returns the object with ``layers`` as a tuple and missing metrics (null) as
    NaN. Raises :class:`InputError` naming the file and the key for bad JSON,
    a missing or mistyped key, an unknown status, layers that are not in the
    space, an id that does not match them, or a non-finite reward.
    """
    path = Path(path)
    obj = read_json(
        path,
        missing="metrics file not found; run `bionas score-child` to write it",
        invalid="not valid JSON",
        damaged=_RERUN,
    )
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object; {_RERUN}", path)
    checks = {
        "status": (lambda v: v in STATUSES, "'ok' or 'failed'"),
        "layers": (
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "a list of option names",
        ),
        "id": (lambda v: isinstance(v, str), "a string"),
        "step": (lambda v: is_int(v) and v >= 0, "an integer >= 0")
        if child
        else (lambda v: v is None, "null (a final model's metrics)"),
        "child": (lambda v: is_int(v) and v >= 0, "an integer >= 0")
        if child
        else (lambda v: v is None, "null (a final model's metrics)"),
        "val_loss": (_optional_number, "a number or null"),
        "val_auroc": (_optional_number, "a number or null"),
        "val_auprc": (_optional_number, "a number or null"),
        "knowledge": (_optional_number, "a number or null"),
        "reward": (
            lambda v: as_float(v) is not None and math.isfinite(v),
            "a finite number (a failed child carries its penalty)",
        ),
        "epochs": (lambda v: v is None or (is_int(v) and v >= 0), "an integer or null"),
        "seconds": (_optional_number, "a number or null"),
        "cached": (lambda v: isinstance(v, bool), "true or false"),
        "rung": (lambda v: is_int(v) and 0 <= v < 10, "an integer from 0 to 9"),
    }
    for key in (*METRICS_KEYS, "rung"):
        if key == "rung" and key not in obj:
            continue
        if key not in obj:
            raise InputError(f"missing key {key!r}; {_RERUN}", path, key=key)
        check, expected = checks[key]
        if not check(obj[key]):
            raise InputError(
                f"{key!r} must be {expected}, got {shown(obj[key])}; {_RERUN}", path, key=key
            )
    try:
        space.encode(obj["layers"], path=path)
    except InputError as err:
        raise InputError(f"{err.message}; {_RERUN}", path, key=err.key or "layers") from None
    if obj["id"] != space.architecture_id(obj["layers"]):
        raise InputError(
            f"the id does not match the layers in this model space (another space?); {_RERUN}",
            path,
            key="id",
        )
    out = dict(obj)
    out["layers"] = tuple(obj["layers"])
    for key in ("val_loss", "val_auroc", "val_auprc", "knowledge", "seconds"):
        out[key] = math.nan if obj[key] is None else float(obj[key])
    out["reward"] = float(obj["reward"])
    out["rung"] = int(obj.get("rung", 0))
    return out


def metrics_record(train: Mapping[str, Any], score: Any, settings: Any) -> dict[str, Any]:
    """The ``metrics.json`` of a child: its train result, its score and how it was scored.

    Parameters
    ----------
    train : mapping
        The child's checked ``train.json``.
    score : Score
        :class:`bionas.search.scoring.Score` (status, error, knowledge, per_prior, reward).
    settings : ScoringSettings
        :class:`bionas.search.scoring.ScoringSettings`.
    """
    return json_safe(
        {
            "status": score.status,
            "error": score.error,
            "layers": train["layers"],
            "id": train["id"],
            "step": train["step"],
            "child": train["child"],
            "val_loss": train["val_loss"],
            "val_auroc": train["val_auroc"],
            "val_auprc": train["val_auprc"],
            "knowledge": score.knowledge,
            "knowledge_per_prior": score.per_prior,
            "reward": score.reward,
            "lambda": settings.lam,
            "lambda_reg": settings.lambda_reg,
            "reward_kind": settings.reward,
            "temperature": settings.temperature,
            "both_strands": settings.both_strands,
            "epochs": train["epochs"],
            "seconds": train["seconds"],
            "params": train["params"],
            "cached": train["cached"],
            "rung": train.get("rung", 0),
        }
    )


def write_metrics(path: str | PathLike, metrics: Mapping[str, Any]) -> None:
    """Write ``metrics.json`` atomically (strict JSON)."""
    write_json(path, json_safe(dict(metrics)))
