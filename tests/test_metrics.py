"""Tests for bionas.search.evaluation: hand-computed AUROC/AUPRC, ties, one-class tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bionas.search.evaluation import auprc, auroc, evaluate, one_class_note


def _pairwise_auroc(y, s):
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size


def _threshold_ap(y, s):
    """Average precision straight from its definition: one threshold per distinct score."""
    ap, prev_recall = 0.0, 0.0
    for t in sorted(set(s.tolist()), reverse=True):
        predicted = s >= t
        tp = (y[predicted] == 1).sum()
        recall = tp / (y == 1).sum()
        ap += (recall - prev_recall) * tp / predicted.sum()
        prev_recall = recall
    return ap


def test_auroc_hand_computed():
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert auroc([0, 1], [0.2, 0.9]) == 1.0
    assert auroc([0, 1], [0.9, 0.2]) == 0.0


def test_auroc_ties_count_one_half():
    # pos {0.5, 0.9} vs neg {0.1, 0.5}: 1 + 0.5 + 1 + 1 of 4 pairs
    assert auroc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == 0.875
    assert auroc([1, 0, 1, 0, 0], [0.3] * 5) == 0.5
    y = np.r_[np.zeros(52), np.ones(48)]
    assert auroc(y, np.full(100, 0.7)) == 0.5


def test_auprc_hand_computed():
    # scikit-learn's documented example: 0.8333...
    assert auprc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    # ranking 1,0,1: P at the two positives 1 and 2/3, recall steps 1/2 each
    assert auprc([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_auprc_ties_form_one_threshold():
    # threshold 0.5 takes three samples (2 positives): P = 2/3 at recall 1
    assert auprc([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.1]) == pytest.approx(2 / 3)
    # constant scores: average precision is the prevalence
    assert auprc([1, 0, 0, 0], [0.2] * 4) == pytest.approx(0.25)


def test_random_scores_with_ties_match_definitions():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            y[0] = 1 - y[0]
        s = rng.integers(0, 6, n) / 5.0  # few distinct values: many ties
        assert auroc(y, s) == pytest.approx(_pairwise_auroc(y, s), abs=1e-12)
        assert auprc(y, s) == pytest.approx(_threshold_ap(y, s), abs=1e-12)


def test_one_class_gives_nan_with_a_reason():
    assert math.isnan(auroc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(auprc([0, 0], [0.1, 0.2]))
    assert "only positives" in one_class_note(np.array([1, 1, 1]))
    assert "only negatives" in one_class_note(np.array([0, 0]))
    assert one_class_note(np.array([0, 1])) is None


def test_bad_input_raises():
    with pytest.raises(ValueError, match="0 or 1"):
        auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="differ"):
        auprc([0, 1], [0.1])


def test_evaluate_per_task_and_mean():
    y = np.array([[0, 1], [0, 1], [1, 1], [1, 1]], dtype=np.float32)
    s = np.array([[0.1, 0.5], [0.4, 0.5], [0.35, 0.5], [0.8, 0.5]])
    result = evaluate(y, s, ["a", "b"])
    assert result.per_task["a"].auroc == 0.75
    assert result.per_task["a"].note is None
    assert math.isnan(result.per_task["b"].auroc) and "only positives" in result.per_task["b"].note
    assert result.mean_auroc == 0.75  # the undefined task is left out of the mean
    assert result.mean_auprc == pytest.approx(5 / 6)
    only_b = evaluate(y[:, 1:], s[:, 1:], ["b"])
    assert math.isnan(only_b.mean_auroc)
