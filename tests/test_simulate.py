"""The demo simulation: planted instances, peaks, N runs, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bionas.data.genome import Genome, n_runs
from bionas.data.onehot import reverse_complement_seq
from bionas.data.simulate import (
    DEFAULT_MOTIFS,
    DEFAULT_PRIORS,
    MIN_SPACING,
    default_sites,
    simulate,
    write_simulation,
)
from bionas.errors import InputError
from bionas.motifs.io import Motif
from bionas.motifs.jaspar import fetch_jaspar
from bionas.motifs.pwm import information_content

MOTIFS = [
    Motif("m1", "one", np.tile([[0.97, 0.01, 0.01, 0.01], [0.01, 0.01, 0.01, 0.97]], (5, 1))),
    Motif("m2", "two", np.tile([[0.01, 0.97, 0.01, 0.01], [0.01, 0.01, 0.97, 0.01]], (6, 1))),
]


def _files(out):
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_planted_instances_match_genome_and_peaks(tmp_path):
    sim = simulate(MOTIFS, n_chromosomes=2, chrom_length=30_000, n_sites=40, gc=0.4, seed=1)
    paths = write_simulation(sim, tmp_path)
    g = Genome(paths["genome"])
    assert g.sizes == {"chr1": 30_000, "chr2": 30_000}
    assert len(sim.peaks) == len(sim.truth) == 40
    assert sorted(sim.truth["motif_id"].value_counts().tolist()) == [20, 20]
    for t in sim.truth.itertuples():
        seq = g.fetch(t.chrom, t.start, t.end)
        assert seq == (t.sequence if t.strand == "+" else reverse_complement_seq(t.sequence))
    assert set(sim.truth["strand"]) == {"+", "-"}
    summits = sim.peaks["start"] + sim.peaks["summit"]
    centres = (sim.truth["start"] + sim.truth["end"]) // 2
    np.testing.assert_array_equal(np.sort(summits.to_numpy()), np.sort(centres.to_numpy()))
    for _, grp in sim.peaks.groupby("chrom"):
        assert np.diff(np.sort((grp["start"] + grp["summit"]).to_numpy())).min() >= MIN_SPACING
    assert ((sim.peaks["score"] >= 0) & (sim.peaks["score"] <= 1000)).all()
    lines = paths["peaks"].read_text().splitlines()
    assert len(lines[0].split("\t")) == 10
    assert (
        paths["truth"]
        .read_text()
        .startswith("chrom\tstart\tend\tstrand\tmotif_id\tmotif_name\tsequence\n")
    )


def test_background_gc_and_n_runs_away_from_sites(tmp_path):
    sim = simulate(MOTIFS, n_chromosomes=1, chrom_length=100_000, n_sites=50, gc=0.3, seed=2)
    paths = write_simulation(sim, tmp_path)
    codes = sim.sequences["chr1"]
    acgt = np.isin(codes, np.frombuffer(b"ACGT", np.uint8))
    gc = np.isin(codes, np.frombuffer(b"GC", np.uint8)).sum() / acgt.sum()
    assert gc == pytest.approx(0.3, abs=0.01)
    runs = n_runs(paths["genome"])
    assert len(runs) >= 1
    summits = (sim.peaks["start"] + sim.peaks["summit"]).to_numpy()
    for s, e in zip(runs.start, runs.end, strict=True):
        assert np.all((summits + 100 <= s) | (summits - 100 >= e))


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for name, seed in [("a", 5), ("b", 5), ("c", 6)]:
        write_simulation(simulate(MOTIFS, 2, 20_000, 30, 0.4, seed), tmp_path / name)
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    assert a["genome.fa"] != c["genome.fa"] and a["peaks.narrowPeak"] != c["peaks.narrowPeak"]
    assert set(a) == {"genome.fa", "genome.fa.fai", "peaks.narrowPeak", "truth.tsv"}


def test_bad_settings():
    with pytest.raises(InputError, match="at most"):
        simulate(MOTIFS, 1, 5_000, 1_000)
    with pytest.raises(InputError, match="gc"):
        simulate(MOTIFS, 1, 5_000, 5, gc=1.0)
    with pytest.raises(InputError, match="chrom-length"):
        simulate(MOTIFS, 1, 100, 1)


def test_default_motifs_are_long_and_informative():
    motifs = fetch_jaspar(list(DEFAULT_MOTIFS))
    assert [m.name for m in motifs] == ["CTCF", "REST", "SRF"]
    for m in motifs:
        assert m.width >= 15 and information_content(m.pwm).sum() >= 15
    assert set(DEFAULT_PRIORS) < set(DEFAULT_MOTIFS) and len(DEFAULT_PRIORS) == 2
    assert default_sites(6, 500_000) == 5000
