"""DNA sequences <-> one-hot arrays, reverse complement, dinucleotide shuffle.

One-hot arrays are channels last, ``(n, L, 4)`` uint8, channels in A, C, G, T
order. Lowercase letters encode like uppercase; ``N`` and every other IUPAC
code (and any other byte) encode as an all-zero row. Everything is a lookup
table applied to the sequence bytes: no Python loop per base.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALPHABET = "ACGT"

# byte -> one-hot row
_LUT = np.zeros((256, 4), dtype=np.uint8)
for _i, _b in enumerate(ALPHABET):
    _LUT[ord(_b), _i] = 1
    _LUT[ord(_b.lower()), _i] = 1

# byte -> the 4 one-hot bytes of a row packed in one uint32 (one gather per base)
_LUT32 = np.ascontiguousarray(_LUT).view(np.uint32).ravel()

# two bytes, read as one uint16 -> their 8 one-hot bytes as one uint64 (one gather per two
# bases); built from the bytes of each uint16 as stored, so right on either byte order
_LUT64 = (
    _LUT[np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2)]
    .reshape(-1, 8)
    .view(np.uint64)
    .ravel()
)

# channel code (0 = none, 1..4 = A, C, G, T) -> letter
_LETTERS = np.frombuffer(b"NACGT", dtype=np.uint8)


def _as_codes(seqs: str | Sequence[str]) -> np.ndarray:
    """Equal-length sequences -> ``(n, L)`` uint8 byte codes (the one boundary check)."""
    if isinstance(seqs, str):
        seqs = [seqs]
    seqs = list(seqs)
    if not seqs:
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = {len(s) for s in seqs}
    if len(lengths) != 1:
        raise ValueError(
            f"sequences must all have the same length, found lengths {sorted(lengths)[:5]}"
        )
    try:
        joined = "".join(seqs).encode("ascii")
    except UnicodeEncodeError as err:
        raise ValueError(f"sequences must be ASCII letters: {err}") from None
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(seqs), lengths.pop())


def one_hot_codes(codes: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """One-hot encode byte codes.

    One gather per two bases where rows have an even length: each pair of
    bytes, read as a uint16, picks the 8 bytes of their one-hot rows as one
    uint64 from a 512 KiB table; else one gather per base (a uint32).

    Parameters
    ----------
    codes : numpy.ndarray
        ``(..., L)`` uint8 ASCII codes.
    out : numpy.ndarray, optional
        C-contiguous ``(..., L, 4)`` uint8 array to write into.

    Returns
    -------
    numpy.ndarray
        ``(..., L, 4)`` uint8, channels A, C, G, T.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    if out is None:
        out = np.empty((*codes.shape, 4), dtype=np.uint8)
    # every uint8 (uint16) is an index of its table: 'clip' never clips, and unlike the
    # default 'raise' it writes straight into ``out`` instead of through a buffer
    length = codes.shape[-1] if codes.ndim else 0
    if codes.ndim and length % 2 == 0 and codes.size and codes.flags.c_contiguous:
        pairs = codes.view(np.uint16)
        flat = out.reshape(*codes.shape[:-1], 4 * length)
        np.take(_LUT64, pairs, out=flat.view(np.uint64), mode="clip")
    else:
        np.take(_LUT32, codes, out=out.view(np.uint32).reshape(codes.shape), mode="clip")
    return out


def one_hot(seqs: str | Sequence[str]) -> np.ndarray:
    """One-hot encode equal-length DNA sequences.

    Parameters
    ----------
    seqs : str or sequence of str
        One sequence or ``n`` sequences of the same length ``L``.

    Returns
    -------
    numpy.ndarray
        ``(n, L, 4)`` uint8 (``n = 1`` for a single string), channels
        A, C, G, T; ``N`` and other IUPAC codes are all-zero rows.
    """
    return one_hot_codes(_as_codes(seqs))


def reverse_complement(X: np.ndarray) -> np.ndarray:
    """Reverse complement of one-hot sequences: flip the length and channel axes.

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, L, 4)`` or ``(L, 4)``, channels A, C, G, T.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype (a copy).
    """
    X = np.asarray(X)
    if X.ndim not in (2, 3) or X.shape[-1] != 4:
        raise ValueError(f"expected (n, L, 4) or (L, 4), got shape {X.shape}")
    return np.ascontiguousarray(X[..., ::-1, ::-1])


def decode(X: np.ndarray) -> list[str]:
    """One-hot sequences back to strings (all-zero rows become ``N``).

    Parameters
    ----------
    X : numpy.ndarray
        ``(n, L, 4)`` or ``(L, 4)``; the largest channel of each row wins.

    Returns
    -------
    list of str
        ``n`` strings of length ``L``.
    """
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3 or X.shape[-1] != 4:
        raise ValueError(f"expected (n, L, 4) or (L, 4), got shape {X.shape}")
    code = np.where(X.max(axis=-1) > 0, X.argmax(axis=-1) + 1, 0)
    letters = _LETTERS[code]
    return [row.tobytes().decode("ascii") for row in letters]


def reverse_complement_seq(seq: str) -> str:
    """Reverse complement of a DNA string (IUPAC codes complemented, case kept)."""
    return seq.translate(_COMPLEMENT)[::-1]


_COMPLEMENT = str.maketrans("ACGTRYKMBVDHNacgtrykmbvdhn", "TGCAYRMKVBHDNtgcayrmkvbhdn")


def gc_fraction(codes: np.ndarray) -> np.ndarray:
    """GC fraction of each row among its A, C, G, T bases.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(n, L)`` uint8 uppercase ASCII codes.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64; NaN where a row holds no A, C, G or T.
    """
    oh = one_hot_codes(codes)
    acgt = oh.sum(axis=(-1, -2), dtype=np.int64)
    gc = oh[..., 1:3].sum(axis=(-1, -2), dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan)


def dinucleotide_shuffle(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shuffle a sequence keeping its dinucleotide counts exactly.

    The Altschul-Erickson shuffle as an Eulerian walk (Kandel et al. 1996):
    the sequence is a path through a multigraph whose vertices are letters and
    whose edges are its dinucleotides. A random last-exit edge is drawn for
    every letter but the final one until those edges form a tree pointing at
    the final letter; the other exit edges of each letter are permuted; the walk
    from the first letter then uses every edge once. The first and last
    letters, the letter counts and every dinucleotide count are kept, and every
    sequence with those counts is equally likely.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(L,)`` uint8 byte codes (any alphabet; uppercase first if case
        should not matter).
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        ``(L,)`` uint8, a new array.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    n = codes.size
    if n < 3:
        return codes.copy()
    letters, seq = np.unique(codes, return_inverse=True)
    k = letters.size
    first, last = int(seq[0]), int(seq[-1])
    # out-edges of each letter (successor letters), in sequence order
    order = np.argsort(seq[:-1], kind="stable")
    succ_sorted = seq[1:][order]
    counts = np.bincount(seq[:-1], minlength=k)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    edges = [succ_sorted[bounds[v] : bounds[v + 1]] for v in range(k)]
    # draw last-exit edges until they form a tree rooted at `last`
    while True:
        last_edge = {v: int(rng.integers(counts[v])) for v in range(k) if v != last}
        target = {v: int(edges[v][i]) for v, i in last_edge.items()}
        if _reaches_root(target, last):
            break
    walk_edges = []
    for v in range(k):
        e = edges[v]
        if v == last:
            walk_edges.append(list(rng.permutation(e)))
            continue
        rest = np.delete(e, last_edge[v])
        walk_edges.append([*rng.permutation(rest).tolist(), target[v]])
    pointers = [0] * k
    out = np.empty(n, dtype=np.int64)
    out[0] = v = first
    for i in range(1, n):
        nxt = walk_edges[v][pointers[v]]
        pointers[v] += 1
        out[i] = v = nxt
    return letters[out]


def _reaches_root(target: dict[int, int], root: int) -> bool:
    """True if following ``target`` from every vertex reaches ``root`` (no cycle)."""
    good = {root}
    for start in target:
        path = []
        v = start
        while v not in good:
            if v in path:
                return False
            path.append(v)
            v = target[v]
        good.update(path)
    return True
