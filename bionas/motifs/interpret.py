"""First-layer filters -> PWMs, and which known motifs a model recovered.

Two ways to turn a filter into a PWM:

- :func:`activation_pwms` (Basset/DeepBind): run the filter over the
  sequences, keep every window whose activation exceeds a fraction of the
  filter's largest activation, and count the bases of those windows. The
  PWMs reflect what the filter responds to in the data (so the negative
  control, a randomly initialised model, must be run on the same data).
- :func:`softmax_pwms` (BioNAS): a per-position softmax of the weights with a
  temperature, independent of the data.

After :func:`bionas.motifs.compare.compare_motifs` has matched the PWMs against a
motif collection, :func:`recovery_table` says which prior motifs the filters
found, and :func:`found_not_given` lists the significant matches that are not
among the priors (the masked-knowledge result: motifs the model learned
without being told).

A match names a prior when its matrix id without version equals the prior's
(``MA0139.2`` and ``MA0139.1`` are both ``MA0139``) or its TF name equals the
prior's, case-insensitively (``CTCF`` MA1929.2 names the prior ``CTCF``
MA0139.2). With a family table (:mod:`bionas.motifs.families`) a match to
any matrix of the prior's family recovers the prior too (a filter that
learned IRF1 but matches the paralog IRF2 best), and "found, not given" lists
families, never the family of a prior.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bionas.motifs.compare import best_matches, id_base
from bionas.motifs.families import family_index

#: Sequences per block when scanning; bounds memory to about
#: ``batch_size * L * (4 * span + 2 * n_filters) * 4`` bytes.
BATCH_SIZE = 256

_MATCH_NEEDS = ("query", "target_id", "target_name", "p_value", "q_value")


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _selu(x: np.ndarray) -> np.ndarray:
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))


#: Activations computed in numpy, by Keras name.
ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": _elu,
    "selu": _selu,
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "exponential": np.exp,
    "softplus": lambda x: np.logaddexp(x, 0),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": _gelu,
}


class ConvWeights(NamedTuple):
    """A first-layer Conv1D on one-hot input.

    Attributes
    ----------
    kernel : (kernel_size, 4, n_filters) float32
    bias : (n_filters,) float32
        Zeros for a layer without bias.
    activation : str
        A key of :data:`ACTIVATIONS`.
    dilation : int
        Tap spacing; a filter reads ``(kernel_size - 1) * dilation + 1`` bases.
    """

    kernel: np.ndarray
    bias: np.ndarray
    activation: str
    dilation: int = 1

    @property
    def span(self) -> int:
        """Bases one filter reads: ``(kernel_size - 1) * dilation + 1``."""
        return (self.kernel.shape[0] - 1) * self.dilation + 1

    def dense_kernel(self) -> np.ndarray:
        """The kernel over the whole span, zeros between taps: ``(span, 4, n_filters)``."""
        if self.dilation == 1:
            return self.kernel
        out = np.zeros((self.span, *self.kernel.shape[1:]), dtype=self.kernel.dtype)
        out[:: self.dilation] = self.kernel
        return out


class ActivationPWMs(NamedTuple):
    """Activation-based PWMs of a model's first-layer filters.

    Attributes
    ----------
    pwms : (n_filters, span, 4) float64
        Rows sum to 1; uniform for a filter with no aligned window. ``span``
        is the kernel size, or ``(kernel_size - 1) * dilation + 1`` for a
        dilated convolution (every base of the window, between taps too).
    counts : (n_filters,) int64
        Number of aligned windows (subsequences) per filter.
    """

    pwms: np.ndarray
    counts: np.ndarray


def conv_weights(model: Any) -> ConvWeights:
    """The first Conv1D layer of a Keras model, as arrays.

    Parameters
    ----------
    model : keras.Model
        Its first Conv1D layer must read the one-hot input: kernel
        ``(kernel_size, 4, n_filters)``, stride 1, channels last.

    Returns
    -------
    ConvWeights
        The layer's own activation. An activation applied by a later layer
        (a separate ``Activation`` or normalisation layer) is not included.
    """
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ != "Conv1D":
            continue
        cfg = layer.get_config()
        weights = layer.get_weights()
        kernel = np.asarray(weights[0], dtype=np.float32)
        if kernel.ndim != 3 or kernel.shape[1] != 4:
            raise ValueError(
                f"the first Conv1D layer {layer.name!r} has kernel shape {kernel.shape}, "
                "not (width, 4, n_filters): it does not read the one-hot input"
            )
        strides = _single(cfg.get("strides", 1))
        if strides != 1:
            raise ValueError(f"the first Conv1D layer has strides={strides}; only 1 is supported")
        if cfg.get("data_format", "channels_last") != "channels_last":
            raise ValueError("the first Conv1D layer must be channels_last")
        if cfg.get("use_bias", True) and len(weights) > 1:
            bias = np.asarray(weights[1], dtype=np.float32)
        else:
            bias = np.zeros(kernel.shape[2], dtype=np.float32)
        activation = cfg.get("activation") or "linear"
        if not isinstance(activation, str):
            raise ValueError(f"the first Conv1D layer has a custom activation {activation!r}")
        return ConvWeights(kernel, bias, activation, _single(cfg.get("dilation_rate", 1)))
    raise ValueError("the model has no Conv1D layer")


def _single(value: Any) -> int:
    """A Keras 1D size that may come as an int or a 1-tuple."""
    return int(value[0]) if isinstance(value, list | tuple) else int(value)


def _conv_source(source: Any, activation: str | None, dilation: int | None) -> ConvWeights:
    """One boundary check for the weights argument of :func:`activation_pwms`."""
    if hasattr(source, "layers"):
        w = conv_weights(source)
    else:
        try:
            kernel, bias = source
        except (TypeError, ValueError):
            raise ValueError("expected a Keras model or a (kernel, bias) pair of arrays") from None
        kernel = np.asarray(kernel, dtype=np.float32)
        if kernel.ndim != 3 or kernel.shape[1] != 4 or 0 in kernel.shape:
            raise ValueError(
                f"kernel must have shape (kernel_size, 4, n_filters), got {kernel.shape}"
            )
        bias = (
            np.zeros(kernel.shape[2], np.float32) if bias is None else np.asarray(bias, np.float32)
        )
        if bias.shape != (kernel.shape[2],):
            raise ValueError(f"bias must have shape ({kernel.shape[2]},), got {bias.shape}")
        w = ConvWeights(kernel, bias, "linear")
    if activation is not None:
        w = w._replace(activation=activation)
    if dilation is not None:
        w = w._replace(dilation=int(dilation))
    if w.dilation < 1:
        raise ValueError(f"dilation must be >= 1, got {w.dilation!r}")
    if w.activation not in ACTIVATIONS:
        raise ValueError(
            f"activation {w.activation!r} is not supported; use one of {sorted(ACTIVATIONS)}"
        )
    if not (np.all(np.isfinite(w.kernel)) and np.all(np.isfinite(w.bias))):
        raise ValueError("the kernel or bias holds NaN or infinite values")
    return w


def _check_onehot(X: Any, width: int) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[2] != 4:
        raise ValueError(f"X must have shape (n, L, 4), got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X holds no sequences")
    if X.shape[1] < width:
        raise ValueError(f"sequences of length {X.shape[1]} are shorter than the filters ({width})")
    if X.dtype != np.uint8 and X.dtype != np.bool_:
        if not np.all((X == 0) | (X == 1)):
            raise ValueError("X must be one-hot: every value 0 or 1")
        X = X.astype(np.uint8)
    X = X.view(np.uint8) if X.dtype == np.bool_ else X
    if X.max() > 1 or X.sum(axis=2, dtype=np.int64).max() > 1:
        raise ValueError("X must be one-hot: 0/1 values, at most one 1 per position")
    return X


def _windows(X: np.ndarray, width: int) -> np.ndarray:
    """Every full window of a block of one-hot sequences: ``(n * P, width * 4)`` float32."""
    win = np.lib.stride_tricks.sliding_window_view(X, width, axis=1)  # (n, P, 4, width)
    return np.ascontiguousarray(win.transpose(0, 1, 3, 2), dtype=np.float32).reshape(-1, width * 4)


def activation_pwms(
    source: Any,
    X: Any,
    threshold: float = 0.5,
    *,
    activation: str | None = None,
    dilation: int | None = None,
    pseudocount: float = 1.0,
    batch_size: int = BATCH_SIZE,
) -> ActivationPWMs:
    """PWMs from the windows that activate each first-layer filter (Basset/DeepBind).

    For filter f the activation at window position p of sequence n is
    ``act(bias_f + sum_{j,b} X[n, p + j * dilation, b] * kernel[j, b, f])``
    over full windows only (p = 0 .. L - span, ``span = (kernel_size - 1) *
    dilation + 1``, the kernel size without dilation): windows that would reach into the zero
    padding of a ``same`` convolution are never used. Every window whose
    activation exceeds ``threshold * max_f`` (``max_f`` the filter's largest
    activation over all of X) is aligned and its bases counted; the PWM is
    ``(counts + pseudocount) / (column total + 4 * pseudocount)``. A filter
    whose largest activation is not positive aligns no window and gets a
    uniform PWM. Positions without a base (``N``, all-zero rows) add nothing
    to their column.

    Computed in numpy, float32, one matrix product per block of sequences
    (two passes: the maxima, then the counts).

    Parameters
    ----------
    source : keras.Model or (kernel, bias)
        A model (its first Conv1D layer is used, see :func:`conv_weights`) or
        the arrays: kernel ``(kernel_size, 4, n_filters)``, bias ``(n_filters,)``
        or None.
    X : (n, L, 4) uint8
        One-hot sequences, channels A, C, G, T.
    threshold : float
        Fraction of the largest activation a window must exceed, in [0, 1).
    activation : str, optional
        Override the activation (a key of :data:`ACTIVATIONS`). Default: the
        layer's own for a model, ``linear`` for bare arrays (the same windows
        as ``relu``).
    dilation : int, optional
        Override the dilation. Default: the layer's for a model, 1 for arrays.
        A dilated filter's window is its whole span, bases between taps
        included.
    pseudocount : float
        Added to every base count of every column (Basset adds 1).
    batch_size : int
        Sequences per block.

    Returns
    -------
    ActivationPWMs
        ``pwms`` ``(n_filters, span, 4)`` float64 and ``counts`` ``(n_filters,)`` int64.
    """
    conv = _conv_source(source, activation, dilation)
    width, n_filters = conv.span, conv.kernel.shape[2]
    X = _check_onehot(X, width)
    threshold = float(threshold)
    if not (0.0 <= threshold < 1.0):
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    pseudocount = float(pseudocount)
    if not (pseudocount >= 0 and np.isfinite(pseudocount)):
        raise ValueError(f"pseudocount must be a finite number >= 0, got {pseudocount!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")

    act = ACTIVATIONS[conv.activation]
    kernel = conv.dense_kernel().reshape(width * 4, n_filters)  # row j * 4 + b
    blocks = range(0, X.shape[0], batch_size)

    def scan(start: int) -> tuple[np.ndarray, np.ndarray]:
        win = _windows(X[start : start + batch_size], width)
        return win, act(win @ kernel + conv.bias)

    top = np.full(n_filters, -np.inf, dtype=np.float32)
    for start in blocks:
        top = np.maximum(top, scan(start)[1].max(axis=0))
    cut = np.where(top > 0, threshold * top, np.inf).astype(np.float32)

    counts = np.zeros((n_filters, width * 4))
    n_sites = np.zeros(n_filters, dtype=np.int64)
    for start in blocks:
        win, a = scan(start)
        hit = a > cut
        n_sites += hit.sum(axis=0)
        counts += hit.T.astype(np.float32) @ win
    counts = counts.reshape(n_filters, width, 4) + pseudocount
    totals = counts.sum(axis=2, keepdims=True)
    pwms = np.divide(counts, totals, out=np.full_like(counts, 0.25), where=totals > 0)
    return ActivationPWMs(pwms, n_sites)


def softmax_pwms(source: Any, temperature: float) -> np.ndarray:
    """Per-position softmax PWMs of the first-layer filters (BioNAS).

    ``Q[f, j, b] = exp(W[j, b, f] / T) / sum_b' exp(W[j, b', f] / T)``; see
    :func:`bionas.search.knowledge.filters_to_pwms`.

    Parameters
    ----------
    source : keras.Model or (kernel_size, 4, n_filters) array-like
        A model (its first Conv1D layer; dilation is ignored, the PWM has one
        column per tap) or the kernel.
    temperature : float
        T > 0. Trained weights are small (|W| mostly below 0.7): T = 0.1-0.2
        gives informative PWMs, T >= 0.5 near-flat ones.

    Returns
    -------
    (n_filters, kernel_size, 4) float64
    """
    from bionas.motifs.pwm import filters_to_pwms

    kernel = conv_weights(source).kernel if hasattr(source, "layers") else source
    return filters_to_pwms(kernel, temperature)


# ---------------------------------------------------------------------------
# Recovery of prior motifs


def _check_matches(matches: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _MATCH_NEEDS if c not in matches.columns]
    if missing:
        raise ValueError(
            f"the match table lacks column(s) {missing}; expected compare_motifs' table"
        )
    return matches


class PriorKeys(NamedTuple):
    """What names a prior in a match table: its own matrix and its family."""

    id: str
    name: str
    family: frozenset[str]


def _family_of(families: Mapping[str, str], target_id: str) -> str:
    """A matrix's family id; without a family table each matrix is its own family."""
    return families.get(str(target_id), f"matrix:{id_base(target_id)}")


def prior_keys(
    priors: Sequence[Any], families: pd.DataFrame | None = None
) -> list[PriorKeys]:
    """Each prior's id, name and family ids.

    A prior's family is the family of every collection matrix that is the
    prior's own: the same id without version, or the same TF name
    (case-insensitive). A prior the collection does not hold (a user's own
    motif) has no family but its own matrix.
    """
    rows = []
    table = families if families is not None else None
    for p in priors:
        fams: set[str] = set()
        if table is not None and not table.empty:
            own = table["target_id"].map(id_base).eq(id_base(p.id)) | table[
                "target_name"
            ].str.casefold().eq(str(p.name).casefold())
            fams = set(table.loc[own, "family_id"])
        fams.add(f"matrix:{id_base(p.id)}")
        rows.append(PriorKeys(str(p.id), str(p.name), frozenset(fams)))
    return rows


def _is_own(df: pd.DataFrame, prior: PriorKeys) -> pd.Series:
    """Rows whose target is the prior's own matrix: same id without version, or same TF name."""
    return df["target_id"].map(id_base).eq(id_base(prior.id)) | df[
        "target_name"
    ].str.casefold().eq(prior.name.casefold())


def _with_top_hits(matches: pd.DataFrame, families: Mapping[str, str]) -> pd.DataFrame:
    """Compared rows with ``top_hit`` (the filter's best match) and ``family_id`` columns."""
    df = matches[matches["p_value"].notna()].copy()
    top = best_matches(df)
    df["top_hit"] = False
    if not top.empty:
        key = pd.MultiIndex.from_frame(df[["query", "target_id"]])
        top_key = pd.MultiIndex.from_frame(top[["query", "target_id"]])
        df["top_hit"] = key.isin(top_key)
    df["family_id"] = [_family_of(families, t) for t in df["target_id"]]
    return df


#: Columns of :func:`recovery_table`.
RECOVERY_COLUMNS = [
    "prior_id", "prior_name", "recovered", "match", "filter", "target_id", "target_name",
    "family_id", "family_label", "own_rank", "top_hit", "orientation", "offset",
    "p_value", "q_value",
]  # fmt: skip


def recovery_table(
    matches: pd.DataFrame,
    priors: Sequence[Any],
    q_threshold: float = 0.05,
    *,
    families: pd.DataFrame | None = None,
    top_hit_only: bool = True,
) -> pd.DataFrame:
    """Which prior motifs the filters recovered, by the prior's own matrix or its family.

    A prior is recovered when a filter's best match (smallest p-value; with
    ``top_hit_only=False`` any match) has ``q_value < q_threshold`` and is
    the prior's own matrix (same id without version, or same TF name) or a
    matrix of the prior's family (``families``, from
    :mod:`bionas.motifs.families`). A filter that learned IRF1's sites but
    matches IRF2's matrix best recovers the prior IRF1 as ``family``.

    Parameters
    ----------
    matches : pandas.DataFrame
        The table from :func:`bionas.motifs.compare.compare_motifs` (all targets, or
        at least the top few per filter).
    priors : sequence of bionas.motifs.io.Motif
        The prior motifs (``id`` and ``name`` are used).
    q_threshold : float
        Significance level for q-values.
    families : pandas.DataFrame, optional
        The collection's family table; without it a prior's family is its
        own matrix.
    top_hit_only : bool
        Count only matches that are a filter's best.

    Returns
    -------
    pandas.DataFrame
        One row per prior, in order (:data:`RECOVERY_COLUMNS`):
        ``recovered``; ``match``: ``own`` (the supporting match is the
        prior's own matrix), ``family`` (a matrix of its family) or empty;
        the supporting match (``filter``, ``target_id``, ``target_name``,
        ``family_id``, ``family_label``, ``top_hit``, ``orientation``,
        ``offset``, ``p_value``, ``q_value``), and ``own_rank``: the rank of
        the prior's own matrix among that filter's hits (1 = its best; NA when
        it is not among the hits kept). Own-matrix matches are preferred over
        family ones, then the smallest q-value. For an unrecovered prior the
        row shows its best match of any kind, or nothing.
    """
    _check_matches(matches)
    fam = family_index(families)
    labels = (
        dict(zip(families["family_id"], families["family_label"], strict=False))
        if families is not None
        else {}
    )
    df = _with_top_hits(matches, fam)
    rows = []
    for prior in prior_keys(priors, families):
        own = _is_own(df, prior)
        in_family = own | df["family_id"].isin(prior.family)
        cand = df[in_family].assign(own=own[in_family])
        ok = cand[(cand["q_value"] < q_threshold) & (cand["top_hit"] | (not top_hit_only))]
        pick = ok if not ok.empty else cand[cand["own"]]
        row: dict[str, Any] = {
            "prior_id": prior.id, "prior_name": prior.name, "recovered": not ok.empty, "match": "",
        }  # fmt: skip
        if not pick.empty:
            keys = ["own", "q_value", "p_value"] + (
                ["tomtom_p_value"] if "tomtom_p_value" in pick.columns else []
            )
            best = pick.sort_values(
                keys, ascending=[False] + [True] * (len(keys) - 1), kind="stable"
            ).iloc[0]
            hits = df[(df["query"] == best["query"]) & _is_own(df, prior)]
            row.update(
                {
                    "match": ("own" if best["own"] else "family") if not ok.empty else "",
                    "filter": best["query"],
                    "target_id": best["target_id"],
                    "target_name": best["target_name"],
                    "family_id": best["family_id"],
                    "family_label": labels.get(best["family_id"], ""),
                    "own_rank": int(hits["rank"].min()) if "rank" in hits and len(hits) else None,
                    "top_hit": bool(best["top_hit"]),
                    "orientation": best.get("orientation"),
                    "offset": best.get("offset"),
                    "p_value": float(best["p_value"]),
                    "q_value": float(best["q_value"]),
                }
            )
        rows.append(row)
    out = pd.DataFrame(rows).reindex(columns=RECOVERY_COLUMNS)
    out["recovered"] = out["recovered"].astype(bool)
    for col in ("offset", "own_rank"):
        out[col] = out[col].astype("Int64")
    out["top_hit"] = out["top_hit"].astype("boolean")
    return out


#: Columns of :func:`found_not_given`.
FOUND_COLUMNS = [
    "family_id", "family_label", "filters", "filter", "target_id", "target_name",
    "orientation", "offset", "p_value", "q_value", "query_consensus", "target_consensus",
    "members_hit",
]  # fmt: skip


def found_not_given(
    matches: pd.DataFrame,
    priors: Sequence[Any],
    q_threshold: float = 0.05,
    *,
    families: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Motif families the filters found that are not the family of any prior.

    A filter finds a family when its best match is significant
    (``q_value < q_threshold``); the family is "found, not given" when no
    prior is that matrix or a member of its family.

    Parameters
    ----------
    matches : pandas.DataFrame
        The table from :func:`bionas.motifs.compare.compare_motifs`.
    priors : sequence of bionas.motifs.io.Motif
        The motifs the search was given.
    q_threshold : float
        Significance level for q-values.
    families : pandas.DataFrame, optional
        The collection's family table; without it every matrix is its own
        family.

    Returns
    -------
    pandas.DataFrame
        One row per family (:data:`FOUND_COLUMNS`), by ascending q-value:
        ``filters`` (how many filters found it), the best filter's match
        (``filter``, ``target_id``, ... ``target_consensus``) and
        ``members_hit``: every member matrix that is some filter's
        significant best match, as ``ID NAME`` joined by ``, ``.
    """
    _check_matches(matches)
    fam = family_index(families)
    labels = (
        dict(zip(families["family_id"], families["family_label"], strict=False))
        if families is not None
        else {}
    )
    top = best_matches(matches)
    if top.empty:
        return pd.DataFrame(columns=FOUND_COLUMNS)
    top = top.assign(family_id=[_family_of(fam, t) for t in top["target_id"]])
    keys = prior_keys(priors, families)
    given = set().union(*(k.family for k in keys)) if keys else set()
    own_any = np.zeros(len(top), dtype=bool)
    for k in keys:
        own_any |= _is_own(top, k).to_numpy()
    sig = top[(top["q_value"] < q_threshold) & ~own_any & ~top["family_id"].isin(given)]
    sig = sig.sort_values(
        [k for k in ("q_value", "p_value", "tomtom_p_value") if k in sig.columns], kind="stable"
    )
    rows = []
    for family_id, group in sig.groupby("family_id", sort=False):
        best = group.iloc[0]
        members = dict.fromkeys(f"{t} {n}" for t, n in zip(group["target_id"], group["target_name"]))
        rows.append(
            {
                "family_id": family_id,
                "family_label": labels.get(family_id, ""),
                "filters": len(group),
                "filter": best["query"],
                **{c: best.get(c) for c in FOUND_COLUMNS[4:12]},
                "members_hit": ", ".join(members),
            }
        )
    out = pd.DataFrame(rows).reindex(columns=FOUND_COLUMNS)
    out["offset"] = out["offset"].astype("Int64")
    return out.reset_index(drop=True)


__all__ = [
    "ACTIVATIONS",
    "ActivationPWMs",
    "ConvWeights",
    "activation_pwms",
    "conv_weights",
    "FOUND_COLUMNS",
    "RECOVERY_COLUMNS",
    "PriorKeys",
    "found_not_given",
    "prior_keys",
    "recovery_table",
    "softmax_pwms",
]
