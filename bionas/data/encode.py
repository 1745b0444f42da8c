"""Windows of one split -> one-hot tensors (``bionas encode``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bionas.data.negatives import shuffle_source
from bionas.records.windows import WindowTable, parse_source

if TYPE_CHECKING:
    from bionas.data.genome import Genome


#: bases one-hot encoded at a time (16 MiB of X per block at most)
BLOCK_BASES = 1 << 22


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


@dataclass
class SplitRows:
    """The windows of one split, checked against the genome, ready to encode block by block.

    ``X`` is not held: :meth:`blocks` yields its rows in order, so that a
    writer can stream them to disk (:func:`bionas.records.tensors.write_tensors`).

    Attributes
    ----------
    genome : Genome
    width : int
    chroms, starts : numpy.ndarray
        ``(n,)`` the sequence each row is read from (a dinucleotide
        shuffle's source window for those rows).
    shuffled : numpy.ndarray
        ``(n,)`` bool, the dinucleotide-shuffle rows.
    seeds : numpy.ndarray
        ``(n,)`` object, the shuffle seed (int) of a dinucleotide-shuffle row, None for the others.
    revcomp : bool
        Rows ``n..2n-1`` are the reverse complements of rows ``0..n-1``.
    y, regions, kind : numpy.ndarray
        As in :class:`Encoded` (``2n`` rows with ``revcomp``).
    """

    genome: Genome
    width: int
    chroms: np.ndarray
    starts: np.ndarray
    shuffled: np.ndarray
    seeds: np.ndarray
    revcomp: bool
    y: np.ndarray
    regions: np.ndarray
    kind: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of ``X``: ``(rows, width, 4)``."""
        return (len(self.regions), self.width, 4)

    def blocks(self, bases: int = BLOCK_BASES) -> Iterator[np.ndarray]:
        """The rows of ``X`` in order, ``(k, width, 4)`` uint8 blocks of about ``bases`` bases.

        The blocks share one buffer: each holds its rows until the next is asked for.
        """
        n = self.chroms.size
        step = max(1, bases // max(self.width, 1))
        buffer = np.empty((min(step, n), self.width, 4), dtype=np.uint8)
        for flip in (False, True) if self.revcomp else (False,):
            for lo in range(0, n, step):
                block = self.encode(lo, min(lo + step, n), buffer[: min(step, n - lo)])
                yield np.ascontiguousarray(block[:, ::-1, ::-1]) if flip else block

    def encode(self, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """One-hot rows ``lo..hi-1`` (of the first ``n``): ``(hi - lo, width, 4)`` uint8,
        written into ``out`` when given (C-contiguous, that shape)."""
        from bionas.data.genome import UPPER
        from bionas.data.onehot import one_hot_codes

        if out is None:
            out = np.empty((hi - lo, self.width, 4), dtype=np.uint8)
        chroms, starts = self.chroms[lo:hi], self.starts[lo:hi]
        shuffled, seeds = self.shuffled[lo:hi], self.seeds[lo:hi]
        for chrom in dict.fromkeys(chroms.tolist()):
            rows = np.flatnonzero(chroms == chrom)
            codes = self.genome.window_bytes(chrom, starts[rows], self.width)
            for k in np.flatnonzero(shuffled[rows]):
                codes[k] = shuffle_source(UPPER[codes[k]], seeds[rows[k]])
            if rows.size == hi - lo:
                one_hot_codes(codes, out=out)
            else:
                out[rows] = one_hot_codes(codes)
        return out


def split_rows(
    genome: Genome, windows: WindowTable, split: str | None = None, revcomp: bool = False
) -> SplitRows:
    """The windows of one split (all rows if ``split`` is None), checked against ``genome``.

    Raises
    ------
    InputError
        A window, or a dinucleotide shuffle's source, does not lie on the genome.
    """
    table = windows.table
    if split is not None:
        table = table[table["split"] == split]
    width = windows.width
    chroms = table["chrom"].to_numpy(dtype=object).copy()
    starts = table["start"].to_numpy(dtype=np.int64).copy()
    kinds = table["kind"].to_numpy(dtype=object)
    sources = table["source"].to_numpy(dtype=object)
    seeds = np.full(len(table), None, dtype=object)
    is_shuffle = kinds == "dinuc_shuffle"
    shuffled = np.flatnonzero(is_shuffle)
    for i in shuffled:
        chroms[i], starts[i], _, seeds[i] = parse_source(sources[i])
    for c, s in zip(chroms[shuffled], starts[shuffled], strict=True):
        if c not in genome.sizes or s + width > genome.sizes[c]:
            genome.fetch(c, s, s + width)  # raises InputError naming the interval
    plain = ~is_shuffle
    for chrom in dict.fromkeys(chroms[plain].tolist()):
        rows = np.flatnonzero(plain & (chroms == chrom))
        s = starts[rows]
        size = genome.sizes.get(chrom)
        if size is None or s.min() < 0 or s.max() + width > size:
            bad = int(rows[0] if size is None else rows[(s < 0) | (s + width > size)][0])
            genome.fetch(chrom, int(starts[bad]), int(starts[bad]) + width)  # raises InputError
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
    return SplitRows(
        genome, width, chroms, starts, is_shuffle, seeds, revcomp, y, regions, kind_arr
    )


def encode_windows(
    genome: Genome, windows: WindowTable, split: str | None = None, revcomp: bool = False
) -> Encoded:
    """One-hot tensors of the windows of one split (all rows if ``split`` is None), in memory.

    Only the windows' bases are read from the genome; dinucleotide-shuffle
    rows are reshuffled from their recorded source and seed. With ``revcomp``
    the reverse complement of every window is appended after the originals.
    ``bionas encode`` streams the same rows to its file instead
    (:func:`split_rows`).
    """
    rows = split_rows(genome, windows, split, revcomp)
    X = np.empty(rows.shape, dtype=np.uint8)
    at = 0
    for block in rows.blocks():
        X[at : at + len(block)] = block
        at += len(block)
    return Encoded(X=X, y=rows.y, regions=rows.regions, kind=rows.kind)
