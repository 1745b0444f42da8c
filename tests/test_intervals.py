"""Peak parsing, windows, labels, negatives, splits and the windows table."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bionas.data.encode import encode_windows
from bionas.data.genome import Genome
from bionas.data.negatives import (
    dinucleotide_negatives,
    draw_gc_matched,
    gc_matched_negatives,
    shuffle_negatives,
    window_gc,
)
from bionas.data.onehot import decode, one_hot
from bionas.data.peaks import check_chromosomes, read_peaks, summit_windows
from bionas.data.prepare import assign_splits, prepare
from bionas.data.ranges import Intervals
from bionas.errors import InputError
from bionas.records.windows import parse_source, read_windows, write_windows

SPLIT = {"val_chroms": ["chr3"], "test_chroms": ["chr4"]}


def test_read_bed6_skips_headers_and_uses_midpoints(tiny):
    p = read_peaks(tiny["bed"], "a")
    assert len(p) == 6
    assert p.intervals.chrom.tolist()[:2] == ["chr1", "chr1"]
    assert p.summit.tolist() == [200, 1000, 300, 600, 700, 30]
    assert p.line.tolist() == [4, 5, 7, 8, 9, 10]


def test_read_narrowpeak_uses_summit_column(tiny):
    p = read_peaks(tiny["narrowpeak"], "b")
    assert p.summit.tolist() == [200, 1600, 260, 600, 1145]


def test_gzip_and_bgzip_peaks_read_like_plain_ones(tiny, tmp_path):
    import gzip

    plain = read_peaks(tiny["narrowpeak"], "b")
    data = tiny["narrowpeak"].read_bytes()
    half = len(data) // 2
    gz = tmp_path / "p.narrowPeak.gz"
    gz.write_bytes(gzip.compress(data))
    # bgzip writes a series of gzip members; a file of two members stands for it
    bgz = tmp_path / "p.bgz.narrowPeak.gz"
    bgz.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    for path in (gz, bgz):
        got = read_peaks(path, "b")
        assert got.summit.tolist() == plain.summit.tolist()
        assert got.line.tolist() == plain.line.tolist()
    cut = tmp_path / "cut.bed.gz"
    cut.write_bytes(gzip.compress(data)[:-12])
    with pytest.raises(InputError, match="damaged gzip file") as err:
        read_peaks(cut, "b")
    assert str(cut) in str(err.value)


def test_bed12_and_broadpeak_are_centred_on_the_midpoint(tmp_path):
    path = tmp_path / "p.bed"
    path.write_text(
        "chr1\t100\t200\tx\t0\t+\t100\t200\t0\t2\t10,10\t0,90\n"  # BED12: col 10 = 2 blocks
        "chr1\t300\t400\tx\t0\t.\t5.0\t-1\t-1\n"  # broadPeak: 9 columns
        "chr1\t500\t600\tx\t0\t.\t5.0\t-1\t-1\t10\n"  # narrowPeak: summit offset 10
    )
    assert read_peaks(path, "t").summit.tolist() == [150, 350, 510]


def test_read_bed3_and_space_separated(tmp_path):
    path = tmp_path / "p.bed"
    path.write_text("chr1 10 20\nchr1\t30\t50\n")
    p = read_peaks(path, "t")
    assert p.intervals.start.tolist() == [10, 30] and p.summit.tolist() == [15, 40]


@pytest.mark.parametrize(
    "line, message",
    [
        ("chr1\t10", "at least 3"),
        ("chr1\tten\t20", "integer"),
        ("chr1\t-5\t20", "negative"),
        ("chr1\t20\t20", "below end"),
        ("chr1\t10\t20\tn\t0\t.\t1\t1\t1\t15", "outside the peak"),
    ],
)
def test_bad_peak_lines_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.bed"
    path.write_text(f"track name=x\nchr1\t1\t5\n{line}\n")
    with pytest.raises(InputError, match=message) as err:
        read_peaks(path, "t")
    assert err.value.line == 3 and str(path) in str(err.value)


def _peak_arrays(path) -> tuple:
    try:
        p = read_peaks(path, "t")
    except InputError as err:
        return err.message, err.line
    arrays = (p.intervals.chrom, p.intervals.start, p.intervals.end, p.summit, p.line, p.strength)
    return tuple(
        (a.dtype.str, a.tolist() if a.dtype != float else np.nan_to_num(a, nan=-7).tolist())
        for a in arrays
    )


NP = "chr1\t100\t300\tp\t5\t.\t{s}\t2\t3\t{o}"


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(
            [
                NP.format(s=2.5, o=50),
                "chr10\t7\t9\tq\t8\t.\t1e3\t2\t3\t-1",
                "chrUn_x\t0\t4\tr\t0\t.\t-2.5\t0\t0\t3",
            ]
        ),
        "chr1\t10\t20\nchr2\t5\t8",  # BED3, no final line break
        "\ufeffchr1\t10\t20\tx\t.\t+\n",  # a byte-order mark; BED6 without a score
        "chr1\t10\t20\tx\tinf\t+\nchr1\t1\t2\tx\tnan\t-\n",
        NP.format(s="inf", o=".") + "\n" + NP.format(s="x", o="-1"),
        NP.format(s=1, o=7) + "\t1.2\t2.5\t100\t300\t1.0\t7\t100\t300\t2.0\t-1\n",  # idr
        NP.format(s=1, o="") + "\t1.2\t2.5\t100\t300\t1.0\t7\t100\t300\t2.0\t-1\n",
        NP.format(s=1, o=200),  # summit outside the peak
        NP.format(s=1, o="+7"),
        NP.format(s=1, o="1e2"),
        "chr1\t10\t20\t\n",  # a trailing tab: stripped
        "chr1\t+10\t20\n",
        "chr1\t1e1\t20\n",
        "chr1\t20\t20\n",
        "chr1\t-1\t20\n",
        "chr1\t1\t99999999999999999999\n",
        "chr1\t1\t20\nchr1\t1\n",
        "chr1\t1\t20\n\nchr1\t3\t4\n",
        "chr1\t1\t20\n#x\ntrack y\nchr1\t3\t4\n",
        "chr1 1 20\nchr1\t3\t4\n",
        "chr1\t1\t20\r\n",
    ],
)
def test_the_column_reader_reads_as_the_line_reader(tmp_path, monkeypatch, text):
    path = tmp_path / "p.bed"
    path.write_text(text, encoding="utf-8")
    got = _peak_arrays(path)
    monkeypatch.setattr("bionas.data.peaks._read_simple", lambda data: None)
    assert got == _peak_arrays(path)


def test_empty_peak_file(tmp_path):
    path = tmp_path / "empty.bed"
    path.write_text("track name=x\n# nothing\n\n")
    with pytest.raises(InputError, match="empty peak file"):
        read_peaks(path, "t")


def test_chromosome_check_hints_at_chr_prefix(tmp_path):
    path = tmp_path / "p.bed"
    path.write_text("chr1\t1\t5\n1\t1\t5\nX\t3\t9\n")
    with pytest.raises(InputError, match="set chrom_names: ucsc") as err:
        check_chromosomes(read_peaks(path, "t"), {"chr1": 100, "chrX": 100})
    assert err.value.line == 2 and "1, X" in str(err.value)
    # Ensembl genome, UCSC peaks; and MT <-> chrM
    path.write_text("chr1\t1\t5\nchrM\t1\t5\n")
    with pytest.raises(InputError, match="set chrom_names: ensembl"):
        check_chromosomes(read_peaks(path, "t"), {"1": 100, "MT": 100})
    # some names fit no convention: the plain prefix hint, when it explains any
    path.write_text("1\t1\t5\nscaffold_9\t1\t5\n")
    with pytest.raises(InputError, match="'chr' prefix"):
        check_chromosomes(read_peaks(path, "t"), {"chr1": 100})
    path.write_text("chrUn\t1\t5\n")
    with pytest.raises(InputError) as err:
        check_chromosomes(read_peaks(path, "t"), {"chr1": 100})
    assert "prefix" not in str(err.value) and "chrUn" in str(err.value)
    assert "chrom_names" not in str(err.value)


def test_summit_windows_drop_at_edges(tiny):
    sizes = Genome(tiny["fasta"]).sizes
    tw = summit_windows(read_peaks(tiny["narrowpeak"], "b"), sizes, 200)
    assert tw.dropped_at_edge == 1  # chr4 summit 1145: window ends at 1245 > 1200
    assert tw.windows.start.tolist() == [100, 1500, 160, 500]
    assert (tw.windows.end - tw.windows.start == 200).all()
    odd = summit_windows(read_peaks(tiny["narrowpeak"], "b"), sizes, 201)
    assert odd.windows.start.tolist()[0] == 100 and odd.windows.end.tolist()[0] == 301


def test_multi_task_labels_and_merged_centres(tiny):
    g = Genome(tiny["fasta"])
    peaks = [read_peaks(tiny["bed"], "a"), read_peaks(tiny["narrowpeak"], "b")]
    res = prepare(g, peaks, 200, "dinucleotide_shuffle", 0.0, **SPLIT)
    t = res.table
    got = {(r.chrom, r.start): (r.a, r.b, r.split) for r in t.itertuples()}
    assert got == {
        ("chr1", 100): (1, 1, "train"),  # a1 and b1 share centre 200
        ("chr1", 900): (1, 0, "train"),
        ("chr1", 1500): (0, 1, "train"),
        ("chr2", 160): (1, 1, "train"),  # b3 summit 260 lies inside a3
        ("chr2", 200): (1, 1, "train"),  # a3 midpoint 300 lies inside b3
        ("chr3", 500): (1, 1, "val"),
        ("chr4", 600): (1, 0, "test"),
    }
    s = res.summary.set_index(["metric", "split", "label"])["value"]
    assert s[("dropped_at_edge", "all", "a")] == 1 and s[("dropped_at_edge", "all", "b")] == 1
    assert s[("positives", "train", "a")] == 4 and s[("positives", "all", "b")] == 5


def test_splits():
    sizes = {"chr1": 1, "chr2": 1, "chr3": 1, "chr4": 1}
    assert assign_splits(sizes, ["chr3"], ["chr4"]) == {
        "chr1": "train",
        "chr2": "train",
        "chr3": "val",
        "chr4": "test",
    }
    assert assign_splits(sizes, ["chr3"], ["chr4"], ["chr1"]) == {
        "chr1": "train",
        "chr3": "val",
        "chr4": "test",
    }
    with pytest.raises(InputError, match="both"):
        assign_splits(sizes, ["chr3"], ["chr3"])
    with pytest.raises(InputError, match="'chr' prefix"):
        assign_splits(sizes, ["3"], ["chr4"])


def test_split_without_windows(tiny):
    g = Genome(tiny["fasta"])
    peaks = [read_peaks(tiny["bed"], "a")]
    with pytest.raises(InputError, match=r"split 'val' has no windows.*chr2") as err:
        prepare(g, peaks, 1000, "shuffle", 1.0, val_chroms=["chr2"], test_chroms=["chr1"])
    assert "chr2" in str(err.value)


def _overlaps(a: Intervals, b: Intervals) -> bool:
    for c, s, e in zip(a.chrom, a.start, a.end, strict=True):
        on = b.on(c)
        if np.any((on.start < e) & (on.end > s)):
            return True
    return False


def test_shuffle_negatives_avoid_excluded_and_are_seeded(tiny, tmp_path):
    g = Genome(tiny["fasta"])
    pos = Intervals(["chr1", "chr1", "chr2"], [100, 900, 200], [300, 1100, 400])
    excl = Intervals.concat([pos, Intervals(["chr2"], [1000], [1100])])
    a = shuffle_negatives(pos, 2.0, g.sizes, excl, 5, tmp_path)
    b = shuffle_negatives(pos, 2.0, g.sizes, excl, 5, tmp_path)
    c = shuffle_negatives(pos, 2.0, g.sizes, excl, 6, tmp_path)
    assert len(a) == 6 and Counter(a.chrom.tolist()) == {"chr1": 4, "chr2": 2}
    assert not _overlaps(a, excl)
    assert (a.end - a.start == 200).all()
    assert a.start.tolist() == b.start.tolist() and a.start.tolist() != c.start.tolist()


def test_gc_matched_negatives_match_the_histogram(tmp_path):
    from bionas.data.simulate import simulate, write_simulation
    from bionas.motifs.io import Motif

    # GC-rich planted motif so positives sit above the background GC
    motif = Motif("m", "gc", np.tile([[0.05, 0.45, 0.45, 0.05]], (12, 1)))
    sim = simulate([motif], n_chromosomes=1, chrom_length=200_000, n_sites=150, gc=0.4, seed=3)
    paths = write_simulation(sim, tmp_path)
    g = Genome(paths["genome"])
    pos = Intervals(
        sim.peaks["chrom"],
        sim.peaks["start"] + sim.peaks["summit"] - 100,
        sim.peaks["start"] + sim.peaks["summit"] + 100,
    )
    excl = Intervals.concat(
        [pos, Intervals(sim.peaks["chrom"], sim.peaks["start"], sim.peaks["end"])]
    )
    neg = gc_matched_negatives(g, pos, 1.0, excl, seed=1)
    assert len(neg) == len(pos) and not _overlaps(neg, excl)
    gp, gn = window_gc(g, pos), window_gc(g, neg)
    bins = np.linspace(0, 1, 51)
    assert np.abs(np.histogram(gp, bins)[0] - np.histogram(gn, bins)[0]).sum() <= 0.1 * len(pos)
    assert abs(gp.mean() - gn.mean()) < 0.005
    assert "N" not in "".join(g.fetch_many(neg.chrom, neg.start, neg.end))
    again = gc_matched_negatives(g, pos, 1.0, excl, seed=1)
    assert again.start.tolist() == neg.start.tolist()
    # the GC they were drawn by is what window_gc reads, to the bit; the positives' may be given
    drawn = draw_gc_matched(g, pos, 1.0, excl, seed=1, positive_gc=gp)
    assert drawn.negatives.start.tolist() == neg.start.tolist()
    assert drawn.gc.tobytes() == gn.tobytes()


@pytest.mark.parametrize("scan", [5, 97, 1 << 24])
def test_grid_and_window_gc_count_every_base_once(tiny, monkeypatch, scan):
    """Grid counts (one scan of the chromosome, in stretches of ``scan`` bases) and window
    GC (gathered windows) equal counting each window's own bases."""
    from bionas.data.negatives import _grid_counts

    monkeypatch.setattr("bionas.data.negatives.SCAN_BASES", scan)
    g = Genome(tiny["fasta"])
    codes = g.chrom_codes("chr1")
    is_gc = np.isin(codes, np.frombuffer(b"GC", np.uint8))
    is_acgt = np.isin(codes, np.frombuffer(b"ACGT", np.uint8))
    for phase, step, span in [(0, 50, 4), (37, 50, 4), (3, 1, 7), (11, 333, 6), (1999, 7, 2)]:
        n_gc, n_acgt = _grid_counts(g, "chr1", phase, step, span)
        starts = np.arange(phase, codes.size - step * span + 1, step)
        assert n_gc.shape == n_acgt.shape == starts.shape
        want_gc = [is_gc[s : s + step * span].sum() for s in starts]
        want_acgt = [is_acgt[s : s + step * span].sum() for s in starts]
        assert n_gc.tolist() == want_gc and n_acgt.tolist() == want_acgt
    starts = np.array([0, 5, 1800, 1000])
    gc = window_gc(g, Intervals(["chr1"] * 4, starts, starts + 200))
    want = [is_gc[s : s + 200].sum() / is_acgt[s : s + 200].sum() for s in starts]
    np.testing.assert_array_equal(gc, want)


def test_dinucleotide_negatives_reproduce_from_source():
    pos = Intervals(["chr1", "chr2"], [100, 200], [300, 400])
    windows, sources = dinucleotide_negatives(pos, 1.5, seed=2)
    assert len(windows) == 3
    chrom, start, end, seed = parse_source(sources[0])
    assert (chrom, start, end) == (windows.chrom[0], windows.start[0], windows.end[0])
    with pytest.raises(ValueError):
        parse_source("chr1:1-2")
    assert sources == dinucleotide_negatives(pos, 1.5, seed=2)[1]
    assert sources != dinucleotide_negatives(pos, 1.5, seed=3)[1]


def test_windows_table_round_trip_and_encode(tiny, tmp_path):
    g = Genome(tiny["fasta"])
    peaks = [read_peaks(tiny["bed"], "a"), read_peaks(tiny["narrowpeak"], "b")]
    res = prepare(g, peaks, 200, "dinucleotide_shuffle", 1.0, seed=4, **SPLIT)
    path = tmp_path / "w.tsv"
    write_windows(path, res.table)
    wt = read_windows(path, g.sizes)
    assert wt.tasks == ["a", "b"] and wt.width == 200 and len(wt.table) == 14
    enc = encode_windows(g, wt, "train", revcomp=True)
    n = int((wt.table["split"] == "train").sum())
    assert (
        enc.X.shape == (2 * n, 200, 4) and enc.y.shape == (2 * n, 2) and enc.y.dtype == np.float32
    )
    np.testing.assert_array_equal(enc.X[n:], enc.X[:n, ::-1, ::-1])
    assert enc.regions[n].endswith("(-)") and not enc.regions[0].endswith("(-)")
    rows = wt.table[wt.table["split"] == "train"].reset_index(drop=True)
    for i, r in rows.iterrows():
        seq = g.fetch(r.chrom, r.start, r.end)
        got = decode(enc.X[i])[0]
        if r.kind == "peak":
            assert got == seq and enc.regions[i] == f"{r.chrom}:{r.start}-{r.end}"
        else:
            assert Counter(got[j : j + 2] for j in range(199)) == Counter(
                seq[j : j + 2] for j in range(199)
            )
            assert enc.regions[i] == r.source and enc.y[i].sum() == 0
    np.testing.assert_array_equal(encode_windows(g, wt, "train").X, enc.X[:n])
    assert (
        one_hot(g.fetch("chr3", 500, 700)).tobytes() == encode_windows(g, wt, "val").X[:1].tobytes()
    )


def test_read_windows_rejects_bad_rows(tiny, tmp_path):
    sizes = Genome(tiny["fasta"]).sizes
    head = "chrom\tstart\tend\tsplit\tkind\tsource\ta\n"
    cases = [
        ("chrom\tstart\tend\n", "header", 1),
        (head + "chr1\t0\t200\ttrain\tpeak\t.\t1\nchr1\t0\t100\ttrain\tpeak\t.\t1\n", "200 bp", 3),
        (head + "chr1\t0\t200\tdev\tpeak\t.\t1\n", "split", 2),
        (head + "chr9\t0\t200\ttrain\tpeak\t.\t1\n", "not in the genome", 2),
        (head + "chr4\t1100\t1300\ttrain\tpeak\t.\t1\n", "past the end", 2),
        (head + "chr1\t0\t200\ttrain\tdinuc_shuffle\tchr1:0-200\t0\n", "seed", 2),
    ]
    for text, message, line in cases:
        path = tmp_path / "w.tsv"
        path.write_text(text)
        with pytest.raises(InputError, match=message) as err:
            read_windows(path, sizes)
        assert err.value.line == line


def test_overlaps_is_half_open_and_per_chromosome():
    from bionas.data.ranges import overlaps

    regions = Intervals(np.array(["chr1", "chr1", "chr2"], object), [100, 150, 0], [200, 160, 10])
    windows = Intervals(
        np.array(["chr1", "chr1", "chr1", "chr1", "chr2", "chr3"], object),
        [0, 50, 200, 199, 10, 0],
        [100, 101, 300, 205, 20, 500],
    )
    assert overlaps(windows, regions).tolist() == [False, True, False, True, False, False]
    assert not overlaps(windows, Intervals.empty()).any()


def test_a_blacklist_drops_peak_windows_and_keeps_negatives_out(tiny, tmp_path, cli):
    g = Genome(tiny["fasta"])
    peaks = [read_peaks(tiny["bed"], "a"), read_peaks(tiny["narrowpeak"], "b")]
    plain = prepare(g, peaks, 200, "shuffle", 2.0, seed=3, **SPLIT)
    listed = Intervals(np.array(["chr1", "chrUn_x", "chr2"], object), [950, 0, 180], [1000, 50, 190])
    res = prepare(g, peaks, 200, "shuffle", 2.0, seed=3, blacklist=listed, **SPLIT)
    t = res.table
    starts = set(zip(t["chrom"], t["start"]))
    before = set(zip(plain.table["chrom"], plain.table["start"]))
    assert {("chr1", 900), ("chr2", 160)} <= before and not {("chr1", 900), ("chr2", 160)} & starts
    assert ("chr2", 200) in starts  # a3's window (200-400) does not reach the listed 180-190
    from bionas.data.ranges import overlaps

    windows = Intervals(t["chrom"].to_numpy(), t["start"].to_numpy(), t["end"].to_numpy())
    assert not overlaps(windows, listed).any()
    s = res.summary
    dropped = s[s["metric"] == "dropped_blacklist"].set_index("label")["value"].astype(int)
    assert dropped.to_dict() == {"a": 1, "b": 1}  # a2's window chr1:900-1100, b3's chr2:160-360
    assert "dropped_blacklist" not in set(plain.summary["metric"])


def test_prepare_cli_reads_a_gzip_blacklist_and_names_a_missing_one(tiny, tmp_path, cli):
    import gzip

    listed = tmp_path / "blacklist.bed.gz"
    listed.write_bytes(gzip.compress(b"chr1\t950\t1000\n"))
    common = ["prepare", "--genome", tiny["fasta"], "--peaks", f"a={tiny['bed']}", "--window", "200",
              "--val-chroms", "chr3", "--test-chroms", "chr4", "--negative-ratio", "0"]  # fmt: skip
    out, summary = tmp_path / "w.tsv", tmp_path / "s.tsv"
    status, _, err = cli(*common, "--blacklist", listed, "--out", out, "--summary", summary)
    assert status == 0, err
    assert "dropped_blacklist\tall\ta\t1" in summary.read_text()
    missing = tmp_path / "none.bed"
    status, _, err = cli(*common, "--blacklist", missing, "--out", tmp_path / "x.tsv",
                         "--summary", tmp_path / "y.tsv")  # fmt: skip
    assert status == 2 and f"{missing}: blacklist not found" in err
    assert not (tmp_path / "x.tsv").exists()


def test_chromosome_filter_keeps_the_primary_assembly_by_default():
    from bionas.data.prepare import chromosome_filter

    primary = chromosome_filter(None)
    keep = ["chr1", "chrX", "chrY", "1", "X", "chr22", "scaffold_7"]
    drop = ["chrM", "MT", "chrUn_KI270302v1", "chr1_KI270706v1_random", "chr6_GL000250v2_alt",
            "chrEBV", "GL000009.2", "KI270442.1", "chr19_KN196484v1_fix"]  # fmt: skip
    assert all(primary(c) for c in keep) and not any(primary(c) for c in drop)
    assert chromosome_filter("all")("chrM")
    assert chromosome_filter(["chr2"])("chr2") and not chromosome_filter(["chr2"])("chr22")
    assert chromosome_filter(["chr1", "chr2"])("chr2") and not chromosome_filter(["chr1", "chr2"])("chr3")
    with pytest.raises(InputError, match="not a regular expression"):
        chromosome_filter("chr(")


def test_peaks_on_excluded_contigs_are_counted_not_an_error(tiny, tmp_path):
    fasta = tmp_path / "with_contigs.fa"
    fasta.write_text(tiny["fasta"].read_text() + ">chrUn_x\n" + "ACGT" * 300 + "\n>chrM\n" + "GATC" * 300 + "\n")
    peaks_path = tmp_path / "p.bed"
    peaks_path.write_text(tiny["bed"].read_text() + "chrUn_x\t500\t700\nchrM\t100\t300\n")
    g = Genome(fasta)
    peaks = [read_peaks(peaks_path, "a")]
    res = prepare(g, peaks, 200, "shuffle", 3.0, seed=2, **SPLIT)
    t = res.table
    assert not t["chrom"].isin(["chrUn_x", "chrM"]).any()  # neither peak windows nor negatives
    s = res.summary.set_index(["metric", "label"])["value"]
    assert int(s["dropped_contig", "a"]) == 2
    wide = prepare(g, peaks, 200, "shuffle", 3.0, seed=2, chromosomes="all", **SPLIT)
    assert wide.table["chrom"].isin(["chrUn_x", "chrM"]).any()
    with pytest.raises(InputError, match="excluded by --chromosomes"):
        prepare(g, peaks, 200, "shuffle", 1.0, val_chroms=["chrM"], test_chroms=["chr4"])


def test_max_peaks_keeps_the_strongest_windows_and_every_peak_still_labels(tiny, tmp_path, cli):
    g = Genome(tiny["fasta"])
    # signalValue (column 7) ranks, not the score: b3's score is lower than b2's, its signal higher
    narrow = tmp_path / "b.narrowPeak"
    narrow.write_text(
        "chr1\t150\t350\tb1\t900\t.\t12.5\t30\t28\t50\n"
        "chr1\t1500\t1700\tb2\t800\t.\t1.0\t20\t18\t100\n"
        "chr2\t250\t450\tb3\t10\t.\t9.0\t15\t12\t10\n"
        "chr3\t450\t750\tb4\t600\t.\t8.0\t12\t10\t150\n"
        "chr4\t1000\t1190\tb5\t500\t.\t7.0\t10\t8\t45\n"
    )
    peaks = read_peaks(narrow, "b")
    assert peaks.strength.tolist() == [12.5, 1.0, 9.0, 8.0, 7.0]
    kept, dropped = peaks.strongest(4)
    assert kept.line.tolist() == [1, 3, 4, 5] and dropped == 1  # file order kept
    assert peaks.strongest(10) == (peaks, 0)
    every = prepare(g, [peaks], 200, "shuffle", 0.0, seed=3, **SPLIT)
    some = prepare(g, [peaks], 200, "shuffle", 0.0, seed=3, max_peaks=4, **SPLIT)
    assert ("chr1", 1500) in set(zip(every.table["chrom"], every.table["start"]))
    assert ("chr1", 1500) not in set(zip(some.table["chrom"], some.table["start"]))
    assert len(some.table) == len(every.table) - 1
    s = some.summary.set_index(["metric", "label"])["value"]
    assert int(s["dropped_max_peaks", "b"]) == 1 and int(s["peaks", "b"]) == 5
    assert "dropped_max_peaks" not in set(every.summary["metric"])
    # BED6: the score ranks; BED3 has nothing to rank by
    bed6 = read_peaks(tiny["bed"], "a")
    assert bed6.strength.tolist() == [500, 500, 100, 100, 100, 0]
    assert bed6.strongest(2)[0].line.tolist() == [4, 5]
    bed3 = tmp_path / "three.bed"
    bed3.write_text("chr1\t100\t300\nchr2\t200\t400\n")
    with pytest.raises(InputError, match="max_peaks 1 needs a signalValue") as err:
        prepare(g, [read_peaks(bed3, "c")], 200, "shuffle", 0.0, max_peaks=1, **SPLIT)
    assert err.value.path == str(bed3)
    # the CLI flag, and a bad value
    out, summary = tmp_path / "w.tsv", tmp_path / "s.tsv"
    common = ["prepare", "--genome", tiny["fasta"], "--peaks", f"b={narrow}", "--window", "200",
              "--val-chroms", "chr3", "--test-chroms", "chr4", "--negative-ratio", "0"]  # fmt: skip
    status, _, err_text = cli(*common, "--max-peaks", "4", "--out", out, "--summary", summary)
    assert status == 0, err_text
    assert "dropped_max_peaks\tall\tb\t1" in summary.read_text()
    with pytest.raises(SystemExit) as exit_info:
        cli(*common, "--max-peaks", "0", "--out", out, "--summary", summary)
    assert exit_info.value.code == 2


@pytest.mark.parametrize(
    "task, message",
    [("split", "is a column bionas writes itself"), ("region", "is a column bionas writes"),
     ("..", "must start with a letter"), (".hidden", "must start with a letter"),
     ("a/b", "may hold only")],
)  # fmt: skip
def test_task_names_that_collide_or_make_odd_paths_are_refused(tiny, tmp_path, cli, task, message):
    from bionas.pipeline.config import validate_config
    from bionas.records.windows import task_name_problem

    assert task_name_problem("ChIP_rep-1.a") is None
    out = tmp_path / "w.tsv"
    status, _, err = cli("prepare", "--genome", tiny["fasta"], "--peaks", f"{task}={tiny['bed']}",
                         "--window", "200", "--val-chroms", "chr3", "--test-chroms", "chr4",
                         "--out", out, "--summary", tmp_path / "s.tsv")  # fmt: skip
    assert status == 2 and f"task name {task!r}" in err and message in err, err
    assert not out.exists()
    config = {"datasets": {"d": {"genome": "g.fa", "peaks": {task: "p.bed"},
                                 "priors": {"jaspar": ["CTCF"]}}}}  # fmt: skip
    with pytest.raises(InputError, match=message) as info:
        validate_config(config)
    assert info.value.key == "datasets.d.peaks"
    # a windows table whose header names such a task is refused at its header
    if "/" not in task:
        table = tmp_path / "windows.tsv"
        table.write_text(f"chrom\tstart\tend\tsplit\tkind\tsource\t{task}\nchr1\t0\t200\ttrain\tpeak\t.\t1\n")
        if task not in ("split",):
            with pytest.raises(InputError, match=message):
                read_windows(table)


def test_chrom_names_rename_peaks_to_the_genomes_style_and_detect_says_which(tiny, tmp_path, cli):
    from bionas.data.peaks import convert_name

    assert [convert_name(n, "ucsc") for n in ("1", "X", "MT", "chr2", "Un_x")] == [
        "chr1", "chrX", "chrM", "chr2", "chrUn_x"]  # fmt: skip
    assert [convert_name(n, "ensembl") for n in ("chr1", "chrM", "2", "MT")] == ["1", "MT", "2", "MT"]
    assert convert_name("chr1", "as_is") == "chr1"
    ensembl_peaks = tmp_path / "ens.bed"
    ensembl_peaks.write_text(tiny["bed"].read_text().replace("chr", ""))
    listed = tmp_path / "blacklist.bed"
    listed.write_text("1\t950\t1000\n")
    common = ["prepare", "--genome", tiny["fasta"], "--peaks", f"a={ensembl_peaks}",
              "--window", "200", "--val-chroms", "chr3", "--test-chroms", "chr4",
              "--negative-ratio", "0", "--blacklist", listed]  # fmt: skip
    out, summary = tmp_path / "w.tsv", tmp_path / "s.tsv"
    # detect: nothing is renamed silently; the error names the setting that fits
    status, _, err = cli(*common, "--out", out, "--summary", summary)
    assert status == 2 and "set chrom_names: ucsc" in err and "ens.bed" in err, err
    assert not out.exists()
    status, _, err = cli(*common, "--chrom-names", "as_is", "--out", out, "--summary", summary)
    assert status == 2 and not out.exists()
    # ucsc: the Ensembl-named peaks and blacklist become the genome's chr names
    status, _, err = cli(*common, "--chrom-names", "ucsc", "--out", out, "--summary", summary)
    assert status == 0, err
    # ... exactly as the same files named the genome's way
    listed_ucsc = tmp_path / "blacklist_ucsc.bed"
    listed_ucsc.write_text("chr1\t950\t1000\n")
    renamed = {str(ensembl_peaks): str(tiny["bed"]), str(listed): str(listed_ucsc)}
    ucsc = [a.replace(str(ensembl_peaks), str(tiny["bed"])) for a in map(str, common)]
    ucsc = [renamed.get(a, a) for a in ucsc]
    reference = tmp_path / "ref.tsv"
    status, _, err = cli(*ucsc, "--out", reference, "--summary", tmp_path / "s2.tsv")
    assert status == 0, err
    assert out.read_text() == reference.read_text()
    assert "dropped_blacklist\tall\ta\t1" in summary.read_text()
