"""Negative windows: bedtools shuffle, GC-matched background, dinucleotide shuffles."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from bionas.data.ranges import Intervals, _bedtools

if TYPE_CHECKING:
    from bionas.data.genome import Genome

log = logging.getLogger(__name__)


NEGATIVE_METHODS = ("shuffle", "dinucleotide_shuffle", "gc_matched")


GC_BINS = 50  # GC histogram bins of width 0.02 for gc_matched

#: bases read at a time when a chromosome is scanned, and window bases counted at a time
SCAN_BASES = 1 << 24


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


#: byte -> base class: 0 not A/C/G/T (N, other IUPAC codes), 1 A or T, 2 C or G (either case)
_BASE_CLASS = np.zeros(256, dtype=np.uint8)
for _b in b"ATat":
    _BASE_CLASS[_b] = 1
for _b in b"CGcg":
    _BASE_CLASS[_b] = 2
_BASE_CLASS_BYTES = _BASE_CLASS.tobytes()  # for bytes.translate


def _counts(classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GC and A/C/G/T counts along the last axis of base classes: two int64 arrays."""
    n_acgt = np.count_nonzero(classes, axis=-1).astype(np.int64)
    # the classes sum to at most 2 x the axis length: a narrow sum is exact, and faster
    narrow = 2 * classes.shape[-1] <= np.iinfo(np.uint16).max
    total = classes.sum(axis=-1, dtype=np.uint16 if narrow else np.int64)
    return total.astype(np.int64) - n_acgt, n_acgt


def window_gc(genome: Genome, windows: Intervals) -> np.ndarray:
    """GC fraction among A/C/G/T bases of each window: ``(n,)`` float64 (NaN if none).

    Only the windows' bases are read (:meth:`~bionas.data.genome.Genome.window_bytes`),
    a block of rows at a time.
    """
    gc = np.full(len(windows), np.nan)
    for chrom in dict.fromkeys(windows.chrom.tolist()):
        rows = np.flatnonzero(windows.chrom == chrom)
        widths = windows.end[rows] - windows.start[rows]
        for width in np.unique(widths):
            sub = rows[widths == width]
            block = max(1, SCAN_BASES // max(int(width), 1))
            for lo in range(0, sub.size, block):
                part = sub[lo : lo + block]
                codes = genome.window_bytes(chrom, windows.start[part], int(width))
                classes = codes.tobytes().translate(_BASE_CLASS_BYTES)
                n_gc, n_acgt = _counts(np.frombuffer(classes, np.uint8).reshape(codes.shape))
                with np.errstate(invalid="ignore", divide="ignore"):
                    gc[part] = np.where(n_acgt > 0, n_gc / np.maximum(n_acgt, 1), np.nan)
    return gc


def _grid_counts(
    genome: Genome, chrom: str, phase: int, step: int, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """GC and A/C/G/T counts of the windows of ``span`` steps on the grid ``phase + k * step``.

    The sequence is read once; each step of it is counted once, and a
    window's count is the difference of two cumulative sums over steps.
    Returns two ``(n_windows,)`` int64 arrays, window ``k`` starting at
    ``phase + k * step`` (every window that fits on the sequence).

    A step of up to 254 bases is counted by one sum: A and T count 0, C and G
    1, any other byte ``step + 1``, so the sum of a step is its GC count plus
    ``step + 1`` times its other bytes, and its remainder and quotient by
    ``step + 1`` give both counts exactly.
    """
    n_steps = max(0, (genome.sizes[chrom] - phase) // step)
    one_sum = step + 1 <= 255
    if one_sum:
        table = np.full(256, step + 1, dtype=np.uint8)
        table[_BASE_CLASS > 0] = _BASE_CLASS[_BASE_CLASS > 0] - 1
    else:
        table = _BASE_CLASS
    cum_gc = np.zeros(n_steps + 1, dtype=np.int64)
    cum_acgt = np.zeros(n_steps + 1, dtype=np.int64)
    done, skipped = 0, 0
    carry = np.zeros(0, dtype=np.uint8)
    for part in genome.iter_mapped(chrom, table, SCAN_BASES):
        if skipped < phase:  # the bases before the grid's first step
            drop = min(phase - skipped, part.size)
            part, skipped = part[drop:], skipped + drop
        if carry.size:
            part = np.concatenate([carry, part])
        whole = min(part.size // step, n_steps - done)
        steps = part[: whole * step].reshape(whole, step)
        if one_sum:
            n_other, n_gc = np.divmod(steps.sum(axis=1, dtype=np.uint16), step + 1)
            n_acgt = step - n_other.astype(np.int64)
        else:
            n_gc, n_acgt = _counts(steps)
        cum_gc[done + 1 : done + whole + 1] = n_gc
        cum_acgt[done + 1 : done + whole + 1] = n_acgt
        done += whole
        carry = part[whole * step :] if done < n_steps else carry[:0]
    np.cumsum(cum_gc, out=cum_gc)
    np.cumsum(cum_acgt, out=cum_acgt)
    return cum_gc[span:] - cum_gc[:-span], cum_acgt[span:] - cum_acgt[:-span]


def _gc_bin(gc: np.ndarray) -> np.ndarray:
    return np.clip((np.nan_to_num(gc, nan=0.0) * GC_BINS).astype(np.int64), 0, GC_BINS - 1)


class GcMatched(NamedTuple):
    """Result of :func:`draw_gc_matched`.

    Attributes
    ----------
    negatives : Intervals
    gc : numpy.ndarray
        ``(n,)`` float64 GC fraction of each negative, as :func:`window_gc` gives it.
    """

    negatives: Intervals
    gc: np.ndarray


def gc_matched_negatives(
    genome: Genome,
    positives: Intervals,
    ratio: float,
    exclude: Intervals,
    seed: int,
) -> Intervals:
    """Background windows whose GC histogram matches the positives' (see :func:`draw_gc_matched`)."""
    return draw_gc_matched(genome, positives, ratio, exclude, seed).negatives


def draw_gc_matched(
    genome: Genome,
    positives: Intervals,
    ratio: float,
    exclude: Intervals,
    seed: int,
    positive_gc: np.ndarray | None = None,
) -> GcMatched:
    """Background windows whose GC histogram matches the positives', and their GC.

    Per chromosome, candidate windows on a grid of step ``width // 4`` (or the
    nearest divisor of the width) that hold only A/C/G/T and overlap nothing in
    ``exclude`` are binned by GC (bins of 0.02); each positive copied
    ``ratio`` times asks for one candidate from its bin, drawn at random
    preferably one that overlaps no earlier pick. A bin whose non-overlapping
    candidates run out then allows overlap among negatives (never with
    ``exclude``), then borrows from the nearest bins; what is still missing is
    logged.

    ``positive_gc`` is :func:`window_gc` of ``positives`` where the caller has
    it already. The negatives' GC comes from the counts they were drawn by:
    the genome is not read for it again.
    """
    rng = np.random.default_rng(seed)
    idx = _templates(len(positives), ratio, rng)
    if idx.size == 0:
        return GcMatched(Intervals.empty(), np.zeros(0))
    pos_gc = window_gc(genome, positives) if positive_gc is None else positive_gc
    templates = positives.take(idx)
    template_bin = _gc_bin(pos_gc[idx])
    excl = exclude.merged()
    out, out_gc = [], []
    missing = 0
    for chrom in dict.fromkeys(templates.chrom.tolist()):
        rows = np.flatnonzero(templates.chrom == chrom)
        widths = np.unique(templates.end[rows] - templates.start[rows])
        if widths.size != 1:
            raise ValueError("gc_matched negatives need windows of one width")
        width = int(widths[0])
        step = max(d for d in range(1, max(1, width // 4) + 1) if width % d == 0)
        span = width // step  # candidates closer than `span` steps overlap
        phase = int(rng.integers(step))
        starts = np.arange(phase, genome.sizes[chrom] - width + 1, step, dtype=np.int64)
        n_gc, n_acgt = _grid_counts(genome, chrom, phase, step, span)
        ok = n_acgt == width
        ex = excl.on(chrom)
        if len(ex):
            first_after = np.searchsorted(ex.end, starts, side="right")
            hit = first_after < len(ex)
            hit[hit] = ex.start[first_after[hit]] < starts[hit] + width
            ok &= ~hit
        cand = np.flatnonzero(ok)
        cand_bin = _gc_bin(n_gc[cand] / width)
        order = np.argsort(cand_bin, kind="stable")  # each bin's candidates in grid order
        bounds = np.searchsorted(cand_bin[order], np.arange(GC_BINS + 1))
        by_bin = cand[order]
        pools = {
            b: rng.permutation(by_bin[bounds[b] : bounds[b + 1]]).tolist() for b in range(GC_BINS)
        }
        need = np.bincount(template_bin[rows], minlength=GC_BINS)
        picked, short = _pick_by_bin(pools, need, span, starts.size)
        missing += short
        picked = np.sort(np.asarray(picked, dtype=np.int64))
        picked_starts = starts[picked]
        with np.errstate(invalid="ignore", divide="ignore"):  # as window_gc computes it
            acgt = n_acgt[picked]
            out_gc.append(np.where(acgt > 0, n_gc[picked] / np.maximum(acgt, 1), np.nan))
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
    return GcMatched(Intervals.concat(out), np.concatenate([np.zeros(0), *out_gc]))


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


def shuffle_source(codes: np.ndarray, seed: int) -> np.ndarray:
    """The dinucleotide shuffle of a negative: ``(L,)`` uint8 codes -> ``(L,)`` uint8."""
    from bionas.data.onehot import dinucleotide_shuffle

    return dinucleotide_shuffle(codes, np.random.default_rng(seed))
