"""Genomic intervals (0-based, half-open) and the bedtools binary."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.errors import shown as clipped

if TYPE_CHECKING:
    pass



_INTEGER = re.compile(r"^[-+]?[0-9]+$")


@dataclass(frozen=True)
class Intervals:
    """Intervals as parallel arrays.

    Attributes
    ----------
    chrom : numpy.ndarray
        ``(n,)`` object array of str.
    start, end : numpy.ndarray
        ``(n,)`` int64, 0-based half-open.
    """

    chrom: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __post_init__(self):
        object.__setattr__(self, "chrom", np.asarray(self.chrom, dtype=object))
        object.__setattr__(self, "start", np.asarray(self.start, dtype=np.int64))
        object.__setattr__(self, "end", np.asarray(self.end, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.start.size)

    @classmethod
    def empty(cls) -> Intervals:
        return cls(np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, np.int64))

    @classmethod
    def concat(cls, parts: Sequence[Intervals]) -> Intervals:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.chrom for p in parts]),
            np.concatenate([p.start for p in parts]),
            np.concatenate([p.end for p in parts]),
        )

    def take(self, index) -> Intervals:
        return Intervals(self.chrom[index], self.start[index], self.end[index])

    def on(self, chrom: str) -> Intervals:
        """The intervals on one chromosome."""
        return self.take(self.chrom == chrom)

    def merged(self) -> Intervals:
        """Sorted, with overlapping and touching intervals merged."""
        out = []
        for chrom in sorted(set(self.chrom.tolist())):
            sub = self.on(chrom)
            order = np.lexsort((sub.end, sub.start))
            s, e = sub.start[order], sub.end[order]
            run_end = np.maximum.accumulate(e)
            new = np.ones(s.size, dtype=bool)
            new[1:] = s[1:] > run_end[:-1]
            group = np.cumsum(new) - 1
            starts = s[new]
            ends = np.zeros(starts.size, np.int64)
            np.maximum.at(ends, group, e)
            out.append(Intervals(np.full(starts.size, chrom, dtype=object), starts, ends))
        return Intervals.concat(out)

    def to_bed(self, path: str | os.PathLike, names: Sequence | None = None) -> None:
        """Write BED3 (BED4 with ``names``)."""
        frame = pd.DataFrame({"chrom": self.chrom, "start": self.start, "end": self.end})
        if names is not None:
            frame["name"] = list(names)
        frame.to_csv(path, sep="\t", header=False, index=False)


_MAX_COORD = 2**62  # coordinates are stored as int64


def _int_field(text: str, what: str, path: Path, number: int) -> int:
    # ASCII digits only: int() would also take '1_000' and non-ASCII digits
    if not _INTEGER.fullmatch(text):
        raise InputError(f"{what} must be an integer, found {clipped(text)}", path=path, line=number)
    if len(text.lstrip("+-").lstrip("0")) > 20:  # int() refuses more than 4300 digits
        raise InputError(f"{what} is too large, found {clipped(text)}", path=path, line=number)
    value = int(text)
    if value < 0:
        raise InputError(f"{what} must not be negative, found {value}", path=path, line=number)
    if value > _MAX_COORD:
        raise InputError(f"{what} is too large, found {value}", path=path, line=number)
    return value


def _bedtools() -> str:
    exe = shutil.which("bedtools")
    if exe is None:
        raise RuntimeError(
            "the bedtools binary is not on PATH (Debian: apt install bedtools; conda: bioconda bedtools)"
        )
    return exe


def overlaps(windows: Intervals, regions: Intervals) -> np.ndarray:
    """``(len(windows),)`` bool: whether each window overlaps any of ``regions`` (half-open).

    Per chromosome, the regions are sorted by start with their ends' running
    maximum, so a window ``[s, e)`` overlaps one exactly when the last region
    starting before ``e`` has a running end above ``s``.
    """
    out = np.zeros(len(windows), dtype=bool)
    if len(windows) == 0 or len(regions) == 0:
        return out
    r_chrom = np.asarray(regions.chrom, dtype=object)
    w_chrom = np.asarray(windows.chrom, dtype=object)
    for chrom in set(w_chrom.tolist()) & set(r_chrom.tolist()):
        sel = r_chrom == chrom
        order = np.argsort(regions.start[sel], kind="stable")
        starts = regions.start[sel][order]
        ends = np.maximum.accumulate(regions.end[sel][order])
        rows = np.flatnonzero(w_chrom == chrom)
        last = np.searchsorted(starts, windows.end[rows], side="left") - 1
        hit = last >= 0
        out[rows[hit]] = ends[last[hit]] > windows.start[rows[hit]]
    return out
