"""Successive halving inside a search step (``search.fidelity``).

With ``fidelity: {epochs: [e0, e1, ..., eR], keep: f}`` every child of a step
first trains for ``e0`` epochs (rung 0, ``step_S/child_CC``). The best
``n1`` of them, ranked by the reward they reached (K included), continue from
their saved weights and optimizer state to ``e1`` epochs (rung 1,
``step_S/rung_1/slot_JJ``), the best ``n2`` of those to ``e2``, and so on.
The numbers promoted are fixed by the config (:func:`ladder`), so the
workflow's DAG is static: rung ``r`` has ``n_r`` slots, and the rule that
continues slot ``j`` reads the rung's ``promoted.json`` (written by ``bionas
promote`` from the metrics of rung ``r - 1``) to learn which child it
continues. Continuing never retrains an epoch: slot ``j`` starts at the epoch
its child stopped at (:func:`bionas.search.train.continue_child`).

The controller learns from each child's result at the highest rung it
reached (:func:`best_rung`), and the history records that rung.

``promoted.json``::

    {"step": int, "rung": int (>= 1), "epochs": int (the rung's budget),
     "promoted": [{"slot": j, "child": c, "from": "child_02" | "rung_1/slot_00",
                   "reward": float}, ...]}          (best first)

``from`` is the member directory of the previous rung, relative to the step
directory.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from bionas.errors import InputError, shown
from bionas.io import read_json, write_json
from bionas.records.values import as_float, is_int

#: a member directory of a step: a rung-0 child or a slot of a later rung
MEMBER_REGEX = re.compile(r"child_\d{2}|rung_\d/slot_\d{2}")
_RERUN = "delete it and rerun `bionas promote`"


@dataclass(frozen=True)
class Ladder:
    """The epochs of each rung and how many children each rung keeps."""

    epochs: tuple[int, ...]
    counts: tuple[int, ...]  # children at each rung, counts[0] = children per step

    @property
    def rungs(self) -> int:
        return len(self.epochs)

    def child_epochs(self) -> int:
        """Most epochs one step can train (every promoted child running its whole budget)."""
        total, before = 0, 0
        for epochs, n in zip(self.epochs, self.counts, strict=True):
            total += n * (epochs - before)
            before = epochs
        return total


def ladder(epochs: Sequence[int], keep: float | Sequence[int], children: int, source: str = "config") -> Ladder:
    """The checked ladder of ``search.fidelity``.

    ``keep`` is a fraction (rung ``r`` continues ``ceil(n_{r-1} * keep)``
    children, at least one) or the counts of rungs 1, 2, ... themselves:

    >>> ladder([3, 10, 30], 0.5, 4).counts, ladder([3, 10, 30], 0.34, 8).counts
    ((4, 2, 1), (8, 3, 2))

    Raises :class:`InputError` (key ``search.fidelity.epochs`` / ``.keep``)
    for fewer than two rungs, epochs that do not increase, a fraction outside
    ``(0, 1)``, counts of the wrong length, increasing counts, or more
    promotions than the rung before has children.
    """
    epochs = list(epochs)
    if len(epochs) < 2:
        raise InputError(
            f"needs at least two budgets (a first rung and one to continue to), got {shown(epochs)}",
            source,
            key="search.fidelity.epochs",
        )
    for i, (a, b) in enumerate(zip(epochs, epochs[1:], strict=False)):
        if not (is_int(a) and is_int(b) and a >= 1 and b > a):
            raise InputError(
                f"must be whole numbers of epochs >= 1 that increase rung by rung; "
                f"rung {i} has {shown(a)} and rung {i + 1} has {shown(b)}",
                source,
                key="search.fidelity.epochs",
            )
    counts = [children]
    if isinstance(keep, (list, tuple)):
        if len(keep) != len(epochs) - 1:
            raise InputError(
                f"lists how many children continue to each rung after the first, so it needs "
                f"{len(epochs) - 1} number(s) for {len(epochs)} budgets, got {shown(list(keep))}",
                source,
                key="search.fidelity.keep",
            )
        for r, n in enumerate(keep, start=1):
            if not is_int(n) or n < 1 or n > counts[-1]:
                raise InputError(
                    f"rung {r} continues {shown(n)} children, but rung {r - 1} has {counts[-1]}; "
                    f"each count must be a whole number from 1 to the rung before's",
                    source,
                    key="search.fidelity.keep",
                )
            counts.append(int(n))
    else:
        x = as_float(keep)
        if x is None or not (0 < x < 1) or isinstance(keep, bool):
            raise InputError(
                f"must be a fraction between 0 and 1 (exclusive) or a list of counts, got {shown(keep)}",
                source,
                key="search.fidelity.keep",
            )
        for _ in epochs[1:]:
            counts.append(max(1, math.ceil(counts[-1] * x - 1e-9)))
    return Ladder(tuple(int(e) for e in epochs), tuple(counts))


def ladder_from_config(search: Mapping[str, Any], source: str = "config") -> Ladder | None:
    """The ladder of a validated ``search`` block, or None without ``fidelity``."""
    fidelity = search.get("fidelity")
    if not fidelity:
        return None
    return ladder(fidelity["epochs"], fidelity["keep"], search["children_per_step"], source)


def _sort_key(m: Mapping[str, Any]) -> tuple[int, float, int]:
    reward = m["reward"]
    ok = m["status"] == "ok" and reward is not None and math.isfinite(reward)
    return (0 if ok else 1, -reward if ok else 0.0, m["child"])


def rank(members: Sequence[tuple[str, Mapping[str, Any]]]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(member, metrics)`` pairs best first: ok children by reward (higher first), then
    failed ones; ties by child index (so a rerun promotes the same children)."""
    return sorted(members, key=lambda pair: _sort_key(pair[1]))


def member_of(path: str | PathLike) -> str:
    """``.../step_001/rung_1/slot_00/metrics.json`` -> ``rung_1/slot_00``; ``child_02`` for rung 0."""
    parent = Path(path).parent
    member = parent.name if parent.name.startswith("child_") else f"{parent.parent.name}/{parent.name}"
    if not MEMBER_REGEX.fullmatch(member):
        raise InputError(
            "is not in a child directory of a step (child_NN/ or rung_R/slot_NN/)", path
        )
    return member


def promoted_record(step: int, rung: int, epochs: int, ranked: Iterable[tuple[str, Mapping[str, Any]]], n: int) -> dict:
    """The ``promoted.json`` of rung ``rung``: the first ``n`` of ``ranked``."""
    chosen = list(ranked)[:n]
    return {
        "step": step,
        "rung": rung,
        "epochs": epochs,
        "promoted": [
            {"slot": j, "child": m["child"], "from": member, "reward": m["reward"]}
            for j, (member, m) in enumerate(chosen)
        ],
    }


def write_promoted(path: str | PathLike, record: Mapping[str, Any]) -> None:
    write_json(path, dict(record))


def read_promoted(path: str | PathLike) -> dict[str, Any]:
    """Read and check ``promoted.json`` (see the module docstring)."""
    path = Path(path)
    obj = read_json(
        path,
        missing="promotion file not found; run `bionas promote` to write it",
        invalid="not valid JSON",
        damaged=_RERUN,
    )
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object; {_RERUN}", path)
    for key, ok, what in (
        ("step", lambda v: is_int(v) and v >= 0, "an integer >= 0"),
        ("rung", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
        ("epochs", lambda v: is_int(v) and v >= 1, "an integer >= 1"),
        ("promoted", lambda v: isinstance(v, list) and len(v) >= 1, "a non-empty list"),
    ):
        if key not in obj:
            raise InputError(f"missing key {key!r}; {_RERUN}", path, key=key)
        if not ok(obj[key]):
            raise InputError(f"{key!r} must be {what}, got {shown(obj[key])}; {_RERUN}", path, key=key)
    for j, entry in enumerate(obj["promoted"]):
        where = f"promoted[{j}]"
        if not isinstance(entry, dict):
            raise InputError(f"expected an object; {_RERUN}", path, key=where)
        if entry.get("slot") != j:
            raise InputError(f"slot must be {j}, got {shown(entry.get('slot'))}; {_RERUN}", path, key=where)
        if not (is_int(entry.get("child")) and entry["child"] >= 0):
            raise InputError(f"child must be an integer >= 0; {_RERUN}", path, key=where)
        member = entry.get("from")
        if not (isinstance(member, str) and MEMBER_REGEX.fullmatch(member)):
            raise InputError(
                f"'from' must name a member of the step (child_NN or rung_R/slot_NN), got "
                f"{shown(member)}; {_RERUN}",
                path,
                key=where,
            )
    return obj


def best_rung(metrics: Sequence[Mapping[str, Any]], source: str | PathLike = "metrics") -> list[Mapping[str, Any]]:
    """Each child's metrics at the highest rung it reached, in child order.

    ``metrics`` holds the rung-0 metrics of every child of a step and those of
    every continued slot (``rung`` >= 1; a missing ``rung`` is 0). Raises
    :class:`InputError` when a child appears twice in one rung or a continued
    child has no rung-0 metrics.
    """
    best: dict[int, Mapping[str, Any]] = {}
    seen: set[tuple[int, int]] = set()
    for m in metrics:
        rung = int(m.get("rung") or 0)
        key = (m["child"], rung)
        if key in seen:
            raise InputError(
                f"child {m['child']} appears twice at rung {rung}; pass each member of the step once",
                source,
            )
        seen.add(key)
    for m in metrics:
        rung = int(m.get("rung") or 0)
        if (m["child"], 0) not in seen:
            raise InputError(f"child {m['child']} has rung-{rung} metrics but none at rung 0", source)
        if m["child"] not in best or rung > int(best[m["child"]].get("rung") or 0):
            best[m["child"]] = m
    return [best[c] for c in sorted(best)]
