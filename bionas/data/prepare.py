"""Peaks -> labelled fixed-width windows, negatives and a chromosome split.

The steps of ``bionas prepare``, each a function:

1. :func:`read_peaks` parses one BED3/BED6/narrowPeak file per task and checks
   it line by line; :func:`check_chromosomes` matches its names to the genome.
2. :func:`summit_windows` centres a window on every summit (narrowPeak column
   10) or peak midpoint and drops the windows that run off a chromosome end.
3. :func:`label_windows` merges the windows of all tasks (one per centre) and
   marks each positive for every task whose peak overlaps its centre
   (``bedtools intersect``).
4. Negatives: :func:`shuffle_negatives` (``bedtools shuffle`` away from peaks
   and N runs), :func:`gc_matched_negatives` (background windows drawn to match
   the positives' GC histogram) or :func:`dinucleotide_negatives` (seeded
   dinucleotide shuffles of positives, reproduced by ``bionas encode``).
5. :func:`assign_splits` maps chromosomes to train/val/test.

:func:`prepare` runs them all and returns the windows table and a summary.
Coordinates are 0-based, half-open.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.data.negatives import (
    NEGATIVE_METHODS,
    dinucleotide_negatives,
    draw_gc_matched,
    shuffle_negatives,
    window_gc,
)
from bionas.data.peaks import Peaks, check_chromosomes, label_windows, summit_windows
from bionas.data.ranges import Intervals, overlaps
from bionas.errors import InputError, chrom_prefix_hint
from bionas.records.windows import KINDS, SPLITS

if TYPE_CHECKING:
    from bionas.data.genome import Genome

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Result of :func:`prepare`.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``chrom start end split kind source <task...>``, sorted.
    summary : pandas.DataFrame
        Columns ``metric split label value``.
    tasks : list of str
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    tasks: list[str] = field(default_factory=list)


def assign_splits(
    sizes: dict[str, int],
    val: Sequence[str],
    test: Sequence[str],
    train: Sequence[str] | None = None,
    genome_path: str | os.PathLike | None = None,
) -> dict[str, str]:
    """Chromosome -> split name; ``train`` defaults to every other chromosome.

    Raises
    ------
    InputError
        A named chromosome is absent from the genome or is in two splits.
    """
    named = {"train": list(train or []), "val": list(val), "test": list(test)}
    mapping: dict[str, str] = {}
    for split, chroms in named.items():
        missing = [c for c in chroms if c not in sizes]
        if missing:
            raise InputError(
                f"--{split}-chroms names chromosome(s) absent from the genome: "
                f"{', '.join(missing)}{chrom_prefix_hint(missing, list(sizes))}",
                path=genome_path,
            )
        for c in chroms:
            if c in mapping and mapping[c] != split:
                raise InputError(
                    f"chromosome {c} is in both --{mapping[c]}-chroms and --{split}-chroms"
                )
            mapping[c] = split
    if train is None:
        for c in sizes:
            mapping.setdefault(c, "train")
    return mapping


def _table_order(table: pd.DataFrame, chrom_order: dict[str, int]) -> np.ndarray:
    """Row order of the windows table: chromosome (genome order), start, end, kind, source."""
    key = pd.DataFrame(
        {
            "c": table["chrom"].map(chrom_order),
            "s": table["start"],
            "e": table["end"],
            "k": table["kind"].map({k: i for i, k in enumerate(KINDS)}),
            "src": table["source"],
        }
    )
    return key.sort_values(["c", "s", "e", "k", "src"], kind="stable").index.to_numpy()


#: Contigs outside the primary assembly (UCSC and Ensembl names): unplaced, random,
#: alternate, patch and decoy sequences, the mitochondrion and EBV.
NON_PRIMARY = re.compile(
    r"(_random|_alt|_fix|_decoy)$|^chrUn|^(chr)?(M|MT)$|^chrEBV$|^(GL|KI|JH|KN|KZ)\d+(\.\d+)?$"
)


def chromosome_filter(spec: Sequence[str] | str | None) -> Callable[[str], bool]:
    """Which sequences windows may come from.

    ``None`` or ``"primary"``: the primary assembly (no name matching
    :data:`NON_PRIMARY`); ``"all"``: every sequence; another string: a regular
    expression a name must match in full; a sequence of several strings: exactly
    those names. InputError for a regular expression that does not compile.
    """
    if isinstance(spec, (list, tuple)) and len(spec) == 1:
        spec = spec[0]
    if spec is None or spec == "primary":
        return lambda c: NON_PRIMARY.search(c) is None
    if spec == "all":
        return lambda c: True
    if isinstance(spec, str):
        try:
            pattern = re.compile(spec)
        except re.error as err:
            raise InputError(f"--chromosomes {spec!r} is not a regular expression ({err})") from None
        return lambda c: pattern.fullmatch(c) is not None
    names = set(spec)
    return lambda c: c in names


def _on_genome(regions: Intervals, sizes: dict[str, int]) -> Intervals:
    """The part of ``regions`` on the genome's chromosomes, clipped to their ends."""
    regions = regions.take(np.array([c in sizes for c in regions.chrom], dtype=bool))
    ends = np.minimum(regions.end, np.array([sizes[c] for c in regions.chrom], dtype=np.int64))
    keep = regions.start < ends
    return Intervals(regions.chrom[keep], regions.start[keep], ends[keep])


def _exclusions(
    genome: Genome,
    peaks: Sequence[Peaks],
    positives: Intervals,
    negatives: str,
    blacklist: Intervals | None,
) -> Intervals:
    """Where background negatives may not come from: peaks, positive windows, and for the
    methods that draw from the genome the blacklist and, for ``shuffle``, its N runs
    (``gc_matched`` takes only windows of A, C, G and T: N runs are kept out without
    reading the genome for them)."""
    parts = [p.intervals for p in peaks] + [positives]
    if negatives == "shuffle":
        parts.append(genome_n_runs(genome))
    if negatives in ("shuffle", "gc_matched") and blacklist is not None:
        parts.append(blacklist)
    return Intervals.concat(parts)


def _check_split_names(
    sizes: dict[str, int], allowed: dict[str, int], named: Sequence[Sequence[str]]
) -> None:
    """A chromosome named for a split must be one windows may come from."""
    excluded = [c for names in named for c in names if c in sizes and c not in allowed]
    if excluded:
        raise InputError(
            f"chromosome(s) {', '.join(excluded[:5])} are named for a split but excluded by "
            "--chromosomes (default: the primary assembly); name others, or widen --chromosomes"
        )


def _negatives(
    genome: Genome,
    positives: Intervals,
    pos_gc: np.ndarray,
    method: str,
    ratio: float,
    allowed: dict[str, int],
    exclude: Intervals,
    seed: int,
    workdir: str,
) -> tuple[Intervals, str, list[str], np.ndarray]:
    """Negatives by ``method``: their windows, kind, sources and GC (as :func:`window_gc`)."""
    if method == "gc_matched":
        neg, gc = draw_gc_matched(genome, positives, ratio, exclude, seed, pos_gc)
        return neg, "background", ["."] * len(neg), gc
    if method == "shuffle":
        neg = shuffle_negatives(positives, ratio, allowed, exclude, seed, workdir)
        kind, source = "background", ["."] * len(neg)
    else:
        neg, source = dinucleotide_negatives(positives, ratio, seed)
        kind = "dinuc_shuffle"
    return neg, kind, source, window_gc(genome, neg)


def prepare(
    genome: Genome,
    peaks: Sequence[Peaks],
    width: int,
    negatives: str = "shuffle",
    ratio: float = 1.0,
    val_chroms: Sequence[str] = (),
    test_chroms: Sequence[str] = (),
    train_chroms: Sequence[str] | None = None,
    seed: int = 1,
    blacklist: Intervals | None = None,
    chromosomes: Sequence[str] | str | None = None,
    max_peaks: int | None = None,
) -> Prepared:
    """Windows, labels, negatives and splits for ``bionas prepare``.

    Parameters
    ----------
    genome : Genome
    peaks : sequence of Peaks
        One per task (names unique).
    width : int
        Window width in bp.
    negatives : {"shuffle", "dinucleotide_shuffle", "gc_matched"}
    ratio : float
        Negatives per positive window (0 for none).
    val_chroms, test_chroms, train_chroms : sequences of str
        The split; train defaults to every chromosome not in val or test.
    seed : int
    blacklist : Intervals, optional
        Regions no window may overlap (the ENCODE blacklist): peak windows that
        do are dropped (counted per task as ``dropped_blacklist``), negatives
        are never drawn there.
    chromosomes : see :func:`chromosome_filter`
        The sequences windows may come from (default: the primary assembly);
        peak windows elsewhere are dropped and counted as ``dropped_contig``.
    max_peaks : int, optional
        Windows come from the strongest ``max_peaks`` peaks of each task
        (signalValue, else score; :meth:`bionas.data.peaks.Peaks.strongest`),
        the others counted as ``dropped_max_peaks``. Every peak still labels
        windows and keeps negatives away.

    Returns
    -------
    Prepared
    """
    if negatives not in NEGATIVE_METHODS:
        raise InputError(
            f"unknown negatives method {negatives!r}; expected one of {', '.join(NEGATIVE_METHODS)}"
        )
    if width < 1:
        raise InputError(f"--window must be a positive number of bp, found {width}")
    if ratio < 0:
        raise InputError(f"--negative-ratio must not be negative, found {ratio}")
    sizes = genome.sizes
    chrom_order = {c: i for i, c in enumerate(sizes)}
    blacklist = None if blacklist is None else _on_genome(blacklist, sizes)
    tasks = [p.task for p in peaks]
    keep = chromosome_filter(chromosomes)
    allowed = {c: n for c, n in sizes.items() if keep(c)}
    _check_split_names(sizes, allowed, (train_chroms or [], val_chroms, test_chroms))
    split_of = assign_splits(allowed, val_chroms, test_chroms, train_chroms, genome.path)
    longest = max(sizes.values()) if sizes else 0
    summary: list[tuple[str, str, str, object]] = []

    # 1-2. windows per task
    all_windows, all_centres = [], []
    for p in peaks:
        check_chromosomes(p, sizes, genome.path)
        source, weaker = p.strongest(max_peaks) if max_peaks else (p, None)
        tw = summit_windows(source, sizes, width)
        in_split = np.array([c in split_of for c in tw.windows.chrom], dtype=bool)
        contig = np.array([c not in allowed for c in tw.windows.chrom], dtype=bool)
        no_split = int((~in_split & ~contig).sum())
        listed = overlaps(tw.windows, blacklist or Intervals.empty()) & in_split
        if no_split:
            log.info(
                "task %s: %d windows lie on chromosomes in no split and are dropped",
                p.task,
                no_split,
            )
        summary += [
            ("peaks", "all", p.task, len(p)),
            *([] if weaker is None else [("dropped_max_peaks", "all", p.task, weaker)]),
            ("dropped_at_edge", "all", p.task, tw.dropped_at_edge),
            ("dropped_no_split", "all", p.task, no_split),
        ]
        if len(allowed) < len(sizes):
            summary.append(("dropped_contig", "all", p.task, int(contig.sum())))
        if blacklist is not None:
            summary.append(("dropped_blacklist", "all", p.task, int(listed.sum())))
        in_split &= ~listed
        if not in_split.any():
            if width > longest:
                raise InputError(
                    f"--window {width} is wider than every chromosome of the genome "
                    f"(longest: {longest} bp): no window fits",
                    path=p.path,
                )
            raise InputError(
                f"all {len(p)} peaks of task {p.task!r} were filtered out: {tw.dropped_at_edge} windows of "
                f"{width} bp ran off a chromosome end, {no_split} lie on chromosomes in no split, "
                f"{int(listed.sum())} overlap the blacklist",
                path=p.path,
            )
        all_windows.append(tw.windows.take(in_split))
        all_centres.append(tw.centre[in_split])

    # 3. merge windows sharing a centre; label by overlap of the centre with each task's peaks
    windows = Intervals.concat(all_windows)
    centres = np.concatenate(all_centres)
    frame = pd.DataFrame(
        {"chrom": windows.chrom, "start": windows.start, "end": windows.end, "c": centres}
    )
    frame = frame.drop_duplicates(["chrom", "c"])
    frame = frame.assign(r=frame["chrom"].map(chrom_order)).sort_values(
        ["r", "start", "end"], kind="stable"
    )
    positives = Intervals(
        frame["chrom"].to_numpy(), frame["start"].to_numpy(), frame["end"].to_numpy()
    )
    centre = frame["c"].to_numpy(np.int64)
    with tempfile.TemporaryDirectory(prefix="bionas-prepare-") as workdir:
        labels = label_windows(Intervals(positives.chrom, centre, centre + 1), peaks, workdir)
        pos_split = np.array([split_of[c] for c in positives.chrom], dtype=object)
        for split in SPLITS:
            if not np.any(pos_split == split):
                configured = sorted(
                    {c for c, s in split_of.items() if s == split}, key=chrom_order.get
                )
                shown = (
                    ", ".join(configured[:10]) + (" ..." if len(configured) > 10 else "") or "none"
                )
                raise InputError(
                    f"split {split!r} has no windows: no peak window lies on its chromosomes ({shown}); "
                    f"set --{split}-chroms to chromosomes that hold peaks"
                )

        # 4. negatives (the GC of every window is read once, for drawing and the summary)
        exclude = _exclusions(genome, peaks, positives, negatives, blacklist)
        pos_gc = window_gc(genome, positives)
        neg, neg_kind, neg_source, neg_gc = _negatives(
            genome, positives, pos_gc, negatives, ratio, allowed, exclude, seed, workdir
        )

    pos_table = pd.DataFrame(
        {
            "chrom": positives.chrom,
            "start": positives.start,
            "end": positives.end,
            "split": pos_split,
            "kind": "peak",
            "source": ".",
        }
    )
    neg_table = pd.DataFrame(
        {
            "chrom": neg.chrom,
            "start": neg.start,
            "end": neg.end,
            "split": [split_of[c] for c in neg.chrom],
            "kind": neg_kind,
            "source": neg_source,
        }
    )
    for j, task in enumerate(tasks):
        pos_table[task] = labels[:, j].astype(np.int64)
        neg_table[task] = 0
    table = pd.concat([pos_table, neg_table], ignore_index=True) if len(neg_table) else pos_table
    order = _table_order(table, chrom_order)
    table = table.loc[order].reset_index(drop=True)
    gc = np.concatenate([pos_gc, neg_gc])[order]

    # summary
    is_pos = (table["kind"] == "peak").to_numpy()
    for split in (*SPLITS, "all"):
        in_split = (
            np.ones(len(table), bool) if split == "all" else (table["split"] == split).to_numpy()
        )
        summary.append(("windows", split, ".", int(in_split.sum())))
        summary.append(("positive_windows", split, ".", int((in_split & is_pos).sum())))
        for task in tasks:
            summary.append(("positives", split, task, int(table.loc[in_split, task].sum())))
        summary.append(("negatives", split, ".", int((in_split & ~is_pos).sum())))
        for label, mask in (("positive", is_pos), ("negative", ~is_pos)):
            sel = gc[in_split & mask]
            value = f"{np.nanmean(sel):.4f}" if sel.size and np.isfinite(sel).any() else "NA"
            summary.append(("mean_gc", split, label, value))
    summary_frame = pd.DataFrame(summary, columns=["metric", "split", "label", "value"])
    log.info(
        "%d windows: %d positive, %d negative (%s)",
        len(table),
        int(is_pos.sum()),
        int((~is_pos).sum()),
        negatives,
    )
    return Prepared(table=table, summary=summary_frame, tasks=tasks)


def genome_n_runs(genome: Genome) -> Intervals:
    """Runs of N in ``genome`` (see :func:`bionas.data.genome.n_runs`)."""
    from bionas.data.genome import n_runs

    return n_runs(genome)
