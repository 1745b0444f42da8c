"""Replay: run a controller against a table of recorded results, with no training.

A results table (TSV) has one column per layer of the model space, holding an
option name, then ``val_loss``, ``knowledge``, optionally ``val_auroc``, and
``replicate``; several rows of the same architecture are replicates. Other
columns are ignored, except:

- ``status``: rows with ``failed`` are failed children; so is any row whose
  ``val_loss`` is empty or ``nan``. A failed row's reward is its ``reward``
  column (the penalty the search recorded), which must then be present.
- ``cached``: rows with ``true`` repeat an earlier measurement and are skipped.
- ``val_loss_curve``: the validation loss after every epoch, comma-separated
  (``bench/build_table.py`` records it from ``train.json``); needed to replay
  successive halving, where a child's loss at a budget of e epochs is the
  lowest of the first e values (its best epoch so far, as early stopping
  keeps it). A curve shorter than e ended by early stopping, so the child
  keeps its last best. K has no curve: a rung's reward uses the recorded K
  of the fully trained child, which overrates K's information at low
  budgets.

A ``history.tsv`` written by ``bionas update-controller`` is such a table.

Each proposal draws one replicate of its architecture uniformly at random
(seeded) and gets the reward ``-(val_loss + Lambda * knowledge)``. The gold
standard ranks every architecture in the table by its median over successful
replicates (rank 1 is best, ties share the better rank, architectures without a
successful replicate come last): by ``val_loss``, by ``knowledge`` and by the
reward score ``median(val_loss) + Lambda * median(knowledge)`` (low is best).
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
from bionas.records.space import ModelSpace
from bionas.search.reward import compute_reward
from bionas.search.strategies import Controller, get_controller
from bionas.search.strategies.base import derive_rng

REQUIRED_COLUMNS = ("val_loss", "knowledge", "replicate")
#: Stream number of the replicate draws in :func:`derive_rng`.
DRAW_STREAM = 1


def describe(space: ModelSpace, layers: Sequence[str]) -> str:
    """``conv1=conv_k8_f32, pool=none, ...``: an architecture for messages."""
    return ", ".join(f"{n}={o}" for n, o in zip(space.layer_names, layers, strict=True))


@dataclass(frozen=True)
class _Rows:
    """The rows of one architecture in a results table."""

    val_loss: np.ndarray  # (n,) NaN where failed
    knowledge: np.ndarray  # (n,)
    failed: np.ndarray  # (n,) bool
    penalty: np.ndarray  # (n,) recorded reward of failed rows, NaN otherwise
    lines: np.ndarray  # (n,) 1-based line numbers in the file
    curves: tuple[np.ndarray, ...] | None = None  # per-epoch val_loss of each row


@dataclass(frozen=True)
class ResultsTable:
    """A checked results table: rows grouped by architecture (option names per layer)."""

    space: ModelSpace
    path: str
    rows: Mapping[tuple[str, ...], _Rows]

    @property
    def has_knowledge(self) -> bool:
        return any(np.isfinite(r.knowledge[~r.failed]).any() for r in self.rows.values())

    def check_lambda(self, lam: float) -> None:
        """InputError (naming a line) if Lambda > 0 and a successful row lacks ``knowledge``."""
        if lam <= 0:
            return
        for r in self.rows.values():
            bad = ~r.failed & ~np.isfinite(r.knowledge)
            if bad.any():
                raise InputError(
                    "knowledge is missing, so the table cannot be replayed with lambda > 0 "
                    "(replay with --lambda 0 or give every successful row a knowledge value)",
                    self.path,
                    line=int(r.lines[bad][0]),
                    key="knowledge",
                )

    def reward(self, layers: Sequence[str], lam: float, rng: np.random.Generator) -> float:
        """The reward of one replicate of ``layers``, drawn with ``rng``."""
        key = tuple(layers)
        r = self.rows.get(key)
        if r is None:
            raise InputError(
                f"the controller proposed an architecture that is not in the table: "
                f"{describe(self.space, key)}; the table must hold every architecture "
                "the controller can propose",
                self.path,
            )
        i = int(rng.integers(len(r.val_loss)))
        if r.failed[i]:
            return float(r.penalty[i])
        return compute_reward(float(r.val_loss[i]), float(r.knowledge[i]), lam)

    def draw(self, layers: Sequence[str], rng: np.random.Generator) -> tuple[_Rows, int]:
        """One replicate of ``layers`` (its rows and the row's index), drawn with ``rng``."""
        key = tuple(layers)
        if key not in self.rows:
            self.reward(key, 0.0, rng)  # raises, naming the architecture
        r = self.rows[key]
        return r, int(rng.integers(len(r.val_loss)))

    def reward_at(self, r: _Rows, i: int, epochs: int, lam: float) -> tuple[float, int]:
        """The reward of row ``i`` of ``r`` after ``epochs`` epochs and the epochs it trained
        (fewer when early stopping ended it sooner); see the module docstring."""
        if r.curves is None:
            raise InputError(
                "replaying successive halving needs the per-epoch validation losses of every "
                "row (a val_loss_curve column; rebuild the table with bench/build_table.py)",
                self.path,
                key="val_loss_curve",
            )
        curve = r.curves[i]
        done = min(epochs, len(curve))
        if r.failed[i] or done == 0:
            return float(r.penalty[i]) if r.failed[i] else math.nan, done
        loss = float(np.nanmin(curve[:done])) if np.isfinite(curve[:done]).any() else math.nan
        if not math.isfinite(loss):
            return float(r.penalty[i]) if math.isfinite(r.penalty[i]) else -10.0, done
        return compute_reward(loss, float(r.knowledge[i]), lam), done

    @property
    def has_curves(self) -> bool:
        return all(r.curves is not None for r in self.rows.values())


def _numeric(raw: pd.DataFrame, key: str, path: Path) -> np.ndarray:
    column = raw[key].str.strip()
    missing = column.str.lower().isin(["", "nan", "na"])
    values = pd.to_numeric(column.where(~missing, "nan"), errors="coerce")
    bad = values.isna() & ~missing
    if bad.any():
        i = int(bad.to_numpy().argmax())
        raise InputError(
            f"{key} must be a number, got {raw[key].iloc[i]!r}", path, line=i + 2, key=key
        )
    return values.to_numpy(dtype=np.float64)


def read_table(path: str | PathLike, space: ModelSpace) -> ResultsTable:
    """Read and check a results table against ``space`` (see the module docstring).

    Raises :class:`InputError` naming the file (and line and column where it
    applies) for a missing column, an option name the space does not have, a
    non-numeric value, a failed row without a reward, or a table with no rows.
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("results table not found", path) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable tab-separated table ({err})", path) from None
    needed = [*space.layer_names, *REQUIRED_COLUMNS]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; a results table has one column per layer "
            f"({', '.join(space.layer_names)}) and val_loss, knowledge, replicate",
            path,
        )
    if raw.empty:
        raise InputError("the results table has no rows", path)
    for layer in space.layers:
        bad = ~raw[layer.name].isin(layer.option_names)
        if bad.any():
            i = int(bad.to_numpy().argmax())
            raise InputError(
                f"layer {layer.name!r} has no option {raw[layer.name].iloc[i]!r} in "
                f"{space.source} (options: {', '.join(layer.option_names)})",
                path,
                line=i + 2,
                key=layer.name,
            )
    val_loss = _numeric(raw, "val_loss", path)
    knowledge = _numeric(raw, "knowledge", path)
    if "val_auroc" in raw.columns:
        _numeric(raw, "val_auroc", path)
    blank = raw["replicate"].str.strip() == ""
    if blank.any():
        raise InputError(
            "replicate must not be empty", path, line=int(blank.to_numpy().argmax()) + 2,
            key="replicate",
        )
    failed = ~np.isfinite(val_loss)
    if "status" in raw.columns:
        failed |= raw["status"].str.strip().str.lower().to_numpy() == "failed"
    penalty = np.full(len(raw), np.nan)
    if failed.any():
        if "reward" not in raw.columns:
            raise InputError(
                "a failed row (no val_loss, or status failed) needs a reward column "
                "holding its penalty",
                path,
                line=int(failed.argmax()) + 2,
            )
        penalty = _numeric(raw, "reward", path)
        bad = failed & ~np.isfinite(penalty)
        if bad.any():
            raise InputError(
                "a failed row needs a finite reward (its penalty)",
                path,
                line=int(bad.argmax()) + 2,
                key="reward",
            )
    curves = _curves(raw, failed, path) if "val_loss_curve" in raw.columns else None
    keep = np.ones(len(raw), dtype=bool)
    if "cached" in raw.columns:
        keep = ~raw["cached"].str.strip().str.lower().isin(["true", "1"]).to_numpy()
    lines = np.arange(2, len(raw) + 2)
    archs = list(zip(*(raw[n] for n in space.layer_names), strict=True))
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, arch in enumerate(archs):
        if keep[i]:
            groups.setdefault(tuple(arch), []).append(i)
    rows = {
        arch: _Rows(
            val_loss=val_loss[idx], knowledge=knowledge[idx], failed=failed[idx],
            penalty=penalty[idx], lines=lines[idx],
            curves=None if curves is None else tuple(curves[j] for j in idx),
        )
        for arch, idx in ((a, np.array(i)) for a, i in groups.items())
    }
    if not rows:
        raise InputError("the results table has no rows that are not cached repeats", path)
    return ResultsTable(space=space, path=str(path), rows=rows)


def _curves(raw: pd.DataFrame, failed: np.ndarray, path: Path) -> list[np.ndarray]:
    """The ``val_loss_curve`` column as arrays; InputError naming the line for a value that
    is not a comma-separated list of numbers, or an ok row without one."""
    out = []
    for i, text in enumerate(raw["val_loss_curve"]):
        text = text.strip()
        try:
            values = np.array([float(v) for v in text.split(",")] if text else [], dtype=np.float64)
        except ValueError:
            raise InputError(
                f"val_loss_curve must be comma-separated numbers, got {text[:40]!r}",
                path, line=i + 2, key="val_loss_curve",
            ) from None  # fmt: skip
        if not failed[i] and not np.isfinite(values).any():
            raise InputError(
                "a successful row needs its per-epoch validation losses in val_loss_curve",
                path, line=i + 2, key="val_loss_curve",
            )  # fmt: skip
        out.append(values)
    return out


def gold_standard(table: ResultsTable, lam: float) -> pd.DataFrame:
    """Rank every architecture of ``table`` by its medians over successful replicates.

    Returns
    -------
    DataFrame
        Indexed by architecture (tuple of option names), with columns
        ``median_loss``, ``median_knowledge``, ``score`` (``median_loss +
        lam * median_knowledge``; ``median_loss`` alone when ``lam == 0``),
        ``rank_reward``, ``rank_loss``, ``rank_knowledge`` (int, 1 = best; ties
        share the better rank; NaN medians rank last).
    """
    archs = list(table.rows)
    med_loss, med_k = [], []
    for arch in archs:
        r = table.rows[arch]
        ok = ~r.failed
        med_loss.append(float(np.median(r.val_loss[ok])) if ok.any() else math.nan)
        k = r.knowledge[ok & np.isfinite(r.knowledge)]
        med_k.append(float(np.median(k)) if k.size else math.nan)
    df = pd.DataFrame(
        {"median_loss": med_loss, "median_knowledge": med_k},
        index=pd.Index(archs, tupleize_cols=False, name="architecture"),
    )
    df["score"] = [  # the reward of the medians, negated; NaN for an architecture that never trained
        -compute_reward(loss, k, lam) if math.isfinite(loss) else math.nan
        for loss, k in zip(df["median_loss"], df["median_knowledge"], strict=True)
    ]
    for col, src in (("rank_reward", "score"), ("rank_loss", "median_loss"),
                     ("rank_knowledge", "median_knowledge")):
        df[col] = df[src].rank(method="min", na_option="bottom").astype(int)
    return df


@dataclass(frozen=True)
class SearchResult:
    """One replayed search.

    Attributes
    ----------
    best_seen : tuple of str
        The architecture with the best single observed reward (first seen on ties).
    best_reward : float
    final : tuple of str
        The controller's most likely architecture at the end.
    chosen : tuple of str
        What the workflow's final stage would keep from this search
        (:func:`final_choice` with the ``final`` settings given).
    proposals : list of tuple of str
        Every proposal, in order.
    rewards : (budget,) float64
        The reward of each proposal (with successive halving: at the highest rung
        it reached).
    epochs : int
        Child-epochs the search cost (0 when the table has no curves and no
        ladder was given: every child then counts as trained in full).
    """

    best_seen: tuple[str, ...]
    best_reward: float
    final: tuple[str, ...]
    proposals: list[tuple[str, ...]]
    rewards: np.ndarray
    chosen: tuple[str, ...] = ()
    epochs: int = 0


@dataclass(frozen=True)
class FinalSettings:
    """The final stage's choice, as the config's ``final`` block sets it.

    ``select``: ``best_reward`` (the ``top_k`` distinct architectures with the
    highest rewards, each by its best child) or ``controller`` (the most likely
    architecture); ``replicates``: trainings of each candidate; ``choose``:
    ``replicate`` (the candidate of the single best replicate) or ``median``
    (the candidate with the highest median replicate reward).
    """

    select: str = "best_reward"
    top_k: int = 1
    replicates: int = 3
    choose: str = "replicate"


#: Stream number of the final stage's replicate draws in :func:`derive_rng`.
FINAL_STREAM = 2


def final_choice(
    table: ResultsTable,
    proposals: Sequence[tuple[str, ...]],
    rewards: np.ndarray,
    most_likely: tuple[str, ...],
    lam: float,
    seed: int,
    final: FinalSettings,
) -> tuple[str, ...]:
    """The architecture the workflow's final stage keeps from one replayed search.

    The candidates are chosen as ``select-architecture`` does; with more than
    one, each gets ``final.replicates`` rewards drawn from the table (a
    generator derived from ``seed``; the recorded rewards stand in for the
    final stage's longer trainings) and ``final.choose`` decides as
    ``bionas evaluate`` does.
    """
    if final.select == "controller":
        return tuple(most_likely)
    candidates: list[tuple[str, ...]] = []
    for i in sorted(range(len(rewards)), key=lambda i: (-rewards[i], i)):
        if proposals[i] not in candidates:
            candidates.append(proposals[i])
        if len(candidates) == final.top_k:
            break
    if len(candidates) == 1:
        return candidates[0]
    rng = derive_rng(seed, 0, FINAL_STREAM)
    draws = [[table.reward(a, lam, rng) for _ in range(final.replicates)] for a in candidates]
    if final.choose == "median":
        scores = [float(np.median(d)) for d in draws]
    else:
        scores = [max(d) for d in draws]
    return candidates[int(np.argmax(scores))]


def replay_search(
    table: ResultsTable,
    controller: Controller,
    budget: int,
    lam: float,
    seed: int,
    batch: int = 5,
    final: FinalSettings | None = None,
    in_flight: int = 1,
    fidelity: Any = None,
    epochs: int | None = None,
) -> SearchResult:
    """Run ``controller`` for ``budget`` proposals, ``batch`` per update, against ``table``.

    With ``fidelity`` (a :class:`bionas.search.fidelity.Ladder` built for
    ``batch`` children) every step runs successive halving on its draws as
    the workflow does (:func:`_halving`) and the controller learns each
    child's reward at the highest rung it reached. ``epochs``: the child-
    epochs of a fully trained child when the table has curves and no ladder
    is given (the workflow's ``training.epochs``), to count the cost.

    Step s (1, 2, ...) proposes ``min(batch, budget left)`` architectures from
    the state after s - ``in_flight`` updates (the workflow's
    ``search.in_flight``; 1: after s - 1), told the proposals of the steps in
    between as pending, draws one replicate of each with a generator derived
    from ``seed``, and updates the state after s - 1 updates with the rewards.
    """
    if budget < 1 or batch < 1 or in_flight < 1:
        raise ValueError("budget, batch and in_flight must be >= 1")
    table.check_lambda(lam)
    rng = derive_rng(seed, 0, DRAW_STREAM)
    states = [controller.init_state(seed)]  # states[s]: after s updates
    steps: list[list[tuple[str, ...]]] = []  # steps[s - 1]: the proposals of step s
    proposals: list[tuple[str, ...]] = []
    rewards: list[float] = []
    spent = 0
    step = 0
    while len(proposals) < budget:
        step += 1
        base = max(0, step - in_flight)
        pending = [a for archs in steps[base : step - 1] for a in archs]
        archs = controller.propose(states[base], min(batch, budget - len(proposals)), step, pending)
        if fidelity is not None:
            got, cost = _halving(table, archs, lam, rng, fidelity)
            spent += cost
        elif epochs is not None and table.has_curves:
            draws = [table.draw(a, rng) for a in archs]
            pairs = [table.reward_at(r, i, epochs, lam) for r, i in draws]
            got = [g if math.isfinite(g) else float(r.penalty[i]) for (g, _), (r, i) in zip(pairs, draws, strict=True)]
            spent += sum(e for _, e in pairs)
        else:
            got = [table.reward(a, lam, rng) for a in archs]
        states.append(controller.update(states[-1], list(zip(archs, got, strict=True))))
        steps.append(list(archs))
        proposals.extend(archs)
        rewards.extend(got)
    state = states[-1]
    best = int(np.argmax(rewards))
    most_likely = tuple(controller.most_likely(state))
    final = FinalSettings() if final is None else final
    return SearchResult(
        best_seen=proposals[best],
        best_reward=float(rewards[best]),
        final=most_likely,
        proposals=proposals,
        rewards=np.asarray(rewards),
        chosen=final_choice(table, proposals, np.asarray(rewards), most_likely, lam, seed, final),
        epochs=spent,
    )


def _halving(table: ResultsTable, archs, lam: float, rng: np.random.Generator, ladder) -> tuple[list[float], int]:
    """One step's successive halving on recorded curves: each child draws one replicate,
    every rung ranks its members by reward (failed last, ties by child index) and promotes
    the rung's count; returns each child's reward at its highest rung and the child-epochs
    spent."""
    draws = [table.draw(a, rng) for a in archs]
    n = len(archs)
    counts = [min(c, n) for c in (n, *ladder.counts[1:])]
    reached = [0] * n
    rewards = [0.0] * n
    members = list(range(n))
    spent = 0
    for rung, budget in enumerate(ladder.epochs):
        if rung > 0:
            ok = [c for c in members if math.isfinite(rewards[c]) and not draws[c][0].failed[draws[c][1]]]
            ranked = sorted(members, key=lambda c: (c not in ok, -rewards[c] if c in ok else 0.0, c))
            members = ranked[: counts[rung]]
        for c in members:
            r, i = draws[c]
            reward, done = table.reward_at(r, i, budget, lam)
            spent += done - reached[c]
            reached[c] = done
            rewards[c] = reward if math.isfinite(reward) else float(r.penalty[i])
    return rewards, spent


def _ranks(space: ModelSpace, gold: pd.DataFrame, arch: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"layers": dict(zip(space.layer_names, arch, strict=True))}
    for col in ("rank_reward", "rank_loss", "rank_knowledge"):
        out[col] = int(gold.at[arch, col]) if arch in gold.index else None
    return out


def replay(
    space: ModelSpace,
    table: ResultsTable,
    controller: str,
    budget: int,
    lam: float,
    seed: int,
    repeats: int = 1,
    batch: int = 5,
    settings: Mapping[str, Any] | None = None,
    final: FinalSettings | None = None,
    in_flight: int = 1,
    fidelity: Any = None,
) -> dict[str, Any]:
    """Replay ``repeats`` searches (repeat r seeded ``seed + r``) and rank their results.

    ``fidelity``: a :class:`bionas.search.fidelity.Ladder` to replay successive
    halving with (each repeat then also holds the child-epochs it cost).

    Returns
    -------
    dict
        ``{"controller", "lambda", "budget", "space_size", "repeats": [{"seed",
        "epochs" (child-epochs; 0 without fidelity), "best_seen": {"layers": {layer: option}, "rank_reward", "rank_loss",
        "rank_knowledge"}, "final": {...}, "kept": {...}}, ...]}``: ``final`` is
        the strategy's most likely architecture, ``kept`` what the workflow's
        final stage keeps with ``final`` (:func:`final_choice`); a rank is None
        for an architecture that is not in the table.
    """
    ctrl = get_controller(controller, space, **dict(settings or {}))
    gold = gold_standard(table, lam)
    out_repeats = []
    for r in range(repeats):
        result = replay_search(table, ctrl, budget, lam, seed + r, batch, final, in_flight, fidelity)
        out_repeats.append(
            {
                "seed": seed + r,
                "epochs": result.epochs,
                "best_seen": _ranks(space, gold, result.best_seen),
                "final": _ranks(space, gold, result.final),
                "kept": _ranks(space, gold, result.chosen),
            }
        )
    return {
        "controller": controller,
        "lambda": lam,
        "budget": budget,
        "space_size": space.size,
        "repeats": out_repeats,
    }
