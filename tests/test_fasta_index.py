"""The streaming FASTA indexer: the samtools ``.fai`` of odd layouts, whatever the block size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bionas.data.fasta_index import FaiRecord, index_fasta, read_fai
from bionas.data.genome import Genome
from bionas.errors import InputError

# blocks of one byte and up: lines, line breaks and headers split every way
BLOCKS = [1, 2, 3, 7, 64, None]

# layout -> (FASTA bytes, .fai rows: name, length, offset, bases per line, bytes per line)
LAYOUTS = {
    "last line short": (
        b">a\nACGTA\nACGTA\nAC\n>b\nGGG\n",
        [("a", 12, 3, 5, 6), ("b", 3, 21, 3, 4)],
    ),
    "CRLF": (b">a x\r\nACGT\r\nACGT\r\nA\r\n>b\r\nTT\r\n", [("a", 9, 6, 4, 6), ("b", 2, 25, 2, 4)]),
    "empty sequences": (
        b">a\n>b\nACGT\nAC\n>c\n",
        [("a", 0, 3, 0, 0), ("b", 6, 6, 4, 5), ("c", 0, 17, 0, 0)],
    ),
    "lower case": (b">a\nacgtn\nacg\n", [("a", 8, 3, 5, 6)]),
    "no line break at the end": (b">a\nACGT\nAC", [("a", 6, 3, 4, 5)]),
    "one line per sequence": (
        b">a\n" + b"A" * 100 + b"\n>b\n" + b"C" * 50 + b"\n",
        [("a", 100, 3, 100, 101), ("b", 50, 107, 50, 51)],
    ),
    "comments first, a description": (b";c\n\n>a desc\tx\nACGT\n", [("a", 4, 14, 4, 5)]),
}
# accepted here, refused by pyfaidx
OURS_ONLY = {
    "blank lines at the end": (
        b">a\nACGT\nAC\n\n\n>b\nA\n\n",
        [("a", 6, 3, 4, 5), ("b", 1, 16, 1, 2)],
    ),
    "byte-order mark": (b"\xef\xbb\xbf>a\nACGT\n", [("a", 4, 6, 4, 5)]),
}


def _pyfaidx_rows(path) -> list[tuple]:
    import pyfaidx

    pyfaidx.Faidx(str(path)).close()
    return [tuple(vars(r).values()) for r in read_fai(path.with_name(path.name + ".fai"))]


@pytest.mark.parametrize("layout", list(LAYOUTS) + list(OURS_ONLY))
def test_odd_layouts_give_the_samtools_index_in_blocks_of_any_size(tmp_path, layout):
    data, rows = {**LAYOUTS, **OURS_ONLY}[layout]
    path = tmp_path / "g.fa"
    path.write_bytes(data)
    for block in BLOCKS:
        assert [tuple(vars(r).values()) for r in index_fasta(path, block)] == rows, block
    if layout in LAYOUTS:
        assert _pyfaidx_rows(path) == rows


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 300), min_size=1, max_size=5),
    width=st.integers(1, 70),
    crlf=st.booleans(),
    final_break=st.booleans(),
    block=st.integers(1, 200),
)
def test_regular_genomes_match_pyfaidx(tmp_path_factory, lengths, width, crlf, final_break, block):
    newline = b"\r\n" if crlf else b"\n"
    parts = []
    for k, n in enumerate(lengths):
        parts.append(f">s{k} x\n".encode().replace(b"\n", newline))
        seq = (b"ACGTNacgtn" * 31)[:n]
        parts += [seq[i : i + width] + newline for i in range(0, n, width)]
    data = b"".join(parts)
    if not final_break:
        data = data.removesuffix(newline)
    path = tmp_path_factory.mktemp("regular") / "g.fa"
    path.write_bytes(data)
    assert index_fasta(path, block) == [FaiRecord(*r) for r in _pyfaidx_rows(path)]


@pytest.mark.parametrize(
    "data, message, line",
    [
        (b">a\nACGT\nAC\nACGT\n", "sequence 'a': lines must all hold 4 bases except the last", 3),
        (b">a\nACGT\n\nACGT\n", "sequence 'a': lines must all hold 4 bases except the last", 3),
        (
            b">a\nACGT\nACGTA\n>b\nA\n",
            "sequence 'a': lines must all hold 4 bases except the last",
            3,
        ),
        (b">a\nACGT\r\nACGT\nAC\n", "sequence 'a': lines must all hold 4 bases except the last", 3),
        (b">a\nAC\n>a\nAC\n", "duplicate sequence name 'a' (first at line 1)", 3),
        (b">a\nAC\n> \nAC\n", "FASTA header without a sequence name", 3),
        (b"ACGT\n>a\nAC\n", "expected a '>name' header line first", 1),
        (b">a\nAC\nA\xc3\xa9\n", "non-ASCII byte in a sequence line", 3),
        (b">a\nAC\nA\rC\n", "carriage return inside a line", 3),
        (b";x\n\n", "no '>name' header line", None),
        # a non-text byte outranks a bad layout found before it
        (b">a\nACGT\nAC\nACGT\n>b\nA\x00\n", "non-text byte", 6),
        (b">a\nACGT\nAC\nACGT\n>b\nA\xc3\xa9\n", "non-ASCII byte in a sequence line", 6),
    ],
)
def test_bad_layouts_name_the_file_and_line_in_blocks_of_any_size(tmp_path, data, message, line):
    path = tmp_path / "bad.fa"
    path.write_bytes(data)
    for block in BLOCKS:
        with pytest.raises(InputError) as err:
            index_fasta(path, block)
        assert message in err.value.message and err.value.line == line, block
        assert err.value.path == str(path)


def test_genome_writes_the_index_and_reads_by_it(tmp_path):
    data, rows = LAYOUTS["CRLF"]
    path = tmp_path / "g.fa"
    path.write_bytes(data)
    with Genome(path) as genome:
        assert genome.sizes == {"a": 9, "b": 2}
        assert genome.fetch("a", 2, 9) == "GTACGTA"
    fai = (tmp_path / "g.fa.fai").read_text().splitlines()
    assert fai == ["\t".join(map(str, r)) for r in rows]
