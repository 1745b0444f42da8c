"""The gp controller (a Gaussian process written with numpy and scipy); the contract is in
test_controllers.py."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy import optimize
from test_controllers import SPACE, fake_rewards
from test_tpe import additive_reward, big_space, search

from bionas.errors import InputError
from bionas.records.controller_state import _checksum
from bionas.search.strategies import get_controller
from bionas.search.strategies.gp import (
    Hyper,
    Posterior,
    _neg_log_posterior,
    expected_improvement,
    fit_hyper,
    hamming_kernel,
    warp,
)


def test_hamming_kernel_by_hand():
    a = np.array([[0, 0, 0], [1, 0, 2]])
    b = np.array([[0, 0, 0], [1, 1, 2]])
    theta = np.array([0.5, 1.0, 2.0])
    got = hamming_kernel(a, b, theta, 3.0)
    want = 3.0 * np.exp(-np.array([[0.0, 0.5 + 1.0 + 2.0], [0.5 + 2.0, 1.0]]))
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_warp_rank_gives_normal_scores_and_ignores_how_far_an_outlier_lies():
    y = np.array([-0.3, -10.0, -0.2, -0.25, -0.2])
    w = warp(y, "rank")
    assert w.mean() == pytest.approx(0) and w.std() == pytest.approx(1)
    assert w[1] == w.min() and w[2] == w[4] == w.max()  # ties share their rank
    np.testing.assert_allclose(warp(np.where(y < -1, -1e6, y), "rank"), w)
    s = warp(y, "standardize")
    assert s.mean() == pytest.approx(0) and s.std() == pytest.approx(1)
    np.testing.assert_array_equal(warp(np.ones(4), "rank"), np.zeros(4))


def test_the_gradient_of_the_marginal_likelihood_is_right():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(12, 3))
    d = (x.T[:, :, None] != x.T[:, None, :]).astype(float).reshape(3, -1)
    y = warp(rng.normal(size=12), "standardize")
    for p in (np.array([-0.5, 0.2, -2.0, 0.1, -1.5]), rng.uniform(-3, 1, 5)):
        err = optimize.check_grad(lambda q: _neg_log_posterior(q, d, y)[0],
                                  lambda q: _neg_log_posterior(q, d, y)[1], p)
        assert err < 1e-5 * max(1.0, np.abs(_neg_log_posterior(p, d, y)[1]).max())


def test_the_fit_finds_which_layer_matters():
    # the reward depends on layer 0 only; layer 2 is noise
    space = big_space()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(60, 4))
    y = warp(np.array([0.0, 1.0, 2.5, -1.0])[x[:, 0]] + rng.normal(0, 0.1, 60), "standardize")
    p = fit_hyper(x, y, np.random.default_rng(0), restarts=2)
    theta = np.exp(p[: len(space.layers)])
    assert theta[0] > 10 * theta[1:].max()
    mean = Posterior(x, y, Hyper.from_log(p)).mean_at_data()
    assert np.corrcoef(mean, y)[0, 1] > 0.95


def test_expected_improvement_by_hand():
    ei = expected_improvement(np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 4.0]), 0.0)
    # no uncertainty: the improvement itself; mean at the best: sd / sqrt(2 pi)
    np.testing.assert_allclose(ei, [1.0, 1 / math.sqrt(2 * math.pi), 2 / math.sqrt(2 * math.pi)], rtol=1e-9)


def test_gp_learns_an_additive_problem_better_than_random():
    space = big_space()
    gp, rand = get_controller("gp", space), get_controller("random", space)
    ranks = {"gp": [], "random": []}
    for seed in range(6):
        reward, rank = additive_reward(space, seed)
        for name, ctrl in (("gp", gp), ("random", rand)):
            _, state = search(ctrl, reward, 40, seed)
            ranks[name].append(rank(ctrl.most_likely(state)))
    # 40 of 256: random's best lies around rank 6 on average; the Gaussian process models an
    # additive reward exactly and finds the best
    assert np.median(ranks["gp"]) <= 2
    assert np.mean(ranks["gp"]) < np.mean(ranks["random"]) / 2


def test_no_architecture_is_proposed_twice_until_the_space_is_exhausted():
    ctrl = get_controller("gp", SPACE, n_startup=3)
    proposals, state = search(ctrl, lambda a: 1.0, 25, seed=0)  # constant: nothing to go on
    assert len(set(proposals)) == 25
    last = ctrl.propose(state, 5, 6)
    assert set(last[:2]) == set(SPACE.architectures()) - set(proposals)
    assert last[2:] == [ctrl.most_likely(state)] * 3
    full = ctrl.update(state, [(a, 1.0) for a in last[:2]])
    assert ctrl.propose(full, 4, 7) == [ctrl.most_likely(full)] * 4


def test_a_large_space_is_searched_from_a_sample_and_the_neighbours_of_the_best():
    space = big_space()
    reward, rank = additive_reward(space, 3)
    ctrl = get_controller("gp", space, candidates=20, n_startup=5)
    proposals, state = search(ctrl, reward, 40, seed=0)
    assert len(set(proposals)) == 40
    assert rank(ctrl.most_likely(state)) <= 5
    assert ctrl.propose(state, 5, 9) == get_controller("gp", space, candidates=20, n_startup=5).propose(state, 5, 9)


def test_pending_architectures_are_believed_and_skipped():
    ctrl = get_controller("gp", SPACE, n_startup=4)
    state = ctrl.update(ctrl.init_state(5), fake_rewards(list(SPACE.architectures())[::3][:6]))
    assert state.extra["hyper"] is not None
    alone = ctrl.propose(state, 3, 2)
    with_pending = ctrl.propose(state, 3, 2, pending=alone[:1])
    assert alone[0] not in with_pending and with_pending[:2] == alone[1:]


def test_a_proposal_on_a_hundred_results_is_fast():
    space = big_space()
    reward, _ = additive_reward(space, 0)
    ctrl = get_controller("gp", space)
    _, state = search(ctrl, reward, 100, seed=0)
    t0 = time.perf_counter()
    ctrl.propose(state, 5, 21)
    assert time.perf_counter() - t0 < 1.0


def test_gp_settings_are_checked():
    for key, value in (("warp", "log"), ("n_startup", -1), ("candidates", 0), ("restarts", 1.5)):
        with pytest.raises(InputError, match=key):
            get_controller("gp", SPACE, **{key: value})
    with pytest.raises(InputError, match="no setting"):
        get_controller("gp", SPACE, objectives=2)


@pytest.mark.parametrize("hyper", [None, [0.0] * 4, [0.0, 0.0, "x", 0.0, 0.0], "missing"])
def test_a_state_with_a_bad_fit_is_rejected(tmp_path, hyper):
    ctrl = get_controller("gp", SPACE, n_startup=2)
    state = ctrl.update(ctrl.init_state(0), fake_rewards(list(SPACE.architectures())[:4]))
    ctrl.save_state(state, tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    obj = json.loads(path.read_text())
    if hyper == "missing":
        del obj["extra"]["hyper"]
    else:
        obj["extra"]["hyper"] = hyper
    obj["checksum"] = _checksum(obj)
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match="hyper.*delete") as err:
        ctrl.load_state(tmp_path / "s")
    assert err.value.path == str(path)
