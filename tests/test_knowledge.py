"""Knowledge dissimilarity: filter -> PWM, motif distance, K."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bionas.motifs.pwm import filters_to_pwms
from bionas.search.knowledge import KnowledgeResult, knowledge_dissimilarity, motif_distance

U = np.full(4, 0.25)


def strong_motif(seq: str, p: float = 0.85) -> np.ndarray:
    """A PWM with probability ``p`` on the given base at each position."""
    out = np.full((len(seq), 4), (1 - p) / 3)
    for j, base in enumerate(seq):
        out[j, "ACGT".index(base)] = p
    return out


def rc(pwm: np.ndarray) -> np.ndarray:
    return pwm[::-1, ::-1].copy()


def kernel_for(pwms: list[np.ndarray], temperature: float) -> np.ndarray:
    """Keras Conv1D kernel (width, 4, n) whose softmax at ``temperature`` is ``pwms``."""
    return np.stack([temperature * np.log(p) for p in pwms], axis=-1)


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0)


def brute_distance(p: np.ndarray, q: np.ndarray, both: bool = True) -> float:
    """Loop-by-loop reference of the BioNAS distance."""
    m = len(p)
    pad = math.ceil(m / 2)
    best = math.inf
    for qq in ([q, rc(q)] if both else [q]):
        padded = [U] * pad + list(qq) + [U] * pad
        for o in range(len(padded) - m + 1):
            best = min(best, sum(kl(p[j], padded[o + j]) for j in range(m)) / m)
    return best


# -- filters_to_pwms ---------------------------------------------------------


def test_filters_to_pwms_shape_and_softmax():
    w = np.array([[[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]])  # (1, 4, 2)
    q = filters_to_pwms(w, 1.0)
    assert q.shape == (2, 1, 4) and q.dtype == np.float64
    np.testing.assert_allclose(q[0, 0], U)
    e = math.e
    np.testing.assert_allclose(q[1, 0], [e / (e + 3), 1 / (e + 3), 1 / (e + 3), 1 / (e + 3)])


def test_filters_to_pwms_is_stable_at_tiny_temperature():
    w = np.random.default_rng(0).normal(size=(10, 4, 3))
    q = filters_to_pwms(w, 1e-6)
    assert np.all(np.isfinite(q))
    np.testing.assert_allclose(q.sum(-1), 1.0)


def test_filters_to_pwms_recovers_a_pwm_from_log_weights():
    p = strong_motif("ACGTAG")
    q = filters_to_pwms(kernel_for([p], 0.1), 0.1)
    np.testing.assert_allclose(q[0], p)


@pytest.mark.parametrize(
    "weights, temperature",
    [(np.zeros((5, 4)), 1.0), (np.zeros((5, 3, 2)), 1.0), (np.zeros((5, 4, 2)), 0.0),
     (np.full((5, 4, 2), np.nan), 1.0)],
)
def test_filters_to_pwms_rejects_bad_input(weights, temperature):
    with pytest.raises(ValueError):
        filters_to_pwms(weights, temperature)


# -- motif_distance -----------------------------------------------------------


def test_two_row_toy_case_by_hand():
    p = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])  # "AC"
    q = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.7, 0.1, 0.1]])
    # padded Q = U, Q0, Q1, U; offsets: (ln4 + ln10)/2, 2 ln(1/0.7)/2, (ln10 + ln4)/2
    assert motif_distance(p, q, both_strands=False) == pytest.approx(-math.log(0.7))
    # reverse complement of Q is "GT"-like; the forward strand stays best
    assert motif_distance(p, q) == pytest.approx(-math.log(0.7))
    # against the reverse strand alone: best is one column on the padding
    assert motif_distance(p, rc(q), both_strands=False) == pytest.approx(
        (math.log(4) + math.log(10)) / 2
    )
    assert motif_distance(p, rc(q)) == pytest.approx(-math.log(0.7))


def test_toy_case_with_mixed_probabilities():
    p = np.array([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]])
    q = np.array([[0.7, 0.1, 0.1, 0.1]])
    # pad 1: padded = U, Q, U; offset 0: KL(p0||U) + KL(p1||Q); offset 1: KL(p0||Q) + 0
    off0 = (0.5 * math.log(2) * 2) + (0.25 * (math.log(0.25 / 0.7) + 3 * math.log(2.5)))
    off1 = 0.5 * math.log(0.5 / 0.7) + 0.5 * math.log(5)
    assert motif_distance(p, q, both_strands=False) == pytest.approx(min(off0, off1) / 2)


def test_identical_filter_gives_zero():
    p = strong_motif("ACGTTAGC")
    assert motif_distance(p, p) == pytest.approx(0.0, abs=1e-12)


def test_shifted_filter_inside_a_longer_one():
    p = strong_motif("GATTACA")
    q = np.vstack([strong_motif("TTCG"), p, strong_motif("CC")])
    assert motif_distance(p, q, both_strands=False) == pytest.approx(0.0, abs=1e-12)
    res = knowledge_dissimilarity(q[None], [p], both_strands=False)
    assert res.best_offset[0] == 4 and res.best_strand[0] == "+"


def test_shorter_filter_pays_for_the_uncovered_columns():
    p = strong_motif("ACGTTGCA")
    q = p[2:6]
    expected = sum(kl(p[j], U) for j in (0, 1, 6, 7)) / 8
    assert motif_distance(p, q, both_strands=False) == pytest.approx(expected)
    assert expected > 0


def test_filter_half_outside_the_motif_uses_the_padding():
    p = strong_motif("ACGTAC")
    q = np.vstack([p[3:], strong_motif("GGGG")])  # last half of p at the filter start
    expected = sum(kl(p[j], U) for j in range(3)) / 6
    assert motif_distance(p, q, both_strands=False) == pytest.approx(expected)
    res = knowledge_dissimilarity(q[None], [p], both_strands=False)
    assert res.best_offset[0] == -3


def test_reverse_complement_matches_only_with_both_strands():
    p = strong_motif("ACCGTAAG")
    q = rc(p)
    assert motif_distance(p, q, both_strands=True) == pytest.approx(0.0, abs=1e-12)
    assert motif_distance(p, q, both_strands=False) > 0.5
    res = knowledge_dissimilarity(q[None], [p])
    assert res.best_strand[0] == "-"


def test_matches_a_brute_force_reference_on_random_pwms():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m, w = rng.integers(1, 12, size=2)
        p = rng.dirichlet(np.ones(4) * 0.5, size=m)
        p[rng.random(p.shape) < 0.1] = 0.0  # some exact zeros in the prior
        p[p.sum(1) == 0, 0] = 1.0
        p /= p.sum(1, keepdims=True)
        q = rng.dirichlet(np.ones(4), size=w)
        for both in (True, False):
            assert motif_distance(p, q, both) == pytest.approx(brute_distance(p, q, both))


def test_motif_distance_rejects_bad_pwms():
    with pytest.raises(ValueError, match="sum to 1"):
        motif_distance(np.full((3, 4), 0.3), np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match="shape"):
        motif_distance(np.full((3, 5), 0.2), np.full((3, 4), 0.25))
    with pytest.raises(ValueError):
        motif_distance(np.full((3, 4), 0.25), -np.full((3, 4), 0.25))


def test_zero_probability_filter_gives_a_finite_distance():
    p = strong_motif("AC")
    q = np.array([[0.0, 1.0, 0, 0], [1.0, 0, 0, 0]])
    assert math.isfinite(motif_distance(p, q))


# -- knowledge_dissimilarity ----------------------------------------------------


PRIORS = [strong_motif("ACGTTGCA"), strong_motif("GATAAG"), strong_motif("CCCTTTAGG")]


def test_filters_equal_to_priors_give_zero_at_low_temperature():
    t = 0.05
    weights = np.concatenate(
        [kernel_for([np.vstack([p, np.full((10 - len(p), 4), 0.25)])], t) for p in PRIORS]
        + [np.random.default_rng(0).normal(size=(10, 4, 5))],
        axis=-1,
    )
    res = knowledge_dissimilarity(filters_to_pwms(weights, t), PRIORS)
    assert isinstance(res, KnowledgeResult)
    assert res.k == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(res.best_filter, [0, 1, 2])
    assert res.per_prior.shape == (3,)


def test_k_grows_as_filters_drift_to_uniform():
    base = np.stack([np.vstack([p[:6], np.full((4, 4), 0.25)]) for p in PRIORS])
    ks = []
    for alpha in np.linspace(0, 1, 6):
        q = (1 - alpha) * base + alpha * 0.25
        ks.append(knowledge_dissimilarity(q, PRIORS).k)
    assert all(b > a for a, b in zip(ks[:-1], ks[1:], strict=True))


def test_k_grows_with_temperature_and_random_filters_are_worse():
    t0 = 0.1
    weights = np.concatenate([kernel_for([p[:6]], t0) for p in PRIORS], axis=-1)
    ks = [knowledge_dissimilarity(filters_to_pwms(weights, t), PRIORS).k for t in (0.1, 0.2, 0.5, 1.0)]
    assert all(b > a for a, b in zip(ks[:-1], ks[1:], strict=True))
    rng = np.random.default_rng(3)
    random_w = rng.normal(scale=np.abs(weights).mean(), size=(6, 4, 32))
    k_random = knowledge_dissimilarity(filters_to_pwms(random_w, t0), PRIORS).k
    assert k_random > ks[0] + 0.3


def test_k_is_mean_of_per_prior_minimum():
    rng = np.random.default_rng(5)
    q = rng.dirichlet(np.ones(4), size=(7, 9))
    res = knowledge_dissimilarity(q, PRIORS)
    expected = [min(brute_distance(p, f) for f in q) for p in PRIORS]
    np.testing.assert_allclose(res.per_prior, expected)
    assert res.k == pytest.approx(np.mean(expected))
    for i, p in enumerate(PRIORS):
        f = res.best_filter[i]
        assert motif_distance(p, q[f]) == pytest.approx(expected[i])


def test_one_strand_is_never_better_than_both():
    rng = np.random.default_rng(6)
    q = rng.dirichlet(np.ones(4) * 0.3, size=(16, 8))
    both = knowledge_dissimilarity(q, PRIORS, both_strands=True)
    one = knowledge_dissimilarity(q, PRIORS, both_strands=False)
    assert np.all(both.per_prior <= one.per_prior + 1e-12)
    assert set(one.best_strand) == {"+"}


def test_lambda_reg_adds_a_penalty_per_filter():
    q = np.random.default_rng(7).dirichlet(np.ones(4), size=(12, 8))
    plain = knowledge_dissimilarity(q, PRIORS).k
    assert knowledge_dissimilarity(q, PRIORS, lambda_reg=0.01).k == pytest.approx(plain + 0.12)
    with pytest.raises(ValueError):
        knowledge_dissimilarity(q, PRIORS, lambda_reg=-1)


def test_accepts_objects_with_a_pwm_attribute():
    class Motif:
        def __init__(self, pwm):
            self.pwm = pwm

    q = np.stack([np.vstack([PRIORS[1], np.full((2, 4), 0.25)])])
    res = knowledge_dissimilarity(q, [Motif(PRIORS[1])])
    assert res.k == pytest.approx(0.0, abs=1e-12)


def test_renormalises_rounded_rows():
    p = np.round(strong_motif("ACGT", 0.7), 3)  # rows sum to 1.0 within 1e-3
    assert motif_distance(p, p / p.sum(1, keepdims=True)) == pytest.approx(0.0, abs=1e-12)


def test_knowledge_rejects_bad_input():
    q = np.full((2, 5, 4), 0.25)
    with pytest.raises(ValueError, match="at least one prior"):
        knowledge_dissimilarity(q, [])
    with pytest.raises(ValueError, match="shape"):
        knowledge_dissimilarity(q[0], PRIORS)
    with pytest.raises(ValueError, match="prior motif 1"):
        knowledge_dissimilarity(q, [PRIORS[0], np.full((3, 4), 0.5)])
    with pytest.raises(ValueError, match="single motif"):
        knowledge_dissimilarity(q, PRIORS[0])
