"""The tpe controller (Optuna's TPE in ask/tell form); the contract is in test_controllers.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_controllers import SPACE, fake_rewards, small_space

from bionas.errors import InputError
from bionas.records.controller_state import _checksum
from bionas.records.space import parse_space
from bionas.search.strategies import get_controller, load_controller

pytest.importorskip("optuna", reason="the tpe controller needs Optuna (pip install bionas[tpe])")

ROOT = Path(__file__).resolve().parent.parent


def big_space():
    """4 layers x 4 options (256 architectures)."""
    return parse_space(
        {
            "layers": [
                {
                    "name": "conv",
                    "options": [
                        {"name": f"conv_k{k}", "type": "conv1d", "filters": 8, "kernel_size": k}
                        for k in (4, 6, 8, 10)
                    ],
                },
                *(
                    {
                        "name": f"drop{j}",
                        "options": [{"name": "none", "type": "identity"}]
                        + [{"name": f"d{r}", "type": "dropout", "rate": r / 10} for r in (1, 2, 3)],
                    }
                    for j in range(2)
                ),
                {
                    "name": "reduce",
                    "options": [
                        {"name": "gmax", "type": "global_max_pool"},
                        {"name": "gavg", "type": "global_avg_pool"},
                        {"name": "flatten", "type": "flatten"},
                        {"name": "gmax2", "type": "global_max_pool"},
                    ],
                },
            ]
        },
        source="big.yaml",
    )


def search(ctrl, reward, budget, seed, batch=5):
    """Run ``ctrl`` for ``budget`` proposals; ``(proposals, final state)``."""
    state = ctrl.init_state(seed)
    proposals = []
    step = 0
    while len(proposals) < budget:
        step += 1
        archs = ctrl.propose(state, min(batch, budget - len(proposals)), step)
        state = ctrl.update(state, [(a, reward(a)) for a in archs])
        proposals.extend(archs)
    return proposals, state


def test_same_state_and_step_give_identical_proposals_after_updates():
    space = big_space()
    reward, _ = additive_reward(space, 0)
    ctrl = get_controller("tpe", space, n_startup=5)
    _, state = search(ctrl, reward, 15, seed=3)
    first = ctrl.propose(state, 5, 4)
    assert ctrl.propose(state, 5, 4) == first
    assert get_controller("tpe", space, n_startup=5).propose(state, 5, 4) == first
    # the step and the seed both change the sampler's draws (few repeats in 256)
    assert ctrl.propose(state, 5, 5) != first
    assert search(ctrl, reward, 15, seed=4)[0] != search(ctrl, reward, 15, seed=3)[0]


@pytest.mark.parametrize("retries", [0, 10])
def test_no_architecture_is_proposed_twice_until_the_space_is_exhausted(retries):
    # constant rewards: TPE has nothing to go on and keeps asking for the same region
    ctrl = get_controller("tpe", SPACE, n_startup=3, retries=retries)
    proposals, state = search(ctrl, lambda a: 1.0, 25, seed=0)
    assert len(set(proposals)) == 25
    last = ctrl.propose(state, 5, 6)
    assert set(last[:2]) == set(SPACE.architectures()) - set(proposals)
    assert len(set(last[:2])) == 2
    # every architecture tried: repeats are allowed, still valid and deterministic
    full = ctrl.update(state, [(a, 1.0) for a in last[:2]])
    again = ctrl.propose(full, 4, 7)
    assert len(again) == 4 and again == ctrl.propose(full, 4, 7)
    for a in again:
        SPACE.encode(a)


def additive_reward(space, seed):
    """A reward adding one fixed effect per chosen option, and ``(reward, gold ranks)``."""
    rng = np.random.default_rng(seed)
    effects = [rng.normal(0, 1, k) for k in space.option_counts]

    def reward(arch):
        return float(sum(e[i] for e, i in zip(effects, space.encode(arch), strict=True)))

    truth = sorted((reward(a) for a in space.architectures()), reverse=True)
    return reward, lambda arch: truth.index(reward(arch)) + 1


def test_tpe_learns_an_additive_problem_better_than_random():
    space = big_space()
    tpe, rand = get_controller("tpe", space), get_controller("random", space)
    ranks = {"tpe": [], "random": []}
    for seed in range(8):
        reward, rank = additive_reward(space, seed)
        for name, ctrl in (("tpe", tpe), ("random", rand)):
            _, state = search(ctrl, reward, 40, seed)
            ranks[name].append(rank(ctrl.most_likely(state)))
    # 40 of 256: random's best lies around rank 6 on average, TPE's near the top
    assert np.median(ranks["tpe"]) <= 2
    assert np.mean(ranks["tpe"]) < np.mean(ranks["random"]) / 2


def test_most_likely_is_the_best_seen_and_probabilities_follow_the_good_group():
    ctrl = get_controller("tpe", SPACE)
    results = [(a, float(i)) for i, a in enumerate(list(SPACE.architectures())[:20])]
    state = ctrl.update(ctrl.init_state(0), results[:10])
    state = ctrl.update(state, results[10:])
    best = results[-1][0]
    assert ctrl.most_likely(state) == best
    # 20 results: the good group is the best 2, which share the first two layers' options
    probs = ctrl.layer_probabilities(state)
    assert [SPACE.layers[j].option_names[int(np.argmax(probs[j]))] for j in range(2)] == list(best[:2])
    assert probs[0][SPACE.layers[0].index(best[0])] == pytest.approx(3 / 5)
    assert np.allclose(ctrl.layer_probabilities(ctrl.init_state(0)), 1 / 3)


def test_state_round_trip_keeps_the_history(tmp_path):
    ctrl = get_controller("tpe", SPACE, n_startup=4, retries=3)
    proposals, state = search(ctrl, lambda a: fake_rewards([a])[0][1], 10, seed=2)
    ctrl.save_state(state, tmp_path / "s")
    again, loaded = load_controller(tmp_path / "s", SPACE)
    assert again.settings == ctrl.settings
    assert loaded.extra["history"] == [[list(SPACE.encode(a)), fake_rewards([a])[0][1]] for a in proposals]
    assert again.propose(loaded, 5, 3) == ctrl.propose(state, 5, 3)
    assert again.most_likely(loaded) == ctrl.most_likely(state)


@pytest.mark.parametrize(
    "history",
    [
        "nope",
        [[[0, 0], 1.0]],  # too few layers
        [[[0, 0, 3], 1.0]],  # no option 3
        [[[0, 0, 0], "x"]],
        [[[0, 0, 0], 1.0], [[0, 1, 0], 0.5]],  # more results than n_seen
    ],
)
def test_a_state_with_a_bad_history_is_rejected(tmp_path, history):
    ctrl = get_controller("tpe", SPACE)
    state = ctrl.update(ctrl.init_state(0), [(("conv_k4", "none", "gmax"), 1.0)])
    ctrl.save_state(state, tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    obj = json.loads(path.read_text())
    obj["extra"]["history"] = history
    obj["checksum"] = _checksum(obj)
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match="history.*delete") as err:
        ctrl.load_state(tmp_path / "s")
    assert err.value.key == "extra.history"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n_startup", -1),
        ("n_startup", 2.5),
        ("multivariate", "yes"),
        ("n_candidates", 0),
        ("retries", True),
        ("n_candidates", 2.0),
        ("gamma", 0.2),
    ],
)
def test_bad_settings_name_the_key(key, value):
    with pytest.raises(InputError, match=key) as err:
        get_controller("tpe", SPACE, **{key: value})
    assert err.value.key == key


def test_a_missing_optuna_is_an_input_error(monkeypatch):
    ctrl = get_controller("tpe", SPACE)
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(InputError, match="needs Optuna"):
        ctrl.propose(ctrl.init_state(0), 1, 1)


def test_importing_controllers_does_not_import_optuna():
    code = (
        "import sys, bionas.search.strategies as c, bionas.search.replay;"
        "from bionas.records.space import load_space;"
        "ctrl = c.get_controller('tpe', load_space('config/model_space.yaml'));"
        "state = ctrl.init_state(0);"
        "ctrl.most_likely(state); ctrl.layer_probabilities(state);"
        "assert 'optuna' not in sys.modules, 'optuna imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT))


def test_state_of_another_space_is_refused_by_propose():
    ctrl = get_controller("tpe", SPACE)
    with pytest.raises(ValueError, match="another model space"):
        get_controller("tpe", small_space(n_conv=4)).propose(ctrl.init_state(0), 1, 1)
