"""Windows of one split -> one-hot tensors (``bionas encode``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bionas.data.negatives import shuffle_source
from bionas.records.windows import WindowTable, parse_source

if TYPE_CHECKING:
    from bionas.data.genome import Genome



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
    from bionas.data.onehot import one_hot_codes, one_hot_windows

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
