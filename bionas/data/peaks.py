"""Peak files (BED3/BED6/narrowPeak/idr output/broadPeak/BED12) -> summit windows labelled per task."""

from __future__ import annotations

import gzip
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.data.ranges import _INTEGER, Intervals, _int_field
from bionas.errors import InputError, chrom_prefix_hint
from bionas.errors import shown as clipped

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peaks:
    """The peaks of one task.

    Attributes
    ----------
    task : str
    path : pathlib.Path
    intervals : Intervals
        Peak extents.
    summit : numpy.ndarray
        ``(n,)`` int64 absolute summit (narrowPeak column 10) or midpoint.
    line : numpy.ndarray
        ``(n,)`` int64 1-based line of each peak in ``path``.
    strength : numpy.ndarray
        ``(n,)`` float64: signalValue (column 7 of a narrowPeak or broadPeak
        line), else the score (column 5), else NaN; what ``max_peaks`` ranks by.
    """

    task: str
    path: Path
    intervals: Intervals
    summit: np.ndarray
    line: np.ndarray
    strength: np.ndarray | None = None

    def strongest(self, n: int) -> tuple[Peaks, int]:
        """The ``n`` strongest peaks (file order among equals) and how many were left out.

        Raises
        ------
        InputError
            The file has no strength to rank by (BED3, or ``.`` scores).
        """
        if len(self) <= n:
            return self, 0
        strength = self.strength if self.strength is not None else np.full(len(self), np.nan)
        if np.isnan(strength).all():
            raise InputError(
                f"max_peaks {n} needs a signalValue (column 7) or a score (column 5) to keep the "
                f"strongest peaks of task {self.task!r}; this file has neither",
                path=self.path,
            )
        rank = np.argsort(-np.nan_to_num(strength, nan=-np.inf), kind="stable")[:n]
        keep = np.sort(rank)
        return (
            Peaks(self.task, self.path, self.intervals.take(keep), self.summit[keep],
                  self.line[keep], strength[keep]),
            len(self) - n,
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.intervals)


@dataclass(frozen=True)
class TaskWindows:
    """Windows centred on the summits of one task's peaks.

    Attributes
    ----------
    windows : Intervals
        Kept windows, ``end - start == width``.
    centre : numpy.ndarray
        ``(n,)`` int64 centre of each kept window.
    dropped_at_edge : int
        Windows that ran off a chromosome end.
    """

    windows: Intervals
    centre: np.ndarray
    dropped_at_edge: int


#: Column counts of a line whose column 10 is a narrowPeak summit offset: narrowPeak, and
#: the output of ``idr`` (ENCODE's replicate consistency), which appends to the merged
#: narrowPeak columns 11-12 (local and global IDR) and 13-20 (start, end, signalValue and
#: summit of the peak in each of the two replicates). BED12's column 10 is a block count.
NARROWPEAK_COLUMNS = (10, 20)


def read_peaks(path: str | os.PathLike, task: str, what: str | None = None) -> Peaks:
    """Read one peak file (BED3, BED6, narrowPeak, broadPeak or BED12) and check every line.

    The file may be plain text or gzip/bgzip-compressed (as ENCODE ships
    ``.bed.gz``). ``track``, ``browser`` and ``#`` lines and blank lines are
    skipped. A narrowPeak summit (column 10 of a 10-column line, or of a
    20-column line of ``idr`` output; offset from the start; -1 = none) must
    lie inside its peak; every other line (BED12's column 10 is a block count)
    is centred on its midpoint.

    ``what`` names the file in messages (default: the task's peak file), for
    other region files read the same way (a blacklist).

    Raises
    ------
    InputError
        Missing or empty file; a line with fewer than 3 columns, non-integer
        or negative coordinates, ``start >= end`` or a summit outside the peak.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what or f'peak file of task {task!r}'} not found", path=path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise InputError(
                f"damaged gzip file ({err}); compress the peaks again or give them uncompressed",
                path=path,
            ) from None
    simple = _read_simple(data.removeprefix(b"\xef\xbb\xbf"))
    if simple is not None:
        chroms, starts, ends, summits, strengths = simple
        return Peaks(
            task=task,
            path=path,
            intervals=Intervals(chroms, starts, ends),
            summit=summits,
            line=np.arange(1, starts.size + 1, dtype=np.int64),
            strength=strengths,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"not a text peak file: {err.reason} at byte {err.start}", path=path
        ) from None
    chroms, starts, ends, summits, lines, strengths = [], [], [], [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) < 3:
            raise InputError(
                f"expected at least 3 tab-separated columns (chrom, start, end), found {len(fields)}",
                path=path,
                line=number,
            )
        start = _int_field(fields[1].strip(), "start (column 2)", path, number)
        end = _int_field(fields[2].strip(), "end (column 3)", path, number)
        if start >= end:
            raise InputError(
                f"start must be below end, found start={start} end={end}", path=path, line=number
            )
        summit = (start + end) // 2
        if len(fields) in NARROWPEAK_COLUMNS and fields[9].strip() not in ("-1", "", "."):
            if not _INTEGER.fullmatch(fields[9].strip()):
                raise InputError(
                    f"narrowPeak summit (column 10) must be an integer offset, found {clipped(fields[9])}",
                    path=path,
                    line=number,
                )
            offset = int(fields[9])
            if not 0 <= offset < end - start:
                raise InputError(
                    f"summit offset {offset} (column 10) lies outside the peak of length {end - start}",
                    path=path,
                    line=number,
                )
            summit = start + offset
        strengths.append(_strength(fields))
        chroms.append(fields[0].strip())
        starts.append(start)
        ends.append(end)
        summits.append(summit)
        lines.append(number)
    if not lines:
        raise InputError(f"empty {what or f'peak file: task {task!r} has no peaks'}", path=path)
    return Peaks(
        task=task,
        path=path,
        intervals=Intervals(np.array(chroms, dtype=object), starts, ends),
        summit=np.asarray(summits, dtype=np.int64),
        line=np.asarray(lines, dtype=np.int64),
        strength=np.asarray(strengths, dtype=np.float64),
    )


#: bytes outside the simple layout of :func:`_read_simple`: control bytes but tab and
#: line feed, space, DEL and non-ASCII
_NOT_SIMPLE = np.ones(256, dtype=bool)
_NOT_SIMPLE[33:127] = False
_NOT_SIMPLE[[9, 10]] = False
_DIGITS = 18  # more digits could pass 2**62 (or int64)


def _read_simple(data: bytes):
    """The peaks of a file in the common layout, parsed column-wise; None for any other file.

    The layout: printable ASCII without spaces, the same number (3 or more) of
    tab-separated columns on every line, no blank, comment, track or browser
    line (no line starting with ``#``, ``t`` or ``b``), start, end and a
    narrowPeak summit of at most 18 plain digits (a summit may also be ``-1``,
    ``.`` or empty), ``start < end`` and the summit inside the peak. For
    such a file the result is what the line-by-line reader of
    :func:`read_peaks` gives; any other file (or a line it would refuse) is
    left to that reader.

    Returns
    -------
    tuple or None
        chrom ``(n,)`` object, start, end and summit ``(n,)`` int64, strength ``(n,)`` float64.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    if not arr.size or _NOT_SIMPLE[arr].any():
        return None
    ends = np.flatnonzero(arr == 10)
    if not ends.size or ends[-1] != arr.size - 1:
        ends = np.append(ends, arr.size)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if np.any(ends == starts) or np.isin(arr[starts], list(b"#tb")).any():
        return None
    tabs = np.flatnonzero(arr == 9)
    per_line = np.diff(np.searchsorted(tabs, ends), prepend=0)
    columns = int(per_line[0]) + 1
    if columns < 3 or np.any(per_line != columns - 1):
        return None
    inner = tabs.reshape(starts.size, columns - 1)
    first = np.column_stack([starts, inner + 1])  # (n, columns): where each field starts
    last = np.column_stack([inner, ends])  # ... and ends
    if np.any(first[:, 0] == last[:, 0]) or np.any(first[:, -1] == last[:, -1]):
        return None  # a tab at either end of a line, which the reader strips
    start = _plain_integers(arr, first[:, 1], last[:, 1])
    end = _plain_integers(arr, first[:, 2], last[:, 2])
    if start is None or end is None or np.any(start >= end):
        return None
    summit = (start + end) // 2
    if columns in NARROWPEAK_COLUMNS:
        a, b = first[:, 9], last[:, 9]
        width = b - a
        one, two = arr[np.minimum(a, arr.size - 1)], arr[np.minimum(a + 1, arr.size - 1)]
        none = (
            (width == 0)
            | ((width == 1) & (one == ord(".")))
            | ((width == 2) & (one == ord("-")) & (two == ord("1")))
        )
        given = np.flatnonzero(~none)
        offset = _plain_integers(arr, a[given], b[given])
        if offset is None or np.any(offset >= (end - start)[given]):
            return None
        summit[given] = start[given] + offset
    chrom = _names(arr, first[:, 0], last[:, 0])
    strength = np.full(starts.size, np.nan)
    for column in (6, 4):  # as _strength: signalValue, else the score
        if columns > column and (columns in (9, *NARROWPEAK_COLUMNS) or column == 4):
            todo = np.flatnonzero(np.isnan(strength))
            value = _floats(data, first[todo, column], last[todo, column])
            strength[todo] = np.where(np.isfinite(value), value, np.nan)
    return chrom, start, end, summit, strength


def _plain_integers(arr: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray | None:
    """The fields ``arr[first:last]`` as int64 if each is 1-18 ASCII digits, else None."""
    if not first.size:
        return np.zeros(0, dtype=np.int64)
    width = last - first
    if np.any(width < 1) or np.any(width > _DIGITS):
        return None
    most = int(width.max())
    at = last[:, None] - most + np.arange(most)  # right-aligned: the last digits in one column
    inside = at >= first[:, None]
    digits = arr[np.maximum(at, 0)].astype(np.int64) - ord("0")
    if np.any(((digits < 0) | (digits > 9)) & inside):
        return None
    digits[~inside] = 0
    value = digits[:, 0].copy()
    for k in range(1, most):
        value *= 10
        value += digits[:, k]
    return value


def _names(arr: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The ASCII fields ``arr[first:last]`` (none empty) as an ``(n,)`` object array of str.

    Each distinct name is decoded once: a file names few chromosomes.
    """
    most = int((last - first).max())
    at = first[:, None] + np.arange(most)
    table = np.where(at < last[:, None], arr[np.minimum(at, arr.size - 1)], 0).astype(np.uint8)
    names, index = np.unique(table.view(f"S{most}").ravel(), return_inverse=True)
    return np.array([n.decode("ascii") for n in names.tolist()], dtype=object)[index]


def _floats(data: bytes, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """``float()`` of each field ``data[first:last]``; NaN where it is not a number."""
    out = np.empty(first.size)
    for i, (a, b) in enumerate(zip(first.tolist(), last.tolist(), strict=True)):
        try:
            out[i] = float(data[a:b])
        except ValueError:
            out[i] = np.nan
    return out


def _strength(fields: list[str]) -> float:
    """signalValue (column 7 of a narrowPeak, idr or broadPeak line), else score (column 5), else NaN."""
    for column in (6, 4):
        if len(fields) > column and (len(fields) in (9, *NARROWPEAK_COLUMNS) or column == 4):
            try:
                value = float(fields[column])
            except ValueError:
                continue
            if np.isfinite(value):
                return value
    return float("nan")


#: How ``chrom_names`` renames the chromosomes of peak and blacklist files.
CHROM_NAMES = ("detect", "ucsc", "ensembl", "as_is")

# the names that differ between the two conventions beyond the 'chr' prefix
_UCSC_OF = {"MT": "chrM"}
_ENSEMBL_OF = {"chrM": "MT"}


def convert_name(name: str, style: str) -> str:
    """A chromosome name in UCSC (``chr1``, ``chrM``) or Ensembl (``1``, ``MT``) style.

    ``as_is`` and ``detect`` leave it. Names already in the style are kept;
    contigs follow the same prefix rule (``chrUn_x`` <-> ``Un_x``).
    """
    if style == "ucsc":
        return _UCSC_OF.get(name, name if name.startswith("chr") else "chr" + name)
    if style == "ensembl":
        return _ENSEMBL_OF.get(name, name[3:] if name.startswith("chr") else name)
    return name


def with_chrom_names(peaks: Peaks, style: str) -> Peaks:
    """``peaks`` with every chromosome renamed to ``style`` (see :func:`convert_name`)."""
    if style not in ("ucsc", "ensembl"):
        return peaks
    names = {c: convert_name(c, style) for c in dict.fromkeys(peaks.intervals.chrom.tolist())}
    chrom = np.array([names[c] for c in peaks.intervals.chrom], dtype=object)
    intervals = Intervals(chrom, peaks.intervals.start, peaks.intervals.end)
    return Peaks(peaks.task, peaks.path, intervals, peaks.summit, peaks.line, peaks.strength)


def _style_hint(missing: list[str], known: list[str]) -> str:
    """Which ``chrom_names`` setting would make ``missing`` names the genome's, if one would."""
    known_set = set(known)
    for style in ("ucsc", "ensembl"):
        converted = [convert_name(m, style) for m in missing]
        if all(c in known_set for c in converted):
            return (
                f"; the genome names chromosomes the {style.upper() if style == 'ucsc' else 'Ensembl'}"
                f" way ({missing[0]!r} is {converted[0]!r} there): set chrom_names: {style} "
                f"(bionas prepare --chrom-names {style}) to rename them"
            )
    return chrom_prefix_hint(missing, known)


def check_chromosomes(
    peaks: Peaks, sizes: dict[str, int], genome_path: str | os.PathLike = ""
) -> None:
    """Raise InputError naming the peak chromosomes absent from the genome."""
    present = np.isin(peaks.intervals.chrom, list(sizes))
    if present.all():
        return
    missing = list(dict.fromkeys(peaks.intervals.chrom[~present].tolist()))
    first = int(peaks.line[~present][0])
    shown = ", ".join(m if len(m) <= 60 else clipped(m) for m in missing[:8])
    shown += f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    where = f" {genome_path}" if genome_path else ""
    raise InputError(
        f"chromosome(s) not in the genome FASTA{where}: {shown}{_style_hint(missing, list(sizes))}",
        path=peaks.path,
        line=first,
    )


def summit_windows(peaks: Peaks, sizes: dict[str, int], width: int) -> TaskWindows:
    """Fixed-width windows centred on each summit; drop those off a chromosome end.

    The window of centre ``c`` is ``[c - width // 2, c - width // 2 + width)``.
    """
    centre = peaks.summit
    start = centre - width // 2
    end = start + width
    length = np.array([sizes[c] for c in peaks.intervals.chrom], dtype=np.int64)
    keep = (start >= 0) & (end <= length)
    dropped = int((~keep).sum())
    if dropped:
        log.info(
            "task %s: %d of %d windows run off a chromosome end and are dropped",
            peaks.task,
            dropped,
            len(peaks),
        )
    return TaskWindows(
        Intervals(peaks.intervals.chrom[keep], start[keep], end[keep]), centre[keep], dropped
    )


def label_windows(
    centres: Intervals, peaks: Sequence[Peaks], workdir: str | os.PathLike
) -> np.ndarray:
    """Labels of windows: positive for every task whose peak overlaps the centre.

    Parameters
    ----------
    centres : Intervals
        One 1-bp interval per window (its centre).
    peaks : sequence of Peaks
        One per task.
    workdir : path
        Directory for the BED files handed to ``bedtools intersect``.

    Returns
    -------
    numpy.ndarray
        ``(n, tasks)`` uint8 of 0/1.
    """
    import pybedtools

    workdir = Path(workdir)
    points = workdir / "centres.bed"
    centres.to_bed(points, names=np.arange(len(centres)))
    labels = np.zeros((len(centres), len(peaks)), dtype=np.uint8)
    for j, task_peaks in enumerate(peaks):
        bed = workdir / f"peaks_{j}.bed"
        task_peaks.intervals.to_bed(bed)
        result = pybedtools.BedTool(str(points)).intersect(b=str(bed), c=True)
        counts = pd.read_csv(
            result.fn, sep="\t", header=None, usecols=[3, 4], dtype={3: np.int64, 4: np.int64}
        )
        labels[counts[3].to_numpy(), j] = counts[4].to_numpy() > 0
    return labels
