"""The nsga2 controller and two-objective searches (tpe, nsga2); the contract is in test_controllers.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_controllers import SPACE, fake_rewards
from test_tpe import big_space

from bionas.errors import InputError
from bionas.records.controller_state import _checksum
from bionas.search.strategies import get_controller, load_controller
from bionas.search.strategies.nsga2 import generations

pytest.importorskip("optuna", reason="the nsga2 controller needs Optuna")


def test_generations_by_hand():
    # population 4, batches of 3: 3 in gen 0, 3 more in gen 0 (only 3 complete before),
    # then gen 1 (6 >= 4) ...
    assert generations([False] * 9, [3, 3, 3], 4) == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    # failed results do not count towards a generation's population
    assert generations([True, True, False, False, False, False], [2, 2, 2], 2) == [0, 0, 0, 0, 1, 1]
    assert generations([], [], 10) == []


def _objectives(arch):
    """Two conflicting objectives: a prefers large kernels, b prefers small ones."""
    k = int(arch[0].split("_k")[1].split("_")[0]) if "_k" in arch[0] else 0
    return (float(k) + 0.1 * ("gmax" in arch), -float(k))


def _search(name, space, steps=6, batch=4, seed=0, fail_step=2, **settings):
    ctrl = get_controller(name, space, objectives=2, **settings)
    state = ctrl.init_state(seed)
    proposed = []
    for step in range(1, steps + 1):
        archs = ctrl.propose(state, batch, step)
        proposed += archs
        results = [(a, None if (step == fail_step and i == 0) else _objectives(a)) for i, a in enumerate(archs)]
        state = ctrl.update(state, results)
    return ctrl, state, proposed


@pytest.mark.parametrize("name", ["nsga2", "tpe"])
def test_two_objective_search_never_repeats_and_reruns_bit_for_bit(name, tmp_path):
    space = big_space()
    ctrl, state, proposed = _search(name, space)
    assert len(set(proposed)) == len(proposed), "a child was proposed twice (failed ones included)"
    history = state.extra["history"]
    assert sum(v is None for _, v in history) == 1
    assert all(v is None or len(v) == 2 for _, v in history)
    ctrl.save_state(state, tmp_path / "s")
    again_ctrl, again = load_controller(tmp_path / "s", space)
    assert again_ctrl.n_objectives == 2
    assert again_ctrl.propose(again, 4, 7) == ctrl.propose(state, 4, 7)
    # the best is the best first objective, and the probabilities sum to one per layer
    best = max((v[0], tuple(space.decode(a))) for a, v in history if v is not None)
    assert tuple(ctrl.most_likely(state)) == best[1]
    for p in ctrl.layer_probabilities(state):
        assert np.isclose(p.sum(), 1.0)


def test_a_two_objective_controller_refuses_a_single_reward():
    ctrl = get_controller("nsga2", SPACE, objectives=2)
    state = ctrl.init_state(0)
    archs = ctrl.propose(state, 2, 1)
    with pytest.raises(ValueError, match="2 finite numbers or None"):
        ctrl.update(state, [(archs[0], 1.0), (archs[1], (1.0, 2.0))])
    with pytest.raises(ValueError, match="2 finite numbers or None"):
        ctrl.update(state, [(archs[0], (1.0, float("nan")))])


def test_an_edited_two_objective_history_is_refused(tmp_path):
    _ctrl, state, _ = _search("nsga2", big_space(), steps=2)
    ctrl = get_controller("nsga2", big_space(), objectives=2)
    ctrl.save_state(state, tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    obj = json.loads(path.read_text())
    obj["extra"]["batches"] = [3]  # the results of 8 in one batch of 3, checksum mended
    obj["checksum"] = _checksum(obj)
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match=r"\[extra.batches\]"):
        load_controller(tmp_path / "s", big_space())


def test_nsga2_with_one_objective_learns_from_rewards():
    ctrl = get_controller("nsga2", SPACE, population=4)
    state = ctrl.init_state(1)
    for step in range(1, 5):
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 4, step)))
    assert state.n_seen == 16 and state.extra["batches"] == [4, 4, 4, 4]
    assert state.best["reward"] == max(r for _, r in state.extra["history"])


def test_nsga2_settings_are_checked():
    with pytest.raises(InputError, match="population"):
        get_controller("nsga2", SPACE, population=1)
    with pytest.raises(InputError, match="mutation"):
        get_controller("nsga2", SPACE, mutation=2)
    with pytest.raises(InputError, match="objectives"):
        get_controller("nsga2", SPACE, objectives=3)
