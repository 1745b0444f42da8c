"""The regularized-evolution controller (the shared contract is in test_controllers.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bionas.errors import InputError
from bionas.records.controller_state import _checksum
from bionas.records.space import parse_space
from bionas.search.strategies import get_controller, load_controller
from bionas.search.strategies.base import derive_rng

# 3 layers x 3 options (27 architectures), as in test_controllers.py
SPACE = parse_space({"layers": [
    {"name": "conv", "options": [
        {"name": f"conv_k{k}", "type": "conv1d", "filters": 8, "kernel_size": k} for k in (4, 6, 8)]},
    {"name": "pool", "options": [
        {"name": "none", "type": "identity"},
        {"name": "max2", "type": "maxpool1d", "size": 2},
        {"name": "avg2", "type": "avgpool1d", "size": 2}]},
    {"name": "reduce", "options": [
        {"name": "gmax", "type": "global_max_pool"},
        {"name": "gavg", "type": "global_avg_pool"},
        {"name": "flatten", "type": "flatten"}]},
]}, source="small.yaml")
BEST = ("conv_k8", "max2", "gmax")


def fake_rewards(archs):
    """A deterministic reward: the number of layers that agree with :data:`BEST`."""
    return [(a, float(3 - hamming(a, BEST))) for a in archs]


def make(**settings):
    return get_controller("evolution", SPACE, **settings)


def hamming(a, b):
    return sum(x != y for x, y in zip(a, b, strict=True))


def feed(ctrl, results):
    """A state that has learnt ``results`` (one update each, in order)."""
    state = ctrl.init_state(0)
    for layers, reward in results:
        state = ctrl.update(state, [(layers, reward)])
    return state


def search(ctrl, budget, seed=0, batch=5):
    """Every proposal of a search rewarded by :func:`fake_rewards`, and the final state."""
    state = ctrl.init_state(seed)
    proposals = []
    step = 0
    while len(proposals) < budget:
        step += 1
        archs = ctrl.propose(state, min(batch, budget - len(proposals)), step)
        proposals += archs
        state = ctrl.update(state, fake_rewards(archs))
    return proposals, state


def test_proposals_are_a_function_of_state_and_step():
    ctrl = make(population=5, tournament=2)
    _, state = search(ctrl, 10, seed=3)
    first = ctrl.propose(state, 5, 3)
    assert first == ctrl.propose(state, 5, 3)
    assert first == make(population=5, tournament=2).propose(state, 5, 3)
    assert first != ctrl.propose(state, 5, 4)
    # a rerun of the whole search gives the same proposals and state
    again, state2 = search(make(population=5, tournament=2), 10, seed=3)
    assert again == search(ctrl, 10, seed=3)[0]
    assert state2.extra == state.extra


@pytest.mark.parametrize("population", [3, 100])
def test_no_repeats_until_the_space_is_exhausted(population):
    ctrl = make(population=population, tournament=2, mutations=1)
    proposals, state = search(ctrl, 40)
    assert sorted(proposals[:27]) == sorted(SPACE.architectures())
    # then every child re-proposes the final choice
    assert proposals[27:] == [ctrl.most_likely(state)] * 13
    assert ctrl.most_likely(state) == ("conv_k8", "max2", "gmax")


def test_no_repeats_within_one_batch():
    ctrl = make()
    archs = ctrl.propose(ctrl.init_state(5), 27, 1)
    assert sorted(archs) == sorted(SPACE.architectures())
    assert ctrl.propose(ctrl.init_state(5), 29, 1)[27:] == [SPACE.decode([0, 0, 0])] * 2


def test_random_children_until_the_population_is_full():
    """With 4 results and P 5 children ignore the one good result; with P 4 they descend from it."""
    best = ("conv_k8", "max2", "gmax")
    results = [(best, 10.0), (("conv_k4", "none", "gavg"), 0.0),
               (("conv_k6", "avg2", "flatten"), 0.0), (("conv_k4", "avg2", "flatten"), 0.0)]
    random_phase = make(population=5, tournament=5, mutations=1)
    children = random_phase.propose(feed(random_phase, results), 20, 1)
    assert any(hamming(c, best) > 1 for c in children)
    evolving = make(population=4, tournament=4, mutations=1)
    children = evolving.propose(feed(evolving, results), 6, 1)
    assert sorted(children) == sorted(
        a for a in SPACE.architectures() if hamming(a, best) == 1
    )


def test_the_oldest_result_leaves_the_population():
    """S = P: the parent is the best of the last P results, so an old best is forgotten."""
    old_best = ("conv_k8", "max2", "gmax")
    newer = [(("conv_k4", "none", "gavg"), 1.0), (("conv_k6", "none", "flatten"), 3.0),
             (("conv_k4", "avg2", "flatten"), 2.0)]
    young = ("conv_k6", "none", "flatten")
    keeps = make(population=4, tournament=4, mutations=1)
    state = feed(keeps, [(old_best, 10.0), *newer])
    assert all(hamming(c, old_best) == 1 for c in keeps.propose(state, 5, 1))
    ages = make(population=3, tournament=3, mutations=1)
    state = feed(ages, [(old_best, 10.0), *newer])
    children = ages.propose(state, 5, 1)
    assert all(hamming(c, young) == 1 for c in children)
    assert not any(hamming(c, old_best) == 1 for c in children)
    # the population is the last P results: its option shares say so
    probs = ages.layer_probabilities(state)
    assert probs[0].tolist() == [2 / 3, 1 / 3, 0.0]  # conv_k4 twice, conv_k6 once, not conv_k8


def test_tournament_takes_the_best_of_its_sample():
    ctrl = make(population=6, tournament=3)
    population = [[list(SPACE.encode(a)), r] for a, r in
                  zip(list(SPACE.architectures())[:6], [0.5, 0.1, 0.9, 0.3, 0.7, 0.2], strict=True)]
    rng = np.random.default_rng(0)
    parents = [ctrl._tournament(population, rng) for _ in range(600)]
    rewards = {tuple(a): r for a, r in population}
    won = np.array([rewards[p] for p in parents])
    # the best of 3 distinct members is never one of the 2 worst
    assert not np.isin(won, [0.1, 0.2]).any()
    # the best member wins when it is drawn: with probability S / P
    assert abs(np.mean(won == 0.9) - 0.5) < 0.07
    # and the winner is the best of the members the generator drew
    rng, replay = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(50):
        drawn = replay.choice(6, 3, replace=False)
        expected = max(drawn, key=lambda i: population[i][1])
        assert ctrl._tournament(population, rng) == tuple(population[expected][0])


def test_a_tournament_of_one_is_a_uniform_draw():
    ctrl = make(population=6, tournament=1)
    population = [[list(SPACE.encode(a)), float(r)] for r, a in enumerate(list(SPACE.architectures())[:6])]
    rng = np.random.default_rng(0)
    won = {ctrl._tournament(population, rng) for _ in range(600)}
    assert won == {tuple(a) for a, _ in population}  # the worst wins too


@pytest.mark.parametrize("mutations", [1, 2, 3])
def test_a_mutation_changes_exactly_that_many_layers(mutations):
    ctrl = make(mutations=mutations)
    rng = derive_rng(0, 1, 0)
    parent = (1, 0, 2)
    children = [ctrl._mutate(parent, rng) for _ in range(300)]
    assert all(hamming(c, parent) == mutations for c in children)
    # every option other than the parent's is reached in every layer
    for layer in range(3):
        assert {c[layer] for c in children} >= {0, 1, 2} - {parent[layer]}


def test_layers_with_one_option_never_change():
    space = parse_space({"layers": [
        {"name": "conv", "options": [
            {"name": f"conv_k{k}", "type": "conv1d", "filters": 8, "kernel_size": k} for k in (4, 8)]},
        {"name": "reduce", "options": [{"name": "gmax", "type": "global_max_pool"}]},
    ]}, source="tiny.yaml")
    ctrl = get_controller("evolution", space, population=1, tournament=1, mutations=2)
    rng = derive_rng(0, 1, 0)
    assert {ctrl._mutate((0, 0), rng) for _ in range(20)} == {(1, 0)}
    state = ctrl.update(ctrl.init_state(0), [(("conv_k4", "gmax"), 1.0)])
    assert ctrl.propose(state, 3, 1) == [("conv_k8", "gmax"), ("conv_k4", "gmax"), ("conv_k4", "gmax")]


def test_most_likely_is_the_best_mean_over_evaluations():
    ctrl = make()
    assert ctrl.most_likely(ctrl.init_state(0)) == SPACE.decode([0, 0, 0])
    lucky, steady, other = ("conv_k4", "none", "gmax"), ("conv_k6", "max2", "gavg"), ("conv_k8", "avg2", "gmax")
    state = feed(ctrl, [(lucky, 1.0), (steady, 0.8), (other, 0.5)])
    assert ctrl.most_likely(state) == lucky  # one evaluation each: the best single reward
    state = ctrl.update(state, [(lucky, 0.0)])  # a repeat: mean 0.5
    assert ctrl.most_likely(state) == steady
    assert state.best["layers"] == list(lucky)  # the best single reward is still recorded
    tie = feed(ctrl, [(other, 0.5), (steady, 0.5)])
    assert ctrl.most_likely(tie) == other  # ties: the earliest


def test_state_round_trips_and_resumes(tmp_path):
    ctrl = make(population=5, tournament=2)
    _, state = search(ctrl, 12)
    ctrl.save_state(state, tmp_path / "s")
    loaded = make(population=5, tournament=2).load_state(tmp_path / "s")
    assert loaded.extra["history"] == state.extra["history"] and len(loaded.extra["history"]) == 12
    assert ctrl.propose(loaded, 5, 4) == ctrl.propose(state, 5, 4)
    again, state2 = load_controller(tmp_path / "s", SPACE)
    assert again.settings == {"population": 5, "tournament": 2, "mutations": 2}
    assert again.most_likely(state2) == ctrl.most_likely(state)
    with pytest.raises(InputError, match="other settings"):
        make(population=6, tournament=2).load_state(tmp_path / "s")
    assert not list(tmp_path.glob("s/*.npz"))  # no arrays, no weights file


@pytest.mark.parametrize(
    ("history", "match"),
    [
        ("none", "list of"),
        ([[[0, 0], 0.1]], "list of"),  # two layers of three
        ([[[0, 0, 3], 0.1]], "list of"),  # option 3 of a layer of 3
        ([[[0, 0, 0], None]], "list of"),
        ([[[0, True, 0], 0.1]], "list of"),
        ([[[0, 0, 0], 0.1], [[0, 0, 1], 0.2]], "holds 2 results"),  # n_seen is 1
    ],
)
def test_state_with_a_bad_history_is_rejected(tmp_path, history, match):
    ctrl = make()
    ctrl.save_state(ctrl.update(ctrl.init_state(0), [(SPACE.decode([0, 0, 0]), 0.1)]), tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    obj = json.loads(path.read_text())
    obj["extra"]["history"] = history
    obj["checksum"] = _checksum(obj)  # an edit that the checksum does not catch
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match=match) as err:
        ctrl.load_state(tmp_path / "s")
    assert err.value.key == "extra.history" and err.value.path == str(path)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"population": 0}, "population"),
        ({"population": 2.5}, "population"),
        ({"tournament": 0}, "tournament"),
        ({"population": 4, "tournament": 5}, "tournament"),
        ({"mutations": 0}, "mutations"),
        ({"mutations": "1"}, "mutations"),
        ({"mutations": True}, "mutations"),
        ({"elite": 1}, "elite"),
    ],
)
def test_bad_settings_name_the_key(settings, key):
    with pytest.raises(InputError, match=key) as err:
        make(**settings)
    assert err.value.key == key


def test_evolution_finds_the_best_of_a_noiseless_bandit():
    proposals, state = search(make(), 20, seed=1)
    assert make().most_likely(state) == ("conv_k8", "max2", "gmax")
    assert len(set(proposals)) == 20


def test_evolution_does_not_import_tensorflow():
    code = (
        "import sys, bionas.search.strategies as c;"
        "from bionas.records.space import load_space;"
        "s = load_space('config/model_space.yaml'); e = c.get_controller('evolution', s);"
        "st = e.update(e.init_state(0), [(a, 0.1) for a in e.propose(e.init_state(0), 20, 1)]);"
        "e.propose(st, 5, 2);"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(Path(__file__).resolve().parent.parent))
