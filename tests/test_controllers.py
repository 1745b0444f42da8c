"""One contract over every controller, then what is particular to each."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from bionas.errors import InputError
from bionas.records.controller_state import _checksum
from bionas.records.space import parse_space
from bionas.search.strategies import CONTROLLERS, get_controller, load_controller


def small_space(n_conv: int = 3, source: str = "small.yaml"):
    """3 layers x 3 options (27 architectures) unless ``n_conv`` says otherwise."""
    return parse_space(
        {
            "layers": [
                {
                    "name": "conv",
                    "options": [
                        {"name": f"conv_k{4 + 2 * i}", "type": "conv1d", "filters": 8,
                         "kernel_size": 4 + 2 * i}
                        for i in range(n_conv)
                    ],
                },
                {
                    "name": "pool",
                    "options": [
                        {"name": "none", "type": "identity"},
                        {"name": "max2", "type": "maxpool1d", "size": 2},
                        {"name": "avg2", "type": "avgpool1d", "size": 2},
                    ],
                },
                {
                    "name": "reduce",
                    "options": [
                        {"name": "gmax", "type": "global_max_pool"},
                        {"name": "gavg", "type": "global_avg_pool"},
                        {"name": "flatten", "type": "flatten"},
                    ],
                },
            ]
        },
        source=source,
    )


SPACE = small_space()
NAMES = list(CONTROLLERS)
# a few updates keep the rl tests quick
FAST_RL = {"lstm_units": 8, "embedding_dim": 4}


def make(name, space=SPACE, **settings):
    if name == "rl":
        settings = {**FAST_RL, **settings}
    return get_controller(name, space, **settings)


def fake_rewards(archs):
    """A deterministic reward: prefers conv_k8, max2 and gmax."""
    best = ("conv_k8", "max2", "gmax")
    return [(a, float(sum(x == y for x, y in zip(a, best, strict=True)))) for a in archs]


def snapshot(state):
    """A deep copy of everything in a state, for before/after comparisons."""
    return (
        state.controller, dict(state.settings), state.fingerprint, state.seed, state.step,
        state.n_seen, json.dumps(state.best, sort_keys=True), json.dumps(dict(state.extra), sort_keys=True),
        {k: v.copy() for k, v in state.arrays.items()},
    )


def same_snapshot(a, b):
    return a[:-1] == b[:-1] and a[-1].keys() == b[-1].keys() and all(
        np.array_equal(a[-1][k], b[-1][k]) for k in a[-1]
    )


def arrays_equal(s1, s2):
    return s1.arrays.keys() == s2.arrays.keys() and all(
        np.array_equal(s1.arrays[k], s2.arrays[k]) for k in s1.arrays
    )


# -- the contract ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
class TestContract:
    def test_proposals_are_valid_names(self, name):
        ctrl = make(name)
        archs = ctrl.propose(ctrl.init_state(0), 7, 1)
        assert len(archs) == 7
        for a in archs:
            assert isinstance(a, tuple) and len(a) == 3
            SPACE.encode(a)  # raises on an unknown name

    def test_propose_is_deterministic_for_a_state_and_step(self, name):
        ctrl = make(name)
        state = ctrl.init_state(4)
        assert ctrl.propose(state, 6, 2) == ctrl.propose(state, 6, 2)
        # a fresh controller object and state from the same seed agree too
        other = make(name)
        assert other.propose(other.init_state(4), 6, 2) == ctrl.propose(state, 6, 2)

    def test_save_load_round_trip(self, name, tmp_path):
        ctrl = make(name)
        state = ctrl.init_state(1)
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 5, 1)))
        ctrl.save_state(state, tmp_path / "s")
        loaded = make(name).load_state(tmp_path / "s")
        assert same_snapshot(snapshot(loaded), snapshot(state))
        assert ctrl.propose(loaded, 5, 2) == ctrl.propose(state, 5, 2)
        again, loaded2 = load_controller(tmp_path / "s", SPACE)
        assert again.name == name and again.settings == ctrl.settings
        assert again.propose(loaded2, 5, 2) == ctrl.propose(state, 5, 2)

    def test_update_returns_a_new_state_and_leaves_the_old_one(self, name):
        ctrl = make(name)
        state = ctrl.init_state(2)
        before = snapshot(state)
        results = fake_rewards(ctrl.propose(state, 5, 1))
        new = ctrl.update(state, results)
        assert new is not state
        assert same_snapshot(snapshot(state), before)
        assert new.step == state.step + 1 and new.n_seen == 5
        assert new.best["reward"] == max(r for _, r in results)
        for a in state.arrays.values():
            assert not a.flags.writeable

    def test_most_likely_and_probabilities(self, name):
        ctrl = make(name)
        state = ctrl.init_state(0)
        SPACE.encode(ctrl.most_likely(state))
        probs = ctrl.layer_probabilities(state)
        assert [p.shape for p in probs] == [(3,), (3,), (3,)]
        for p in probs:
            assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-6)
        assert 0 <= ctrl.entropy(state) <= math.log(27) + 1e-6
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 5, 1)))
        SPACE.encode(ctrl.most_likely(state))

    def test_state_of_another_space_is_rejected(self, name, tmp_path):
        ctrl = make(name)
        ctrl.save_state(ctrl.init_state(0), tmp_path / "s")
        other = make(name, small_space(n_conv=4, source="other.yaml"))
        with pytest.raises(InputError, match="another model space.*delete") as err:
            other.load_state(tmp_path / "s")
        assert err.value.path.endswith("state.json")
        with pytest.raises(InputError, match="another model space"):
            load_controller(tmp_path / "s", other.space)
        with pytest.raises(ValueError):
            other.propose(ctrl.init_state(0), 1, 1)

    def test_state_of_another_controller_is_rejected(self, name, tmp_path):
        ctrl = make(name)
        ctrl.save_state(ctrl.init_state(0), tmp_path / "s")
        other = make("grid" if name != "grid" else "random")
        with pytest.raises(InputError, match=f"belongs to the {name} controller"):
            other.load_state(tmp_path / "s")

    @pytest.mark.parametrize("damage", ["truncate", "edit_step", "drop_key", "missing", "valid_edit"])
    def test_damaged_state_is_rejected(self, name, tmp_path, damage):
        ctrl = make(name)
        ctrl.save_state(ctrl.init_state(0), tmp_path / "s")
        path = tmp_path / "s" / "state.json"
        text = path.read_text()
        if damage == "truncate":
            path.write_text(text[: len(text) // 2])
        elif damage == "edit_step":
            path.write_text(text.replace('"step": 0', '"step": -3'))
        elif damage == "drop_key":
            obj = json.loads(text)
            del obj["seed"]
            path.write_text(json.dumps(obj))
        elif damage == "valid_edit":  # a plausible value, caught by the checksum
            path.write_text(text.replace('"seed": 0', '"seed": 1'))
        else:
            path.unlink()
        with pytest.raises(InputError) as err:
            ctrl.load_state(tmp_path / "s")
        assert err.value.path == str(path)
        if damage != "missing":
            assert "delete" in str(err.value)

    def test_update_rejects_bad_results(self, name):
        ctrl = make(name)
        state = ctrl.init_state(0)
        with pytest.raises(ValueError, match="finite"):
            ctrl.update(state, [(("conv_k4", "none", "gmax"), math.nan)])
        with pytest.raises(InputError, match="no option"):
            ctrl.update(state, [(("conv_k4", "none", "nope"), 1.0)])
        with pytest.raises(ValueError):
            ctrl.update(state, [])

    def test_init_state_rejects_a_negative_seed(self, name):
        with pytest.raises(ValueError):
            make(name).init_state(-1)


def test_unknown_controller_and_settings():
    with pytest.raises(InputError, match="unknown controller"):
        get_controller("bayes", SPACE)
    with pytest.raises(InputError, match="no setting"):
        get_controller("random", SPACE, learning_rate=0.1)
    with pytest.raises(InputError, match="learning_rate"):
        get_controller("rl", SPACE, learning_rate=-1.0)
    with pytest.raises(InputError, match="algorithm"):
        get_controller("rl", SPACE, algorithm="sgd")
    with pytest.raises(InputError, match="lstm_units"):
        get_controller("rl", SPACE, lstm_units=2.5)


def test_importing_controllers_does_not_import_tensorflow():
    code = (
        "import sys, bionas.search.strategies as c;"
        "from bionas.records.space import load_space;"
        "s = load_space('config/model_space.yaml');"
        "[c.get_controller(n, s).propose(c.get_controller(n, s).init_state(0), 2, 1) "
        "for n in ('random', 'grid')];"
        "import bionas.search.replay, bionas.records.history;"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(_root()))


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


# -- random ---------------------------------------------------------------------------


def test_random_varies_with_step_and_seed_and_is_uniform():
    ctrl = make("random")
    state = ctrl.init_state(0)
    assert ctrl.propose(state, 10, 1) != ctrl.propose(state, 10, 2)
    assert ctrl.propose(state, 10, 1) != ctrl.propose(ctrl.init_state(1), 10, 1)
    archs = ctrl.propose(state, 2700, 1)
    counts = np.bincount([SPACE.encode(a)[0] for a in archs], minlength=3)
    assert np.all(np.abs(counts - 900) < 120)
    assert ctrl.entropy(state) == pytest.approx(math.log(27))


def test_random_most_likely_is_the_best_seen():
    ctrl = make("random")
    state = ctrl.init_state(0)
    state = ctrl.update(state, [(("conv_k4", "none", "gmax"), 0.1), (("conv_k6", "max2", "gavg"), 0.7)])
    state = ctrl.update(state, [(("conv_k8", "none", "gmax"), 0.5)])
    assert ctrl.most_likely(state) == ("conv_k6", "max2", "gavg")


# -- grid -------------------------------------------------------------------------------


def test_grid_walks_every_architecture_once_in_order():
    ctrl = make("grid")
    state = ctrl.init_state(0)
    seen = []
    step = 0
    while len(seen) < SPACE.size:
        step += 1
        archs = ctrl.propose(state, min(5, SPACE.size - len(seen)), step)
        assert ctrl.propose(state, len(archs), step + 100) == archs  # the step does not matter
        seen += archs
        state = ctrl.update(state, fake_rewards(archs))
    assert seen == list(SPACE.architectures())
    assert ctrl.most_likely(state) == ("conv_k8", "max2", "gmax")
    with pytest.raises(InputError, match=r"0 architecture\(s\) left of the 27"):
        ctrl.propose(state, 1, step + 1)


def test_grid_refuses_more_than_remain():
    ctrl = make("grid")
    state = ctrl.update(ctrl.init_state(0), fake_rewards(ctrl.propose(ctrl.init_state(0), 25, 1)))
    assert len(ctrl.propose(state, 2, 2)) == 2
    with pytest.raises(InputError, match=r"2 architecture\(s\) left of the 27 .* asked for 3"):
        ctrl.propose(state, 3, 2)


def test_grid_state_with_a_bad_position_is_rejected(tmp_path):
    ctrl = make("grid")
    ctrl.save_state(ctrl.init_state(0), tmp_path / "s")
    path = tmp_path / "s" / "state.json"
    path.write_text(path.read_text().replace('"position": 0', '"position": 99'))
    with pytest.raises(InputError, match="checksum"):
        ctrl.load_state(tmp_path / "s")
    obj = json.loads(path.read_text())  # the same edit with a matching checksum
    obj["checksum"] = _checksum(obj)
    path.write_text(json.dumps(obj))
    with pytest.raises(InputError, match="grid position"):
        ctrl.load_state(tmp_path / "s")


# -- rl -------------------------------------------------------------------------------------


def test_rl_init_is_a_function_of_the_seed():
    a, b = make("rl"), make("rl")
    assert arrays_equal(a.init_state(7), b.init_state(7))
    assert not arrays_equal(a.init_state(7), a.init_state(8))


def test_rl_rerun_from_a_saved_state_is_bit_for_bit(tmp_path):
    ctrl = make("rl")
    state = ctrl.init_state(3)
    for step in (1, 2):
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 5, step)))
    ctrl.save_state(state, tmp_path / "s")
    loaded = make("rl").load_state(tmp_path / "s")
    p1 = ctrl.propose(loaded, 8, 3)
    p2 = ctrl.propose(loaded, 8, 3)
    assert p1 == p2 == ctrl.propose(state, 8, 3)
    results = fake_rewards(p1)
    u1 = ctrl.update(loaded, results)
    u2 = ctrl.update(loaded, results)
    u3 = make("rl").update(make("rl").load_state(tmp_path / "s"), results)
    assert arrays_equal(u1, u2) and arrays_equal(u1, u3)
    assert u1.extra == u2.extra == u3.extra
    assert not arrays_equal(u1, loaded)


def test_rl_weights_file_edited_is_rejected(tmp_path):
    ctrl = make("rl")
    ctrl.save_state(ctrl.init_state(0), tmp_path / "s")
    weights = tmp_path / "s" / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum.*delete") as err:
        ctrl.load_state(tmp_path / "s")
    assert err.value.path == str(weights)
    weights.unlink()
    with pytest.raises(InputError, match="missing"):
        ctrl.load_state(tmp_path / "s")


def test_rl_state_with_other_settings_is_rejected(tmp_path):
    make("rl").save_state(make("rl").init_state(0), tmp_path / "s")
    with pytest.raises(InputError, match="other settings"):
        make("rl", learning_rate=0.5).load_state(tmp_path / "s")
    ctrl, _ = load_controller(tmp_path / "s", SPACE)  # settings come from the state
    assert ctrl.settings["lstm_units"] == FAST_RL["lstm_units"]


@pytest.mark.parametrize("advantage", ["rank", "baseline"])
@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_rl_learns_a_bandit(algorithm, advantage):
    ctrl = make("rl", algorithm=algorithm, advantage=advantage, learning_rate=0.05)
    state = ctrl.init_state(0)
    start = ctrl.layer_probabilities(state)
    for step in range(1, 16):
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 5, step)))
    assert ctrl.most_likely(state) == ("conv_k8", "max2", "gmax")
    end = ctrl.layer_probabilities(state)
    assert all(e.max() > s.max() for s, e in zip(start, end, strict=True))
    assert ctrl.entropy(state) < math.log(27) - 0.5
    assert math.isfinite(state.extra["baseline"]) and state.extra["reward_var"] >= 0


def test_centred_ranks_by_hand():
    from bionas.search.strategies.rl import _centred_ranks

    sd = math.sqrt(2 / 3)  # of the centred ranks -1, 0, 1
    assert np.allclose(_centred_ranks(np.array([0.1, 0.5, 0.3])), [-1 / sd, 1 / sd, 0])
    # ties share their mean rank: ranks 1.5, 1.5, 3 -> -0.5, -0.5, 1
    assert np.allclose(_centred_ranks(np.array([-2.0, -2.0, 7.0])), np.array([-0.5, -0.5, 1]) / math.sqrt(0.5))
    assert np.array_equal(_centred_ranks(np.array([0.4, 0.4])), [0.0, 0.0])


def test_rank_advantage_reads_only_the_order_of_rewards():
    """A monotone change of the rewards (one child at chance level, another scale)
    leaves a rank update unchanged; the baseline update moves with it."""
    def updated(advantage, rewards):
        ctrl = make("rl", advantage=advantage)
        state = ctrl.init_state(3)
        archs = ctrl.propose(state, 4, 1)
        return ctrl.update(state, list(zip(archs, rewards, strict=True))).arrays

    near = [-0.031, -0.034, -0.040, -0.037]
    far = [-0.031, -0.034, -0.693, -0.037]  # same order, one child at chance level
    same = [np.array_equal(a, b) for a, b in
            zip(updated("rank", near).values(), updated("rank", far).values(), strict=True)]
    assert all(same)
    moved = [np.array_equal(a, b) for a, b in
             zip(updated("baseline", near).values(), updated("baseline", far).values(), strict=True)]
    assert not all(moved)


def test_rank_advantage_with_one_child_uses_the_baseline():
    rank, base = make("rl", advantage="rank"), make("rl", advantage="baseline")
    s_rank, s_base = rank.init_state(1), base.init_state(1)
    for step in range(1, 4):
        arch = rank.propose(s_rank, 1, step)
        assert arch == base.propose(s_base, 1, step)
        s_rank = rank.update(s_rank, [(arch[0], -0.1 * step)])
        s_base = base.update(s_base, [(arch[0], -0.1 * step)])
    for key, value in s_rank.arrays.items():
        assert np.array_equal(value, s_base.arrays[key]), key
    assert s_rank.extra["baseline"] == s_base.extra["baseline"]


def test_elite_by_hand():
    from bionas.search.strategies.rl import _elite

    rewards = np.array([0.1, 0.5, 0.3, 0.5, -1.0])
    assert _elite(rewards, 0.4).tolist() == [1, 3]  # round(0.4 * 5) = 2; ties by arrival
    assert _elite(rewards, 0.2).tolist() == [1]
    assert _elite(rewards, 0.01).tolist() == [1]  # at least one
    assert _elite(rewards, 0.0).tolist() == []
    # only results better than the worst: all failed children (one penalty) give no elite
    assert _elite(np.array([-10.0, -10.0, -10.0]), 0.5).tolist() == []
    assert _elite(np.array([-10.0, -10.0, -3.0]), 0.9).tolist() == [2]


def test_elite_joins_every_update():
    """Step 2's update is one REINFORCE step on the step's children (rank
    advantages) and the best 20% of all 8 results (advantage 0.5), computed here
    by hand; the state keeps every result in order."""
    from bionas.search.strategies import policy
    from bionas.search.strategies.rl import _centred_ranks

    ctrl = make("rl")
    s0 = ctrl.init_state(5)
    first = ctrl.propose(s0, 4, 1)
    r1 = [-0.3, -0.1, -0.7, -0.2]
    s1 = ctrl.update(s0, list(zip(first, r1, strict=True)))
    second = ctrl.propose(s1, 4, 2)
    r2 = [-0.05, -0.4, -0.15, -0.6]
    s2 = ctrl.update(s1, list(zip(second, r2, strict=True)))

    seen = [list(ctrl.space.encode(a)) for a in first + second]
    assert s2.extra["seen"] == [[i, r] for i, r in zip(seen, r1 + r2, strict=True)]
    # the elite of 8 results: round(1.6) = 2, rewards -0.05 (step 2) and -0.1 (step 1)
    elite = [seen[4], seen[1]]
    actions = np.array([*seen[4:], *elite])
    advantages = np.concatenate([_centred_ranks(np.array(r2)), [0.5, 0.5]])
    counts = ctrl.space.option_counts
    _, grads = policy.loss_and_gradients(s1.arrays, counts, 1.0, actions, advantages, 0.005)
    expected = policy.adam_step(s1.arrays, grads, counts)
    for key, value in expected.items():
        assert np.array_equal(s2.arrays[key], value), key

    # elite_weight 0: the children alone
    plain = make("rl", elite_weight=0.0)
    p1 = plain.update(plain.init_state(5), list(zip(first, r1, strict=True)))
    p2 = plain.update(p1, list(zip(second, r2, strict=True)))
    _, grads = policy.loss_and_gradients(
        p1.arrays, counts, 1.0, np.array(seen[4:]), _centred_ranks(np.array(r2)), 0.005
    )
    for key, value in policy.adam_step(p1.arrays, grads, counts).items():
        assert np.array_equal(p2.arrays[key], value), key
    assert not np.array_equal(p2.arrays["policy_004"], s2.arrays["policy_004"])


def test_elite_memory_survives_save_and_load(tmp_path):
    ctrl = make("rl")
    state = ctrl.init_state(2)
    for step in range(1, 3):
        state = ctrl.update(state, fake_rewards(ctrl.propose(state, 3, step)))
    ctrl.save_state(state, tmp_path / "s")
    loaded = ctrl.load_state(tmp_path / "s")
    assert loaded.extra["seen"] == state.extra["seen"] and len(loaded.extra["seen"]) == 6
    nxt = ctrl.propose(state, 3, 3)
    a = ctrl.update(state, fake_rewards(nxt))
    b = ctrl.update(loaded, fake_rewards(nxt))
    assert all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)


@pytest.mark.parametrize(
    "seen",
    [
        "all of them",
        [[[0, 0], -0.1]],  # two layers of three
        [[[0, 0, 9], -0.1]],  # option 9 of a layer of 3
        [[[0, 0, 0], None]],
        [[[0, True, 0], -0.1]],
    ],
)
def test_rl_state_with_a_bad_elite_memory_is_rejected(tmp_path, seen):
    ctrl = make("rl")
    state = ctrl.init_state(0)
    ctrl.save_state(dataclasses.replace(state, extra={**state.extra, "seen": seen}), tmp_path / "s")
    with pytest.raises(InputError, match="seen") as err:
        ctrl.load_state(tmp_path / "s")
    assert err.value.key == "extra.seen"


def test_rl_rejects_an_unknown_advantage():
    with pytest.raises(InputError, match="advantage"):
        make("rl", advantage="median")


def test_rl_temperature_flattens_proposals():
    sharp = make("rl", temperature=0.2)
    state = sharp.init_state(0)
    for step in range(1, 6):
        state = sharp.update(state, fake_rewards(sharp.propose(state, 5, step)))
    e_sharp = sharp.entropy(state)
    flat = make("rl", temperature=5.0)
    assert flat.entropy(flat.init_state(0)) > e_sharp


@pytest.mark.parametrize("name", ["evolution", "tpe", "nsga2", "gp", "grid"])
def test_pending_architectures_are_not_proposed_again(name):
    """search.in_flight > 1: a step proposes from an older state, told the proposals still
    training; the strategies that never repeat a child skip them too."""
    ctrl = make(name)
    state = ctrl.update(ctrl.init_state(5), fake_rewards(ctrl.propose(ctrl.init_state(5), 4, 1)))
    pending = ctrl.propose(state, 6, 2)
    archs = ctrl.propose(state, 6, 3, pending)
    assert not set(archs) & set(pending)
    assert len(set(archs)) == len(archs)
    assert ctrl.propose(state, 6, 3, pending) == archs  # a function of state, step and pending
