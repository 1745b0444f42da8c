"""Reinforcement-learning controller: an LSTM policy over the layers of the space.

The policy emits one categorical distribution per layer. Step 0 reads a
learned start token; every later step reads the embedding of the option
sampled at the step before. Each layer has its own Dense head over its
options, and the sampling distribution is ``softmax(logits / temperature)``.

Learning (one gradient step per update with REINFORCE, ``ppo_epochs`` steps
with PPO-clip), Adam:

- advantage ``A_i = (R_i - b) / s``, where ``b`` is an exponential moving
  average of the batch mean reward (``b <- d * b + (1 - d) * mean(R)``,
  ``d = baseline_decay``; the first batch sets ``b = mean(R)``) and ``s`` the
  square root of the same moving average of the squared deviations ``(R - b)^2``
  (so the learning rate does not depend on the reward's scale, which changes
  with Lambda); both use the baseline from before the update.
- REINFORCE loss: ``-mean(A_i * log pi(a_i)) - entropy_weight * mean(H_i)``
- PPO-clip loss: ``-mean(min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i)) - entropy_weight * mean(H_i)``
  with ``r_i = pi(a_i) / pi_old(a_i)`` over the whole architecture.

``H_i`` is the summed per-layer entropy along architecture i. Sampling draws
uniform numbers from a numpy generator derived from the state's seed and the
step, and inverts the per-layer CDFs inside the TensorFlow graph, so proposals
depend only on the state and the step. TensorFlow runs with one thread and op
determinism, so updates are bit-for-bit repeatable on CPU.

TensorFlow is imported when the first policy is built, never on importing
:mod:`bionas.controller`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bionas.controller.base import (
    Architecture,
    Controller,
    ControllerState,
    Setting,
    derive_rng,
    non_negative_number,
    positive_int,
    positive_number,
    unit_interval,
)
from bionas.errors import InputError

#: Stream number of the proposal draws in :func:`derive_rng`.
PROPOSE_STREAM = 0

_TF_CONFIGURED = False


def _tf():
    """Import TensorFlow and Keras once, single-threaded and deterministic."""
    global _TF_CONFIGURED
    import keras
    import tensorflow as tf

    if not _TF_CONFIGURED:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            # The runtime was started by someone else in this process; its
            # thread pools stay as they are (results are still deterministic
            # with op determinism on, only slower or faster).
            pass
        tf.config.experimental.enable_op_determinism()
        _TF_CONFIGURED = True
    return tf, keras


def _seed_int(*parts: int) -> int:
    """A 31-bit seed derived from integers (for Keras initialisers)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] >> 1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def policy_shapes(counts: tuple[int, ...], units: int, emb: int) -> dict[str, tuple[int, ...]]:
    """Shapes of a state's arrays (policy weights, then Adam's variables) without TensorFlow.

    Policy: option embeddings, LSTM kernel, recurrent kernel and bias, then a
    kernel and a bias per layer head. Adam: iterations, learning rate, then a
    momentum and a velocity per policy weight.
    """
    policy = [(1 + sum(counts), emb), (emb, 4 * units), (units, 4 * units), (4 * units,)]
    for k in counts:
        policy += [(units, k), (k,)]
    out = {f"policy_{i:03d}": shape for i, shape in enumerate(policy)}
    out["adam_000"] = ()
    out["adam_001"] = ()
    for i, shape in enumerate(policy):
        out[f"adam_{2 + 2 * i:03d}"] = shape
        out[f"adam_{3 + 2 * i:03d}"] = shape
    return out


def sample_numpy(
    arrays: dict[str, np.ndarray], counts: tuple[int, ...], temperature: float, u: np.ndarray
) -> np.ndarray:
    """The policy's sampling pass in numpy (float32, as the Keras graph): ``u`` (n, layers)
    uniform draws -> (n, layers) option indices by inverse-CDF sampling.

    ``propose`` uses it so that a proposal job needs no TensorFlow (about 4 s
    less per controller step, all of it on the search's serial path). It
    mirrors ``_Policy._sample_graph``: Keras LSTMCell gates (i, f, c, o) with a
    sigmoid recurrent activation and tanh, one Dense head per layer.
    """
    f32 = np.float32
    emb, kernel, recurrent, bias = (arrays[f"policy_{i:03d}"] for i in range(4))
    units = recurrent.shape[0]
    n = u.shape[0]
    offsets = [1 + sum(counts[:i]) for i in range(len(counts))]
    x = np.repeat(emb[:1], n, axis=0)
    h = np.zeros((n, units), f32)
    c = np.zeros((n, units), f32)
    actions = []
    for layer, k in enumerate(counts):
        z = (x @ kernel + h @ recurrent + bias).astype(f32)
        zi, zf, zc, zo = np.split(z, 4, axis=1)
        c = (_sigmoid(zf) * c + _sigmoid(zi) * np.tanh(zc)).astype(f32)
        h = (_sigmoid(zo) * np.tanh(c)).astype(f32)
        head_k, head_b = arrays[f"policy_{4 + 2 * layer:03d}"], arrays[f"policy_{5 + 2 * layer:03d}"]
        logits = ((h @ head_k + head_b) / f32(temperature)).astype(f32)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p = (p / p.sum(axis=1, keepdims=True)).astype(f32)
        cdf = np.cumsum(p, axis=1)
        a = np.minimum((cdf < u[:, layer : layer + 1]).sum(axis=1), k - 1)
        actions.append(a)
        x = emb[a + offsets[layer]]
    return np.stack(actions, axis=1)


class _Policy:
    """The LSTM policy, its Adam optimizer and the compiled graphs that use them."""

    def __init__(self, counts: tuple[int, ...], settings: dict[str, Any]):
        tf, keras = _tf()
        self.tf = tf
        self.counts = counts
        self.n_layers = len(counts)
        self.offsets = [1 + sum(counts[:i]) for i in range(len(counts))]  # row 0: start token
        self.temperature = float(settings["temperature"])
        units, emb = settings["lstm_units"], settings["embedding_dim"]
        init = keras.initializers

        # Seeded initialisers, one per randomly initialised variable: a state's
        # initial weights are a function of its seed alone (see initial_arrays).
        def embedding_init(seed):
            return init.RandomUniform(-0.05, 0.05, seed=_seed_int(seed, 0))

        def kernel_init(seed):
            return init.GlorotUniform(seed=_seed_int(seed, 1))

        def recurrent_init(seed):
            return init.Orthogonal(seed=_seed_int(seed, 2))

        def head_init(i):
            return lambda seed: init.GlorotUniform(seed=_seed_int(seed, 3, i))

        self.embedding = keras.layers.Embedding(
            1 + sum(counts), emb, embeddings_initializer=embedding_init(0)
        )
        self.cell = keras.layers.LSTMCell(
            units, kernel_initializer=kernel_init(0), recurrent_initializer=recurrent_init(0)
        )
        self.heads = [
            keras.layers.Dense(k, kernel_initializer=head_init(i)(0)) for i, k in enumerate(counts)
        ]
        self.embedding.build((None,))
        self.cell.build((None, emb))
        for head in self.heads:
            head.build((None, units))
        self.units = units
        self.variables = [
            *self.embedding.trainable_variables,
            *self.cell.trainable_variables,
            *(v for head in self.heads for v in head.trainable_variables),
        ]
        self.optimizer = keras.optimizers.Adam(learning_rate=settings["learning_rate"])
        self.optimizer.build(self.variables)
        seeded = {
            id(self.embedding.embeddings): embedding_init,
            id(self.cell.kernel): kernel_init,
            id(self.cell.recurrent_kernel): recurrent_init,
            **{id(h.kernel): head_init(i) for i, h in enumerate(self.heads)},
        }
        self._seeded = [seeded.get(id(v)) for v in self.variables]
        # biases (zeros; the LSTM forget gate ones) and the fresh Adam variables
        # do not depend on the seed
        self._fresh = self.get_arrays()
        self.entropy_weight = float(settings["entropy_weight"])
        self.clip = float(settings["ppo_clip"])
        n_layers = self.n_layers
        self._sample = tf.function(
            self._sample_graph,
            input_signature=[tf.TensorSpec([None, n_layers], tf.float32)],
            reduce_retracing=True,
        )
        self._forward = tf.function(
            self._forward_graph,
            input_signature=[tf.TensorSpec([None, n_layers], tf.int32)],
        )
        self._greedy = tf.function(self._greedy_graph)
        self._reinforce_step = tf.function(
            self._reinforce_graph,
            input_signature=[
                tf.TensorSpec([None, n_layers], tf.int32),
                tf.TensorSpec([None], tf.float32),
            ],
        )
        self._ppo_step = tf.function(
            self._ppo_graph,
            input_signature=[
                tf.TensorSpec([None, n_layers], tf.int32),
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.float32),
            ],
        )
        self.loaded: object = None  # the arrays mapping the variables currently hold

    # -- weights <-> arrays -----------------------------------------------------

    def get_arrays(self) -> dict[str, np.ndarray]:
        out = {f"policy_{i:03d}": v.numpy() for i, v in enumerate(self.variables)}
        for i, v in enumerate(self.optimizer.variables):
            out[f"adam_{i:03d}"] = np.asarray(v.numpy())
        return out

    def initial_arrays(self, seed: int) -> dict[str, np.ndarray]:
        """Weights and Adam variables of a fresh policy seeded with ``seed``."""
        out = dict(self._fresh)
        for i, (v, factory) in enumerate(zip(self.variables, self._seeded, strict=True)):
            if factory is not None:
                value = factory(seed)(tuple(v.shape), dtype=v.dtype)
                out[f"policy_{i:03d}"] = np.asarray(value)
        return out

    def set_arrays(self, arrays) -> None:
        if self.loaded is arrays:
            return
        for i, v in enumerate(self.variables):
            v.assign(arrays[f"policy_{i:03d}"])
        for i, v in enumerate(self.optimizer.variables):
            v.assign(arrays[f"adam_{i:03d}"])
        self.loaded = arrays

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        out = {f"policy_{i:03d}": tuple(v.shape) for i, v in enumerate(self.variables)}
        for i, v in enumerate(self.optimizer.variables):
            out[f"adam_{i:03d}"] = tuple(v.shape)
        return out

    # -- graphs -------------------------------------------------------------------

    def _start(self, n):
        tf = self.tf
        x = self.embedding(tf.zeros([n], tf.int32))
        h = tf.zeros([n, self.units])
        return x, [h, h]

    def _logits(self, layer, x, hc):
        h, hc = self.cell(x, hc)
        return self.heads[layer](h) / self.temperature, hc

    def _sample_graph(self, u):
        tf = self.tf
        x, hc = self._start(tf.shape(u)[0])
        actions = []
        for layer, k in enumerate(self.counts):
            logits, hc = self._logits(layer, x, hc)
            cdf = tf.cumsum(tf.nn.softmax(logits), axis=1)
            a = tf.reduce_sum(tf.cast(cdf < u[:, layer : layer + 1], tf.int32), axis=1)
            a = tf.minimum(a, k - 1)
            actions.append(a)
            x = self.embedding(a + self.offsets[layer])
        return tf.stack(actions, axis=1)

    def _greedy_graph(self):
        tf = self.tf
        x, hc = self._start(1)
        actions, probs = [], []
        for layer in range(self.n_layers):
            logits, hc = self._logits(layer, x, hc)
            probs.append(tf.nn.softmax(logits)[0])
            a = tf.argmax(logits, axis=1, output_type=tf.int32)
            actions.append(a[0])
            x = self.embedding(a + self.offsets[layer])
        return tf.stack(actions), tf.concat(probs, axis=0)

    def _forward_graph(self, actions):
        """Log-probability (n,) and summed per-layer entropy (n,) of given architectures."""
        tf = self.tf
        x, hc = self._start(tf.shape(actions)[0])
        logp, ent = 0.0, 0.0
        for layer in range(self.n_layers):
            logits, hc = self._logits(layer, x, hc)
            log_probs = tf.nn.log_softmax(logits)
            a = actions[:, layer]
            logp += tf.gather(log_probs, a, axis=1, batch_dims=1)
            ent -= tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=1)
            x = self.embedding(a + self.offsets[layer])
        return logp, ent

    def _reinforce_graph(self, actions, advantages):
        tf = self.tf
        with tf.GradientTape() as tape:
            logp, ent = self._forward_graph(actions)
            loss = -tf.reduce_mean(advantages * logp) - self.entropy_weight * tf.reduce_mean(ent)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return loss

    def _ppo_graph(self, actions, advantages, old_logp):
        tf = self.tf
        with tf.GradientTape() as tape:
            logp, ent = self._forward_graph(actions)
            ratio = tf.exp(logp - old_logp)
            clipped = tf.clip_by_value(ratio, 1.0 - self.clip, 1.0 + self.clip)
            surrogate = tf.minimum(ratio * advantages, clipped * advantages)
            loss = -tf.reduce_mean(surrogate) - self.entropy_weight * tf.reduce_mean(ent)
        grads = tape.gradient(loss, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
        return loss

    # -- numpy-facing calls -------------------------------------------------------

    def sample(self, u: np.ndarray) -> np.ndarray:
        return self._sample(self.tf.constant(u, self.tf.float32)).numpy()

    def greedy(self) -> tuple[np.ndarray, np.ndarray]:
        actions, probs = self._greedy()
        return actions.numpy(), probs.numpy().astype(np.float64)

    def train(self, actions: np.ndarray, advantages: np.ndarray, algorithm: str, epochs: int) -> float:
        tf = self.tf
        a = tf.constant(actions, tf.int32)
        adv = tf.constant(advantages, tf.float32)
        if algorithm == "reinforce":
            return float(self._reinforce_step(a, adv))
        old_logp, _ = self._forward(a)
        loss = 0.0
        for _ in range(epochs):
            loss = float(self._ppo_step(a, adv, old_logp))
        return loss


class RLController(Controller):
    """LSTM policy trained with REINFORCE (default) or PPO-clip; see the module docstring.

    The defaults (learning rate 0.03, baseline decay 0.3, entropy weight 0.005)
    suit searches of tens of updates with about 5 children each; they were
    picked by replaying synthetic tables over the default space
    (``bench/replay.py``).
    """

    name = "rl"
    SETTINGS = {
        "learning_rate": Setting(0.03, positive_number, "a positive number", "Adam learning rate"),
        "baseline_decay": Setting(
            0.3, unit_interval, "a number in [0, 1)", "decay of the moving-average reward baseline"
        ),
        "entropy_weight": Setting(
            0.005, non_negative_number, "a number >= 0", "weight of the entropy bonus"
        ),
        "lstm_units": Setting(32, positive_int, "a positive integer", "LSTM units"),
        "embedding_dim": Setting(16, positive_int, "a positive integer", "option embedding size"),
        "algorithm": Setting(
            "reinforce", lambda v: v in ("reinforce", "ppo"), "'reinforce' or 'ppo'",
            "policy-gradient algorithm",
        ),
        "ppo_clip": Setting(
            0.2, lambda v: positive_number(v) and v < 1, "a number in (0, 1)", "PPO clip range"
        ),
        "ppo_epochs": Setting(4, positive_int, "a positive integer", "PPO gradient steps per update"),
        "temperature": Setting(
            1.0, positive_number, "a positive number", "softmax temperature of the policy"
        ),
    }

    def __init__(self, space, **settings):
        super().__init__(space, **settings)
        self._policy: _Policy | None = None

    def _live(self, state: ControllerState | None = None) -> _Policy:
        """The policy network, holding the weights of ``state`` when given."""
        if self._policy is None:
            _, keras = _tf()
            # No TensorFlow random op is used (initialisers carry explicit seeds,
            # draws come from numpy); seeding the global generators once is a guard.
            # It is not repeated per state: it clears TensorFlow's function caches.
            keras.utils.set_random_seed(0 if state is None else state.seed)
            self._policy = _Policy(self.space.option_counts, self.settings)
        if state is not None:
            self._check_state(state)
            self._policy.set_arrays(state.arrays)
        return self._policy

    def _init_extra(self, seed: int):
        arrays = self._live().initial_arrays(seed)
        return {"baseline": None, "reward_var": None, "last_loss": None}, arrays

    def propose(self, state: ControllerState, n: int, step: int) -> list[Architecture]:
        self._check_state(state)
        if n == 0:
            return []
        rng = derive_rng(state.seed, step, PROPOSE_STREAM)
        u = rng.random((int(n), len(self.space.layers))).astype(np.float32)
        actions = sample_numpy(
            state.arrays, self.space.option_counts, float(self.settings["temperature"]), u
        )
        return [self.space.decode(row) for row in actions]

    def _learn(self, state, indices, rewards):
        policy = self._live(state)
        decay = float(self.settings["baseline_decay"])
        baseline = state.extra.get("baseline")
        var = state.extra.get("reward_var")
        mean = float(np.mean(rewards))
        if baseline is None:
            baseline = mean
            var = float(np.mean((rewards - mean) ** 2))
        scale = max(math.sqrt(var), 1e-6) if var > 0 else 1.0
        advantages = (rewards - baseline) / scale
        loss = policy.train(
            indices.astype(np.int32), advantages.astype(np.float32),
            self.settings["algorithm"], self.settings["ppo_epochs"],
        )
        new_baseline = decay * baseline + (1 - decay) * mean
        new_var = decay * var + (1 - decay) * float(np.mean((rewards - baseline) ** 2))
        arrays = policy.get_arrays()
        extra = {"baseline": new_baseline, "reward_var": new_var, "last_loss": loss}
        policy.loaded = None  # the variables hold the new weights; _after_update marks them
        return extra, arrays

    def _after_update(self, state: ControllerState) -> None:
        if self._policy is not None:
            self._policy.loaded = state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        actions, _ = self._live(state).greedy()
        return self.space.decode(actions)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        _, probs = self._live(state).greedy()
        return list(np.split(probs, np.cumsum(self.space.option_counts)[:-1]))

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        hint = f"delete {path.parent} and rerun the stage that wrote it"
        for key in ("baseline", "reward_var"):
            v = state.extra.get(key)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise InputError(f"invalid {key} {v!r}; {hint}", path, key=f"extra.{key}")
        if (state.extra.get("baseline") is None) != (state.extra.get("reward_var") is None):
            raise InputError(f"baseline and reward_var must both be set or unset; {hint}", path)
        expected = policy_shapes(
            self.space.option_counts, self.settings["lstm_units"], self.settings["embedding_dim"]
        )
        got = {k: tuple(v.shape) for k, v in state.arrays.items()}
        if got != expected:
            raise InputError(
                f"the weights do not fit this controller's policy (settings or space differ); {hint}",
                path,
                key="arrays",
            )
