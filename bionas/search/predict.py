"""Scoring new regions with a found model: windows of the model's width, streamed in batches.

``bionas predict`` centres one window on each region of a BED-like file (its
narrowPeak summit or its midpoint, as :func:`bionas.data.peaks.read_peaks`
reads it) or tiles a genomic range with a step, one-hot encodes the windows
from the genome and writes one row per window with one score per task. Memory
stays constant for any number of regions: windows are fetched, encoded,
predicted and written ``batch_size`` at a time.

A window that would cross a chromosome end is moved inside the chromosome; the
row gives the window actually scored (``start``, ``end``) and the region it
stands for (``region``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bionas.data.genome import Genome
from bionas.data.onehot import one_hot_codes
from bionas.errors import InputError, chrom_prefix_hint
from bionas.io import atomic_open

_TILE = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>\d+)-(?P<end>\d+)$")


@dataclass(frozen=True)
class Windows:
    """Windows to score: ``chrom`` (n,) object, ``start`` (n,) int64, ``region`` (n,) str."""

    chrom: np.ndarray
    start: np.ndarray
    region: np.ndarray
    width: int

    def __len__(self) -> int:
        return len(self.start)


def _fit(chroms: np.ndarray, centres: np.ndarray, width: int, sizes: dict[str, int], source: Any):
    missing = sorted(set(chroms.tolist()) - set(sizes))
    if missing:
        raise InputError(
            f"chromosome(s) not in the genome: {', '.join(missing[:5])}"
            f"{chrom_prefix_hint(missing, list(sizes))}",
            source,
        )
    lengths = np.array([sizes[c] for c in chroms], dtype=np.int64)
    short = lengths < width
    if short.any():
        raise InputError(
            f"chromosome {chroms[short][0]} is shorter ({lengths[short][0]} bp) than the "
            f"model's window of {width} bp",
            source,
        )
    return np.clip(centres - width // 2, 0, lengths - width)


def region_windows(path: str | Path, width: int, sizes: dict[str, int]) -> Windows:
    """One window of ``width`` centred on each region of a peak/BED file (plain or gzip)."""
    from bionas.data.peaks import read_peaks

    peaks = read_peaks(path, "regions", what="regions file")
    iv = peaks.intervals
    chroms = np.asarray(iv.chrom, dtype=object)
    starts = _fit(chroms, peaks.summit, width, sizes, path)
    region = np.array(
        [f"{c}:{s}-{e}" for c, s, e in zip(chroms, iv.start, iv.end, strict=True)], dtype=object
    )
    return Windows(chroms, starts.astype(np.int64), region, width)


def tile_windows(tile: str, step: int, width: int, sizes: dict[str, int]) -> Windows:
    """Windows of ``width`` every ``step`` bp over ``CHROM:START-END`` (0-based, half-open)."""
    m = _TILE.match(tile)
    if m is None:
        raise InputError(f"expected CHROM:START-END for --tile, got {tile!r}")
    chrom, start, end = m["chrom"], int(m["start"]), int(m["end"])
    if chrom not in sizes:
        raise InputError(
            f"chromosome {chrom!r} is not in the genome{chrom_prefix_hint([chrom], list(sizes))}"
        )
    end = min(end, sizes[chrom])
    if end - start < width:
        raise InputError(f"the tiled range {tile} is shorter than the model's window of {width} bp")
    starts = np.arange(start, end - width + 1, step, dtype=np.int64)
    chroms = np.full(len(starts), chrom, dtype=object)
    return Windows(chroms, starts, np.full(len(starts), tile, dtype=object), width)


def predict_batches(
    model: Any, genome: Genome, windows: Windows, batch_size: int = 1024
) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, scores (k, tasks) float32)`` for consecutive batches of ``windows``."""
    width = windows.width
    for first in range(0, len(windows), batch_size):
        rows = slice(first, min(first + batch_size, len(windows)))
        codes = genome.fetch_codes(windows.chrom[rows], windows.start[rows], width)
        X = one_hot_codes(codes)
        scores = np.asarray(model.predict_on_batch(X), dtype=np.float32)
        yield rows, scores.reshape(len(codes), -1)


def write_predictions(
    path: str | Path,
    model: Any,
    genome: Genome,
    windows: Windows,
    tasks: Sequence[str],
    batch_size: int = 1024,
) -> int:
    """Write ``chrom start end region <task>...`` (TSV, header first) atomically; return the rows."""
    n = 0
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\t".join(["chrom", "start", "end", "region", *tasks]) + "\n")
        for rows, scores in predict_batches(model, genome, windows, batch_size):
            if scores.shape[1] != len(tasks):
                raise InputError(
                    f"the model predicts {scores.shape[1]} task(s), {len(tasks)} task name(s) "
                    "were given (--tasks)"
                )
            starts = windows.start[rows]
            for chrom, s, region, row in zip(
                windows.chrom[rows], starts, windows.region[rows], scores, strict=True
            ):
                values = "\t".join(f"{v:.6g}" for v in row)
                out.write(f"{chrom}\t{s}\t{s + windows.width}\t{region}\t{values}\n")
            n += len(starts)
    return n


def bigwig_intervals(
    table: Any, sizes: dict[str, int], step: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Non-overlapping, sorted intervals of a predictions table, one per window.

    A window stands for its central ``step`` bp when the range was tiled
    (``step``), else for the whole window. Intervals are sorted in genome
    order; where two overlap, the later one starts where the earlier ends
    (and is dropped when nothing is left), so the track shows every window's
    score once. Returns ``(chrom, start, end, row)``: ``row`` indexes the
    table's rows.
    """
    order = {c: i for i, c in enumerate(sizes)}
    chrom = table["chrom"].to_numpy(dtype=object)
    start = table["start"].to_numpy(dtype=np.int64)
    end = table["end"].to_numpy(dtype=np.int64)
    if step is not None:
        centre = (start + end) // 2
        start = centre - step // 2
        end = start + step
    length = np.array([sizes[c] for c in chrom], dtype=np.int64)
    start, end = np.clip(start, 0, length), np.clip(end, 0, length)
    rank = np.array([order[c] for c in chrom], dtype=np.int64)
    idx = np.lexsort((end, start, rank))
    chrom, start, end, rank = chrom[idx], start[idx], end[idx].copy(), rank[idx]
    start = start.copy()
    for i in range(1, len(idx)):
        if rank[i] == rank[i - 1] and start[i] < end[i - 1]:
            start[i] = end[i - 1]
            end[i] = max(end[i], start[i])
    keep = end > start
    return chrom[keep], start[keep], end[keep], idx[keep]


def write_bigwigs(
    predictions: str | Path, sizes: dict[str, int], out_dir: str | Path, step: int | None = None
) -> list[Path]:
    """One bigWig per task column of a predictions table, for a genome browser.

    Parameters
    ----------
    predictions : path
        The table :func:`write_predictions` wrote.
    sizes : dict
        Chromosome lengths of the genome (the bigWig header), in genome order.
    out_dir : path
        Written as ``<task>.bw``, each atomically.
    step : int, optional
        The tiling step when the range was tiled (see :func:`bigwig_intervals`).

    Returns
    -------
    list of Path
        The files, in task order.
    """
    import pandas as pd
    import pyBigWig

    from bionas.io import atomic_path

    path = Path(predictions)
    try:
        table = pd.read_csv(path, sep="\t", dtype={"chrom": str})
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the predictions table ({err})", path) from None
    fixed = ["chrom", "start", "end", "region"]
    if list(table.columns[:4]) != fixed or len(table.columns) < 5:
        raise InputError(
            f"expected the columns {' '.join(fixed)} <task>... of `bionas predict`", path, line=1
        )
    missing = sorted(set(table["chrom"]) - set(sizes))
    if missing:
        raise InputError(f"chromosome(s) not in the genome: {', '.join(missing[:5])}", path)
    chrom, start, end, row = bigwig_intervals(table, sizes, step)
    from bionas.io import output_dir

    out = output_dir(out_dir)
    written = []
    for task in table.columns[4:]:
        values = table[task].to_numpy(dtype=np.float64)[row]
        target = out / f"{task}.bw"
        with atomic_path(target) as tmp:
            bw = pyBigWig.open(str(tmp), "w")
            try:
                bw.addHeader(list(sizes.items()))
                if len(chrom):
                    bw.addEntries(
                        [str(c) for c in chrom], start.tolist(), ends=end.tolist(),
                        values=values.tolist(),
                    )  # fmt: skip
            finally:
                bw.close()
        written.append(target)
    return written
