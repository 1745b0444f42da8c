"""Knowledge dissimilarity K: how far a model's first-layer filters are from known motifs.

The method (BioNAS, Zhang et al. 2019):

1. Each first-layer convolution filter becomes a PWM by a per-position softmax
   over the four bases with temperature T (:func:`filters_to_pwms`).
2. The distance of a prior motif P ``(m, 4)`` to a filter PWM Q ``(w, 4)`` is
   the smallest mean per-column ``KL(P_j || Q_j)`` over every offset of P
   inside Q padded with ``ceil(m / 2)`` uniform columns on both sides; with
   ``both_strands`` the reverse complement of Q is tried too and the smaller
   value kept (:func:`motif_distance`).
3. K is the mean over prior motifs of the smallest distance over filters, plus
   an optional ``lambda_reg * n_filters`` (:func:`knowledge_dissimilarity`).

Everything is numpy, float64, natural logarithms (nats per motif column).
Alphabet order is A, C, G, T (channels last); reverse complement flips both
axes of an ``(L, 4)`` array.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from bionas.motifs.pwm import check_pwm, check_pwms

#: Filter probabilities are floored at this value before taking logarithms, so a
#: filter column with an exact zero (possible only from a softmax that underflowed)
#: gives a large finite KL term instead of ``inf``.
PROB_FLOOR = 1e-10


#: Rows of a PWM must sum to 1 within this tolerance; they are then renormalised
#: exactly (MEME and JASPAR files round their probabilities).
ROW_SUM_TOL = 1e-3


class KnowledgeResult(NamedTuple):
    """The knowledge dissimilarity of a set of filters to a set of prior motifs.

    Attributes
    ----------
    k : float
        Mean over priors of ``per_prior``, plus ``lambda_reg * n_filters``.
    per_prior : (n_priors,) float64
        Smallest distance over filters (and strands) for each prior motif.
    best_filter : (n_priors,) int64
        Index of the filter that attains ``per_prior``.
    best_strand : (n_priors,) str
        ``"+"`` if the best match is the filter itself, ``"-"`` if it is the
        filter's reverse complement.
    best_offset : (n_priors,) int64
        Position of the prior's first column relative to the first column of
        the (possibly reverse-complemented) filter; negative when the prior
        starts in the left padding.
    """

    k: float
    per_prior: np.ndarray
    best_filter: np.ndarray
    best_strand: np.ndarray
    best_offset: np.ndarray


def _check_pwm(arr: Any, what: str, ndim: int) -> np.ndarray:
    """A PWM (``ndim`` 2) or a stack of PWMs (``ndim`` 3) through :func:`bionas.motifs.pwm.check_pwms`."""
    a = getattr(arr, "pwm", arr)
    if ndim == 2:
        return check_pwm(a, what, ROW_SUM_TOL)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3 or a.shape[0] == 0:
        raise ValueError(f"{what} must have shape (n_filters, width, 4), got {a.shape}")
    return np.stack(check_pwms(list(a), what, ROW_SUM_TOL))

def _distances(log_q: np.ndarray, log_q_rc: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """Best offset distance of one prior against every filter on each strand.

    Parameters
    ----------
    log_q, log_q_rc : (n, w, 4) float64
        Log filter PWMs and of their reverse complements.
    p : (m, 4) float64
        The prior motif (rows sum to 1).

    Returns
    -------
    dist : (2, n) float64
        Smallest mean KL per filter; row 0 forward strand, row 1 reverse.
    offset : (2, n) int64
        The attaining offset, relative to the filter's first column.
    """
    m = p.shape[0]
    pad = math.ceil(m / 2)
    n, w, _ = log_q.shape
    log_uniform = math.log(0.25)
    padded = np.full((2, n, w + 2 * pad, 4), log_uniform)
    padded[0, :, pad : pad + w] = log_q
    padded[1, :, pad : pad + w] = log_q_rc
    # windows: (2, n, n_offsets, 4, m); the window axis comes last
    windows = np.lib.stride_tricks.sliding_window_view(padded, m, axis=2)
    cross = np.einsum("snobj,jb->sno", windows, p, optimize=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy_term = float(np.sum(np.where(p > 0, p * np.log(p), 0.0)))
    kl = (entropy_term - cross) / m  # (2, n, n_offsets)
    best = np.argmin(kl, axis=2)
    dist = np.take_along_axis(kl, best[..., None], axis=2)[..., 0]
    return np.maximum(dist, 0.0), best - pad


def _log_pwms(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    log_q = np.log(np.maximum(q, PROB_FLOOR))
    return log_q, log_q[:, ::-1, ::-1]


def motif_distance(p: Any, q: Any, both_strands: bool = True) -> float:
    """Distance of a prior motif P to a filter PWM Q (mean KL per motif column, nats).

    Q is padded with ``ceil(m / 2)`` uniform rows (0.25) on both sides; P slides
    over every offset where it fits inside the padded Q; the smallest summed
    ``KL(P_j || Q_j)`` (terms with ``P_jb = 0`` skipped) is divided by ``m``.
    With ``both_strands`` the reverse complement of Q (both axes flipped) is
    tried too and the smaller distance kept.

    Parameters
    ----------
    p : (m, 4) array-like
        Prior motif, rows sum to 1 (an object with a ``pwm`` attribute works too).
    q : (w, 4) array-like
        Filter PWM, rows sum to 1. Probabilities are floored at
        :data:`PROB_FLOOR` before the logarithm.
    both_strands : bool
        Also compare against the reverse complement of Q.

    Returns
    -------
    float
        ``>= 0``; 0 when Q contains P exactly.
    """
    p = _check_pwm(p, "the prior motif", 2)
    q = _check_pwm(q, "the filter PWM", 2)
    log_q, log_q_rc = _log_pwms(q[None])
    dist, _ = _distances(log_q, log_q_rc, p)
    return float(dist[:, 0].min() if both_strands else dist[0, 0])


def knowledge_dissimilarity(
    filter_pwms: Any,
    priors: Sequence[Any],
    both_strands: bool = True,
    lambda_reg: float = 0.0,
) -> KnowledgeResult:
    """Knowledge dissimilarity K of a model's filters to prior motifs.

    ``K = mean_i min_f d(P_i, Q_f) + lambda_reg * n_filters`` with ``d`` from
    :func:`motif_distance`. Vectorised over filters, offsets and strands; one
    pass per prior motif.

    Parameters
    ----------
    filter_pwms : (n_filters, width, 4) array-like
        Filter PWMs (for example from :func:`filters_to_pwms`), rows sum to 1.
    priors : sequence of (m_i, 4) array-like
        Prior motifs (widths may differ), rows sum to 1; objects with a
        ``pwm`` attribute (``bionas.motifs.io.Motif``) are accepted.
    both_strands : bool
        Also match each filter's reverse complement (BioNAS used one strand).
    lambda_reg : float
        Penalty per filter added to K (>= 0).

    Returns
    -------
    KnowledgeResult
    """
    q = _check_pwm(filter_pwms, "filter_pwms", 3)
    if isinstance(priors, np.ndarray) and priors.ndim == 2:
        raise ValueError("priors must be a sequence of (m, 4) motifs, not a single motif")
    ps = [_check_pwm(p, f"prior motif {i}", 2) for i, p in enumerate(priors)]
    if not ps:
        raise ValueError("knowledge dissimilarity needs at least one prior motif")
    lambda_reg = float(lambda_reg)
    if not (lambda_reg >= 0 and math.isfinite(lambda_reg)):
        raise ValueError(f"lambda_reg must be a finite number >= 0, got {lambda_reg!r}")
    log_q, log_q_rc = _log_pwms(q)
    n_strands = 2 if both_strands else 1
    per_prior = np.empty(len(ps))
    best_filter = np.empty(len(ps), dtype=np.int64)
    best_strand = np.empty(len(ps), dtype="<U1")
    best_offset = np.empty(len(ps), dtype=np.int64)
    for i, p in enumerate(ps):
        dist, offset = _distances(log_q, log_q_rc, p)
        flat = int(np.argmin(dist[:n_strands]))
        strand, f = divmod(flat, dist.shape[1])
        per_prior[i] = dist[strand, f]
        best_filter[i] = f
        best_strand[i] = "+-"[strand]
        best_offset[i] = offset[strand, f]
    k = float(per_prior.mean() + lambda_reg * q.shape[0])
    return KnowledgeResult(k, per_prior, best_filter, best_strand, best_offset)
