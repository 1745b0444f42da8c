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
