"""FASTA access: index, fetches, runs of N and bad files."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from bionas.data.genome import Genome, chrom_sizes, is_plain_gzip, n_runs
from bionas.errors import InputError


def _plain(path) -> dict[str, str]:
    seqs, name = {}, None
    for line in open(path):
        line = line.strip()
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = ""
        elif line:
            seqs[name] += line
    return seqs


def test_sizes_and_fetch_match_the_file(tiny):
    truth = _plain(tiny["fasta"])
    with Genome(tiny["fasta"]) as g:
        assert g.sizes == {"chr1": 2000, "chr2": 1500, "chr3": 1500, "chr4": 1200}
        assert chrom_sizes(tiny["fasta"]) == g.sizes
        for chrom, start, end in [
            ("chr1", 0, 60),
            ("chr1", 59, 61),
            ("chr1", 1190, 1310),
            ("chr4", 1100, 1200),
            ("chr2", 5, 5),
        ]:
            assert g.fetch(chrom, start, end) == truth[chrom][start:end].upper()
        assert g.chrom_codes("chr3").tobytes().decode() == truth["chr3"].upper()
    assert (tiny["fasta"].parent / "tiny.fa.fai").exists()


def test_fetch_codes_bulk_equals_single_fetches(tiny):
    g = Genome(tiny["fasta"])
    chroms = ["chr2", "chr1", "chr2", "chr4", "chr1"]
    starts = [0, 1150, 990, 1000, 1800]
    codes = g.fetch_codes(chroms, starts, 200)
    assert codes.shape == (5, 200) and codes.dtype == np.uint8
    for row, c, s in zip(codes, chroms, starts, strict=True):
        assert row.tobytes().decode() == g.fetch(c, s, s + 200)
    assert g.fetch_many(["chr1"], [3], [9]) == [g.fetch("chr1", 3, 9)]
    with pytest.raises(InputError, match="outside"):
        g.fetch_codes(["chr4"], [1100], 200)
    with pytest.raises(InputError, match="not in the FASTA"):
        g.fetch("chrX", 0, 1)


def test_crlf_and_bgzip_read_the_same(tiny, tmp_path):
    from Bio import bgzf

    text = tiny["fasta"].read_text()
    crlf = tmp_path / "crlf.fa"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    bgz = tmp_path / "tiny.fa.gz"
    with bgzf.BgzfWriter(str(bgz), "wb") as handle:
        handle.write(text.encode())
    ref = Genome(tiny["fasta"])
    for other in (Genome(crlf), Genome(bgz)):
        assert other.sizes == ref.sizes
        assert other.fetch("chr1", 1150, 1350) == ref.fetch("chr1", 1150, 1350)
        np.testing.assert_array_equal(other.chrom_codes("chr2"), ref.chrom_codes("chr2"))
        np.testing.assert_array_equal(
            other.fetch_codes(["chr3"], [7], 100), ref.fetch_codes(["chr3"], [7], 100)
        )


@pytest.mark.parametrize(
    "line, newline, last",
    [
        (60, "\n", True),
        (7, "\r\n", True),
        (None, "\n", True),
        (60, "\n", False),
        (7, "\r\n", False),
    ],
)
@pytest.mark.parametrize("table_limit", [1 << 21, 0])
def test_window_bytes_and_iter_mapped_read_the_sequence_as_stored(
    tmp_path, monkeypatch, line, newline, last, table_limit
):
    """Gathered windows and scanned stretches are the sequence's own bytes, case kept,
    for any line width and line end (the file's last one or not), whole lines copied or
    each base's byte computed (from the offset table or not)."""
    monkeypatch.setattr("bionas.data.genome._OFFSET_TABLE_LIMIT", table_limit)
    monkeypatch.setattr("bionas.data.genome._GATHER", 300)  # several gathers per call
    rng = np.random.default_rng(3)
    seqs = {
        name: bytes(rng.choice(np.frombuffer(b"ACGTacgtNnR", np.uint8), size=n))
        for name, n in [("s1", 1234), ("s2", 61), ("s3", 1), ("s4", 333)]
    }
    text = ""
    for name, seq in seqs.items():
        width = line or len(seq)
        text += f">{name}{newline}"
        for i in range(0, len(seq), width):
            text += seq[i : i + width].decode() + newline
    path = tmp_path / "g.fa"
    path.write_bytes(text.encode() if last else text.encode().removesuffix(newline.encode()))
    g = Genome(path)
    everything = np.arange(256, dtype=np.uint8)
    for name, seq in seqs.items():
        raw = np.frombuffer(seq, np.uint8)
        for width in {1, len(seq) // 2 or 1, len(seq) - 1 or 1, len(seq)}:
            starts = np.array([0, len(seq) - width, *rng.integers(0, len(seq) - width + 1, 20)])
            got = g.window_bytes(name, starts, width)
            want = np.lib.stride_tricks.sliding_window_view(raw, width)[starts]
            assert got.dtype == np.uint8
            np.testing.assert_array_equal(got, want)
        for chunk in (1, 7, 100, 1 << 24):
            parts = list(g.iter_mapped(name, everything, chunk))
            np.testing.assert_array_equal(np.concatenate(parts), raw)
    assert g.window_bytes("s1", np.zeros(0, np.int64), 5).shape == (0, 5)
    upper = np.arange(256, dtype=np.uint8)
    upper[ord("a") : ord("z") + 1] -= 32
    classes = np.concatenate(list(g.iter_mapped("s1", upper, 100)))
    assert classes.tobytes() == seqs["s1"].upper()


def test_stale_index_is_rebuilt(tiny):
    Genome(tiny["fasta"])
    fai = tiny["fasta"].parent / "tiny.fa.fai"
    tiny["fasta"].write_text(">only\nACGT\n")
    os.utime(fai, (1, 1))
    assert Genome(tiny["fasta"]).sizes == {"only": 4}


def test_n_runs(tiny):
    runs = n_runs(tiny["fasta"])
    assert list(zip(runs.chrom, runs.start, runs.end, strict=True)) == [
        ("chr2", 1000, 1100),
        ("chr3", 1400, 1420),
    ]
    assert len(n_runs(tiny["fasta"], min_length=50)) == 1


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found") as err:
        Genome(tmp_path / "nope.fa")
    assert "nope.fa" in str(err.value)


def test_empty_file(tmp_path):
    for content in ("", "\n\n  \n"):
        path = tmp_path / "empty.fa"
        path.write_text(content)
        with pytest.raises(InputError, match="empty"):
            Genome(path)


def test_not_fasta_names_the_line(tmp_path):
    path = tmp_path / "peaks.fa"
    path.write_text("\n\nchr1\t10\t20\n")
    with pytest.raises(InputError, match="header") as err:
        Genome(path)
    assert err.value.line == 3 and str(err.value).startswith(str(path) + ":3:")


def test_binary_junk(tmp_path):
    path = tmp_path / "junk.fa"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="binary"):
        Genome(path)
    gz = tmp_path / "plain.fa.gz"
    gz.write_bytes(gzip.compress(b">a\nACGT\n"))
    with pytest.raises(InputError, match="bionas decompress-genome"):
        Genome(gz)


_RANDOM_FASTA_GZ = gzip.compress(
    b">a\n" + bytes(np.random.default_rng(0).choice(list(b"ACGT"), 20000).astype(np.uint8)) + b"\n"
)


def test_a_plain_gzip_genome_is_decompressed_once_into_a_plain_copy(tiny, tmp_path, cli):
    data = open(tiny["fasta"], "rb").read()
    half = data.index(b">chr3")
    gz = tmp_path / "genome.fa.gz"
    gz.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))  # two members
    assert is_plain_gzip(gz) and not is_plain_gzip(tiny["fasta"])
    out = tmp_path / "copy" / "genome.fa"
    status, _, err = cli("decompress-genome", "--genome", gz, "--out", out)
    assert status == 0, err
    assert out.read_bytes() == data
    with Genome(out) as g, Genome(tiny["fasta"]) as ref:
        assert g.sizes == ref.sizes and g.fetch("chr3", 10, 50) == ref.fetch("chr3", 10, 50)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    "content, message",
    [
        (b">a\nACGT\n", "not a gzip-compressed file"),
        (_RANDOM_FASTA_GZ[: len(_RANDOM_FASTA_GZ) // 2], "damaged or truncated"),
        (gzip.compress(b"\x00\x01\x02" * 100), "binary"),
        (gzip.compress(b""), "holds nothing"),
    ],
    ids=["plain", "truncated", "not-fasta", "empty"],
)
def test_decompress_genome_refuses_bad_input_and_writes_nothing(tmp_path, cli, content, message):
    src = tmp_path / "in.fa.gz"
    src.write_bytes(content)
    out = tmp_path / "out" / "genome.fa"
    status, _, err = cli("decompress-genome", "--genome", src, "--out", out)
    assert status == 2 and message in err and "in.fa.gz" in err, err
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))


def test_duplicate_names_name_the_line(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nAC\n>a second\nGG\n")
    with pytest.raises(
        InputError, match="duplicate sequence name 'a' \\(first at line 1\\)"
    ) as err:
        Genome(path)
    assert err.value.line == 5


def test_ragged_lines_name_the_line(tmp_path):
    path = tmp_path / "ragged.fa"
    path.write_text(">a\nACGT\nAC\nACGT\n")
    with pytest.raises(InputError, match="4 bases") as err:
        Genome(path)
    assert err.value.line == 3

