"""Property-based tests of every parser a user's file reaches.

Each parser gets (a) valid files in several encodings (CRLF, UTF-8 BOM, extra
blank or comment lines), which must parse exactly like the clean file, and
(b) valid files with injected damage (truncation, NUL and invalid UTF-8 bytes,
huge, negative and non-numeric numbers, very long lines, YAML traps), which
must either parse to something consistent or raise :class:`InputError` naming
the file (and a line inside it when a line is given). Any other exception is a
bug in bionas.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bionas.data.genome import Genome
from bionas.data.peaks import read_peaks
from bionas.errors import InputError
from bionas.motifs.io import read_meme
from bionas.pipeline.config import load_config
from bionas.records.history import history_columns, read_history
from bionas.records.space import load_space, parse_space
from bionas.search.replay import read_table

ROOT = Path(__file__).resolve().parent.parent
# BIONAS_FUZZ_SCALE=20 runs twenty times the examples (a longer hunt for bugs)
SCALE = max(1, int(os.environ.get("BIONAS_FUZZ_SCALE", "1")))
FUZZ = settings(
    max_examples=80 * SCALE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ_MORE = settings(FUZZ, max_examples=120 * SCALE)

BOM = b"\xef\xbb\xbf"
VARIANTS = ("plain", "crlf", "bom", "bom+crlf", "no-final-newline")

# byte strings injected into otherwise valid files
NASTY = [
    b"\x00",
    b"\xff",
    b"\xfe\xff",
    b"\xc3",
    BOM,
    b"\r",
    b"\r\n",
    b"\n",
    b"\t",
    b" ",
    "é中\u2028".encode(),
    b"\x85",
    b"\x0c",
    b"\x1c",
    b"-1",
    b"-99999999999999999999",
    b"99999999999999999999999",
    b"1e999",
    b"-1e999",
    b"nan",
    b"inf",
    b"-inf",
    b"1_0",
    b"0x1f",
    b"+5",
    b'"',
    b"'",
    b"#",
    b">",
    b">x",
    b";",
    b"MOTIF",
    b"MEME version 4",
    b"[",
    b"{",
    b":",
    b"- ",
    b"? ",
    b"!!float x",
    b"2001-13-45",
    b"!!timestamp x",
    b"*a",
    b"&a",
    b"!!binary a",
    b"!!python/object:os.system",
    b"A" * 70000,
    b"x" * 5000,
    b"\x1f\x8b\x08\x04",
    b"\n" * 50,
    b"[" * 2000,
]
WHOLE_FILES = [b"", BOM, b"\n", b"\r\n\r\n", b"\x00" * 16, b"\xff\xfe\x00a", b" \t \n"]


def variant(text: str, kind: str) -> bytes:
    """``text`` (LF line ends, final newline) as bytes in one of :data:`VARIANTS`."""
    if kind == "no-final-newline":
        text = text.rstrip("\n")
    if "crlf" in kind:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return BOM + data if "bom" in kind else data


@st.composite
def damaged(draw, clean: st.SearchStrategy[bytes]) -> bytes:
    """A clean file with 1-4 edits: truncation, insertion, deletion, overwrite."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.sampled_from(WHOLE_FILES))
    data = bytearray(draw(clean))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "insert", "insert", "delete", "overwrite"]))
        pos = draw(st.integers(0, len(data)))
        token = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=6))
        if op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = token
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 30))]
        else:
            data[pos : pos + len(token)] = token
    return bytes(data)


@contextlib.contextmanager
def written(data: bytes, name: str):
    """``data`` written to ``name`` in a fresh temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        yield path


def check_error(err: InputError, path: Path, data: bytes) -> None:
    """The error names the file, and a line inside it when it gives one."""
    assert err.path == str(path)
    assert str(path) in str(err)
    if err.line is not None:
        n = max(len(data.splitlines()), len(data.decode("utf-8", "replace").splitlines()))
        assert 1 <= err.line <= n + 1, (err.line, n)


def parse_or_error(parse, path: Path, data: bytes):
    """``parse(path)``, or None after checking the InputError it raised."""
    try:
        return parse(path)
    except InputError as err:
        check_error(err, path, data)
        return None


# --------------------------------------------------------------------------
# BED / narrowPeak

CHROMS = st.text(st.sampled_from("abcXYZ019_.é中"), min_size=1, max_size=6).map(lambda s: "chr" + s)
NOISE = st.sampled_from(
    ["", "# comment", "track name=peaks", "browser position chr1:1-9", "   ", "\t"]
)


@st.composite
def peak_record(draw):
    chrom = draw(CHROMS)
    start = draw(st.integers(0, 2**40))
    length = draw(st.integers(1, 10**6))
    offset = draw(st.none() | st.just(-1) | st.integers(0, length - 1))
    end = start + length
    if offset is None:
        line = f"{chrom}\t{start}\t{end}"
        if draw(st.booleans()):  # BED12: column 10 is a block count, never a summit
            line += f"\tb\t0\t+\t{start}\t{end}\t0\t{draw(st.integers(1, 9))}\t{length}\t0"
        summit = (start + end) // 2
    else:
        line = f"{chrom}\t{start}\t{end}\tp\t0\t.\t1.5\t2\t3\t{offset}"
        if draw(st.booleans()):  # idr output: IDR values and both replicates' peaks follow
            line += f"\t1.2\t2.5\t{start}\t{end}\t1.0\t{offset}\t{start}\t{end}\t2.0\t-1"
        summit = (start + end) // 2 if offset == -1 else start + offset
    return line, (chrom, start, end, summit)


PEAK_LINES = st.lists(
    st.one_of(peak_record(), NOISE.map(lambda t: (t, None))), min_size=1, max_size=30
).filter(lambda items: any(rec for _, rec in items))


def peaks_text(items) -> str:
    return "".join(line + "\n" for line, _ in items)


@FUZZ_MORE
@given(items=PEAK_LINES, kind=st.sampled_from(VARIANTS))
def test_peaks_parse_the_valid_lines_in_every_encoding(items, kind):
    expected = [rec for _, rec in items if rec]
    lines = [i + 1 for i, (_, rec) in enumerate(items) if rec]
    with written(variant(peaks_text(items), kind), "t.narrowPeak") as path:
        peaks = read_peaks(path, "t")
    assert len(peaks) == len(expected)
    assert peaks.intervals.chrom.tolist() == [r[0] for r in expected]
    assert peaks.intervals.start.tolist() == [r[1] for r in expected]
    assert peaks.intervals.end.tolist() == [r[2] for r in expected]
    assert peaks.summit.tolist() == [r[3] for r in expected]
    assert peaks.line.tolist() == lines


@FUZZ_MORE
@given(blob=damaged(PEAK_LINES.map(lambda items: peaks_text(items).encode())))
@example(blob=b"chr1\t1\t99999999999999999999\n")  # OverflowError into int64 arrays
@example(blob=b"chr1\t1_0\t20\n")  # int() took digit separators
def test_damaged_peak_files_parse_or_raise_input_error(blob):
    with written(blob, "t.bed") as path:
        peaks = parse_or_error(lambda p: read_peaks(p, "t"), path, blob)
    if peaks is not None:
        iv = peaks.intervals
        assert len(peaks) >= 1
        assert (iv.start >= 0).all() and (iv.start < iv.end).all()
        assert ((peaks.summit >= iv.start) & (peaks.summit < iv.end)).all()


@st.composite
def one_layout_peaks(draw) -> bytes:
    """BED3 or narrowPeak lines, every line in one layout: what the column reader takes."""
    narrow = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(1, 20))):
        start, length = draw(st.integers(0, 10**12)), draw(st.integers(1, 10**6))
        line = f"{draw(CHROMS)}\t{start}\t{start + length}"
        if narrow:
            summit = draw(st.sampled_from(["-1", "."]) | st.integers(0, length - 1).map(str))
            signal = draw(st.floats(allow_nan=True).map(repr) | st.sampled_from([".", "1e3"]))
            line += f"\tp\t{draw(st.integers(0, 1000))}\t.\t{signal}\t1\t1\t{summit}"
        lines.append(line)
    return "\n".join(lines).encode() + draw(st.sampled_from([b"", b"\n"]))


def _peaks_or_error(path: Path) -> tuple:
    try:
        p = read_peaks(path, "t")
    except InputError as err:
        return err.message, err.line
    arrays = (p.intervals.chrom, p.intervals.start, p.intervals.end, p.summit, p.line)
    return (*(a.tolist() for a in arrays), np.nan_to_num(p.strength, nan=-7.0).tolist())


@FUZZ_MORE
@given(blob=one_layout_peaks() | damaged(one_layout_peaks()))
def test_the_column_reader_agrees_with_the_line_reader(blob):
    import bionas.data.peaks as peaks_module

    with written(blob, "t.bed") as path:
        got = _peaks_or_error(path)
        column_reader = peaks_module._read_simple
        peaks_module._read_simple = lambda data: None
        try:
            assert got == _peaks_or_error(path)
        finally:
            peaks_module._read_simple = column_reader


# --------------------------------------------------------------------------
# FASTA

FASTA_RECORDS = st.lists(
    st.tuples(
        st.text(st.sampled_from("abXY09_.|é"), min_size=1, max_size=6).map(lambda s: "s" + s),
        st.text(st.sampled_from("ACGTNacgtn"), max_size=150),
        st.sampled_from(["", " a description", " é"]),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda r: r[0],
)


def fasta_text(records, width: int, comments: bool = False, trailing: bool = False) -> str:
    out = ["; a comment\n\n"] if comments else []
    for name, seq, desc in records:
        out.append(f">{name}{desc}\n")
        out.extend(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
        if trailing:
            out.append("\n")
    return "".join(out)


@FUZZ
@given(
    records=FASTA_RECORDS,
    width=st.integers(1, 70),
    comments=st.booleans(),
    trailing=st.booleans(),
    kind=st.sampled_from(VARIANTS),
)
@example(records=[("s", "ACGT", "")], width=60, comments=False, trailing=False, kind="bom")
# chrom_codes() reshaped past the end when the last full line had no newline
@example(
    records=[("s0", "AA", "")], width=1, comments=False, trailing=False, kind="no-final-newline"
)
def test_fasta_reads_the_same_sequences_in_every_encoding(records, width, comments, trailing, kind):
    data = variant(fasta_text(records, width, comments, trailing), kind)
    with written(data, "g.fa") as path, Genome(path) as genome:
        assert genome.sizes == {name: len(seq) for name, seq, _ in records}
        for name, seq, _ in records:
            assert genome.chrom_codes(name).tobytes().decode() == seq.upper()
            assert genome.fetch(name, 0, len(seq)) == seq.upper()
            if len(seq) > 2:
                assert genome.fetch(name, 1, len(seq) - 1) == seq[1:-1].upper()


@FUZZ_MORE
@given(
    blob=damaged(
        st.tuples(FASTA_RECORDS, st.integers(1, 70)).map(lambda a: fasta_text(*a).encode())
    )
)
@example(blob=b">a\nAC\xffGT\n")  # accepted, then fetch() failed decoding ASCII
@example(blob=b">a\nAC\rGT\n")  # a lone CR was counted as a base
@example(blob=b"\x1f\x8b\x08\x04" + b"\0" * 8 + b"BC" + b"\0" * 10)  # zlib.error escaped
def test_damaged_fasta_files_open_or_raise_input_error(blob):
    with written(blob, "g.fa") as path:
        genome = parse_or_error(Genome, path, blob)
        if genome is None:
            return
        with genome:
            for name, length in genome.sizes.items():
                assert genome.chrom_codes(name).size == length
                assert len(genome.fetch(name, 0, length)) == length


# --------------------------------------------------------------------------
# MEME


@st.composite
def meme_text(draw) -> tuple[str, list]:
    ids = draw(
        st.lists(
            st.text(st.sampled_from("abAB09._-"), min_size=1, max_size=8).map(lambda s: "M" + s),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    out = ["MEME version 4\n\n"]
    if draw(st.booleans()):
        out.append("ALPHABET= ACGT\n\nstrands: + -\n\n")
    if draw(st.booleans()):
        out.append("Background letter frequencies\nA 0.3 C 0.2 G 0.2 T 0.3\n\n")
    motifs = []
    for motif_id in ids:
        name = draw(st.none() | st.text(st.sampled_from("xyzé_"), min_size=1, max_size=5))
        counts = draw(
            st.lists(
                st.tuples(*[st.integers(0, 50)] * 4).filter(lambda r: sum(r) > 0),
                min_size=1,
                max_size=12,
            )
        )
        pwm = np.asarray(counts, float)
        pwm /= pwm.sum(axis=1, keepdims=True)
        w = f" w= {len(pwm)}" if draw(st.booleans()) else ""
        out.append(f"MOTIF {motif_id}" + (f" {name}" if name else "") + "\n")
        if draw(st.booleans()):
            out.append("URL http://example.org/motif\n")
        out.append(f"letter-probability matrix: alength= 4{w} nsites= 20 E= 0\n")
        out.extend(" ".join(f"{v:.6f}" for v in row) + "\n" for row in pwm)
        out.append("\n")
        motifs.append((motif_id, name or motif_id, pwm))
    return "".join(out), motifs


@FUZZ
@given(meme=meme_text(), kind=st.sampled_from(VARIANTS))
def test_meme_reads_the_same_motifs_in_every_encoding(meme, kind):
    text, expected = meme
    with written(variant(text, kind), "m.meme") as path:
        motifs = read_meme(path)
    assert [(m.id, m.name) for m in motifs] == [(i, n) for i, n, _ in expected]
    for m, (_, _, pwm) in zip(motifs, expected, strict=True):
        np.testing.assert_allclose(m.pwm, pwm, atol=1e-5)


@FUZZ_MORE
@given(blob=damaged(meme_text().map(lambda m: m[0].encode())))
def test_damaged_meme_files_parse_or_raise_input_error(blob):
    with written(blob, "m.meme") as path:
        motifs = parse_or_error(read_meme, path, blob)
    for m in motifs or []:
        assert m.pwm.ndim == 2 and m.pwm.shape[1] == 4 and m.pwm.shape[0] >= 1
        assert np.isfinite(m.pwm).all() and (m.pwm >= 0).all()
        np.testing.assert_allclose(m.pwm.sum(axis=1), 1.0)


# --------------------------------------------------------------------------
# YAML: model space and workflow config

NASTY_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "\t", "x" * 5000, "2001-01-01", "relu", "conv1d", "chr1", "é"]),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _slots(obj, out: list) -> list:
    if isinstance(obj, dict):
        for key in list(obj):
            out.append((obj, key))
            _slots(obj[key], out)
    elif isinstance(obj, list):
        for i in range(len(obj)):
            out.append((obj, i))
            _slots(obj[i], out)
    return out


@st.composite
def mutated(draw, base):
    """A deep copy of ``base`` with 1-3 values replaced, deleted or added."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(obj, [])
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            container[key] = draw(NASTY_VALUES)
        elif op == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=8))] = draw(NASTY_VALUES)
        else:
            container.append(draw(NASTY_VALUES))
    return obj


def dump(obj) -> bytes:
    return yaml.safe_dump(obj, allow_unicode=True, sort_keys=False).encode("utf-8")


@st.composite
def space_obj(draw) -> dict:
    def opts(prefix, kinds):
        n = draw(st.integers(1, 3))
        return [{"name": f"{prefix}{i}", **draw(st.sampled_from(kinds))} for i in range(n)]

    conv = st.builds(
        lambda f, k, pad: {"type": "conv1d", "filters": f, "kernel_size": k, "padding": pad},
        st.integers(1, 64),
        st.integers(1, 12),
        st.sampled_from(["valid", "same"]),
    )
    layers = [{"name": "conv1", "options": opts("c", [draw(conv) for _ in range(3)])}]
    if draw(st.booleans()):
        kinds = [{"type": "identity"}, {"type": "maxpool1d", "size": 4}, {"type": "batch_norm"}]
        layers.append({"name": "pool", "options": opts("p", kinds)})
    kinds = [{"type": "global_max_pool"}, {"type": "global_avg_pool"}, {"type": "flatten"}]
    layers.append({"name": "reduce", "options": opts("r", kinds)})
    if draw(st.booleans()):
        kinds = [{"type": "dense", "units": 8}, {"type": "dropout", "rate": 0.2}]
        layers.append({"name": "head", "options": opts("d", kinds)})
    return {"layers": layers}


@FUZZ
@given(obj=space_obj(), kind=st.sampled_from(VARIANTS))
def test_space_yaml_reads_the_same_in_every_encoding(obj, kind):
    with written(variant(dump(obj).decode(), kind), "space.yaml") as path:
        space = load_space(path)
    assert space.to_dict() == parse_space(obj).to_dict()


@FUZZ_MORE
@given(
    blob=st.one_of(damaged(space_obj().map(dump)), space_obj().flatmap(mutated).map(dump)),
    window=st.none() | st.integers(-5, 10**6),
)
@example(blob=b"layers: 2001-13-45\n", window=None)  # ValueError from PyYAML's date constructor
@example(blob=b"layers: !!float abc\n", window=None)  # ValueError
@example(blob=b"layers: !!timestamp x\n", window=None)  # AttributeError
@example(blob=b"[" * 2000 + b"]" * 2000, window=None)  # RecursionError
@example(  # TypeError: unhashable 'type' looked up in PARAMS
    blob=b"layers:\n- name: conv1\n  options:\n  - {name: c0, type: [], filters: 1, kernel_size: 1}\n"
    b"- name: reduce\n  options:\n  - {name: r0, type: global_max_pool}\n",
    window=None,
)
def test_damaged_space_files_load_or_raise_input_error(blob, window):
    with written(blob, "space.yaml") as path:
        space = parse_or_error(lambda p: load_space(p, window=window), path, blob)
    if space is not None:
        assert space.size >= 1
        assert space.layers[0].options[0].type == "conv1d"


CONFIG_TEXT = (ROOT / "config" / "config.yaml").read_text(encoding="utf-8")
CONFIG_OBJ = yaml.safe_load(CONFIG_TEXT)


@settings(FUZZ, max_examples=10 * SCALE)
@given(kind=st.sampled_from(VARIANTS))
def test_config_reads_the_same_in_every_encoding(kind):
    with written(CONFIG_TEXT.encode(), "config.yaml") as clean:
        expected = load_config(clean)
    with written(variant(CONFIG_TEXT, kind), "config.yaml") as path:
        assert load_config(path) == expected


@FUZZ_MORE
@given(blob=st.one_of(damaged(st.just(CONFIG_TEXT.encode())), mutated(CONFIG_OBJ).map(dump)))
@example(blob=b"run: 2001-13-45\n")  # ValueError from PyYAML's date constructor
@example(blob=b"seed: !!timestamp x\n")  # AttributeError
@example(blob=b"datasets: " + b"[" * 2000 + b"]" * 2000)  # RecursionError
def test_damaged_config_files_load_or_raise_input_error(blob):
    with written(blob, "config.yaml") as path:
        config = parse_or_error(load_config, path, blob)
    if config is not None:
        assert isinstance(config["datasets"], dict) and config["datasets"]


# --------------------------------------------------------------------------
# results tables (replay) and history.tsv

SPACE = parse_space(
    {
        "layers": [
            {
                "name": "conv",
                "options": [
                    {"name": "ca", "type": "conv1d", "filters": 4, "kernel_size": 3},
                    {"name": "cé", "type": "conv1d", "filters": 8, "kernel_size": 5},
                ],
            },
            {
                "name": "reduce",
                "options": [
                    {"name": "gmax", "type": "global_max_pool"},
                    {"name": "flat", "type": "flatten"},
                ],
            },
        ]
    },
    source="tiny_space.yaml",
)
FINITE = st.floats(-1e6, 1e6, allow_nan=False)
ARCH = st.tuples(*(st.sampled_from(layer.option_names) for layer in SPACE.layers))


def _tsv(columns, rows) -> str:
    return "\t".join(columns) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows)


TABLE_ROWS = st.lists(
    st.tuples(ARCH, FINITE, FINITE | st.just("nan"), st.integers(0, 5)), min_size=1, max_size=20
)
TABLE_COLUMNS = [*SPACE.layer_names, "val_loss", "knowledge", "replicate"]


def table_text(rows) -> str:
    return _tsv(TABLE_COLUMNS, [(*arch, repr(v), k, r) for arch, v, k, r in rows])


@FUZZ
@given(rows=TABLE_ROWS, kind=st.sampled_from(VARIANTS))
def test_results_tables_read_the_same_in_every_encoding(rows, kind):
    expected: dict[tuple, list[float]] = {}
    for arch, val_loss, _, _ in rows:
        expected.setdefault(arch, []).append(val_loss)
    with written(variant(table_text(rows), kind), "table.tsv") as path:
        table = read_table(path, SPACE)
    assert {a: r.val_loss.tolist() for a, r in table.rows.items()} == expected


@FUZZ_MORE
@given(blob=damaged(TABLE_ROWS.map(lambda rows: table_text(rows).encode())))
def test_damaged_results_tables_read_or_raise_input_error(blob):
    with written(blob, "table.tsv") as path:
        table = parse_or_error(lambda p: read_table(p, SPACE), path, blob)
    if table is not None:
        assert table.rows
        for arch, r in table.rows.items():
            SPACE.encode(arch)
            assert len(r.val_loss) == len(r.knowledge) == len(r.failed) == len(r.lines) >= 1


HISTORY_ROWS = st.lists(
    st.tuples(
        ARCH,
        FINITE | st.just("nan"),
        FINITE | st.just("nan"),
        FINITE | st.just("nan"),
        st.integers(0, 10**6),
        FINITE,
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.text(st.sampled_from("0123456789abcdef"), min_size=1, max_size=16),
        st.sampled_from(["ok", "failed"]),
        st.sampled_from(["true", "false"]),
        st.integers(0, 9),
    ),
    min_size=1,
    max_size=15,
)


def history_text(rows) -> str:
    return _tsv(history_columns(SPACE), [(*arch, *rest) for arch, *rest in rows])


@FUZZ
@given(rows=HISTORY_ROWS, kind=st.sampled_from(VARIANTS))
def test_history_reads_the_same_in_every_encoding(rows, kind):
    with written(history_text(rows).encode(), "history.tsv") as clean:
        expected = read_history(clean, SPACE)
    assert expected["replicate"].tolist() == [r[4] for r in rows]
    assert expected["status"].tolist() == [r[9] for r in rows]
    assert expected["cached"].tolist() == [r[10] == "true" for r in rows]
    with written(variant(history_text(rows), kind), "history.tsv") as path:
        pd.testing.assert_frame_equal(read_history(path, SPACE), expected)


def _history_line(**change) -> bytes:
    row = dict(
        zip(
            history_columns(SPACE),
            ["ca", "gmax", 0.5, 0.1, 0.9, 0, -0.6, 1, 0, "ab", "ok", "false", 0],
            strict=True,
        )
    )
    row.update(change)
    return history_text([((row["conv"], row["reduce"]), *list(row.values())[2:])]).encode()


@FUZZ_MORE
@given(blob=damaged(HISTORY_ROWS.map(lambda rows: history_text(rows).encode())))
@example(blob=_history_line(replicate="inf"))  # IntCastingNaNError escaped
@example(blob=_history_line(step="1e300"))  # cast to a wrong integer
def test_damaged_histories_read_or_raise_input_error(blob):
    with written(blob, "history.tsv") as path:
        history = parse_or_error(lambda p: read_history(p, SPACE), path, blob)
    if history is not None:
        assert list(history.columns) == history_columns(SPACE)
        assert (history[["replicate", "step", "child", "rung"]] >= 0).all().all()
        assert history["status"].isin(["ok", "failed"]).all()


@pytest.mark.parametrize(
    "parse, name",
    [
        (lambda p: read_peaks(p, "t"), "t.bed"),
        (Genome, "g.fa"),
        (read_meme, "m.meme"),
        (load_space, "space.yaml"),
        (load_config, "config.yaml"),
        (lambda p: read_table(p, SPACE), "table.tsv"),
        (lambda p: read_history(p, SPACE), "history.tsv"),
    ],
)
def test_missing_and_directory_paths_are_input_errors(parse, name, tmp_path):
    for path in (tmp_path / name, tmp_path):
        with pytest.raises(InputError) as info:
            parse(path)
        assert info.value.path == str(path)
