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

import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.errors import shown as clipped

if TYPE_CHECKING:
    from bionas.genome import Genome

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
KINDS = ("peak", "background", "dinuc_shuffle")
NEGATIVE_METHODS = ("shuffle", "dinucleotide_shuffle", "gc_matched")
WINDOW_COLUMNS = ("chrom", "start", "end", "split", "kind", "source")
GC_BINS = 50  # GC histogram bins of width 0.02 for gc_matched
_INTEGER = re.compile(r"^[-+]?[0-9]+$")
_SOURCE = re.compile(r"^(?P<chrom>\S+):(?P<start>\d+)-(?P<end>\d+)#(?P<seed>\d+)$")


# --------------------------------------------------------------------------
# interval containers


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
    """

    task: str
    path: Path
    intervals: Intervals
    summit: np.ndarray
    line: np.ndarray

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


# --------------------------------------------------------------------------
# peak files


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


def read_peaks(path: str | os.PathLike, task: str) -> Peaks:
    """Read one peak file (BED3, BED6 or narrowPeak) and check every line.

    ``track``, ``browser`` and ``#`` lines and blank lines are skipped. A
    narrowPeak summit (column 10, offset from the start; -1 = none) must lie
    inside its peak; without one the midpoint is used.

    Raises
    ------
    InputError
        Missing or empty file; a line with fewer than 3 columns, non-integer
        or negative coordinates, ``start >= end`` or a summit outside the peak.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"peak file of task {task!r} not found", path=path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(
            f"not a text peak file: {err.reason} at byte {err.start}", path=path
        ) from None
    chroms, starts, ends, summits, lines = [], [], [], [], []
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
        if len(fields) >= 10 and fields[9].strip() not in ("-1", "", "."):
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
        chroms.append(fields[0].strip())
        starts.append(start)
        ends.append(end)
        summits.append(summit)
        lines.append(number)
    if not lines:
        raise InputError(f"empty peak file: task {task!r} has no peaks", path=path)
    return Peaks(
        task=task,
        path=path,
        intervals=Intervals(np.array(chroms, dtype=object), starts, ends),
        summit=np.asarray(summits, dtype=np.int64),
        line=np.asarray(lines, dtype=np.int64),
    )


def _prefix_hint(missing: Sequence[str], known: Sequence[str]) -> str:
    known = set(known)
    flipped = [m[3:] if m.startswith("chr") else "chr" + m for m in missing]
    if any(f in known for f in flipped):
        example = next((m, f) for m, f in zip(missing, flipped, strict=True) if f in known)
        how = "without" if example[0].startswith("chr") else "with"
        return (
            f"; the genome names them {how} a 'chr' prefix ({example[0]!r} -> {example[1]!r}): "
            "that naming mismatch is the likely cause"
        )
    return ""


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
        f"chromosome(s) not in the genome FASTA{where}: {shown}{_prefix_hint(missing, list(sizes))}",
        path=peaks.path,
        line=first,
    )


# --------------------------------------------------------------------------
# windows and labels


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


def _bedtools() -> str:
    exe = shutil.which("bedtools")
    if exe is None:
        raise RuntimeError(
            "the bedtools binary is not on PATH (Debian: apt install bedtools; conda: bioconda bedtools)"
        )
    return exe


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


# --------------------------------------------------------------------------
# splits


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
                f"{', '.join(missing)}{_prefix_hint(missing, list(sizes))}",
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


# --------------------------------------------------------------------------
# negatives


def _templates(n_pos: int, ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of positives that each negative copies (chromosome, width): ratio x n_pos."""
    total = int(round(ratio * n_pos))
    whole, rest = divmod(total, n_pos) if n_pos else (0, 0)
    parts = [np.tile(np.arange(n_pos), whole)]
    if rest:
        parts.append(np.sort(rng.choice(n_pos, size=rest, replace=False)))
    return np.sort(np.concatenate(parts).astype(np.int64), kind="stable")


def shuffle_negatives(
    positives: Intervals,
    ratio: float,
    sizes: dict[str, int],
    exclude: Intervals,
    seed: int,
    workdir: str | os.PathLike,
) -> Intervals:
    """Random windows on the positives' chromosomes, away from ``exclude`` (bedtools shuffle).

    ``ratio x len(positives)`` windows of the positives' widths, each on the
    chromosome of the positive it copies (``-chrom``), none overlapping
    ``exclude`` (``-excl``), seeded (``-seed``). A window that finds no place
    after bedtools' tries is left out and logged.
    """
    rng = np.random.default_rng(seed)
    idx = _templates(len(positives), ratio, rng)
    if idx.size == 0:
        return Intervals.empty()
    workdir = Path(workdir)
    templates = positives.take(idx)
    templates.to_bed(workdir / "templates.bed")
    (workdir / "genome.txt").write_text("".join(f"{c}\t{n}\n" for c, n in sizes.items()))
    excl = exclude.merged() if len(exclude) else Intervals(["__none__"], [0], [1])
    excl.to_bed(workdir / "exclude.bed")
    cmd = [
        _bedtools(), "shuffle", "-i", str(workdir / "templates.bed"), "-g", str(workdir / "genome.txt"),
        "-excl", str(workdir / "exclude.bed"), "-chrom", "-seed", str(int(seed) % (2**31)),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"bedtools shuffle failed ({done.returncode}): {done.stderr.strip()[:2000]}"
        )
    skipped = done.stderr.count("could not avoid excluded regions")
    if skipped:
        log.warning(
            "shuffle: %d of %d negatives found no place away from peaks and N runs",
            skipped,
            idx.size,
        )
    if not done.stdout.strip():
        return Intervals.empty()
    rows = [line.split("\t") for line in done.stdout.splitlines() if line]
    return Intervals([r[0] for r in rows], [int(r[1]) for r in rows], [int(r[2]) for r in rows])


def _window_sums(mask: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Sum of boolean ``mask`` over ``[s, s + width)`` for each start: ``(n,)`` int64.

    ``np.add.reduceat`` over interleaved (start, end) bounds: no cumulative
    sum of the whole chromosome is held in memory.
    """
    if starts.size == 0:
        return np.zeros(0, np.int64)
    bounds = np.empty(2 * starts.size, dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = starts + width
    padded = np.append(mask.view(np.uint8), np.uint8(0))
    return np.add.reduceat(padded, bounds, dtype=np.int64)[0::2]


def window_gc(genome: Genome, windows: Intervals) -> np.ndarray:
    """GC fraction among A/C/G/T bases of each window: ``(n,)`` float64 (NaN if none)."""
    gc = np.full(len(windows), np.nan)
    for chrom in dict.fromkeys(windows.chrom.tolist()):
        rows = np.flatnonzero(windows.chrom == chrom)
        codes = genome.chrom_codes(chrom)
        is_gc = (codes == ord("G")) | (codes == ord("C"))
        is_acgt = is_gc | (codes == ord("A")) | (codes == ord("T"))
        widths = windows.end[rows] - windows.start[rows]
        for width in np.unique(widths):
            sub = rows[widths == width]
            s = windows.start[sub]
            n_gc = _window_sums(is_gc, s, int(width))
            n_acgt = _window_sums(is_acgt, s, int(width))
            with np.errstate(invalid="ignore", divide="ignore"):
                gc[sub] = np.where(n_acgt > 0, n_gc / np.maximum(n_acgt, 1), np.nan)
    return gc


def _gc_bin(gc: np.ndarray) -> np.ndarray:
    return np.clip((np.nan_to_num(gc, nan=0.0) * GC_BINS).astype(np.int64), 0, GC_BINS - 1)


def gc_matched_negatives(
    genome: Genome,
    positives: Intervals,
    ratio: float,
    exclude: Intervals,
    seed: int,
) -> Intervals:
    """Background windows whose GC histogram matches the positives'.

    Per chromosome, candidate windows on a grid of step ``width // 4`` (or the
    nearest divisor of the width) that hold only A/C/G/T and overlap nothing in
    ``exclude`` are binned by GC (bins of 0.02); each positive copied
    ``ratio`` times asks for one candidate from its bin, drawn at random
    preferably one that overlaps no earlier pick. A bin whose non-overlapping
    candidates run out then allows overlap among negatives (never with
    ``exclude``), then borrows from the nearest bins; what is still missing is
    logged.
    """
    rng = np.random.default_rng(seed)
    idx = _templates(len(positives), ratio, rng)
    if idx.size == 0:
        return Intervals.empty()
    pos_gc = window_gc(genome, positives)
    templates = positives.take(idx)
    template_bin = _gc_bin(pos_gc[idx])
    excl = exclude.merged()
    out = []
    missing = 0
    for chrom in dict.fromkeys(templates.chrom.tolist()):
        rows = np.flatnonzero(templates.chrom == chrom)
        widths = np.unique(templates.end[rows] - templates.start[rows])
        if widths.size != 1:
            raise ValueError("gc_matched negatives need windows of one width")
        width = int(widths[0])
        step = max(d for d in range(1, max(1, width // 4) + 1) if width % d == 0)
        span = width // step  # candidates closer than `span` steps overlap
        codes = genome.chrom_codes(chrom)
        phase = int(rng.integers(step))
        starts = np.arange(phase, codes.size - width + 1, step, dtype=np.int64)
        is_gc = (codes == ord("G")) | (codes == ord("C"))
        is_acgt = is_gc | (codes == ord("A")) | (codes == ord("T"))
        ok = _window_sums(is_acgt, starts, width) == width
        ex = excl.on(chrom)
        if len(ex):
            first_after = np.searchsorted(ex.end, starts, side="right")
            hit = first_after < len(ex)
            hit[hit] = ex.start[first_after[hit]] < starts[hit] + width
            ok &= ~hit
        cand = np.flatnonzero(ok)
        cand_bin = _gc_bin(_window_sums(is_gc, starts[cand], width) / width)
        pools = {b: list(rng.permutation(cand[cand_bin == b])) for b in range(GC_BINS)}
        need = np.bincount(template_bin[rows], minlength=GC_BINS)
        picked, short = _pick_by_bin(pools, need, span, starts.size)
        missing += short
        picked_starts = np.sort(starts[np.asarray(picked, dtype=np.int64)])
        out.append(
            Intervals(
                np.full(picked_starts.size, chrom, dtype=object),
                picked_starts,
                picked_starts + width,
            )
        )
    if missing:
        log.warning(
            "gc_matched: %d of %d negatives found no background window away from peaks",
            missing,
            idx.size,
        )
    return Intervals.concat(out)


def _pick_by_bin(
    pools: dict[int, list[int]], need: np.ndarray, span: int, n: int
) -> tuple[list[int], int]:
    """Pick ``need[b]`` candidates from each GC bin ``b`` of ``pools``.

    Candidates are grid indices; two closer than ``span`` overlap. A bin gives
    non-overlapping candidates first, then overlapping ones, then the nearest
    bins give theirs. Returns the picks and how many could not be found.
    """
    spare: dict[int, list[int]] = {b: [] for b in pools}  # overlap an earlier pick
    taken = np.zeros(n + 2 * span, dtype=bool)

    def draw(bin_: int) -> int | None:
        pool = pools.get(bin_)
        while pool:
            i = pool.pop()
            if not taken[i : i + 2 * span - 1].any():
                return i
            spare[bin_].append(i)
        if spare.get(bin_):
            return spare[bin_].pop()
        return None

    picked: list[int] = []
    missing = 0
    for b in np.argsort(-need, kind="stable"):  # fill the commonest bins first
        for _ in range(int(need[b])):
            got = None
            for d in range(len(need)):
                for nb in (b - d, b + d) if d else (b,):
                    got = draw(int(nb))
                    if got is not None:
                        break
                if got is not None:
                    break
            if got is None:
                missing += 1
                continue
            taken[got + span - 1] = True
            picked.append(got)
    return picked, missing


def dinucleotide_negatives(
    positives: Intervals, ratio: float, seed: int
) -> tuple[Intervals, list[str]]:
    """Dinucleotide-shuffled copies of positives: their windows and ``source`` strings.

    Each negative copies one positive window; its ``source`` is
    ``chrom:start-end#seed``, the window whose sequence is shuffled and the seed
    of the shuffle (:func:`shuffle_source` reproduces it).
    """
    rng = np.random.default_rng(seed)
    idx = _templates(len(positives), ratio, rng)
    seeds = rng.integers(0, 2**32, size=idx.size, dtype=np.uint64)
    windows = positives.take(idx)
    sources = [
        f"{c}:{s}-{e}#{k}"
        for c, s, e, k in zip(
            windows.chrom, windows.start, windows.end, seeds.tolist(), strict=True
        )
    ]
    return windows, sources


def parse_source(source: str) -> tuple[str, int, int, int]:
    """``chrom:start-end#seed`` -> (chrom, start, end, seed); ValueError if malformed."""
    m = _SOURCE.match(source)
    if m is None:
        raise ValueError(f"expected chrom:start-end#seed, found {source!r}")
    return m["chrom"], int(m["start"]), int(m["end"]), int(m["seed"])


def shuffle_source(codes: np.ndarray, seed: int) -> np.ndarray:
    """The dinucleotide shuffle of a negative: ``(L,)`` uint8 codes -> ``(L,)`` uint8."""
    from bionas.onehot import dinucleotide_shuffle

    return dinucleotide_shuffle(codes, np.random.default_rng(seed))


# --------------------------------------------------------------------------
# the whole stage


def _sort_table(table: pd.DataFrame, chrom_order: dict[str, int]) -> pd.DataFrame:
    key = pd.DataFrame(
        {
            "c": table["chrom"].map(chrom_order),
            "s": table["start"],
            "e": table["end"],
            "k": table["kind"].map({k: i for i, k in enumerate(KINDS)}),
            "src": table["source"],
        }
    )
    order = key.sort_values(["c", "s", "e", "k", "src"], kind="stable").index
    return table.loc[order].reset_index(drop=True)


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
    tasks = [p.task for p in peaks]
    split_of = assign_splits(sizes, val_chroms, test_chroms, train_chroms, genome.path)
    longest = max(sizes.values()) if sizes else 0
    summary: list[tuple[str, str, str, object]] = []

    # 1-2. windows per task
    all_windows, all_centres = [], []
    for p in peaks:
        check_chromosomes(p, sizes, genome.path)
        tw = summit_windows(p, sizes, width)
        in_split = np.array([c in split_of for c in tw.windows.chrom], dtype=bool)
        no_split = int((~in_split).sum())
        if no_split:
            log.info(
                "task %s: %d windows lie on chromosomes in no split and are dropped",
                p.task,
                no_split,
            )
        summary += [
            ("peaks", "all", p.task, len(p)),
            ("dropped_at_edge", "all", p.task, tw.dropped_at_edge),
            ("dropped_no_split", "all", p.task, no_split),
        ]
        if not in_split.any():
            if width > longest:
                raise InputError(
                    f"--window {width} is wider than every chromosome of the genome "
                    f"(longest: {longest} bp): no window fits",
                    path=p.path,
                )
            raise InputError(
                f"all {len(p)} peaks of task {p.task!r} were filtered out: {tw.dropped_at_edge} windows of "
                f"{width} bp ran off a chromosome end, {no_split} lie on chromosomes in no split",
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

        # 4. negatives
        excl_parts = [p.intervals for p in peaks] + [positives]
        if negatives in ("shuffle", "gc_matched"):
            excl_parts.append(genome_n_runs(genome))
        exclude = Intervals.concat(excl_parts)
        if negatives == "shuffle":
            neg = shuffle_negatives(positives, ratio, sizes, exclude, seed, workdir)
            neg_kind, neg_source = "background", ["."] * len(neg)
        elif negatives == "gc_matched":
            neg = gc_matched_negatives(genome, positives, ratio, exclude, seed)
            neg_kind, neg_source = "background", ["."] * len(neg)
        else:
            neg, neg_source = dinucleotide_negatives(positives, ratio, seed)
            neg_kind = "dinuc_shuffle"

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
    table = _sort_table(table, chrom_order)

    # summary
    gc = window_gc(
        genome,
        Intervals(table["chrom"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy()),
    )
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
    """Runs of N in ``genome`` (see :func:`bionas.genome.n_runs`)."""
    from bionas.genome import n_runs

    return n_runs(genome)


# --------------------------------------------------------------------------
# windows -> tensors


@dataclass
class Encoded:
    """One split as tensors.

    Attributes
    ----------
    X : numpy.ndarray
        ``(n, L, 4)`` uint8 one-hot, channels A, C, G, T.
    y : numpy.ndarray
        ``(n, tasks)`` float32 labels.
    regions : numpy.ndarray
        ``(n,)`` str, ``chrom:start-end`` (dinucleotide shuffles: their
        ``chrom:start-end#seed`` source; reverse-complement copies end in ``(-)``).
    kind : numpy.ndarray
        ``(n,)`` str, the window kind.
    """

    X: np.ndarray
    y: np.ndarray
    regions: np.ndarray
    kind: np.ndarray


def encode_windows(
    genome: Genome, windows: WindowTable, split: str | None = None, revcomp: bool = False
) -> Encoded:
    """One-hot tensors of the windows of one split (all rows if ``split`` is None).

    Each chromosome is read once and its windows are gathered straight into
    the output; dinucleotide-shuffle rows are reshuffled from their recorded
    source and seed. With ``revcomp`` the reverse complement of every window
    is appended after the originals.
    """
    from bionas.onehot import one_hot_codes, one_hot_windows

    table = windows.table
    if split is not None:
        table = table[table["split"] == split]
    n, width = len(table), windows.width
    chroms = table["chrom"].to_numpy(dtype=object).copy()
    starts = table["start"].to_numpy(dtype=np.int64).copy()
    kinds = table["kind"].to_numpy(dtype=object)
    sources = table["source"].to_numpy(dtype=object)
    shuffled = np.flatnonzero(kinds == "dinuc_shuffle")
    parsed = [parse_source(sources[i]) for i in shuffled]
    for i, (c, s, _, _) in zip(shuffled, parsed, strict=True):
        chroms[i], starts[i] = c, s
    for c, s in zip(chroms[shuffled], starts[shuffled], strict=True):
        if c not in genome.sizes or s + width > genome.sizes[c]:
            genome.fetch(c, s, s + width)  # raises InputError naming the interval
    copies = 2 if revcomp else 1
    X = np.empty((copies * n, width, 4), dtype=np.uint8)
    plain = np.ones(n, dtype=bool)
    plain[shuffled] = False
    for chrom in dict.fromkeys(chroms[plain].tolist()):
        rows = np.flatnonzero(plain & (chroms == chrom))
        s = starts[rows]
        size = genome.sizes.get(chrom)
        if size is None or s.min() < 0 or s.max() + width > size:
            bad = int(rows[0] if size is None else rows[(s < 0) | (s + width > size)][0])
            genome.fetch(chrom, int(starts[bad]), int(starts[bad]) + width)  # raises InputError
        one_hot_windows(genome.chrom_codes(chrom), s, width, X, rows)
    if shuffled.size:
        codes = genome.fetch_codes(chroms[shuffled], starts[shuffled], width)
        for k, (_, _, _, seed) in enumerate(parsed):
            codes[k] = shuffle_source(codes[k], seed)
        X[shuffled] = one_hot_codes(codes)
    if revcomp:
        X[n:] = X[:n, ::-1, ::-1]
    y = table[windows.tasks].to_numpy(dtype=np.float32)
    region = (
        table["chrom"].astype(str)
        + ":"
        + table["start"].astype(str)
        + "-"
        + table["end"].astype(str)
    ).to_numpy(dtype=object)
    region[shuffled] = sources[shuffled]
    regions = region.astype(str)
    kind_arr = kinds.astype(str)
    if revcomp:
        y = np.concatenate([y, y])
        regions = np.concatenate([regions, np.char.add(regions, "(-)")])
        kind_arr = np.concatenate([kind_arr, kind_arr])
    return Encoded(X=X, y=y, regions=regions, kind=kind_arr)


# --------------------------------------------------------------------------
# the windows table on disk


def write_windows(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write the windows table as TSV with a header, atomically."""
    from bionas.io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        table.to_csv(handle, sep="\t", index=False, lineterminator="\n")


def write_summary(path: str | os.PathLike, summary: pd.DataFrame) -> None:
    """Write the summary table as TSV, atomically."""
    write_windows(path, summary)


@dataclass
class WindowTable:
    """A windows table read back from disk.

    Attributes
    ----------
    table : pandas.DataFrame
        The columns of :data:`WINDOW_COLUMNS`, then one int column per task.
    tasks : list of str
    width : int
        The one window width.
    """

    table: pd.DataFrame
    tasks: list[str]
    width: int


def _read_windows_text(path: Path, text: str, header: list[str], tasks: list[str]):
    """Parse the ``text`` of windows table ``path``, raising InputError at its first malformed line."""
    try:
        raw = pd.read_csv(
            io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except pd.errors.ParserError as err:
        found = re.search(r"line (\d+)", str(err))
        raise InputError(
            f"expected {len(header)} tab-separated columns: {err}",
            path=path,
            line=int(found[1]) if found else None,
        ) from None
    line = np.arange(len(raw)) + 2
    blank = (raw == "").all(axis=1).to_numpy()
    raw, line = raw[~blank].reset_index(drop=True), line[~blank]
    if len(raw) == 0:
        raise InputError("windows table has no rows", path=path)

    def fail(mask, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            raise InputError(message, path=path, line=int(line[int(np.flatnonzero(mask)[0])]))

    fail((raw[header] == "").any(axis=1), f"expected {len(header)} non-empty tab-separated columns")
    start = pd.to_numeric(raw["start"], errors="coerce").to_numpy(dtype=np.float64)
    end = pd.to_numeric(raw["end"], errors="coerce").to_numpy(dtype=np.float64)
    fail(~np.isfinite(start) | ~np.isfinite(end) | (start != np.round(start)) | (end != np.round(end)),
         "start and end must be integers")  # fmt: skip
    labels = raw[tasks].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    fail(~np.isfinite(labels).all(axis=1), "labels must be numbers")
    return raw, line, start.astype(np.int64), end.astype(np.int64), labels


_WINDOWS_RERUN = "delete it and rerun `bionas prepare`"


def read_windows(path: str | os.PathLike, sizes: dict[str, int] | None = None) -> WindowTable:
    """Read and check a windows table written by ``bionas prepare``.

    Raises
    ------
    InputError
        Missing file, text that is not UTF-8, wrong header, a bad row (named by
        line), windows of different widths, or (with ``sizes``) a window outside
        its chromosome; every message but the first says to rerun prepare.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("windows table not found; run `bionas prepare` to write it", path=path)
    try:
        return _read_windows(path, sizes)
    except InputError as err:
        raise InputError(
            f"{err.message}; {_WINDOWS_RERUN}", err.path, line=err.line, key=err.key
        ) from None


def _read_windows(path: Path, sizes: dict[str, int] | None) -> WindowTable:
    from bionas.io import read_text

    text = read_text(path, "windows table not found", "cannot read the windows table")
    first = text.split("\n", 1)[0].rstrip("\r")
    header = first.split("\t")
    if tuple(header[:6]) != WINDOW_COLUMNS or len(header) < 7:
        shown = " ".join(WINDOW_COLUMNS)
        raise InputError(
            f"expected header '{shown} <task> ...', found {first[:80]!r}", path=path, line=1
        )
    if len(set(header)) != len(header):
        raise InputError("repeated column names in the header", path=path, line=1)
    tasks = header[6:]
    if not all(task.strip() for task in tasks):
        raise InputError(f"an empty task name in the header {first[:80]!r}", path=path, line=1)
    types = {
        "chrom": str,
        "split": str,
        "kind": str,
        "source": str,
        "start": np.int64,
        "end": np.int64,
    }
    types.update({t: np.float64 for t in tasks})
    try:  # fast path: a well-formed table parses with its types in one C pass
        raw = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            dtype=types,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
        line = np.arange(len(raw)) + 2
        start, end = raw["start"].to_numpy(), raw["end"].to_numpy()
        labels = raw[tasks].to_numpy(dtype=np.float64)
        typed = bool(np.isfinite(labels).all()) and len(raw) > 0 and list(raw.columns) == header
    except (ValueError, TypeError, pd.errors.ParserError):
        typed = False
    if not typed:  # slow path: parse as text and name the first bad line
        raw, line, start, end, labels = _read_windows_text(path, text, header, tasks)

    def fail(mask, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            text = message(i) if callable(message) else message
            raise InputError(text, path=path, line=int(line[i]))

    start, end = start.astype(np.int64), end.astype(np.int64)
    fail(
        (start < 0) | (start >= end),
        lambda i: f"bad interval {clipped(raw['chrom'][i])}:{start[i]}-{end[i]}",
    )
    width = int(end[0] - start[0])
    fail(
        end - start != width,
        lambda i: f"all windows must be {width} bp wide, found {end[i] - start[i]}",
    )
    fail(
        ~raw["split"].isin(SPLITS),
        lambda i: f"split must be one of {', '.join(SPLITS)}, found {clipped(raw['split'][i])}",
    )
    fail(
        ~raw["kind"].isin(KINDS),
        lambda i: f"kind must be one of {', '.join(KINDS)}, found {clipped(raw['kind'][i])}",
    )
    dinuc = (raw["kind"] == "dinuc_shuffle").to_numpy()
    if dinuc.any():
        parts = raw["source"].str.extract(_SOURCE.pattern)
        fail(dinuc & parts["chrom"].isna().to_numpy(),
             lambda i: f"expected source chrom:start-end#seed, found {clipped(raw['source'][i])}")  # fmt: skip
        span = parts["end"].astype(float) - parts["start"].astype(float)
        fail(dinuc & (span.to_numpy() != width), "source width differs from the window width")
    if sizes is not None:
        known = raw["chrom"].isin(list(sizes)).to_numpy()
        fail(~known, lambda i: f"chromosome {clipped(raw['chrom'][i])} is not in the genome"
             f"{_prefix_hint([raw['chrom'][i]], list(sizes))}")  # fmt: skip
        length = raw["chrom"].map(sizes).to_numpy(dtype=np.int64)
        fail(end > length, lambda i: f"window {raw['chrom'][i]}:{start[i]}-{end[i]} runs past the end of "
             f"{raw['chrom'][i]} ({length[i]} bp)")  # fmt: skip
    table = raw[list(WINDOW_COLUMNS)].copy()
    table["start"], table["end"] = start, end
    for j, task in enumerate(tasks):
        table[task] = labels[:, j]
    return WindowTable(table=table, tasks=tasks, width=width)
