"""One-hot encoding, reverse complement, decoding and the dinucleotide shuffle."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bionas.data.onehot import (
    decode,
    dinucleotide_shuffle,
    gc_fraction,
    one_hot,
    one_hot_codes,
    reverse_complement,
    reverse_complement_seq,
)

A, C, G, T, Z = [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]


def test_one_hot_hand_checked():
    X = one_hot("ACGTN")
    assert X.dtype == np.uint8 and X.shape == (1, 5, 4)
    np.testing.assert_array_equal(X[0], [A, C, G, T, Z])


def test_lowercase_encodes_like_uppercase():
    np.testing.assert_array_equal(one_hot("acgtn"), one_hot("ACGTN"))
    np.testing.assert_array_equal(one_hot(["aCgT"])[0], [A, C, G, T])


def test_iupac_and_other_bytes_are_zero_rows():
    X = one_hot(["RYKMSWBDHVN-.", "rykmswbdhvn*X"])
    assert X.shape == (2, 13, 4)
    assert X.sum() == 0


def test_many_sequences_and_empty_list():
    X = one_hot(["AC", "GT", "NA"])
    np.testing.assert_array_equal(X, [[A, C], [G, T], [Z, A]])
    assert one_hot([]).shape == (0, 0, 4)


def test_unequal_lengths_rejected():
    with pytest.raises(ValueError, match="same length"):
        one_hot(["ACG", "AC"])


def test_reverse_complement_both_strands():
    X = one_hot(["AACGN", "GATTC"])
    rc = reverse_complement(X)
    np.testing.assert_array_equal(rc, one_hot(["NCGTT", "GAATC"]))
    np.testing.assert_array_equal(rc[0], [Z, C, G, T, T])
    np.testing.assert_array_equal(reverse_complement(rc), X)
    np.testing.assert_array_equal(reverse_complement(X[0]), rc[0])
    assert reverse_complement_seq("AACGNr") == "yNCGTT"


def test_decode_round_trip():
    seqs = ["ACGTNACGTT", "TTTTNNNNGC"]
    assert decode(one_hot(seqs)) == seqs
    assert decode(one_hot("acgtr")[0]) == ["ACGTN"]


def test_one_hot_codes_into_out():
    codes = np.frombuffer(b"ACGTACGT", dtype=np.uint8).reshape(2, 4)
    out = np.empty((2, 4, 4), dtype=np.uint8)
    one_hot_codes(codes, out=out)
    np.testing.assert_array_equal(out, one_hot(["ACGT", "ACGT"]))


@pytest.mark.parametrize("shape", [(6, 10), (6, 9), (10,), (9,), (2, 3, 8), (0, 4), (3, 0), ()])
def test_one_hot_codes_of_every_byte_in_pairs_or_one_by_one(shape):
    """Even rows go two bytes per lookup, odd or strided ones byte by byte: the same rows."""
    codes = np.random.default_rng(3).integers(0, 256, size=shape, dtype=np.uint8)
    rows = np.zeros((256, 4), dtype=np.uint8)
    for k, base in enumerate(b"ACGT"):
        rows[[base, base + 32], k] = 1
    np.testing.assert_array_equal(one_hot_codes(codes), rows[codes])
    if codes.ndim == 2:
        np.testing.assert_array_equal(one_hot_codes(codes[:, ::2]), rows[codes[:, ::2]])


def test_gc_fraction_ignores_n():
    codes = np.frombuffer(b"GGCCNNAT" + b"NNNNNNNN", dtype=np.uint8).reshape(2, 8)
    gc = gc_fraction(codes)
    assert gc[0] == pytest.approx(4 / 6)
    assert np.isnan(gc[1])


def _dinucs(s: bytes) -> Counter:
    return Counter(s[i : i + 2] for i in range(len(s) - 1))


@pytest.mark.parametrize("length", [3, 10, 200, 1000])
def test_dinucleotide_shuffle_preserves_counts_exactly(length):
    rng = np.random.default_rng(length)
    for trial in range(20):
        seq = rng.choice(
            np.frombuffer(b"ACGTN", dtype=np.uint8), size=length, p=[0.3, 0.2, 0.2, 0.28, 0.02]
        )
        out = dinucleotide_shuffle(seq, np.random.default_rng(trial))
        assert out.dtype == np.uint8 and out.shape == seq.shape
        assert _dinucs(out.tobytes()) == _dinucs(seq.tobytes())
        assert out[0] == seq[0] and out[-1] == seq[-1]


def test_dinucleotide_shuffle_is_seeded_and_shuffles():
    seq = np.frombuffer(b"ACGTTGCAACGGTACCATGATTACA" * 8, dtype=np.uint8)
    a = dinucleotide_shuffle(seq, np.random.default_rng(1))
    b = dinucleotide_shuffle(seq, np.random.default_rng(1))
    c = dinucleotide_shuffle(seq, np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, seq)


def test_dinucleotide_shuffle_degenerate_sequences():
    for s in (b"AAAAAAA", b"AC", b"ACACACAC", b""):
        seq = np.frombuffer(s, dtype=np.uint8)
        out = dinucleotide_shuffle(seq, np.random.default_rng(0))
        assert _dinucs(out.tobytes()) == _dinucs(s)
