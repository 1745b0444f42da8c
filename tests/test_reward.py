"""Reward from metrics and knowledge dissimilarity."""

from __future__ import annotations

import math

import pytest

from bionas.search.reward import KINDS, compute_reward


def test_loss_reward_is_bionas_formula():
    assert compute_reward(0.5, 0.2, 1.5) == pytest.approx(-(0.5 + 1.5 * 0.2))
    assert compute_reward(0.5, 0.2, 0.0) == pytest.approx(-0.5)


def test_auroc_reward():
    assert compute_reward(None, 0.2, 0.5, kind="auroc", val_auroc=0.9) == pytest.approx(0.8)
    assert compute_reward(float("nan"), 0.2, 0.0, kind="auroc", val_auroc=0.9) == pytest.approx(0.9)


@pytest.mark.parametrize("k", [float("nan"), None, float("inf")])
def test_lambda_zero_ignores_knowledge(k):
    assert compute_reward(0.3, k, 0.0) == pytest.approx(-0.3)
    assert compute_reward(0.3, k, 0, kind="auroc", val_auroc=0.7) == pytest.approx(0.7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"val_loss": float("nan"), "knowledge": 0.1, "lam": 1.0},
        {"val_loss": 0.4, "knowledge": float("nan"), "lam": 1.0},
        {"val_loss": 0.4, "knowledge": math.inf, "lam": 1.0},
        {"val_loss": math.inf, "knowledge": 0.1, "lam": 0.0},
        {"val_loss": None, "knowledge": 0.1, "lam": 0.0},
        {"val_loss": 0.4, "knowledge": 0.1, "lam": 1.0, "kind": "auroc"},
        {"val_loss": 0.4, "knowledge": 0.1, "lam": 1.0, "kind": "auroc", "val_auroc": math.nan},
        {"val_loss": 0.4, "knowledge": 0.1, "lam": -1.0},
        {"val_loss": 0.4, "knowledge": 0.1, "lam": math.nan},
        {"val_loss": 0.4, "knowledge": 0.1, "lam": 1.0, "kind": "accuracy"},
        {"val_loss": "x", "knowledge": 0.1, "lam": 1.0},
    ],
)
def test_unusable_inputs_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        compute_reward(**kwargs)


def test_kinds():
    assert KINDS == ("loss", "auroc")
