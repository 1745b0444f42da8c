"""The data-stage subcommands in-process: simulate, prepare, encode, priors."""

from __future__ import annotations

import numpy as np
import pytest

from bionas.cli import main

SPLIT = ["--val-chroms", "chr3", "--test-chroms", "chr4"]


@pytest.mark.parametrize("command", ["simulate", "prepare", "encode", "priors"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"bionas {command}" in capsys.readouterr().out


def _prepare(tiny, tmp_path, *extra, peaks=None, genome=None):
    peaks = peaks or [f"a={tiny['bed']}", f"b={tiny['narrowpeak']}"]
    return [
        "prepare", "--genome", genome or tiny["fasta"], "--peaks", *peaks, *SPLIT,
        "--out", tmp_path / "out" / "windows.tsv", "--summary", tmp_path / "out" / "summary.tsv", *extra,
    ]  # fmt: skip


def _no_outputs(tmp_path):
    out = tmp_path / "out"
    return not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("method", ["shuffle", "gc_matched", "dinucleotide_shuffle"])
def test_prepare_then_encode(tiny, tmp_path, cli, method):
    status, _, err = cli(*_prepare(tiny, tmp_path, "--negatives", method, "--seed", "3"))
    assert status == 0, err
    lines = (tmp_path / "out" / "windows.tsv").read_text().splitlines()
    assert lines[0].startswith('#genome {"file": ') and '"chr1": 2000' in lines[0]
    assert lines[1] == "chrom\tstart\tend\tsplit\tkind\tsource\ta\tb"
    assert len(lines) == 2 + 7 + 7  # 7 merged positives, ratio 1
    summary = (tmp_path / "out" / "summary.tsv").read_text()
    assert "dropped_at_edge\tall\ta\t1" in summary and "mean_gc\tall\tnegative" in summary
    status, _, err = cli(
        "encode", "--genome", tiny["fasta"], "--windows", tmp_path / "out" / "windows.tsv",
        "--out-dir", tmp_path / "data", "--revcomp-train",
    )  # fmt: skip
    assert status == 0, err
    sizes = {"train": 2 * 10, "val": 2, "test": 2}
    for split, n in sizes.items():
        d = np.load(tmp_path / "data" / f"{split}.npz")
        assert d["X"].shape == (n, 200, 4) and d["X"].dtype == np.uint8
        assert d["y"].shape == (n, 2) and d["y"].dtype == np.float32
        assert d["tasks"].tolist() == ["a", "b"] and d["regions"].shape == (n,)
    d = np.load(tmp_path / "data" / "train.npz")
    assert sum(r.endswith("(-)") for r in d["regions"]) == 10


def test_prepare_is_deterministic_for_a_seed(tiny, tmp_path, cli):
    outs = []
    for run, seed in [("a", "1"), ("b", "1"), ("c", "2")]:
        argv = _prepare(tiny, tmp_path, "--seed", seed, "--negative-ratio", "2")
        argv[argv.index("--out") + 1] = tmp_path / run / "w.tsv"
        assert cli(*argv)[0] == 0
        outs.append((tmp_path / run / "w.tsv").read_bytes())
    assert outs[0] == outs[1] and outs[0] != outs[2]


def test_simulate_cli_is_deterministic(tmp_path, cli):
    for name, seed in [("a", "1"), ("b", "1"), ("c", "2")]:
        status, _, err = cli(
            "simulate", "--out-dir", tmp_path / name, "--seed", seed, "--motifs", "MA0139.2", "REST",
            "--chromosomes", "2", "--chrom-length", "20000", "--sites", "20",
        )  # fmt: skip
        assert status == 0, err
    read = lambda n: {p.name: p.read_bytes() for p in (tmp_path / n).iterdir()}  # noqa: E731
    assert read("a") == read("b") and read("a") != read("c")
    truth = (tmp_path / "a" / "truth.tsv").read_text()
    assert "MA0139.2\tCTCF" in truth and "MA0138.3\tREST" in truth


def test_priors_from_jaspar_and_meme(tiny, tmp_path, cli):
    status, _, err = cli("priors", "--jaspar", "MA0139.2", "rest", "--out", tmp_path / "p.meme")
    assert status == 0, err
    text = (tmp_path / "p.meme").read_text()
    assert "MOTIF MA0139.2 CTCF" in text and "MOTIF MA0138.3 REST" in text
    status, _, err = cli("priors", "--meme", tiny["meme"], "--out", tmp_path / "q.meme")
    assert status == 0, err
    assert "MOTIF m1 first_motif" in (tmp_path / "q.meme").read_text()


# -- bad input: exit 2, a one-line message naming the file and what was expected, no output


def _expect_error(cli, argv, *needles, outputs=()):
    status, out, err = cli(*argv)
    assert status == 2, (status, err)
    assert err.count("\n") == 1 and "error:" in err
    for needle in needles:
        assert str(needle) in err, err
    for path in outputs:
        assert not path.exists()
    return err


def test_fasta_missing(tiny, tmp_path, cli):
    _expect_error(
        cli, _prepare(tiny, tmp_path, genome=tmp_path / "nope.fa"), "nope.fa", "not found"
    )
    assert _no_outputs(tmp_path)


def test_fasta_empty(tiny, tmp_path, cli):
    (tmp_path / "empty.fa").write_text("")
    _expect_error(
        cli, _prepare(tiny, tmp_path, genome=tmp_path / "empty.fa"), "empty.fa", "empty FASTA"
    )
    assert _no_outputs(tmp_path)


def test_fasta_not_fasta(tiny, tmp_path, cli):
    _expect_error(
        cli, _prepare(tiny, tmp_path, genome=tiny["bed"]), "task_a.bed:1:", "'>name' header"
    )
    (tmp_path / "junk.fa").write_bytes(b"\x00\x01\x02junk" * 100)
    _expect_error(cli, _prepare(tiny, tmp_path, genome=tmp_path / "junk.fa"), "junk.fa", "binary")
    assert _no_outputs(tmp_path)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("chr1\t100", "at least 3 tab-separated columns"),
        ("chr1\t1x0\t300", "start (column 2) must be an integer"),
        ("chr1\t-100\t300", "must not be negative"),
        ("chr1\t300\t300", "start must be below end"),
    ],
)
def test_bad_bed_lines(tiny, tmp_path, cli, line, expected):
    bad = tmp_path / "bad.bed"
    bad.write_text(f"track name=bad\nchr1\t100\t300\n{line}\n")
    _expect_error(cli, _prepare(tiny, tmp_path, peaks=[f"a={bad}"]), "bad.bed:3:", expected)
    assert _no_outputs(tmp_path)


def test_track_browser_header_lines_are_skipped(tiny, tmp_path, cli):
    status, _, err = cli(*_prepare(tiny, tmp_path, peaks=[f"a={tiny['bed']}"]))
    assert status == 0, err


def test_chromosomes_absent_from_fasta_with_prefix_hint(tiny, tmp_path, cli):
    bad = tmp_path / "nochr.bed"
    bad.write_text("chr1\t100\t300\n2\t200\t400\nchrZ\t1\t50\n")
    err = _expect_error(
        cli, _prepare(tiny, tmp_path, peaks=[f"a={bad}"]), "nochr.bed:2:", "2, chrZ", "'chr' prefix"
    )
    assert "tiny.fa" in err
    assert _no_outputs(tmp_path)


def test_empty_peak_file(tiny, tmp_path, cli):
    empty = tmp_path / "empty.bed"
    empty.write_text("track name=x\n\n")
    _expect_error(
        cli,
        _prepare(tiny, tmp_path, peaks=[f"a={tiny['bed']}", f"b={empty}"]),
        "empty.bed",
        "empty peak file",
    )
    assert _no_outputs(tmp_path)


def test_all_peaks_filtered_out(tiny, tmp_path, cli):
    edge = tmp_path / "edge.bed"
    edge.write_text("chr1\t0\t40\nchr2\t1480\t1500\n")
    _expect_error(
        cli,
        _prepare(tiny, tmp_path, peaks=[f"a={tiny['bed']}", f"e={edge}"]),
        "edge.bed",
        "all 2 peaks of task 'e' were filtered out",
    )
    assert _no_outputs(tmp_path)


def test_window_wider_than_every_chromosome(tiny, tmp_path, cli):
    _expect_error(
        cli,
        _prepare(tiny, tmp_path, "--window", "5000"),
        "--window 5000",
        "wider than every chromosome",
    )
    assert _no_outputs(tmp_path)


def test_split_with_no_windows(tiny, tmp_path, cli):
    peaks = tmp_path / "some.bed"
    peaks.write_text("chr1\t500\t700\nchr2\t500\t700\nchr4\t500\t700\n")
    _expect_error(
        cli, _prepare(tiny, tmp_path, peaks=[f"a={peaks}"]), "split 'val' has no windows", "chr3"
    )
    assert _no_outputs(tmp_path)


def test_bad_task_argument(tiny, tmp_path, cli):
    _expect_error(cli, _prepare(tiny, tmp_path, peaks=[str(tiny["bed"])]), "TASK=PATH")
    assert _no_outputs(tmp_path)


def test_encode_bad_windows_table(tiny, tmp_path, cli):
    bad = tmp_path / "w.tsv"
    bad.write_text(
        "chrom\tstart\tend\tsplit\tkind\tsource\ta\nchr1\t0\t200\ttrain\tpeak\t.\t1\nchr9\t0\t200\tval\tpeak\t.\t1\n"
    )
    argv = ["encode", "--genome", tiny["fasta"], "--windows", bad, "--out-dir", tmp_path / "out"]
    _expect_error(cli, argv, "w.tsv:3:", "chr9")
    assert _no_outputs(tmp_path)


def _genome(path, records):
    """Write a FASTA of ``records`` ((name, sequence) pairs), 60 bases a line."""
    with open(path, "w") as handle:
        for name, seq in records:
            handle.write(f">{name}\n")
            handle.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


def _records(fasta):
    from bionas.data.genome import Genome

    with Genome(fasta) as genome:
        return [(c, genome.fetch(c, 0, n)) for c, n in genome.sizes.items()]


def _encode(cli, genome, windows, out):
    return cli("encode", "--genome", genome, "--windows", windows, "--out-dir", out)


def _another(tmp_path, records, name):
    return _genome(tmp_path / name, records)


def test_encode_refuses_a_genome_other_than_the_windows_were_made_from(tiny, tmp_path, cli):
    from bionas.records.windows import genome_index_sha256, read_windows

    status, _, err = cli(*_prepare(tiny, tmp_path, "--negatives", "dinucleotide_shuffle"))
    assert status == 0, err
    windows = tmp_path / "out" / "windows.tsv"
    records = _records(tiny["fasta"])
    origin = read_windows(windows).genome
    assert origin.file == str(tiny["fasta"]) and origin.sequences == 4
    assert origin.index_sha256 == genome_index_sha256(dict((c, len(s)) for c, s in records))
    assert origin.lengths == {"chr1": 2000, "chr2": 1500, "chr3": 1500, "chr4": 1200}
    cases = [  # (genome file, records, what the message must say)
        ("shorter.fa", [(c, s[:1900] if c == "chr1" else s) for c, s in records],
         "chr1 is 2000 bp in that genome and 1900 bp in {g}"),
        ("ensembl.fa", [(c[3:], s) for c, s in records],
         "that genome has chr1, {g} does not; the genome names them without a 'chr' prefix"),
        ("extra.fa", [*records, ("chrUn_x", "ACGT" * 50)],
         "the chromosomes that hold windows agree, but that genome has 4 sequences and {g} 5"),
        ("renamed.fa", [*records[:3], ("chr4b", records[3][1])],
         "that genome has chr4, {g} does not"),
    ]  # fmt: skip
    for name, recs, expected in cases:
        genome = _another(tmp_path, recs, name)
        out = tmp_path / f"enc_{name}"
        status, _, err = _encode(cli, genome, windows, out)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, err
        assert lines[0].startswith(f"bionas encode: error: {genome}: the windows of {windows} were made from another "
                                   f"genome ({tiny['fasta']}, index sha256 "), err  # fmt: skip
        assert expected.format(g=genome) in err, err
        assert "give that genome, or rerun `bionas prepare` with this one" in err
        assert not out.exists() or not any(out.iterdir()), "nothing written"
    # the same names and lengths in another order, in another file: the same genome
    same = _another(tmp_path, records[::-1], "reordered.fa")
    status, _, err = _encode(cli, same, windows, tmp_path / "enc_same")
    assert status == 0, err
    assert len(np.load(tmp_path / "enc_same" / "val.npz")["X"]) > 0


def test_windows_without_a_genome_line_are_read_without_the_check(tiny, tmp_path, cli):
    """A table from before the #genome line: read as before, only its windows are checked."""
    status, _, err = cli(*_prepare(tiny, tmp_path))
    assert status == 0, err
    windows = tmp_path / "out" / "windows.tsv"
    lines = windows.read_text().splitlines(keepends=True)
    old = tmp_path / "old.tsv"
    old.write_text("".join(lines[1:]))
    records = _records(tiny["fasta"])
    longer = _another(tmp_path, [(c, s + "ACGT" if c == "chr1" else s) for c, s in records], "l.fa")
    status, _, err = _encode(cli, longer, old, tmp_path / "enc_old")
    assert status == 0, err
    status, _, err = _encode(cli, longer, windows, tmp_path / "enc_new")
    assert status == 2 and "chr1 is 2000 bp in that genome and 2004 bp in" in err, err
    # a damaged #genome line is refused at line 1
    for bad, what in [("#genome {not json\n", "is not valid JSON"),
                      ('#genome {"file": "g.fa"}\n', "must hold exactly the keys"),
                      ("#comment\n", "is not one")]:  # fmt: skip
        damaged = tmp_path / "damaged.tsv"
        damaged.write_text(bad + "".join(lines[1:]))
        status, _, err = _encode(cli, tiny["fasta"], damaged, tmp_path / "enc_bad")
        assert status == 2 and f"{damaged}:1: the #genome line {what}" in err, err
        assert "rerun `bionas prepare`" in err
    # a bad row is named by its line in the file, counting the #genome line
    damaged.write_text("".join(lines[:3]) + "chr1\tx\t200\ttrain\tpeak\t.\t1\t0\n")
    status, _, err = _encode(cli, tiny["fasta"], damaged, tmp_path / "enc_bad")
    assert status == 2 and f"{damaged}:4: start and end must be integers" in err, err


def test_unknown_jaspar_id(tmp_path, cli):
    out = tmp_path / "out" / "p.meme"
    _expect_error(
        cli,
        ["priors", "--jaspar", "MA0139.2", "MA9999.1", "--out", out],
        "unknown JASPAR",
        "MA9999.1",
        outputs=[out],
    )
    _expect_error(
        cli, ["priors", "--jaspar", "CTFC", "--out", out], "close matches", "CTCF", outputs=[out]
    )
    assert _no_outputs(tmp_path)


def test_priors_bad_meme(tmp_path, cli):
    bad = tmp_path / "bad.meme"
    bad.write_text("MEME version 4\n\nMOTIF a\nletter-probability matrix: w= 1\n0.9 0.9 0 0\n")
    out = tmp_path / "out" / "p.meme"
    _expect_error(
        cli, ["priors", "--meme", bad, "--out", out], "bad.meme:5:", "sums to 1.8", outputs=[out]
    )


def test_simulate_bad_settings(tmp_path, cli):
    argv = [
        "simulate",
        "--out-dir",
        tmp_path / "out",
        "--chromosomes",
        "1",
        "--chrom-length",
        "5000",
        "--sites",
        "900",
    ]
    _expect_error(cli, argv, "at most")
    assert _no_outputs(tmp_path)
