"""bionas predict: the CLI's scores equal model.predict on the same one-hot windows."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_child import GOOD, write_space

from bionas.cli import main
from bionas.data.genome import Genome
from bionas.data.onehot import one_hot

DATA = Path(__file__).parent / "data"
WIDTH = 100

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from bionas.search.builder import build_model

    tmp = tmp_path_factory.mktemp("predict")
    space = write_space(tmp / "space.yaml")
    model = build_model(space, GOOD, input_length=WIDTH, n_tasks=2, seed=4)
    path = tmp / "model.keras"
    model.save(path)
    return path


def _expected(model_path: Path, chroms, starts) -> np.ndarray:
    import keras

    model = keras.saving.load_model(model_path, compile=False)
    with Genome(DATA / "tiny.fa") as genome:
        seqs = [genome.fetch(c, int(s), int(s) + WIDTH) for c, s in zip(chroms, starts)]
    return np.asarray(model.predict(one_hot(seqs), verbose=0))


def test_region_scores_equal_model_predict(model_path, tmp_path):
    regions = tmp_path / "r.bed.gz"
    regions.write_bytes(gzip.compress(
        b"track name=x\nchr1\t100\t300\nchr2\t1450\t1500\nchr3\t0\t20\n"
        b"chr4\t600\t800\tp\t0\t.\t1\t1\t1\t50\n"
    ))  # fmt: skip
    out = tmp_path / "pred.tsv"
    code = main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--regions", str(regions), "--out", str(out), "--tasks", "a", "b",
                 "--batch-size", "3"])  # fmt: skip
    assert code == 0
    got = pd.read_csv(out, sep="\t")
    assert list(got.columns) == ["chrom", "start", "end", "region", "a", "b"]
    # centred on midpoints or the summit; windows at chromosome ends moved inside
    assert got["start"].tolist() == [150, 1400, 0, 600]
    assert (got["end"] - got["start"] == WIDTH).all()
    assert got["region"].tolist() == ["chr1:100-300", "chr2:1450-1500", "chr3:0-20", "chr4:600-800"]
    expected = _expected(model_path, got["chrom"], got["start"])
    assert np.allclose(got[["a", "b"]].to_numpy(), expected, atol=1e-5)


def test_tiling_a_range(model_path, tmp_path):
    out = tmp_path / "tile.tsv"
    assert main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--tile", "chr2:0-400", "--step", "75", "--out", str(out)]) == 0  # fmt: skip
    got = pd.read_csv(out, sep="\t")
    assert got["start"].tolist() == [0, 75, 150, 225, 300]
    assert list(got.columns)[-2:] == ["task_0", "task_1"]
    expected = _expected(model_path, got["chrom"], got["start"])
    assert np.allclose(got[["task_0", "task_1"]].to_numpy(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--tile", "chr9:0-400"], "chromosome 'chr9' is not in the genome"),
        (["--tile", "chr1:0-50"], "shorter than the model's window"),
        (["--tile", "chr1-0-50"], "expected CHROM:START-END"),
        (["--tile", "chr1:0-400", "--tasks", "only_one"], "the model predicts 2 task(s)"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(model_path, tmp_path, capsys, extra, message):
    out = tmp_path / "p.tsv"
    code = main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--out", str(out), *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".*p.tsv*"))


def test_regions_on_unknown_chromosomes_name_the_file(model_path, tmp_path, capsys):
    regions = tmp_path / "r.bed"
    regions.write_text("1\t100\t300\n")
    code = main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--regions", str(regions), "--out", str(tmp_path / "p.tsv")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and str(regions) in err and "'chr' prefix" in err


def test_bigwig_tracks_of_a_tiled_range_hold_every_score(model_path, tmp_path):
    import pyBigWig

    out, tracks = tmp_path / "tile.tsv", tmp_path / "bw"
    assert main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--tile", "chr2:0-400", "--step", "75", "--out", str(out), "--tasks", "a", "b",
                 "--bigwig-dir", str(tracks)]) == 0  # fmt: skip
    got = pd.read_csv(out, sep="\t")
    assert sorted(p.name for p in tracks.iterdir()) == ["a.bw", "b.bw"]
    for task in ("a", "b"):
        bw = pyBigWig.open(str(tracks / f"{task}.bw"))
        try:
            with Genome(DATA / "tiny.fa") as genome:
                assert bw.chroms() == dict(genome.sizes)
            entries = bw.intervals("chr2")
        finally:
            bw.close()
        # each score covers its window's central 75 bp: centres 50, 125, ... -> [13, 88), ...
        centres = (got["start"] + got["end"]) // 2
        assert [(s, e) for s, e, _ in entries] == [(c - 37, c + 38) for c in centres]
        assert np.allclose([v for _, _, v in entries], got[task], atol=1e-6)


def test_bigwig_of_overlapping_regions_and_a_bad_table(model_path, tmp_path, capsys):
    import pyBigWig

    regions = tmp_path / "r.bed"
    regions.write_text("chr1\t300\t500\nchr1\t100\t300\nchr1\t150\t350\nchr2\t0\t10\n")
    out = tmp_path / "pred.tsv"
    assert main(["predict", "--model", str(model_path), "--genome", str(DATA / "tiny.fa"),
                 "--regions", str(regions), "--out", str(out)]) == 0  # fmt: skip
    tracks = tmp_path / "bw"
    assert main(["bigwig", "--predictions", str(out), "--genome", str(DATA / "tiny.fa"),
                 "--out-dir", str(tracks)]) == 0  # fmt: skip
    got = pd.read_csv(out, sep="\t").set_index("start")
    bw = pyBigWig.open(str(tracks / "task_0.bw"))
    try:
        chr1, chr2 = bw.intervals("chr1"), bw.intervals("chr2")
    finally:
        bw.close()
    # windows 150-250, 200-300, 350-450 sorted; the overlap goes to the earlier window
    assert [(s, e) for s, e, _ in chr1] == [(150, 250), (250, 300), (350, 450)]
    assert [v for _, _, v in chr1] == pytest.approx(got.loc[[150, 200, 350], "task_0"].tolist())
    assert [(s, e) for s, e, _ in chr2] == [(0, 100)]
    bad = tmp_path / "bad.tsv"
    bad.write_text("chrom\tstart\tend\nchr1\t0\t100\n")
    capsys.readouterr()
    assert main(["bigwig", "--predictions", str(bad), "--genome", str(DATA / "tiny.fa"),
                 "--out-dir", str(tmp_path / "none")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "bad.tsv" in err and "chrom start end region" in err
    assert not (tmp_path / "none").exists()
