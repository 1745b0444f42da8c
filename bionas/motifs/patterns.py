"""TF-MoDISco patterns from attribution scores (modisco-lite).

:func:`find_patterns` runs modisco-lite's ``TFMoDISco`` on one task's one-hot
windows and hypothetical contributions (:func:`bionas.motifs.attribution.attributions`)
and turns its patterns into :class:`Pattern` records; :func:`write_patterns`
saves modisco's own HDF5 (readable by ``modisco report``), a MEME file of the
pattern PWMs and a TSV summary.

A pattern's matrices are trimmed the way ``modisco report`` trims them before
matching them to a database: with ``score_j = sum_b |cwm[j, b]|``, keep the
columns from the first to the last with ``score_j >= trim_threshold *
max(score)`` (0.3, the report's default). The report's logos add 4 columns on
each side of that span; the matrices it compares with Tomtom, and those kept
here, do not.

Arrays are channels last: windows ``(n, L, 4)``, matrices ``(width, 4)``,
bases A, C, G, T.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from bionas.io import atomic_paths, output_dir
from bionas.motifs.io import Motif, write_meme
from bionas.motifs.pwm import consensus

#: Metacluster group names in modisco's HDF5, by sign.
GROUPS = {1: "pos_patterns", -1: "neg_patterns"}

#: Columns of the TSV :func:`write_patterns` writes.
TSV_COLUMNS = ["pattern", "sign", "seqlets", "width", "consensus"]


@dataclass(frozen=True)
class ModiscoSettings:
    """modisco-lite settings that matter for run time and for what is found.

    The defaults are those of ``modisco motifs`` (modisco-lite's command
    line), which suit a real run (tens of thousands of windows); use
    :meth:`demo` for a few thousand windows. Run time grows with the number of
    seqlets (about quadratically in the clustering, capped by
    ``max_seqlets``) and linearly with ``n_leiden_runs``.

    Attributes
    ----------
    max_seqlets : int
        Seqlets kept per metacluster (positive, negative), in the order found.
    n_leiden_runs : int
        Leiden clusterings with different seeds (best one kept).
    sliding_window_size : int
        Width of the seqlet cores (bp).
    flank_size : int
        Flank added to each side of a seqlet core (bp).
    target_seqlet_fdr : float
        FDR at which windows are called seqlets against a Laplace null.
    trim_to_window_size : int
        Width patterns are trimmed to during clustering.
    initial_flank_to_add, final_flank_to_add : int
        Flanks added to patterns after trimming and at the end.
    min_metacluster_size : int
        A metacluster with no more seqlets than this is not clustered.
    final_min_cluster_size : int
        Patterns supported by fewer seqlets are dropped.
    trim_threshold : float
        Fraction of the largest column score kept when trimming the CWM and
        PWM of a :class:`Pattern` (see the module docstring).
    """

    max_seqlets: int = 20000
    n_leiden_runs: int = 2
    sliding_window_size: int = 20
    flank_size: int = 5
    target_seqlet_fdr: float = 0.05
    trim_to_window_size: int = 30
    initial_flank_to_add: int = 10
    final_flank_to_add: int = 0
    min_metacluster_size: int = 100
    final_min_cluster_size: int = 20
    trim_threshold: float = 0.3

    @classmethod
    def demo(cls) -> ModiscoSettings:
        """Settings for a few thousand 200 bp windows (2,000 seqlets per sign)."""
        return cls(max_seqlets=2000)

    def __post_init__(self) -> None:
        for name in (
            "max_seqlets",
            "n_leiden_runs",
            "sliding_window_size",
            "trim_to_window_size",
            "min_metacluster_size",
            "final_min_cluster_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("flank_size", "initial_flank_to_add", "final_flank_to_add"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not 0.0 < self.target_seqlet_fdr < 1.0:
            raise ValueError(f"target_seqlet_fdr must be in (0, 1), got {self.target_seqlet_fdr!r}")
        if not 0.0 < self.trim_threshold <= 1.0:
            raise ValueError(f"trim_threshold must be in (0, 1], got {self.trim_threshold!r}")


class Pattern(NamedTuple):
    """One TF-MoDISco pattern, trimmed (see the module docstring).

    Attributes
    ----------
    name : str
        ``pos_patterns.pattern_0``: metacluster group and pattern, as
        ``modisco report`` names it.
    sign : int
        +1 (the bases raise the logit) or -1 (they lower it).
    seqlets : int
        Seqlets aggregated into the pattern.
    cwm : (width, 4) float64
        Contribution weight matrix: mean contribution of each base over the
        seqlets.
    pwm : (width, 4) float64
        Base frequencies over the seqlets; rows sum to 1.
    hcwm : (width, 4) float64
        Mean hypothetical contributions.
    start, end : int
        The kept span of modisco's untrimmed pattern (``end`` exclusive).
    """

    name: str
    sign: int
    seqlets: int
    cwm: np.ndarray
    pwm: np.ndarray
    hcwm: np.ndarray
    start: int
    end: int

    @property
    def width(self) -> int:
        return int(self.cwm.shape[0])

    @property
    def consensus(self) -> str:
        return consensus(self.pwm)


class ModiscoResult(NamedTuple):
    """What :func:`find_patterns` returns.

    Attributes
    ----------
    patterns : list of Pattern
        Positive patterns first, each group in modisco's order; empty when
        modisco found none.
    raw : tuple
        modisco-lite's own ``(pos_patterns, neg_patterns)`` (lists of
        ``SeqletSet`` or None), for :func:`write_patterns`.
    length : int
        Window length L of the input.
    status : str
        ``patterns`` when there is at least one; otherwise why there is
        none: ``constant attributions`` (every contribution equal, e.g. a
        model with zero weights: modisco is not run), ``no seqlets``
        (modisco's null model of the contribution track could not be fitted,
        as happens when nearly every window scores exactly 0) or
        ``no patterns`` (too few seqlets, or no cluster passed its filters).
    """

    patterns: list[Pattern]
    raw: tuple[Any, Any]
    length: int
    status: str


def _check_inputs(one_hot: Any, hypothetical: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(one_hot)
    h = np.asarray(hypothetical)
    if x.ndim != 3 or x.shape[2] != 4 or x.shape[0] < 1:
        raise ValueError(f"one_hot must have shape (n, L, 4) with n >= 1, got {x.shape}")
    if h.shape != x.shape:
        raise ValueError(f"hypothetical must have the shape of one_hot {x.shape}, got {h.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    h = np.ascontiguousarray(h, dtype=np.float32)
    if not np.isin(x, (0.0, 1.0)).all() or (x.sum(axis=2) > 1).any():
        raise ValueError("one_hot must be one-hot: entries 0 or 1, at most one 1 per position")
    if not np.isfinite(h).all():
        raise ValueError("hypothetical holds NaN or infinite values")
    return x, h


def trim_span(cwm: np.ndarray, threshold: float) -> tuple[int, int]:
    """The span ``modisco report`` keeps of a CWM.

    Parameters
    ----------
    cwm : (width, 4) array-like
    threshold : float
        Fraction of the largest column score ``sum_b |cwm[j, b]|``.

    Returns
    -------
    (start, end)
        First and one past the last column whose score reaches
        ``threshold * max``; the whole matrix when every score is 0.
    """
    score = np.abs(np.asarray(cwm, dtype=np.float64)).sum(axis=1)
    keep = np.flatnonzero(score >= threshold * score.max())
    if score.max() <= 0 or keep.size == 0:
        return 0, int(score.shape[0])
    return int(keep[0]), int(keep[-1]) + 1


def _probabilities(ppm: np.ndarray) -> np.ndarray:
    ppm = np.clip(np.asarray(ppm, dtype=np.float64), 0.0, None)
    totals = ppm.sum(axis=1, keepdims=True)
    return np.where(totals > 0, ppm / np.where(totals > 0, totals, 1.0), 0.25)


def _records(raw: Sequence[Any] | None, sign: int, threshold: float) -> list[Pattern]:
    out = []
    for index, seqlet_set in enumerate(raw or []):
        cwm = np.asarray(seqlet_set.contrib_scores, dtype=np.float64)
        start, end = trim_span(cwm, threshold)
        out.append(
            Pattern(
                name=f"{GROUPS[sign]}.pattern_{index}",
                sign=sign,
                seqlets=len(seqlet_set.seqlets),
                cwm=cwm[start:end],
                pwm=_probabilities(seqlet_set.sequence)[start:end],
                hcwm=np.asarray(seqlet_set.hypothetical_contribs, dtype=np.float64)[start:end],
                start=start,
                end=end,
            )
        )
    return out


def find_patterns(
    one_hot: Any, hypothetical: Any, settings: ModiscoSettings | None = None
) -> ModiscoResult:
    """Run TF-MoDISco (modisco-lite) on one task's attributions.

    Parameters
    ----------
    one_hot : (n, L, 4) array-like
        One-hot windows (usually the positives of the task).
    hypothetical : (n, L, 4) array-like
        Hypothetical contributions of the same windows
        (:attr:`bionas.motifs.attribution.Attributions.hypothetical`);
        modisco multiplies them by ``one_hot`` itself.
    settings : ModiscoSettings, optional
        Default: ``ModiscoSettings()`` (a real run).

    Returns
    -------
    ModiscoResult
        ``patterns`` is empty, without an error, when modisco finds too few
        seqlets or no pattern (a model that learned nothing).
    """
    from modiscolite.tfmodisco import TFMoDISco

    settings = settings or ModiscoSettings()
    x, h = _check_inputs(one_hot, hypothetical)
    length = int(x.shape[1])
    if length < settings.sliding_window_size + 2 * settings.flank_size:
        raise ValueError(
            f"windows of {length} bp are shorter than a seqlet: sliding_window_size + "
            f"2 * flank_size = {settings.sliding_window_size + 2 * settings.flank_size}"
        )
    track = (x * h).sum(axis=2)
    if np.ptp(track) == 0:
        return ModiscoResult([], (None, None), length, "constant attributions")
    try:
        pos, neg = _run_modisco(TFMoDISco, x, h, settings)
    except (IndexError, ValueError) as err:
        if not _raised_in(err, "extract_seqlets.py"):
            raise
        return ModiscoResult([], (None, None), length, "no seqlets")
    pos = pos or None
    neg = neg or None
    patterns = _records(pos, 1, settings.trim_threshold) + _records(
        neg, -1, settings.trim_threshold
    )
    return ModiscoResult(patterns, (pos, neg), length, "patterns" if patterns else "no patterns")


def _raised_in(err: BaseException, filename: str) -> bool:
    """Whether ``err`` was raised in (or below) modiscolite's module ``filename``."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if f.filename.endswith(os.sep + filename)]
    return bool(ours) and "modiscolite" in ours[-1].filename


def _run_modisco(tfmodisco: Any, x: np.ndarray, h: np.ndarray, settings: ModiscoSettings):
    return tfmodisco(
        one_hot=x,
        hypothetical_contribs=h,
        max_seqlets_per_metacluster=settings.max_seqlets,
        n_leiden_runs=settings.n_leiden_runs,
        sliding_window_size=settings.sliding_window_size,
        flank_size=settings.flank_size,
        target_seqlet_fdr=settings.target_seqlet_fdr,
        trim_to_window_size=settings.trim_to_window_size,
        initial_flank_to_add=settings.initial_flank_to_add,
        final_flank_to_add=settings.final_flank_to_add,
        min_metacluster_size=settings.min_metacluster_size,
        final_min_cluster_size=settings.final_min_cluster_size,
    )


class PatternFiles(NamedTuple):
    """Paths :func:`write_patterns` wrote."""

    h5: Path
    meme: Path
    tsv: Path


def pattern_motifs(patterns: Sequence[Pattern], prefix: str = "") -> list[Motif]:
    """Patterns as :class:`bionas.motifs.io.Motif` (trimmed PWMs), ids ``<prefix><name>``."""
    return [Motif(f"{prefix}{p.name}", f"{p.consensus}_n{p.seqlets}", p.pwm) for p in patterns]


def write_patterns(
    out_dir: str | os.PathLike, result: ModiscoResult, *, prefix: str = "modisco"
) -> PatternFiles:
    """Write modisco's HDF5, the pattern PWMs as MEME and a TSV summary.

    Parameters
    ----------
    out_dir : str or PathLike
        Created if missing.
    result : ModiscoResult
        From :func:`find_patterns`.
    prefix : str
        File stem: ``<prefix>.h5``, ``<prefix>.meme``, ``<prefix>.tsv``.

    Returns
    -------
    PatternFiles
        Written as one set: all three files or none.

        - ``h5``: modisco-lite's format (``modiscolite.io.save_hdf5``), for
          ``modisco report -i <h5> -o <dir> [-m motifs.meme]``; with no
          pattern it holds no group.
        - ``meme``: one motif per pattern, id = pattern name, trimmed PWM;
          with no pattern, a MEME header and no motif.
        - ``tsv``: columns :data:`TSV_COLUMNS`; with no pattern, one line
          ``# no patterns: <status>`` after the header (see
          :attr:`ModiscoResult.status`).
    """
    import modiscolite.io

    out = output_dir(out_dir)
    files = PatternFiles(out / f"{prefix}.h5", out / f"{prefix}.meme", out / f"{prefix}.tsv")
    lines = ["\t".join(TSV_COLUMNS)]
    lines += [f"{p.name}\t{p.sign}\t{p.seqlets}\t{p.width}\t{p.consensus}" for p in result.patterns]
    if not result.patterns:
        lines.append(f"# no patterns: {result.status}")
    with atomic_paths(list(files)) as (h5, meme, tsv):
        pos, neg = result.raw
        modiscolite.io.save_hdf5(str(h5), pos, neg, result.length)
        write_meme(meme, pattern_motifs(result.patterns))
        tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files
