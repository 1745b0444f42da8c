"""The data stage on files as ENCODE and UCSC ship them, through `bionas prepare` and `encode`.

A genome with UCSC names, an unplaced contig, an alternate haplotype and the
mitochondrion; a gzipped narrowPeak that opens with `browser` and `track`
lines; a BED12 file (centred on the midpoint: its column 10 is a block count);
the 20-column output of `idr` (centred on its column 10 summit); a gzipped
blacklist. Peaks on the contigs are counted in summary.tsv, not refused.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

WIDTH = 100

#: name -> length; chr1..chr3 are the primary assembly
GENOME = {"chr1": 3000, "chr2": 2500, "chr3": 2000, "chr1_KI270706v1_random": 800,
          "chr1_alt": 900, "chrM": 600}  # fmt: skip

NARROWPEAK = """browser position chr1:1-3000
browser hide all
track type=narrowPeak name="CTCF" description="CTCF ChIP-seq peaks" visibility=3
chr1\t400\t700\tp1\t1000\t.\t50.0\t30.1\t28.2\t100
chr1\t10\t200\tp2\t800\t.\t20.0\t20.1\t18.2\t20
chr1\t2000\t2300\tp3\t600\t.\t15.0\t12.1\t10.2\t150
chr2\t900\t1200\tp4\t700\t.\t30.0\t25.1\t22.2\t100
chr3\t500\t800\tp5\t500\t.\t12.0\t10.1\t8.2\t150
chr1_KI270706v1_random\t100\t400\tp6\t400\t.\t9.0\t8.1\t6.2\t100
chrM\t100\t300\tp7\t900\t.\t80.0\t60.1\t55.2\t50
"""

BED12 = """track name="H3K4me3" itemRgb="On"
chr1\t1000\t1400\tb1\t0\t+\t1000\t1400\t0\t2\t50,50\t0,350
chr2\t1500\t1700\tb2\t0\t+\t1500\t1700\t0\t3\t10,10,10\t0,100,190
chr3\t1200\t1300\tb3\t0\t-\t1200\t1300\t0\t1\t100\t0
chr1_alt\t100\t300\tb4\t0\t+\t100\t300\t0\t2\t10,10\t0,190
"""

#: idr --output-file: narrowPeak columns 1-10, localIDR, globalIDR, then each replicate's
#: start, end, signalValue and summit
IDR = """chr1\t450\t800\t.\t1000\t.\t40.0\t-1\t5.2\t60\t2.1\t5.2\t450\t780\t38.0\t55\t460\t800\t42.0\t65
chr2\t2000\t2400\t.\t900\t.\t30.0\t-1\t4.0\t300\t1.9\t4.0\t2000\t2380\t28.0\t290\t2010\t2400\t31.0\t310
chr3\t100\t500\t.\t700\t.\t10.0\t-1\t2.5\t50\t1.2\t2.5\t100\t480\t9.0\t40\t120\t500\t11.0\t60
chrM\t200\t400\t.\t1000\t.\t90.0\t-1\t9.9\t100\t3.0\t9.9\t200\t400\t85.0\t100\t200\t400\t95.0\t100
"""

#: an ENCODE-style blacklist: BED3, gzipped, with a chromosome this genome lacks
BLACKLIST = "chr1\t2100\t2200\nchr2\t0\t50\nchrY\t10000\t20000\n"


def _inputs(tmp_path):
    rng = np.random.default_rng(7)
    fasta = tmp_path / "hg38_mini.fa"
    with open(fasta, "w") as handle:
        for name, length in GENOME.items():
            seq = "".join(rng.choice(list("ACGT"), size=length))
            handle.write(f">{name}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, length, 60)))
    files = {"genome": fasta}
    for key, name, text in [("ctcf", "ENCFF001CTC.bed.gz", NARROWPEAK),
                            ("h3k4me3", "h3k4me3.bed", BED12),
                            ("idr", "idr_conservative.narrowPeak", IDR),
                            ("blacklist", "ENCFF356LFX.bed.gz", BLACKLIST)]:  # fmt: skip
        files[key] = tmp_path / name
        data = text.encode()
        files[key].write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return files


def _summary(path):
    table = pd.read_csv(path, sep="\t", dtype=str)
    return {(m, s, label): v for m, s, label, v in table.itertuples(index=False)}


def test_encode_style_files_through_prepare_and_encode(tmp_path, cli):
    files = _inputs(tmp_path)
    out = tmp_path / "data"
    status, _, err = cli(
        "prepare", "--genome", files["genome"], "--window", WIDTH, "--seed", 5,
        "--peaks", f"ctcf={files['ctcf']}", f"h3k4me3={files['h3k4me3']}", f"idr={files['idr']}",
        "--blacklist", files["blacklist"], "--val-chroms", "chr2", "--test-chroms", "chr3",
        "--out", out / "windows.tsv", "--summary", out / "summary.tsv",
    )  # fmt: skip
    assert status == 0, err
    summary = _summary(out / "summary.tsv")
    counts = {  # metric -> (ctcf, h3k4me3, idr)
        "peaks": (7, 4, 4),
        "dropped_at_edge": (1, 0, 0),  # p2's summit at 30 puts its window before chr1's start
        "dropped_no_split": (0, 0, 0),
        "dropped_contig": (2, 1, 1),  # the _random contig and chrM; chr1_alt; chrM
        "dropped_blacklist": (1, 0, 0),  # p3's window chr1:2100-2200
    }
    for metric, values in counts.items():
        for task, value in zip(("ctcf", "h3k4me3", "idr"), values, strict=True):
            assert summary[metric, "all", task] == str(value), (metric, task)
    # three windows per split; each task labels the windows whose centre its peaks cover
    for split in ("train", "val", "test"):
        assert summary["positive_windows", split, "."] == "3", split
    assert [summary["positives", "train", t] for t in ("ctcf", "h3k4me3", "idr")] == ["2", "1", "2"]
    for split in ("val", "test"):
        assert [summary["positives", split, t] for t in ("ctcf", "h3k4me3", "idr")] == ["1"] * 3

    windows = pd.read_csv(out / "windows.tsv", sep="\t", comment="#")
    peaks = windows[windows["kind"] == "peak"]
    centres = set(zip(peaks["chrom"], peaks["start"] + WIDTH // 2))
    assert centres == {
        ("chr1", 500), ("chr2", 1000), ("chr3", 650),  # narrowPeak summits
        ("chr1", 1200), ("chr2", 1600), ("chr3", 1250),  # BED12 midpoints, never column 10
        ("chr1", 510), ("chr2", 2300), ("chr3", 150),  # idr summits (midpoints: 625, 2200, 300)
    }  # fmt: skip
    # nothing from the contigs, nothing on the blacklist, negatives included
    assert set(windows["chrom"]) == {"chr1", "chr2", "chr3"}
    assert not ((windows["chrom"] == "chr1") & (windows["start"] < 2200) & (windows["end"] > 2100)).any()
    assert not ((windows["chrom"] == "chr2") & (windows["start"] < 50)).any()
    assert (windows["kind"] == "background").sum() == int(summary["negatives", "all", "."]) > 0

    # encode reads the same genome again; the windows record it
    status, _, err = cli("encode", "--genome", files["genome"], "--windows", out / "windows.tsv",
                         "--out-dir", out)  # fmt: skip
    assert status == 0, err
    for split in ("train", "val", "test"):
        with np.load(out / f"{split}.npz") as d:
            assert d["X"].shape[1:] == (WIDTH, 4) and d["tasks"].tolist() == ["ctcf", "h3k4me3", "idr"]
            assert d["X"].sum(axis=(1, 2)).min() == WIDTH  # every base one-hot: no N in the windows


def test_idr_output_is_read_like_a_narrowpeak(tmp_path):
    """idr's 20 columns: the summit is column 10 and max_peaks ranks by signalValue (column 7)."""
    from bionas.data.peaks import read_peaks
    from bionas.errors import InputError

    path = tmp_path / "idr.txt"
    path.write_text(IDR)
    peaks = read_peaks(path, "idr")
    assert peaks.summit.tolist() == [510, 2300, 150, 300]
    assert peaks.strength.tolist() == [40.0, 30.0, 10.0, 90.0]
    path.write_text(IDR.replace("\t5.2\t60\t", "\t5.2\t400\t", 1))
    with pytest.raises(InputError, match="summit offset 400 \\(column 10\\) lies outside") as info:
        read_peaks(path, "idr")
    assert info.value.line == 1 and info.value.path == str(path)
