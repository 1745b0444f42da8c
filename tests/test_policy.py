"""The numpy policy (bionas.search.strategies.policy) against the same policy built in Keras.

The reference below is the Keras LSTM policy written out with Keras layers
and a GradientTape: it must agree with the numpy rollouts, log-probabilities,
REINFORCE and PPO gradients, and Keras's own Adam step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bionas.records.space import load_space
from bionas.search.strategies import get_controller, policy
from bionas.search.strategies.rl import policy_shapes

ROOT = Path(__file__).resolve().parent.parent
SPACE = load_space(ROOT / "config" / "model_space.yaml")
COUNTS = SPACE.option_counts


class KerasPolicy:
    """Embedding + LSTMCell + one Dense head per layer, holding a state's arrays."""

    def __init__(self, arrays, temperature=1.0, learning_rate=0.03):
        import keras
        import tensorflow as tf

        self.tf = tf
        self.temperature = temperature
        units, emb = arrays["policy_002"].shape[0], arrays["policy_000"].shape[1]
        self.embedding = keras.layers.Embedding(1 + sum(COUNTS), emb)
        self.cell = keras.layers.LSTMCell(units)
        self.heads = [keras.layers.Dense(k) for k in COUNTS]
        self.embedding.build((None,))
        self.cell.build((None, emb))
        for head in self.heads:
            head.build((None, units))
        self.variables = [
            *self.embedding.trainable_variables,
            *self.cell.trainable_variables,
            *(v for h in self.heads for v in h.trainable_variables),
        ]
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        self.optimizer.build(self.variables)
        for i, v in enumerate(self.variables):
            v.assign(arrays[f"policy_{i:03d}"])
        for i, v in enumerate(self.optimizer.variables):
            v.assign(arrays[f"adam_{i:03d}"])
        self.units = units
        self.offsets = [1 + sum(COUNTS[:i]) for i in range(len(COUNTS))]

    def arrays(self):
        out = {f"policy_{i:03d}": v.numpy() for i, v in enumerate(self.variables)}
        out.update({f"adam_{i:03d}": np.asarray(v.numpy()) for i, v in enumerate(self.optimizer.variables)})
        return out

    def _steps(self, n, choose):
        tf = self.tf
        x = self.embedding(tf.zeros([n], tf.int32))
        hc = [tf.zeros([n, self.units]), tf.zeros([n, self.units])]
        for layer in range(len(COUNTS)):
            h, hc = self.cell(x, hc)
            logits = self.heads[layer](h) / self.temperature
            a = choose(layer, logits)
            x = self.embedding(a + self.offsets[layer])

    def sample(self, u):
        tf = self.tf
        u = tf.constant(u)
        out = []

        def choose(layer, logits):
            cdf = tf.cumsum(tf.nn.softmax(logits), axis=1)
            a = tf.reduce_sum(tf.cast(cdf < u[:, layer : layer + 1], tf.int32), axis=1)
            a = tf.minimum(a, COUNTS[layer] - 1)
            out.append(a)
            return a

        self._steps(u.shape[0], choose)
        return np.stack([a.numpy() for a in out], axis=1)

    def forward(self, actions):
        tf = self.tf
        actions = tf.constant(actions, tf.int32)
        acc = {"logp": 0.0, "ent": 0.0}

        def choose(layer, logits):
            log_probs = tf.nn.log_softmax(logits)
            a = actions[:, layer]
            acc["logp"] += tf.gather(log_probs, a, axis=1, batch_dims=1)
            acc["ent"] -= tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=1)
            return a

        self._steps(actions.shape[0], choose)
        return acc["logp"], acc["ent"]

    def step(self, actions, advantages, entropy_weight, old_logp=None, clip=0.2):
        tf = self.tf
        adv = tf.constant(advantages, tf.float32)
        with tf.GradientTape() as tape:
            logp, ent = self.forward(actions)
            if old_logp is None:
                loss = -tf.reduce_mean(adv * logp)
            else:
                ratio = tf.exp(logp - tf.constant(old_logp, tf.float32))
                clipped = tf.clip_by_value(ratio, 1.0 - clip, 1.0 + clip)
                loss = -tf.reduce_mean(tf.minimum(ratio * adv, clipped * adv))
            loss -= entropy_weight * tf.reduce_mean(ent)
        grads = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.variables)]
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return float(loss), [g.numpy() for g in grads]


@pytest.fixture(scope="module")
def trained_state():
    """A state after two updates, so that every weight and Adam variable is non-trivial."""
    controller = get_controller("rl", SPACE)
    state = controller.init_state(5)
    for step in (1, 2):
        proposals = controller.propose(state, 6, step)
        state = controller.update(state, [(a, float(i % 3)) for i, a in enumerate(proposals)])
    return controller, state


def test_state_shapes_are_the_keras_shapes(trained_state):
    _, state = trained_state
    reference = KerasPolicy(state.arrays).arrays()
    assert {k: v.shape for k, v in reference.items()} == policy_shapes(COUNTS, 32, 16)
    assert {k: v.shape for k, v in state.arrays.items()} == policy_shapes(COUNTS, 32, 16)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_matches_keras_exactly(trained_state, temperature):
    _, state = trained_state
    u = np.random.default_rng(1).random((4000, len(COUNTS))).astype(np.float32)
    expected = KerasPolicy(state.arrays, temperature).sample(u)
    np.testing.assert_array_equal(policy.sample(state.arrays, COUNTS, temperature, u), expected)


def test_log_probabilities_and_greedy_match_keras(trained_state):
    _, state = trained_state
    rng = np.random.default_rng(2)
    actions = np.stack([rng.integers(0, k, 50) for k in COUNTS], axis=1)
    logp, _ = KerasPolicy(state.arrays).forward(actions)
    np.testing.assert_allclose(policy.log_probabilities(state.arrays, COUNTS, 1.0, actions), logp.numpy(), atol=1e-5)
    best, probs = policy.greedy(state.arrays, COUNTS, 1.0)
    # the greedy path is the argmax layer by layer, and its probability is the
    # product of the per-layer maxima
    path_logp = policy.log_probabilities(state.arrays, COUNTS, 1.0, best[None, :])[0]
    np.testing.assert_allclose(path_logp, sum(np.log(p.max()) for p in probs), atol=1e-9)
    assert all(abs(p.sum() - 1) < 1e-9 for p in probs)


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
def test_gradients_and_adam_step_match_keras(trained_state, algorithm):
    _, state = trained_state
    rng = np.random.default_rng(3)
    actions = np.stack([rng.integers(0, k, 7) for k in COUNTS], axis=1)
    advantages = rng.normal(size=7).astype(np.float32)
    arrays = dict(state.arrays)
    old_logp = None
    if algorithm == "ppo":
        # old log-probabilities far enough off that some ratios clip, some not
        old_logp = policy.log_probabilities(arrays, COUNTS, 1.0, actions) + rng.normal(0, 0.3, 7)
    keras_policy = KerasPolicy(arrays)
    loss_k, grads_k = keras_policy.step(actions, advantages, 0.05, old_logp)
    loss, grads = policy.loss_and_gradients(arrays, COUNTS, 1.0, actions, advantages, 0.05, old_logp)
    assert loss == pytest.approx(loss_k, abs=1e-5)
    assert len(grads) == len(grads_k)
    for i, (g, gk) in enumerate(zip(grads, grads_k, strict=True)):
        np.testing.assert_allclose(g, gk, atol=1e-5, err_msg=f"gradient of policy_{i:03d}")
    assert any(np.abs(g).max() > 1e-3 for g in grads)  # not a trivially zero gradient
    new = policy.adam_step(arrays, grads, COUNTS)
    expected = keras_policy.arrays()
    assert set(new) == set(expected)
    for key in sorted(expected):
        np.testing.assert_allclose(new[key], expected[key], atol=1e-6, rtol=1e-5, err_msg=key)
        assert new[key].dtype == expected[key].dtype, key
    # the input arrays are left alone
    for key, value in arrays.items():
        np.testing.assert_array_equal(value, state.arrays[key])


def test_update_needs_no_tensorflow(tmp_path):
    """propose and update-controller import neither TensorFlow nor Keras."""
    import subprocess
    import sys

    code = f"""
import sys
from bionas.search.strategies import get_controller
from bionas.records.space import load_space
space = load_space({str(ROOT / 'config' / 'model_space.yaml')!r})
ctrl = get_controller('rl', space)
state = ctrl.load_state({str(tmp_path / 's')!r})
archs = ctrl.propose(state, 4, 1)
state = ctrl.update(state, [(a, float(i)) for i, a in enumerate(archs)])
ctrl.most_likely(state); ctrl.layer_probabilities(state)
assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(m for m in sys.modules if 'tensorflow' in m or 'keras' in m)[:5]
"""
    controller = get_controller("rl", SPACE)
    controller.save_state(controller.init_state(0), tmp_path / "s")
    subprocess.run([sys.executable, "-c", code], check=True)
