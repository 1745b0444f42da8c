"""Filters vs a motif database: layout, trimming, q-values, and tomtom-lite on JASPAR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bionas.errors import InputError
from bionas.motifs import compare
from bionas.motifs.compare import (
    ACTIVATION_MIN_BITS,
    MATCH_COLUMNS,
    SOFTMAX_MIN_BITS,
    benjamini_hochberg,
    best_matches,
    compare_motifs,
    id_base,
    load_collection,
    numba_cache_dir,
)
from bionas.motifs.io import Motif, write_meme
from bionas.motifs.pwm import (
    column_bits,
    iupac_consensus,
    reverse_complement,
    to_tomtom_layout,
    trim_pwm,
)

REPO = Path(__file__).resolve().parents[1]
#: One compilation cache for every test session (ignored by git): memelite
#: compiles once (~50 s), later sessions load it in well under a second.
CACHE = REPO / ".numba_cache"

GOLDEN = ["MA0139.2", "MA0138.3", "MA0106.3", "MA0080.7", "MA0046.3", "MA0506.3"]
# CTCF, REST, TP53, Spi1, HNF1A, Nrf1 in JASPAR2024 CORE vertebrates


@pytest.fixture(scope="module")
def jaspar() -> list[Motif]:
    numba_cache_dir(CACHE)
    return load_collection("JASPAR2024", "CORE", "vertebrates")


@pytest.fixture(scope="module")
def by_id(jaspar) -> dict[str, Motif]:
    return {m.id: m for m in jaspar}


def strong(seq: str, p: float = 0.9) -> np.ndarray:
    out = np.full((len(seq), 4), (1 - p) / 3)
    for j, base in enumerate(seq):
        out[j, "ACGT".index(base)] = p
    return out


# ---------------------------------------------------------------------------
# pure helpers


def test_to_tomtom_layout_is_the_transpose_as_c_contiguous_float64():
    pwm = np.asarray(strong("ACGTA"), dtype=np.float32)
    out = to_tomtom_layout(pwm)
    assert out.shape == (4, 5)
    assert out.dtype == np.float64
    assert out.flags.c_contiguous
    np.testing.assert_allclose(out, pwm.T, rtol=1e-6)
    np.testing.assert_allclose(out[:, 0], [0.9, 1 / 30, 1 / 30, 1 / 30], rtol=1e-6)
    # a Motif works too, and row sums are renormalised exactly
    m = Motif("X", "x", np.array([[0.5, 0.2, 0.2, 0.105]]))
    np.testing.assert_allclose(to_tomtom_layout(m).sum(axis=0), 1.0)


@pytest.mark.parametrize(
    "bad",
    [np.full((4, 4, 1), 0.25), np.full((5, 3), 1 / 3), np.zeros((0, 4)), np.full((3, 4), 0.3)],
)
def test_to_tomtom_layout_rejects_what_is_not_a_pwm(bad):
    with pytest.raises(ValueError):
        to_tomtom_layout(bad)


def test_column_bits_and_trim():
    u = np.full((3, 4), 0.25)
    pwm = np.vstack([u, strong("GA", 0.97), u, strong("T", 0.97), u])
    bits = column_bits(pwm)
    assert bits[0] == pytest.approx(0.0)
    assert bits[3] == pytest.approx(2 + 0.97 * np.log2(0.97) + 0.03 * np.log2(0.01))
    assert trim_pwm(pwm, ACTIVATION_MIN_BITS) == (3, 9)  # inner uniform columns are kept
    assert trim_pwm(u, SOFTMAX_MIN_BITS) is None
    assert trim_pwm(np.eye(4), 2.0) == (0, 4)
    with pytest.raises(ValueError):
        trim_pwm(pwm, 2.5)


def test_iupac_consensus():
    cols = np.array(
        [
            [0.97, 0.01, 0.01, 0.01],  # A
            [0.45, 0.05, 0.45, 0.05],  # R (A/G)
            [0.1, 0.4, 0.1, 0.4],  # Y (C/T)
            [0.25, 0.25, 0.25, 0.25],  # N
            [0.55, 0.3, 0.1, 0.05],  # M: top is not twice the second, the two exceed 0.75
        ]
    )
    assert iupac_consensus(cols) == "ARYNM"
    assert iupac_consensus(reverse_complement(cols)) == "KNRYT"


def test_benjamini_hochberg_by_hand():
    p = np.array([0.04, 0.001, 0.03, 0.5, 0.01])
    # sorted: 0.001 0.01 0.03 0.04 0.5 -> *5/rank: 0.005 0.025 0.05 0.05 0.5
    np.testing.assert_allclose(benjamini_hochberg(p), [0.05, 0.005, 0.05, 0.5, 0.025])
    assert benjamini_hochberg(np.array([0.9, 0.95])).max() <= 1.0
    rows = np.random.default_rng(0).uniform(size=(3, 50)) ** 4
    np.testing.assert_allclose(benjamini_hochberg(rows), [benjamini_hochberg(r) for r in rows])
    assert benjamini_hochberg(np.array([])).size == 0


def test_id_base():
    assert id_base("MA0139.2") == "MA0139"
    assert id_base("MA0139") == "MA0139"
    assert id_base("my.motif.12") == "my.motif"
    assert id_base("filter_3") == "filter_3"


# ---------------------------------------------------------------------------
# collections


def test_load_collection_jaspar2024_vertebrates(jaspar):
    assert len(jaspar) == 879
    ids = [m.id for m in jaspar]
    assert len(set(ids)) == 879
    assert set(GOLDEN) <= set(ids)
    ctcf = jaspar[ids.index("MA0139.2")]
    assert ctcf.name == "CTCF"
    assert ctcf.pwm.shape == (15, 4) and ctcf.pwm.dtype == np.float64
    np.testing.assert_allclose(ctcf.pwm.sum(axis=1), 1.0)
    # cached: the same matrices, read-only so no caller can corrupt the cache
    again = load_collection("JASPAR2024")
    assert again[0].pwm is jaspar[0].pwm
    with pytest.raises(ValueError):
        again[0].pwm[0, 0] = 1.0


def test_load_collection_from_meme_file(tmp_path, by_id):
    path = tmp_path / "db.meme"
    write_meme(path, [by_id["MA0139.2"], by_id["MA0080.7"]])
    motifs = load_collection(path)
    assert [m.id for m in motifs] == ["MA0139.2", "MA0080.7"]
    np.testing.assert_allclose(motifs[0].pwm, by_id["MA0139.2"].pwm, atol=1e-6)


def test_load_collection_rejects_unknown_source(tmp_path):
    with pytest.raises(InputError, match="not a JASPAR release"):
        load_collection(tmp_path / "missing.meme")
    with pytest.raises(InputError, match="no motifs"):
        load_collection("JASPAR2024", tax_group="vertebrate")


# ---------------------------------------------------------------------------
# the compilation cache


def test_cache_dir_is_set_before_memelite_is_imported(tmp_path):
    code = (
        "import sys, json\n"
        "from bionas.motifs.compare import numba_cache_dir\n"
        "assert 'memelite' not in sys.modules\n"
        f"used = numba_cache_dir({str(tmp_path / 'cache')!r})\n"
        "from bionas.motifs.compare import _loaded_cache_dir\n"
        "print(json.dumps([str(used), str(_loaded_cache_dir(sys.modules['memelite.tomtom']))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    used, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert used == str((tmp_path / "cache").resolve())
    assert Path(loaded).is_relative_to(used)


def test_another_cache_dir_after_import_warns(jaspar, tmp_path):
    compare_motifs([strong("ACGTACGT")], jaspar, cache_dir=CACHE)  # memelite is imported
    with pytest.warns(UserWarning, match="already imported"):
        used = numba_cache_dir(tmp_path)
    assert used == CACHE.resolve()
    assert compare.default_cache_dir().name


# ---------------------------------------------------------------------------
# tomtom-lite on JASPAR


def test_columns_e_and_q_values(jaspar, by_id):
    df = compare_motifs([by_id["MA0139.2"].pwm], jaspar, cache_dir=CACHE)
    assert list(df.columns) == MATCH_COLUMNS
    assert len(df) == len(jaspar)
    assert df["rank"].tolist() == list(range(1, len(jaspar) + 1))
    assert (df["status"] == "compared").all()
    assert df["p_value"].is_monotonic_increasing
    np.testing.assert_allclose(df["e_value"], df["p_value"] * len(jaspar))
    # calibrated: BH of the shuffle-calibrated p-values, never below the
    # query's permutation p-value of matching anything (1 / 101 at best)
    bh = benjamini_hochberg(df["p_value"].to_numpy())
    assert (df["q_value"] >= bh - 1e-15).all() and (df["q_value"] >= 1 / 101 - 1e-15).all()
    np.testing.assert_allclose(df["q_value"], np.maximum(bh, df["q_value"].min()))
    raw = compare_motifs([by_id["MA0139.2"].pwm], jaspar, cache_dir=CACHE, shuffles=0)
    np.testing.assert_allclose(raw["q_value"], benjamini_hochberg(raw["p_value"].to_numpy()))
    np.testing.assert_allclose(raw["p_value"], raw["tomtom_p_value"])
    assert df.loc[0, "query"] == "filter_0"
    assert set(df["target_id"]) == {m.id for m in jaspar}


def test_golden_every_matrix_finds_itself(jaspar, by_id):
    queries = [by_id[i] for i in GOLDEN]
    df = compare_motifs(queries, jaspar, top_k=3, cache_dir=CACHE)
    best = best_matches(df)
    assert best["query"].tolist() == GOLDEN  # names from the Motif ids
    assert (best["target_id"] == best["query"]).all()
    assert (best["q_value"] < 0.05).all()
    assert (best["orientation"] == "+").all() and (best["offset"] == 0).all()
    assert (best["overlap"] == [by_id[i].pwm.shape[0] for i in GOLDEN]).all()
    assert (df.groupby("query").size() == 3).all()
    # each query's p-values do not depend on the other queries of the call
    alone = compare_motifs([by_id["MA0080.7"]], jaspar, cache_dir=CACHE)
    both = df[df["query"] == "MA0080.7"]
    np.testing.assert_allclose(alone["p_value"].iloc[:3], both["p_value"])


def test_reverse_complement_gets_minus_orientation(jaspar, by_id):
    ctcf = by_id["MA0139.2"].pwm
    u = np.full((2, 4), 0.25)
    queries = {
        "rc": reverse_complement(ctcf),
        "slice": ctcf[3:12],  # query column j faces target column j + 3
        "padded": np.vstack([u, ctcf]),  # query column j faces target column j - 2
        "rc_padded": reverse_complement(np.vstack([u, ctcf, u, u, u])),  # 6 pad columns first
        "rc_slice": reverse_complement(ctcf[:12]),  # = rc(ctcf)[3:]
    }
    df = compare_motifs(list(queries.values()), jaspar, query_names=list(queries), cache_dir=CACHE)
    own = df[df["target_id"] == "MA0139.2"].set_index("query")
    expect = {"rc": ("-", 0), "slice": ("+", 3), "padded": ("+", -2)}
    expect |= {"rc_padded": ("-", -6), "rc_slice": ("-", 3)}
    for name, (orientation, offset) in expect.items():
        assert own.loc[name, "orientation"] == orientation, name
        assert own.loc[name, "offset"] == offset, name
    best = best_matches(df).set_index("query")
    for name in ("rc", "slice", "padded", "rc_padded"):
        assert best.loc[name, "target_id"] == "MA0139.2", name
        assert best.loc[name, "q_value"] < 0.05
    # consensus strings line up at the offset, in the aligned orientation
    row = own.loc["rc"]
    assert row["query_consensus"] == row["target_consensus"]
    assert row["target_consensus"] == iupac_consensus(reverse_complement(ctcf))


def test_trimmed_noisy_copies_still_find_their_matrix(jaspar, by_id):
    rng = np.random.default_rng(1)

    def noisy(p: np.ndarray) -> np.ndarray:
        core = np.array([rng.dirichlet(100 * row + 0.5) for row in p])  # sd ~0.03 at p = 0.9
        flank = lambda: rng.dirichlet([50.0] * 4, size=4)  # noqa: E731
        return np.vstack([flank(), core, flank()])

    queries = [noisy(by_id[i].pwm) for i in GOLDEN]
    for min_bits in (SOFTMAX_MIN_BITS, ACTIVATION_MIN_BITS):
        df = compare_motifs(queries, jaspar, query_names=GOLDEN, min_bits=min_bits, top_k=1)
        assert (df["target_id"] == df["query"]).all(), min_bits
        assert (df["q_value"] < 0.05).all()
        assert (df["query_start"] >= 4).all()  # the flanks were trimmed
        assert (df["query_end"] <= [4 + by_id[i].pwm.shape[0] for i in GOLDEN]).all()


def test_negative_control_near_uniform_pwms(jaspar):
    rng = np.random.default_rng(2)
    random_pwms = rng.dirichlet([10.0] * 4, size=(30, 20))
    # untrimmed, near-uniform PWMs get significant hits (long low-information matrices)
    untrimmed = best_matches(compare_motifs(random_pwms, jaspar, top_k=1, cache_dir=CACHE))
    assert (untrimmed["q_value"] < 0.05).any()
    # trimmed, none does; uninformative ones are reported, not compared
    trimmed = compare_motifs(random_pwms, jaspar, top_k=1, min_bits=SOFTMAX_MIN_BITS)
    assert len(trimmed) == 30
    assert not (trimmed["q_value"] < 0.05).any()
    gone = trimmed[trimmed["status"] == "uninformative"]
    assert len(gone) > 0
    assert gone["target_id"].isna().all() and gone["p_value"].isna().all()
    assert gone["query_start"].isna().all()


def test_mixed_informative_and_uninformative_keep_input_order(jaspar, by_id):
    u = np.full((8, 4), 0.25)
    df = compare_motifs(
        [u, by_id["MA0080.7"].pwm, u], jaspar, min_bits=1.0, top_k=2, cache_dir=CACHE
    )
    assert df["query"].tolist() == ["filter_0", "filter_1", "filter_1", "filter_2"]
    assert df["status"].tolist() == ["uninformative", "compared", "compared", "uninformative"]
    assert best_matches(df)["query"].tolist() == ["filter_1"]
    # the table survives a TSV round trip for recovery analysis
    back = pd.read_csv(pd.io.common.StringIO(df.to_csv(sep="\t", index=False)), sep="\t")
    assert best_matches(back)["target_id"].tolist() == ["MA0080.7"]


def test_compare_rejects_bad_arguments(jaspar):
    with pytest.raises(ValueError, match="single PWM"):
        compare_motifs(strong("ACGT"), jaspar)
    with pytest.raises(ValueError, match="query names"):
        compare_motifs([strong("ACGT")], jaspar, query_names=["a", "b"])
    with pytest.raises(ValueError, match="top_k"):
        compare_motifs([strong("ACGT")], jaspar, top_k=0)
    with pytest.raises(ValueError, match="at least one target"):
        compare_motifs([strong("ACGT")], [])
