"""Surrogate results tables calibrated on the recorded one, for leak-free search benchmarks.

The recorded table (``bench/data/results.tsv``) has two problems as a benchmark:
its gold standard is the median of the same three replicates a replayed search
draws from (a strategy that re-evaluates candidates is flattered), and its space
(216 architectures) is small. This module fits a noise model to it and writes
tables whose gold standard is close to a known, noise-free truth.

Calibration (:func:`calibrate`) on the recorded table:

- A row is *failed* by the reader's rules; a successful row whose ``val_loss``
  is at or above chance (``>= ln 2 - COLLAPSE_TOL``) is a *collapse* (the model
  learned nothing). The other rows are *good*.
- The loss is modelled on the logit scale ``z = log(loss / (ln 2 - loss))``,
  which keeps every simulated loss below chance and on which the replicate
  noise is close to homoscedastic; K is modelled as it is.
- Per architecture, the median of the good rows' ``z`` and of their K is fitted
  by ridge regression (``RIDGE``, only for identifiability) on one-hot option
  indicators of every layer plus indicators of every option pair of adjacent
  layers. The fit is evaluated over the whole recorded grid and split into a
  grand mean, centred main effects and double-centred pair interactions
  (ANOVA), which reproduce it exactly.
- Noise: the pooled within-architecture sd of ``z`` and of K over good rows.
- Collapses: a zero-inflated binomial, fitted by maximum likelihood on the
  per-architecture collapse counts: a share ``prone`` of architectures collapses
  in each replicate with probability ``collapse``, the others never. A collapsed
  row has the median collapsed ``val_loss`` and a K drawn from the collapsed
  rows' mean and sd.

The large space (:data:`LARGE_SPACE`, 12 960 architectures, window 200) keeps
every recorded layer and option and adds options and layers. Its effects
(:func:`extend`, seeded):

- a recorded option keeps its fitted main effect and interactions;
- a new option of a recorded layer names a recorded option of that layer as its
  parent (``from``): it gets the parent's main effect and interaction rows plus
  normal jitter with sd ``JITTER`` times the layer's main-effect sd and the
  pair's interaction sd (``drop_0.4`` behaves like ``drop_0.2``, a little
  differently);
- a new layer's identity option has no effect at all (so an architecture with
  every new layer at ``none`` has exactly the fitted truth of its recorded
  counterpart); its other options get main effects drawn from a normal with the
  root-mean-square of all fitted main effects, and interactions with the layers
  next to it drawn with the root-mean-square of all fitted interactions;
- the recorded adjacent pairs keep their interactions even where a new layer
  now sits between them (``pool`` and ``reduce``).

:func:`simulate` writes every architecture with ``replicates`` rows (noise and
collapses drawn as calibrated, status ``ok`` as in the recorded table) and the
noise-free truth in extra columns ``true_loss`` and ``true_knowledge`` (the
reader ignores columns it does not know), and ``prone`` (1 if the architecture
may collapse). :func:`fair_table` is the same over the recorded space: the 216
recorded architectures with their fitted truth and fresh noise.

Learning curves (:func:`curve_shapes`, ``--curves``), for replaying successive
halving: a recorded table with per-epoch validation losses
(``bench/data/curves.tsv``, the same space) gives every good row's curve as a
*shape*, its logit loss minus the logit of its best epoch (0 at the best
epoch, the same length as the recorded curve, so early stopping comes with
it). A simulated row draws one shape of its recorded counterpart (the
architecture with every recorded layer at the option it is or derives from,
the new layers left out) and adds it to its own logit loss: the curve's best
epoch is the row's ``val_loss``, and how fast an architecture learns comes
from the recorded trainings of its counterpart. A collapsed row's curve is its
loss for :data:`COLLAPSED_EPOCHS` epochs. The shapes are drawn from their own
stream, so a table with curves has the same other columns as one without.

Run::

    python bench/surrogate.py --out DIR [--seed 0] [--replicates 12] [--curves bench/data/curves.tsv]
    python bench/surrogate.py --out DIR --fair      # the recorded space, fitted truth

It writes ``DIR/space.yaml`` and ``DIR/results.tsv`` and prints the
calibration; then ``python bench/search.py DIR/results.tsv --space DIR/space.yaml``.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bionas.records.space import ModelSpace, load_space, parse_space
from bionas.search.replay import ResultsTable, read_table

ROOT = Path(__file__).resolve().parent.parent
RECORDED_TABLE = ROOT / "bench" / "data" / "results.tsv"
RECORDED_SPACE = ROOT / "bench" / "data" / "space.yaml"
#: Input length in bp of the recorded table's children (config/config.yaml).
WINDOW = 200
#: Loss of a model that predicts 0.5 for every window (binary cross-entropy).
CHANCE = math.log(2.0)
#: A successful row with ``val_loss >= CHANCE - COLLAPSE_TOL`` is a collapse.
COLLAPSE_TOL = 1e-3
#: Ridge penalty of the effect fit (the design is rank deficient without one).
RIDGE = 1e-2
#: Sd of a derived option's jitter, relative to its layer's (or pair's) effect sd.
JITTER = 0.25
#: Streams of :func:`numpy.random.SeedSequence`: effects of new options, noise, curve shapes.
EFFECT_STREAM, NOISE_STREAM, CURVE_STREAM = 0, 1, 2
#: The recorded table with learning curves over the recorded space.
RECORDED_CURVES = ROOT / "bench" / "data" / "curves.tsv"
#: Epochs of a collapsed row's curve: its best is the first epoch, and early
#: stopping (patience 3, as bench/build_table.py trains) ends it three later.
COLLAPSED_EPOCHS = 4


def _conv(kernel: int, filters: int, parent: str | None = None) -> dict[str, Any]:
    option = {"name": f"conv_k{kernel}_f{filters}", "type": "conv1d", "filters": filters,
              "kernel_size": kernel, "activation": "relu"}
    return option if parent is None else {**option, "from": parent}


#: The large space, layer by layer; ``from`` names the recorded parent of a new
#: option of a recorded layer (a recorded option is its own parent). Size
#: 12 x 5 x 4 x 2 x 3 x 3 x 3 = 12 960.
LARGE_SPACE: tuple[tuple[str, tuple[dict[str, Any], ...]], ...] = (
    ("conv1", tuple(
        _conv(k, f, None if k < 26 and f < 128 else f"conv_k{min(k, 20)}_f{min(f, 64)}")
        for f in (32, 64, 128) for k in (8, 14, 20, 26)
    )),
    ("pool", (
        {"name": "none", "type": "identity"},
        {"name": "max4", "type": "maxpool1d", "size": 4},
        {"name": "avg4", "type": "avgpool1d", "size": 4},
        {"name": "max2", "type": "maxpool1d", "size": 2, "from": "max4"},
        {"name": "avg2", "type": "avgpool1d", "size": 2, "from": "avg4"},
    )),
    ("conv2", (
        {"name": "none", "type": "identity"},
        *(_conv(k, 64) for k in (3, 5, 9)),
    )),
    ("norm", (
        {"name": "none", "type": "identity"},
        {"name": "batch_norm", "type": "batch_norm"},
    )),
    ("reduce", (
        {"name": "gmax", "type": "global_max_pool"},
        {"name": "gavg", "type": "global_avg_pool"},
        {"name": "flatten", "type": "flatten"},
    )),
    ("dropout", (
        {"name": "none", "type": "identity"},
        {"name": "drop_0.2", "type": "dropout", "rate": 0.2},
        {"name": "drop_0.4", "type": "dropout", "rate": 0.4, "from": "drop_0.2"},
    )),
    ("dense", (
        {"name": "none", "type": "identity"},
        {"name": "dense_16", "type": "dense", "units": 16, "activation": "relu"},
        {"name": "dense_32", "type": "dense", "units": 32, "activation": "relu", "from": "dense_16"},
    )),
)


@dataclass(frozen=True)
class Effects:
    """An additive model over a space: grand mean, main effects, pair interactions.

    Attributes
    ----------
    mean : float
    main : dict of str to ndarray
        Layer name -> effect of each of its options, in the space's order.
    pairs : dict of (str, str) to ndarray
        ``(layer_a, layer_b)`` -> ``(options of a, options of b)`` interactions.
    """

    mean: float
    main: Mapping[str, np.ndarray]
    pairs: Mapping[tuple[str, str], np.ndarray]

    def evaluate(self, space: ModelSpace, indices: np.ndarray) -> np.ndarray:
        """The model at architectures given as option indices, shape ``(n, layers)``."""
        column = {name: indices[:, i] for i, name in enumerate(space.layer_names)}
        out = np.full(len(indices), self.mean)
        for name, effect in self.main.items():
            out += effect[column[name]]
        for (a, b), table in self.pairs.items():
            out += table[column[a], column[b]]
        return out


@dataclass(frozen=True)
class Surrogate:
    """A noise model over a space: the truth, the replicate noise and the collapses.

    Attributes
    ----------
    space : ModelSpace
    loss : Effects
        Truth of the loss on the logit scale ``log(loss / (ln 2 - loss))``.
    knowledge : Effects
        Truth of K.
    noise_loss, noise_knowledge : float
        Replicate sd of the logit loss and of K.
    prone : float
        Share of architectures that can collapse.
    collapse : float
        Chance that a prone architecture collapses in one replicate.
    collapse_loss : float
        ``val_loss`` of a collapsed row.
    collapse_knowledge : (float, float)
        Mean and sd of K of a collapsed row.
    """

    space: ModelSpace
    loss: Effects
    knowledge: Effects
    noise_loss: float
    noise_knowledge: float
    prone: float
    collapse: float
    collapse_loss: float
    collapse_knowledge: tuple[float, float]


@dataclass(frozen=True)
class Calibration:
    """A surrogate fitted on a recorded table, and how well it fits.

    Attributes
    ----------
    surrogate : Surrogate
        Over the recorded space.
    r2 : dict of str to float
        Share of the variance of the per-architecture medians the effects
        explain: ``logit_loss`` (the fitted scale, good rows), ``loss`` (back on
        the loss scale, good rows), ``gold_loss`` (loss scale, against the gold
        standard's medians over every successful row, collapses included),
        ``knowledge`` (good rows).
    rows, collapsed : int
        Successful rows, and how many of them collapsed.
    """

    surrogate: Surrogate
    r2: Mapping[str, float]
    rows: int
    collapsed: int


def logit_loss(loss: np.ndarray) -> np.ndarray:
    """``log(loss / (ln 2 - loss))``: a loss in (0, ln 2) on the real line."""
    return np.log(loss / (CHANCE - loss))


def inverse_logit_loss(z: np.ndarray) -> np.ndarray:
    """The loss of a logit ``z``: ``ln 2 / (1 + exp(-z))``."""
    return CHANCE / (1.0 + np.exp(-z))


def grid_indices(space: ModelSpace) -> np.ndarray:
    """Option indices of every architecture, shape ``(size, layers)``, in grid order."""
    return np.indices(space.option_counts).reshape(len(space.layers), -1).T


def adjacent_pairs(space: ModelSpace) -> list[tuple[str, str]]:
    """``[(layer 0, layer 1), (layer 1, layer 2), ...]``."""
    names = space.layer_names
    return list(zip(names, names[1:]))


def design(space: ModelSpace, indices: np.ndarray) -> np.ndarray:
    """Intercept, one-hot options of every layer and one-hot option pairs of adjacent layers."""
    counts = space.option_counts
    blocks = [np.ones((len(indices), 1))]
    for i, k in enumerate(counts):
        blocks.append(np.eye(k)[indices[:, i]])
    for i in range(len(counts) - 1):
        cell = indices[:, i] * counts[i + 1] + indices[:, i + 1]
        blocks.append(np.eye(counts[i] * counts[i + 1])[cell])
    return np.hstack(blocks)


def fit_effects(space: ModelSpace, indices: np.ndarray, y: np.ndarray) -> tuple[Effects, np.ndarray]:
    """Ridge fit of ``y`` at ``indices``, split into centred effects over the whole grid.

    Returns
    -------
    effects : Effects
        Grand mean, centred main effects, double-centred adjacent interactions.
    fitted : ndarray
        The fit at ``indices``.
    """
    x = design(space, indices)
    penalty = np.full(x.shape[1], RIDGE)
    penalty[0] = 0.0  # the intercept is not shrunk
    coef = np.linalg.solve(x.T @ x + np.diag(penalty), x.T @ y)
    grid = (design(space, grid_indices(space)) @ coef).reshape(space.option_counts)
    axes = range(len(space.layers))
    mean = float(grid.mean())
    main = {
        name: grid.mean(axis=tuple(a for a in axes if a != i)) - mean
        for i, name in enumerate(space.layer_names)
    }
    pairs = {}
    for i, (a, b) in enumerate(adjacent_pairs(space)):
        cell = grid.mean(axis=tuple(j for j in axes if j not in (i, i + 1)))
        pairs[a, b] = cell - main[a][:, None] - main[b][None, :] - mean
    return Effects(mean=mean, main=main, pairs=pairs), x @ coef


def pooled_sd(groups: Sequence[np.ndarray]) -> float:
    """Within-group sd pooled over groups of two or more values (NaN if there are none)."""
    dof = sum(len(g) - 1 for g in groups if len(g) > 1)
    if dof == 0:
        return math.nan
    return math.sqrt(sum(float(((g - g.mean()) ** 2).sum()) for g in groups if len(g) > 1) / dof)


def fit_collapses(counts: np.ndarray, trials: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood zero-inflated binomial on a 0.005 grid in (0, 1): ``(prone, collapse)``.

    An architecture is prone with probability ``prone``; a prone one collapses
    in each of its ``trials`` with probability ``collapse``, the others never.
    """
    if not counts.any():
        return 0.0, 0.0
    grid = np.linspace(0.005, 0.995, 199)
    p, q = grid[:, None, None], grid[None, :, None]
    binom = np.array([math.comb(int(n), int(c)) for c, n in zip(counts, trials)])
    like = p * binom * q**counts * (1 - q) ** (trials - counts) + (1 - p) * (counts == 0)
    loglike = np.log(like).sum(axis=2)
    i, j = np.unravel_index(int(loglike.argmax()), loglike.shape)
    return float(grid[i]), float(grid[j])


def r_squared(y: np.ndarray, fitted: np.ndarray) -> float:
    """``1 - SS_res / SS_tot``."""
    return float(1.0 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def calibrate(table: ResultsTable) -> Calibration:
    """Fit a :class:`Surrogate` over ``table.space`` on ``table`` (see the module docstring)."""
    space = table.space
    archs, z_groups, k_groups, counts, trials, gold_loss = [], [], [], [], [], []
    collapsed_loss, collapsed_k = [], []
    for arch, r in table.rows.items():
        ok = ~r.failed
        fell = ok & (r.val_loss >= CHANCE - COLLAPSE_TOL)
        good = ok & ~fell
        collapsed_loss.extend(r.val_loss[fell])
        collapsed_k.extend(r.knowledge[fell])
        counts.append(int(fell.sum()))
        trials.append(int(ok.sum()))
        if good.any():
            archs.append(space.encode(arch))
            z_groups.append(logit_loss(r.val_loss[good]))
            k_groups.append(r.knowledge[good])
            gold_loss.append(float(np.median(r.val_loss[ok])))
    indices = np.array(archs)
    z = np.array([np.median(g) for g in z_groups])
    k = np.array([np.median(g) for g in k_groups])
    loss_fx, z_fit = fit_effects(space, indices, z)
    k_fx, k_fit = fit_effects(space, indices, k)
    noise_loss = pooled_sd(z_groups)
    noise_k = pooled_sd(k_groups)
    prone, collapse = fit_collapses(np.array(counts), np.array(trials))
    if len(collapsed_k) > 1:
        collapse_k = (float(np.mean(collapsed_k)), float(np.std(collapsed_k, ddof=1)))
    else:  # too few collapses to say; a typical K
        collapse_k = (k_fx.mean, noise_k)
    surrogate = Surrogate(
        space=space, loss=loss_fx, knowledge=k_fx, noise_loss=noise_loss,
        noise_knowledge=noise_k, prone=prone, collapse=collapse,
        collapse_loss=float(np.median(collapsed_loss)) if collapsed_loss else CHANCE,
        collapse_knowledge=collapse_k,
    )
    r2 = {
        "logit_loss": r_squared(z, z_fit),
        "loss": r_squared(inverse_logit_loss(z), inverse_logit_loss(z_fit)),
        "gold_loss": r_squared(np.array(gold_loss), inverse_logit_loss(z_fit)),
        "knowledge": r_squared(k, k_fit),
    }
    return Calibration(surrogate=surrogate, r2=r2, rows=int(sum(trials)),
                       collapsed=int(sum(counts)))


def _rms(values: Sequence[np.ndarray]) -> float:
    return float(np.sqrt(np.mean(np.concatenate([np.ravel(v) for v in values]) ** 2)))


def _extend_effects(
    fitted: Effects,
    recorded: ModelSpace,
    layers: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
    rng: np.random.Generator,
) -> Effects:
    """:class:`Effects` over ``layers`` from ``fitted`` (rules in the module docstring)."""
    main_sd = _rms(list(fitted.main.values()))
    pair_sd = _rms(list(fitted.pairs.values()))
    kept = {layer.name: layer for layer in recorded.layers}
    parent: dict[str, list[int]] = {}  # recorded layers: the parent index of each option
    derived: dict[str, np.ndarray] = {}  # options that jitter their parent's effects
    active: dict[str, np.ndarray] = {}  # options with effects of their own (not a new identity)
    main: dict[str, np.ndarray] = {}
    for name, options in layers:
        derived[name] = np.array(["from" in o for o in options])
        if name in kept:
            parent[name] = [kept[name].index(o.get("from", o["name"])) for o in options]
            active[name] = np.ones(len(options), dtype=bool)
            jitter = JITTER * float(np.std(fitted.main[name]))
            main[name] = fitted.main[name][parent[name]] + derived[name] * rng.normal(
                0.0, jitter, len(options))
        else:
            active[name] = np.array([o["type"] != "identity" for o in options])
            main[name] = active[name] * rng.normal(0.0, main_sd, len(options))
    pairs: dict[tuple[str, str], np.ndarray] = {}
    names = [name for name, _ in layers]
    new_pairs = [(a, b) for a, b in zip(names, names[1:]) if a not in kept or b not in kept]
    for a, b in [*fitted.pairs, *new_pairs]:
        shape = (len(main[a]), len(main[b]))
        if (a, b) in fitted.pairs:
            jittered = derived[a][:, None] | derived[b][None, :]
            jitter = JITTER * float(np.std(fitted.pairs[a, b]))
            pairs[a, b] = fitted.pairs[a, b][np.ix_(parent[a], parent[b])] + jittered * rng.normal(
                0.0, jitter, shape)
        else:
            drawn = active[a][:, None] & active[b][None, :]
            pairs[a, b] = drawn * rng.normal(0.0, pair_sd, shape)
    return Effects(mean=fitted.mean, main=main, pairs=pairs)


def large_space_yaml() -> dict[str, Any]:
    """:data:`LARGE_SPACE` in the model-space YAML shape (without the ``from`` keys)."""
    return {"layers": [
        {"name": name, "options": [{k: v for k, v in o.items() if k != "from"} for o in options]}
        for name, options in LARGE_SPACE
    ]}


def extend(calibration: Calibration, seed: int) -> Surrogate:
    """The calibrated surrogate mapped onto :data:`LARGE_SPACE`; new effects drawn with ``seed``."""
    fitted = calibration.surrogate
    space = parse_space(copy.deepcopy(large_space_yaml()), source="<large space>", window=WINDOW)
    rng = np.random.default_rng(np.random.SeedSequence([seed, EFFECT_STREAM]))
    return Surrogate(
        space=space,
        loss=_extend_effects(fitted.loss, fitted.space, LARGE_SPACE, rng),
        knowledge=_extend_effects(fitted.knowledge, fitted.space, LARGE_SPACE, rng),
        noise_loss=fitted.noise_loss, noise_knowledge=fitted.noise_knowledge,
        prone=fitted.prone, collapse=fitted.collapse, collapse_loss=fitted.collapse_loss,
        collapse_knowledge=fitted.collapse_knowledge,
    )


def simulate(surrogate: Surrogate, seed: int, replicates: int) -> pd.DataFrame:
    """Every architecture of the surrogate's space, ``replicates`` rows each, replicate-major.

    Columns: one per layer, ``val_loss``, ``knowledge``, ``replicate``,
    ``status`` (``ok``), ``true_loss``, ``true_knowledge`` (noise-free, no
    collapse) and ``prone`` (1 if the architecture can collapse). K is floored at 0.
    """
    space = surrogate.space
    rng = np.random.default_rng(np.random.SeedSequence([seed, NOISE_STREAM]))
    indices = grid_indices(space)
    n = len(indices)
    true_z = surrogate.loss.evaluate(space, indices)
    true_k = surrogate.knowledge.evaluate(space, indices)
    prone = rng.random(n) < surrogate.prone
    z = true_z + rng.normal(0.0, surrogate.noise_loss, (replicates, n))
    k = true_k + rng.normal(0.0, surrogate.noise_knowledge, (replicates, n))
    fell = prone & (rng.random((replicates, n)) < surrogate.collapse)
    loss = np.where(fell, surrogate.collapse_loss, inverse_logit_loss(z))
    k = np.where(fell, rng.normal(*surrogate.collapse_knowledge, (replicates, n)), k)
    frame = pd.DataFrame({
        name: np.tile(np.array(layer.option_names)[indices[:, i]], replicates)
        for i, (name, layer) in enumerate(zip(space.layer_names, space.layers))
    })
    frame["val_loss"] = loss.ravel()
    frame["knowledge"] = np.maximum(k.ravel(), 0.0)
    frame["replicate"] = np.repeat(np.arange(replicates), n)
    frame["status"] = "ok"
    frame["true_loss"] = np.tile(inverse_logit_loss(true_z), replicates)
    frame["true_knowledge"] = np.tile(true_k, replicates)
    frame["prone"] = np.tile(prone.astype(int), replicates)
    return frame


@dataclass(frozen=True)
class CurveShapes:
    """Recorded learning-curve shapes per architecture of a recorded space.

    Attributes
    ----------
    space : ModelSpace
        The recorded space.
    shapes : dict of tuple of int to tuple of ndarray
        Option indices of a recorded architecture -> the logit-loss curve minus
        its minimum of each good recorded row.
    """

    space: ModelSpace
    shapes: Mapping[tuple[int, ...], tuple[np.ndarray, ...]]

    def counterparts(self, space: ModelSpace, indices: np.ndarray) -> list[tuple[int, ...]]:
        """The recorded counterpart (option indices in :attr:`space`) of each architecture of
        ``space`` given as option indices: every recorded layer at the option it is or derives
        from (:data:`LARGE_SPACE`'s ``from``), the other layers left out."""
        derived = {name: {o["name"]: o.get("from", o["name"]) for o in options}
                   for name, options in LARGE_SPACE}
        columns = []
        for layer in self.space.layers:
            j = space.layer_names.index(layer.name)
            names = space.layers[j].option_names
            parents = derived.get(layer.name, {})
            lookup = np.array([layer.index(parents.get(n, n)) for n in names])
            columns.append(lookup[indices[:, j]])
        return [tuple(int(i) for i in row) for row in np.stack(columns, axis=1)]


def curve_shapes(table: ResultsTable) -> CurveShapes:
    """The :class:`CurveShapes` of a table with per-epoch validation losses (module docstring)."""
    if not table.has_curves:
        raise ValueError("the table has no val_loss_curve column (bench/build_table.py records it)")
    shapes = {}
    for arch, r in table.rows.items():
        good = ~r.failed & (r.val_loss < CHANCE - COLLAPSE_TOL)
        kept = []
        for i in np.flatnonzero(good):
            curve = r.curves[i][np.isfinite(r.curves[i])]
            if curve.size:
                z = logit_loss(np.clip(curve, 1e-6, CHANCE * (1 - 1e-6)))
                kept.append(z - z.min())
        if kept:
            shapes[table.space.encode(arch)] = tuple(kept)
    return CurveShapes(space=table.space, shapes=shapes)


def simulate_curves(
    frame: pd.DataFrame, surrogate: Surrogate, curves: CurveShapes, seed: int
) -> list[str]:
    """A ``val_loss_curve`` for every row of a :func:`simulate` frame (module docstring): each
    good row one shape of its recorded counterpart (any recorded shape if the counterpart
    never trained well) on its own logit loss; a collapsed row flat."""
    space = surrogate.space
    rng = np.random.default_rng(np.random.SeedSequence([seed, CURVE_STREAM]))
    indices = np.stack([np.array([layer.index(o) for o in frame[name]])
                        for name, layer in zip(space.layer_names, space.layers)], axis=1)
    pooled = [shape for group in curves.shapes.values() for shape in group]
    out = []
    for counterpart, loss in zip(curves.counterparts(space, indices), frame["val_loss"], strict=True):
        group = curves.shapes.get(counterpart, pooled)
        shape = group[int(rng.integers(len(group)))]
        if loss >= CHANCE - COLLAPSE_TOL:
            values = np.full(COLLAPSED_EPOCHS, loss)
        else:
            values = inverse_logit_loss(float(logit_loss(np.array(loss))) + shape)
        out.append(",".join(f"{v:.6g}" for v in values))
    return out


def fair_table(calibration: Calibration, seed: int = 0, replicates: int = 12) -> pd.DataFrame:
    """The recorded space's architectures with their fitted truth and fresh noise.

    Replays against it no longer draw from the replicates that make the gold
    standard (see :func:`simulate` for the columns).
    """
    return simulate(calibration.surrogate, seed, replicates)


def describe_calibration(calibration: Calibration) -> str:
    """The calibration figures, as printed by the command line."""
    s = calibration.surrogate
    lines = [
        f"recorded table: {len(s.space.layers)} layers, {s.space.size} architectures, "
        f"{calibration.rows} successful rows",
        "R^2 of main effects + adjacent interactions on the per-architecture medians: "
        + ", ".join(f"{k} {v:.3f}" for k, v in calibration.r2.items()),
        f"replicate noise sd: logit loss {s.noise_loss:.3f} "
        f"(at loss 0.05 / 0.2 / 0.6: {_loss_sd(s, 0.05):.4f} / {_loss_sd(s, 0.2):.4f} / "
        f"{_loss_sd(s, 0.6):.4f}), knowledge {s.noise_knowledge:.4f}",
        f"collapses (val_loss >= ln 2 - {COLLAPSE_TOL:g}): {calibration.collapsed} of "
        f"{calibration.rows} rows ({calibration.collapsed / calibration.rows:.1%}); "
        f"zero-inflated binomial: {s.prone:.3f} of architectures prone, each replicate of a "
        f"prone one collapses with p {s.collapse:.3f}; collapsed val_loss {s.collapse_loss:.6f}, "
        f"K {s.collapse_knowledge[0]:.3f} +- {s.collapse_knowledge[1]:.3f}",
        f"grand mean: logit loss {s.loss.mean:.3f} (loss {inverse_logit_loss(s.loss.mean):.3f}), "
        f"knowledge {s.knowledge.mean:.3f}",
        f"{'effect (max - min)':<24} {'logit loss':>10} {'knowledge':>10}",
    ]
    for name in s.space.layer_names:
        lines.append(f"  main {name:<19} {np.ptp(s.loss.main[name]):>10.3f} "
                     f"{np.ptp(s.knowledge.main[name]):>10.3f}")
    for a, b in s.loss.pairs:
        lines.append(f"  pair {a + ' x ' + b:<19} {np.ptp(s.loss.pairs[a, b]):>10.3f} "
                     f"{np.ptp(s.knowledge.pairs[a, b]):>10.3f}")
    lines.append(f"  rms main / rms pair:    {_rms(list(s.loss.main.values())):.3f} / "
                 f"{_rms(list(s.loss.pairs.values())):.3f}   "
                 f"{_rms(list(s.knowledge.main.values())):.3f} / "
                 f"{_rms(list(s.knowledge.pairs.values())):.3f}")
    return "\n".join(lines)


def _loss_sd(surrogate: Surrogate, loss: float) -> float:
    """The replicate sd on the loss scale at ``loss`` (delta method)."""
    return surrogate.noise_loss * loss * (CHANCE - loss) / CHANCE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="write space.yaml and results.tsv here")
    parser.add_argument("--seed", type=int, default=0, help="seed of new effects and noise")
    parser.add_argument("--replicates", type=int, default=12, help="rows per architecture")
    parser.add_argument("--fair", action="store_true",
                        help="the recorded space with its fitted truth instead of the large space")
    parser.add_argument("--table", type=Path, default=RECORDED_TABLE, help="recorded results TSV")
    parser.add_argument("--space", type=Path, default=RECORDED_SPACE, help="its model-space YAML")
    parser.add_argument("--curves", type=Path, nargs="?", const=RECORDED_CURVES,
                        help="add learning curves shaped as in this table over the same space "
                             f"(default {RECORDED_CURVES.relative_to(ROOT)}), for --fidelity replays")
    args = parser.parse_args(argv)
    if args.replicates < 1:
        parser.error("--replicates must be >= 1")
    calibration = calibrate(read_table(args.table, load_space(args.space)))
    print(describe_calibration(calibration))
    surrogate = calibration.surrogate if args.fair else extend(calibration, args.seed)
    frame = simulate(surrogate, args.seed, args.replicates)
    if args.curves is not None:
        shapes = curve_shapes(read_table(args.curves, load_space(args.space)))
        frame["val_loss_curve"] = simulate_curves(frame, surrogate, shapes, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    what = "fair table over the recorded space" if args.fair else "surrogate over the large space"
    header = (f"# {what}, written by bench/surrogate.py --seed {args.seed} "
              f"--replicates {args.replicates}: {surrogate.space.size} architectures\n")
    (args.out / "space.yaml").write_text(
        header + yaml.safe_dump(surrogate.space.to_dict(), sort_keys=False))
    frame.to_csv(args.out / "results.tsv", sep="\t", index=False)
    gold = frame.groupby(list(surrogate.space.layer_names), sort=False)
    median = gold["val_loss"].median().to_numpy()
    truth = gold["true_loss"].first().to_numpy()
    print(f"wrote {args.out / 'space.yaml'} ({surrogate.space.size} architectures) and "
          f"{args.out / 'results.tsv'} ({len(frame)} rows); gold median vs true loss: "
          f"Spearman {_spearman(median, truth):.3f}, median |diff| "
          f"{np.median(np.abs(median - truth)):.4f}")
    return 0


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1])


if __name__ == "__main__":
    sys.exit(main())
