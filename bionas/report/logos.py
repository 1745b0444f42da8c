"""Sequence logos of a filter beside its best motif match, aligned as the comparison found them.

:func:`align_match` places the compared span of a filter PWM and its target
on one axis using the match's offset and orientation (the target is
reverse-complemented for ``-``), and :func:`logo_pair_png` draws both as
information-content logos (logomaker) on that shared axis.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from bionas.motifs.pwm import ALPHABET, information_content, reverse_complement

#: Logo colours of A, C, G, T.
COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839"}


class Alignment(NamedTuple):
    """A query PWM and a target PWM on one axis.

    ``query`` and ``target``: ``(n_columns, 4)`` float64 with NaN rows where
    the motif has no column; ``target`` is already in the orientation of the
    match. ``columns``: the axis positions, query column 0 at 0.
    """

    query: np.ndarray
    target: np.ndarray
    columns: np.ndarray


def align_match(query: np.ndarray, target: np.ndarray, offset: int, orientation: str) -> Alignment:
    """Put a compared query span and its target on a common axis.

    Parameters
    ----------
    query : (wq, 4) array
        The compared span of the filter PWM (what was given to the comparison).
    target : (wt, 4) array
        The target as stored in the collection.
    offset : int
        Query column ``j`` faces target column ``j + offset`` (of the oriented
        target), as in :func:`bionas.motifs.compare.compare_motifs`.
    orientation : {"+", "-"}
        ``-``: the query matched the target's reverse complement.

    Returns
    -------
    Alignment
    """
    query = np.asarray(query, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if orientation not in ("+", "-"):
        raise ValueError(f"orientation must be '+' or '-', got {orientation!r}")
    if orientation == "-":
        target = reverse_complement(target)
    offset = int(offset)
    t_start = -offset  # axis position of target column 0
    lo = min(0, t_start)
    hi = max(query.shape[0], t_start + target.shape[0])
    q = np.full((hi - lo, 4), np.nan)
    t = np.full((hi - lo, 4), np.nan)
    q[-lo : -lo + query.shape[0]] = query
    t[t_start - lo : t_start - lo + target.shape[0]] = target
    return Alignment(q, t, np.arange(lo, hi))


def _bits_frame(pwm: np.ndarray) -> pd.DataFrame:
    """Letter heights (bits) of a PWM with NaN rows for gaps (drawn empty)."""
    pwm = np.asarray(pwm, dtype=np.float64)
    heights = np.zeros_like(pwm)
    rows = ~np.isnan(pwm).any(axis=1)
    if rows.any():
        p = pwm[rows]
        heights[rows] = p * np.maximum(information_content(p), 0.0)[:, None]
    return pd.DataFrame(heights, columns=list(ALPHABET))


def _draw(ax, pwm: np.ndarray, columns: np.ndarray, label: str) -> None:
    import logomaker

    frame = _bits_frame(pwm)
    frame.index = columns
    logomaker.Logo(frame, ax=ax, color_scheme=COLORS, show_spines=False, baseline_width=0.5)
    ax.set_ylim(0, 2)
    ax.set_yticks([0, 1, 2])
    ax.set_ylabel("bits", fontsize=7)
    ax.set_xlim(columns[0] - 0.5, columns[-1] + 0.5)
    ax.tick_params(labelsize=6, length=2)
    ax.set_xticks([])
    ax.set_title(label, fontsize=7, loc="left", pad=2)


def logo_pair_png(
    query: np.ndarray,
    target: np.ndarray | None = None,
    *,
    offset: int = 0,
    orientation: str = "+",
    query_label: str = "",
    target_label: str = "",
) -> bytes:
    """PNG of a filter's logo above its best match's logo, aligned (or the filter alone).

    Parameters
    ----------
    query : (wq, 4) array
        The compared span of the filter PWM.
    target : (wt, 4) array, optional
        The best match as stored; None draws the filter alone.
    offset, orientation
        Of the match (see :func:`align_match`).
    query_label, target_label : str
        Titles of the two logos.

    Returns
    -------
    bytes
        A PNG image.
    """
    from bionas.report.plots import figure, png_bytes

    if target is None:
        aligned = Alignment(np.asarray(query, dtype=np.float64), None, np.arange(len(query)))
    else:
        aligned = align_match(query, target, offset, orientation)
    n = len(aligned.columns)
    rows = 1 if target is None else 2
    fig = figure(width=max(3.0, 0.16 * n + 0.7), height=0.95 * rows + 0.1)
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    _draw(axes[0], aligned.query, aligned.columns, query_label)
    if target is not None:
        _draw(axes[1], aligned.target, aligned.columns, target_label)
    fig.subplots_adjust(
        left=0.18 if n < 12 else 0.1, right=0.98, top=0.86, bottom=0.04, hspace=0.45
    )
    return png_bytes(fig)
