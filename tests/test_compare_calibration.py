"""Calibration of compare_motifs' q-values: random PWMs of a filter's width and
information content must rarely match, real motifs (noised) must still match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bionas.motifs.compare import (
    ACTIVATION_MIN_BITS,
    SOFTMAX_MIN_BITS,
    best_matches,
    compare_motifs,
    id_base,
    load_collection,
    numba_cache_dir,
)
from bionas.motifs.pwm import column_bits, shuffled_columns

CACHE = Path(__file__).resolve().parents[1] / ".numba_cache"

#: Filter widths of the model space (config/model_space.yaml).
WIDTHS = (8, 14, 20)
N_RANDOM = 200
#: At most this many of N_RANDOM null queries may have a best hit with q < 0.05.
#: A calibrated test is significant for at most 5% (10 expected); 18 or more
#: happens with probability 0.008 under Binomial(200, 0.05).
MAX_SIGNIFICANT = 17


@pytest.fixture(scope="module")
def jaspar():
    numba_cache_dir(CACHE)
    return load_collection("JASPAR2024", "CORE", "vertebrates")


def n_significant(df) -> int:
    best = best_matches(df)
    return int((best["q_value"] < 0.05).sum())


def random_pwms(alpha: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.dirichlet([alpha] * 4, size=WIDTHS[i % 3]) for i in range(N_RANDOM)]


def test_random_softmax_like_pwms_are_rarely_significant(jaspar):
    # Dirichlet(1) columns (0.44 bit on average) trimmed at the softmax
    # threshold: the case tomtom-lite's own p-values get worst (about half of
    # them hit CTCF MA1929.2/MA1930.2 or GATA1::TAL1 at q < 0.05).
    queries = random_pwms(1.0, seed=11)
    df = compare_motifs(queries, jaspar, min_bits=SOFTMAX_MIN_BITS, top_k=1, n_jobs=2)
    assert n_significant(df) <= MAX_SIGNIFICANT
    untrimmed_null = compare_motifs(
        queries, jaspar, min_bits=SOFTMAX_MIN_BITS, top_k=1, n_jobs=2, shuffles=0
    )
    assert n_significant(untrimmed_null) > 3 * MAX_SIGNIFICANT  # the miscalibration


def test_random_activation_like_pwms_are_rarely_significant(jaspar):
    # Dirichlet(0.5) columns (0.73 bit on average), trimmed at the activation
    # threshold, the same random PWMs at the softmax one.
    queries = random_pwms(0.5, seed=12)
    for bits in (ACTIVATION_MIN_BITS, SOFTMAX_MIN_BITS):
        df = compare_motifs(queries, jaspar, min_bits=bits, top_k=1, n_jobs=2)
        assert n_significant(df) <= MAX_SIGNIFICANT


def test_shuffled_jaspar_columns_are_rarely_significant(jaspar):
    # real motif columns in random order, windows of the filter widths
    rng = np.random.default_rng(13)
    picks = rng.choice(len(jaspar), size=N_RANDOM, replace=False)
    queries = []
    for k, i in enumerate(picks):
        pwm = np.asarray(jaspar[i].pwm) + 0.01
        pwm /= pwm.sum(axis=1, keepdims=True)
        width = WIDTHS[k % 3]
        if pwm.shape[0] > width:
            start = rng.integers(0, pwm.shape[0] - width + 1)
            pwm = pwm[start : start + width]
        queries.append(pwm)
    queries = shuffled_columns(queries, rng)
    df = compare_motifs(queries, jaspar, min_bits=ACTIVATION_MIN_BITS, top_k=1, n_jobs=2)
    assert n_significant(df) <= MAX_SIGNIFICANT


NAMED = ["MA0139.2", "MA0138.3", "MA0083.3", "MA0080.7", "MA0106.3", "MA0506.3"]
# CTCF, REST, SRF, Spi1, TP53, Nrf1


def noised(pwm: np.ndarray, rng: np.random.Generator, width: int = 20) -> np.ndarray:
    """As bench/compare.py: Dirichlet noise on the motif, in near-uniform flanks."""
    pwm = np.asarray(pwm)
    if pwm.shape[0] > width:
        start = (pwm.shape[0] - width) // 2
        pwm = pwm[start : start + width]
    core = np.array([rng.dirichlet(30 * row + 0.5) for row in pwm])
    left = (width - core.shape[0]) // 2
    out = rng.dirichlet([20.0] * 4, size=width)
    out[left : left + core.shape[0]] = core
    return out


@pytest.mark.parametrize("bits", [ACTIVATION_MIN_BITS, SOFTMAX_MIN_BITS])
def test_noised_motifs_still_match_their_own_matrix(jaspar, bits):
    by_id = {m.id: m for m in jaspar}
    rng = np.random.default_rng(14)
    queries = [noised(by_id[i].pwm, rng) for i in NAMED]
    df = compare_motifs(queries, jaspar, query_names=NAMED, min_bits=bits, top_k=5, n_jobs=2)
    best = best_matches(df).set_index("query")
    for motif_id in NAMED:
        row = best.loc[motif_id]
        assert id_base(row["target_id"]) == id_base(motif_id), (motif_id, row["target_id"])
        assert row["q_value"] < 0.05, (motif_id, row["q_value"])


def test_shuffled_columns_keeps_each_pwms_columns():
    rng = np.random.default_rng(0)
    pwms = rng.dirichlet([0.5] * 4, size=(5, 12))
    out = shuffled_columns(pwms, np.random.default_rng(1))
    assert out.shape == pwms.shape
    for a, b in zip(pwms, out, strict=True):
        np.testing.assert_allclose(a[np.lexsort(a.T)], b[np.lexsort(b.T)], rtol=1e-12)
        np.testing.assert_allclose(np.sort(column_bits(a)), np.sort(column_bits(b)))
    assert not np.allclose(out, pwms)
    again = shuffled_columns(pwms, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)
    ragged = shuffled_columns([pwms[0][:3], pwms[1]], np.random.default_rng(1))
    assert [p.shape for p in ragged] == [(3, 4), (12, 4)]
    with pytest.raises(ValueError):
        shuffled_columns(pwms[0], rng)


def test_calibrated_q_values_do_not_depend_on_query_order(jaspar):
    rng = np.random.default_rng(15)
    queries = [rng.dirichlet([0.5] * 4, size=10) for _ in range(4)]
    a = compare_motifs(queries, jaspar, min_bits=ACTIVATION_MIN_BITS, top_k=3, n_jobs=2)
    b = compare_motifs(queries[::-1], jaspar, min_bits=ACTIVATION_MIN_BITS, top_k=3, n_jobs=2)
    a = a.sort_values(["query", "rank"]).reset_index(drop=True)
    # names follow the position, so compare by the PWM's index
    b["query"] = b["query"].map({f"filter_{i}": f"filter_{3 - i}" for i in range(4)})
    b = b.sort_values(["query", "rank"]).reset_index(drop=True)
    np.testing.assert_array_equal(a["q_value"], b["q_value"])
    np.testing.assert_array_equal(a["target_id"], b["target_id"])
