"""Position weight matrices ``(width, 4)`` over ACGT: checks, strands, information, consensus, filters -> PWMs, trimming."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

ALPHABET = "ACGT"
#: |row sum - 1| accepted (and renormalised), as :func:`bionas.motifs.pwm.check_pwm`.
ROW_TOLERANCE = 1e-2


def check_pwms(
    pwms: Sequence[Any], what: str, tolerance: float = ROW_TOLERANCE
) -> list[np.ndarray]:
    """The one boundary check of PWMs: many at once, vectorised over all their columns.

    Each item (an array or an object with a ``pwm`` attribute) must be
    ``(width, 4)`` with width >= 1, finite, non-negative, rows summing to 1
    within ``tolerance``. Returns float64 copies ``(width, 4)`` with rows renormalised;
    ValueError naming ``what`` (and the item's ``id`` or index) otherwise.
    """
    arrays = [np.asarray(getattr(p, "pwm", p), dtype=np.float64) for p in pwms]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != 4 or a.shape[0] < 1:
            name = what if len(arrays) == 1 else f"{what} {getattr(pwms[i], 'id', i)}"
            raise ValueError(f"{name} must have shape (width, 4) with width >= 1, got {a.shape}")
    if not arrays:
        return []
    cols = np.concatenate(arrays)
    sums = cols.sum(axis=1, keepdims=True)
    bad = (
        ~np.isfinite(cols).all(axis=1)
        | (cols < 0).any(axis=1)
        | ~(np.abs(sums[:, 0] - 1) <= tolerance)
    )
    if bad.any():
        owner = int(
            np.searchsorted(np.cumsum([a.shape[0] for a in arrays]), np.argmax(bad), side="right")
        )
        name = what if len(arrays) == 1 else f"{what} {getattr(pwms[owner], 'id', owner)}"
        raise ValueError(
            f"{name} must hold finite non-negative probabilities in rows that sum to 1 "
            f"(within {tolerance})"
        )
    cols = cols / sums
    return np.split(cols, np.cumsum([a.shape[0] for a in arrays])[:-1])


def check_pwm(pwm: Any, what: str = "pwm", tolerance: float = ROW_TOLERANCE) -> np.ndarray:
    """:func:`check_pwms` for one PWM: ``(width, 4)`` float64 with rows summing to 1."""
    return check_pwms([pwm], what, tolerance)[0]

def reverse_complement(pwm: np.ndarray) -> np.ndarray:
    """Reverse complement of a ``(width, 4)`` ACGT matrix: flip both axes (a copy)."""
    return np.ascontiguousarray(np.asarray(pwm)[::-1, ::-1])


def information_content(pwm: np.ndarray) -> np.ndarray:
    """Information content of each position against a uniform background.

    Parameters
    ----------
    pwm : numpy.ndarray
        ``(width, 4)`` probabilities.

    Returns
    -------
    numpy.ndarray
        ``(width,)`` float64 bits, ``2 + sum_b p_b log2 p_b`` (0 log 0 = 0).
    """
    p = np.asarray(pwm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return 2.0 + terms.sum(axis=1)


def consensus(pwm: np.ndarray) -> str:
    """The most probable base of each position (first of ties), e.g. ``"CCACCAGGGGGCGC"``."""
    return "".join(ALPHABET[i] for i in np.asarray(pwm).argmax(axis=1))


# IUPAC letter by set of bases (bit 1 = A, 2 = C, 4 = G, 8 = T); "N" for the rest
_IUPAC = np.array(list("NACMGRSNTWYNKNNN"))


def to_tomtom_layout(pwm: Any) -> np.ndarray:
    """Convert a ``(width, 4)`` PWM to the ``(4, width)`` layout memelite wants.

    Parameters
    ----------
    pwm : (width, 4) array-like
        Probabilities, columns A, C, G, T; an object with a ``pwm`` attribute
        (``bionas.motifs.io.Motif``) works too.

    Returns
    -------
    (4, width) float64, C-contiguous
        Rows A, C, G, T (each row sum of the input renormalised to 1).
    """
    return np.ascontiguousarray(check_pwm(pwm, "the PWM").T)


def column_bits(pwm: Any) -> np.ndarray:
    """Information content of each column in bits against a uniform background.

    ``2 + sum_b p_b log2 p_b`` (terms with ``p_b = 0`` are 0).

    Parameters
    ----------
    pwm : (width, 4) array-like

    Returns
    -------
    (width,) float64
        Between 0 (uniform column) and 2 (one base).
    """
    return np.maximum(information_content(check_pwm(pwm, "the PWM")), 0.0)


def trim_pwm(pwm: Any, min_bits: float) -> tuple[int, int] | None:
    """Informative span of a PWM: first to last column with at least ``min_bits``.

    Parameters
    ----------
    pwm : (width, 4) array-like
    min_bits : float
        Threshold in bits (0-2): :data:`ACTIVATION_MIN_BITS` for activation-based
        PWMs, :data:`SOFTMAX_MIN_BITS` for softmax PWMs.

    Returns
    -------
    (start, end) or None
        ``pwm[start:end]`` is the trimmed PWM (``end`` exclusive); columns
        inside the span may fall below the threshold. None when no column
        reaches it: the PWM is uninformative.
    """
    min_bits = float(min_bits)
    if not (0.0 <= min_bits <= 2.0):
        raise ValueError(f"min_bits must be between 0 and 2, got {min_bits!r}")
    keep = np.flatnonzero(column_bits(pwm) >= min_bits)
    if keep.size == 0:
        return None
    return int(keep[0]), int(keep[-1]) + 1


def iupac_consensus(pwm: Any) -> str:
    """IUPAC consensus of a PWM (Cavener's rules).

    A column is its top base when that base has probability > 0.5 and more
    than twice the second; else the two-base code (M, R, W, S, Y, K) when the
    top two together exceed 0.75; else ``N``.

    Parameters
    ----------
    pwm : (width, 4) array-like

    Returns
    -------
    str
        One letter per column.
    """
    return "".join(_iupac_letters(check_pwm(pwm, "the PWM")))


def _iupac_letters(cols: np.ndarray) -> np.ndarray:
    """IUPAC letter of each row of a ``(n, 4)`` probability array (see :func:`iupac_consensus`)."""
    order = np.argsort(-cols, axis=1, kind="stable")[:, :2]
    first, second = np.take_along_axis(cols, order, axis=1).T
    bits = 1 << order
    code = np.where(
        (first > 0.5) & (first > 2 * second),
        bits[:, 0],
        np.where(first + second > 0.75, bits[:, 0] | bits[:, 1], 0),
    )
    return _IUPAC[code]


def _consensus_many(pwms: Sequence[np.ndarray]) -> np.ndarray:
    """IUPAC consensus of each of many checked PWMs, as an object array of str."""
    letters = _iupac_letters(np.concatenate(pwms))
    bounds = np.cumsum([p.shape[0] for p in pwms])[:-1]
    return np.array(["".join(chunk) for chunk in np.split(letters, bounds)], dtype=object)


def filters_to_pwms(weights: Any, temperature: float) -> np.ndarray:
    """Turn a first-layer Conv1D kernel into one PWM per filter.

    ``Q[f, j, b] = exp(W[j, b, f] / T) / sum_b' exp(W[j, b', f] / T)``,
    computed as a numerically stable softmax (the row maximum is subtracted).

    Parameters
    ----------
    weights : (width, 4, n_filters) array-like
        The kernel as Keras stores it for ``Conv1D`` on one-hot ``(L, 4)`` input.
    temperature : float
        Softmax temperature T > 0; small T sharpens the PWMs.

    Returns
    -------
    (n_filters, width, 4) float64
        Rows sum to 1.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 3 or w.shape[1] != 4 or w.shape[0] < 1 or w.shape[2] < 1:
        raise ValueError(
            f"expected a Conv1D kernel of shape (width, 4, n_filters), got {w.shape}"
        )
    if not np.all(np.isfinite(w)):
        raise ValueError("the kernel holds NaN or infinite weights")
    t = float(temperature)
    if not (t > 0 and math.isfinite(t)):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    z = np.transpose(w, (2, 0, 1)) / t
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def shuffled_columns(pwms: Any, rng: np.random.Generator) -> Any:
    """Each PWM with its columns (positions) in a random order: the position-shuffled control.

    A shuffled PWM keeps its width, its columns and so its information content
    and base composition; only their order is lost. Trained filters shuffled
    this way share the trained model's scale (unlike a randomly initialised
    model's filters) and should match nothing; :func:`bionas.motifs.compare.compare_motifs`
    uses such copies of every query as its null.

    Parameters
    ----------
    pwms : (n, width, 4) array-like, or a sequence of (width_i, 4) array-likes
        Objects with a ``pwm`` attribute work too (their matrices are used).
    rng : numpy.random.Generator
        Source of the permutations (one per PWM, drawn in order).

    Returns
    -------
    (n, width, 4) float64 array for an array input, else a list of (width_i, 4) float64
        Rows renormalised as :func:`check_pwms` does.
    """
    as_array = isinstance(pwms, np.ndarray)
    if as_array and pwms.ndim != 3:
        raise ValueError(f"pwms must be (n, width, 4) or a list of (width, 4), got {pwms.shape}")
    checked = check_pwms(list(pwms), "pwm")
    out = [p[rng.permutation(p.shape[0])] for p in checked]
    if as_array:
        return np.stack(out) if out else np.asarray(pwms, dtype=np.float64).copy()
    return out


_check_pwms = check_pwms  # removed once motifs/compare.py imports check_pwms
