"""The search history (``history.tsv``) and the child metrics it is built from.

``history.tsv`` holds one row per child, in the columns::

    <one per layer: option name>  val_loss  knowledge  val_auroc  replicate
    reward  step  child  id  status  cached  rung

The first columns are those of a replay table (:mod:`bionas.search.replay`), so any
finished search can be replayed with other Lambdas or controllers.
``replicate`` counts independent trainings of the same architecture (0, 1,
...); a cached child repeats the replicate number of the row it copies.
``cached`` marks a child that repeats the architecture of an earlier child of
the history (same training settings and seed, so the same result): its model
came from the child cache or, when the two trained at the same time (a repeat
within a step, or with steps in flight), was trained twice to the same
result. It is decided by the order of the children, not by which job
finished first, so a rerun writes the same history byte for byte. Missing metrics (failed children) are
written as ``nan``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from bionas.errors import InputError
from bionas.io import atomic_open
from bionas.records.metrics import STATUSES
from bionas.records.space import ModelSpace

METRIC_COLUMNS = ("val_loss", "knowledge", "val_auroc", "replicate")


TRAILING_COLUMNS = ("reward", "step", "child", "id", "status", "cached", "rung")


_RERUN = "delete it and rerun the stage that wrote it"


def history_columns(space: ModelSpace) -> list[str]:
    """Column names of ``history.tsv`` for ``space``."""
    return [*space.layer_names, *METRIC_COLUMNS, *TRAILING_COLUMNS]


def metrics_row(space: ModelSpace, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A history row (without ``replicate``) from a checked metrics object."""
    row: dict[str, Any] = dict(zip(space.layer_names, metrics["layers"], strict=True))
    for key in ("val_loss", "knowledge", "val_auroc", "reward"):
        v = metrics[key]
        row[key] = math.nan if v is None else float(v)
    for key in ("step", "child", "id", "status", "cached"):
        row[key] = metrics[key]
    row["rung"] = int(metrics.get("rung") or 0)
    return row


def empty_history(space: ModelSpace) -> pd.DataFrame:
    """A history with no rows and the right columns."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in history_columns(space)})


def append_rows(
    history: pd.DataFrame, rows: Iterable[Mapping[str, Any]], space: ModelSpace
) -> pd.DataFrame:
    """A new history: ``history``'s rows, then ``rows`` in order, ``cached`` and replicate
    numbers assigned.

    A row is cached when an earlier row (of ``history`` or of ``rows``) has its
    architecture id, whatever its metrics say about the job's own cache hit
    (see the module docstring). A row that is not cached gets the number of
    earlier non-cached rows of the same architecture id; a cached row repeats
    the replicate of the last earlier row with that id.
    """
    trained: dict[str, int] = {}
    last: dict[str, int] = {}
    for rid, cached, rep in zip(history["id"], history["cached"], history["replicate"], strict=True):
        if not cached:
            trained[rid] = trained.get(rid, 0) + 1
        last[rid] = int(rep)
    seen = set(history["id"])
    new = []
    for row in rows:
        row = dict(row)
        rid = row["id"]
        row["cached"] = rid in seen
        seen.add(rid)
        if row["cached"]:
            row["replicate"] = last.get(rid, 0)
        else:
            row["replicate"] = trained.get(rid, 0)
            trained[rid] = row["replicate"] + 1
        last[rid] = row["replicate"]
        new.append(row)
    columns = history_columns(space)
    added = pd.DataFrame(new, columns=columns)
    if history.empty:
        return added.reset_index(drop=True)
    return pd.concat([history[columns], added], ignore_index=True)


def _parse_bool(v: str) -> bool | None:
    return {"true": True, "false": False, "1": True, "0": False}.get(v.strip().lower())


def read_history(path: str | PathLike, space: ModelSpace) -> pd.DataFrame:
    """Read and check a ``history.tsv`` written by :func:`write_history`.

    Raises :class:`InputError` naming the file, line and column for a missing
    column, an option name unknown to the space, a non-numeric metric, or a
    bad status, step, child, replicate or cached value.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("history file not found", path) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable TSV ({err}); {_RERUN}", path) from None
    columns = history_columns(space)
    if "rung" not in raw.columns:  # written before successive halving
        raw["rung"] = "0"
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)} (a history has {', '.join(columns)}); {_RERUN}",
            path,
        )
    out = pd.DataFrame(index=raw.index)
    for layer in space.layers:
        bad = ~raw[layer.name].isin(layer.option_names)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise InputError(
                f"layer {layer.name!r} has no option {raw[layer.name].iloc[i]!r} in {space.source}",
                path,
                line=i + 2,
                key=layer.name,
            )
        out[layer.name] = raw[layer.name]
    for key in ("val_loss", "knowledge", "val_auroc", "reward"):
        out[key] = _numeric(raw[key], path, key)
    for key in ("replicate", "step", "child", "rung"):
        values = _numeric(raw[key], path, key)
        # finite and exact in float64 (inf or 1e300 would not cast to int)
        bad = ~(values.notna() & (values >= 0) & (values <= 2**53) & (values == values.round()))
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise InputError(
                f"{key} must be an integer >= 0, got {raw[key].iloc[i]!r}", path, line=i + 2, key=key
            )
        out[key] = values.astype(int)
    out["id"] = raw["id"]
    bad = ~raw["status"].isin(STATUSES)
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(
            f"status must be 'ok' or 'failed', got {raw['status'].iloc[i]!r}",
            path,
            line=i + 2,
            key="status",
        )
    out["status"] = raw["status"]
    cached = raw["cached"].map(_parse_bool)
    if cached.isna().any():
        i = int(cached.isna().to_numpy().argmax())
        raise InputError(
            f"cached must be true or false, got {raw['cached'].iloc[i]!r}",
            path,
            line=i + 2,
            key="cached",
        )
    out["cached"] = cached.astype(bool)
    return out[columns]


def _numeric(column: pd.Series, path: Path, key: str) -> pd.Series:
    """Strings -> float64; empty, ``nan`` and ``NA`` become NaN; anything else is an InputError."""
    values = pd.to_numeric(column.replace({"": "nan", "NA": "nan", "NaN": "nan"}), errors="coerce")
    bad = values.isna() & ~column.str.strip().str.lower().isin(["", "nan", "na"])
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(
            f"{key} must be a number, got {column.iloc[i]!r}", path, line=i + 2, key=key
        )
    return values.astype(float)


def write_history(path: str | PathLike, history: pd.DataFrame) -> None:
    """Write ``history`` as TSV atomically (NaN as ``nan``, booleans as ``true``/``false``)."""
    df = history.copy()
    df["cached"] = df["cached"].map(lambda v: "true" if bool(v) else "false")
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        df.to_csv(handle, sep="\t", index=False, na_rep="nan", lineterminator="\n")
