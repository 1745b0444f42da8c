"""Reinforcement-learning controller: an LSTM policy over the layers of the space.

The policy emits one categorical distribution per layer. Step 0 reads a
learned start token; every later step reads the embedding of the option
sampled at the step before. Each layer has its own Dense head over its
options, and the sampling distribution is ``softmax(logits / temperature)``.

Learning (one gradient step per update with REINFORCE, ``ppo_epochs`` steps
with PPO-clip), Adam:

- advantage (``advantage: rank``, the default): the centred ranks of the
  step's rewards scaled to unit variance, ``A_i = (r_i - mean(r)) / sd(r)``
  with ``r_i`` the rank of ``R_i`` in its batch (ties share their mean rank).
  Only the order of the children counts, so a few children at chance level
  (loss 0.69 against 0.03 for the good ones) do not drown the differences
  between the good ones, which is what the search has to learn; a step of
  one child has no order and uses the baseline advantage below.
- advantage (``advantage: baseline``) ``A_i = (R_i - b) / s``, where ``b`` is an exponential moving
  average of the batch mean reward (``b <- d * b + (1 - d) * mean(R)``,
  ``d = baseline_decay``; the first batch sets ``b = mean(R)``) and ``s`` the
  square root of the same moving average of the squared deviations ``(R - b)^2``
  (so the learning rate does not depend on the reward's scale, which changes
  with Lambda); both use the baseline from before the update.
- REINFORCE loss: ``-mean(A_i * log pi(a_i)) - entropy_weight * mean(H_i)``
- PPO-clip loss: ``-mean(min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i)) - entropy_weight * mean(H_i)``
  with ``r_i = pi(a_i) / pi_old(a_i)`` over the whole architecture.

- elite (``elite_fraction`` q, ``elite_weight`` w): the state keeps every
  (architecture, reward) the controller has learnt from. The best
  ``k = max(1, round(q * N))`` of the ``N`` results so far (this step's
  included; only results better than the worst reward seen, so a search whose
  children all failed has no elite) join every update's batch with advantage
  ``w``. The step's children carry what the current samples say; the elite
  keeps pulling the policy towards the best architectures found in earlier
  steps, which rank advantages alone forget from one step to the next. The
  batch's mean runs over the children and the elite together; with PPO the
  elite's ratios are clipped like the children's. ``elite_weight: 0`` turns it
  off.

``H_i`` is the summed per-layer entropy along architecture i. Sampling draws
uniform numbers from a numpy generator derived from the state's seed and the
step and inverts the per-layer CDFs, so proposals depend only on the state and
the step.

Keras defines the policy's layers and draws a fresh state's weights (only
``init-controller`` imports TensorFlow, with one thread and op determinism).
Sampling, the most likely path, the gradients and Adam run in numpy
(:mod:`bionas.search.strategies.policy`, checked against Keras by the tests), so
``propose`` and ``update-controller`` skip the 3-5 s TensorFlow import on the
search's serial path, and an update is a pure, bit-for-bit repeatable
function of the state and the rewards.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.records.controller_state import ControllerState
from bionas.records.values import finite_number
from bionas.search.strategies import policy
from bionas.search.strategies.base import (
    Architecture,
    Controller,
    Setting,
    derive_rng,
    is_result_list,
    non_negative_number,
    positive_int,
    positive_number,
    unit_interval,
)

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


class _Initialiser:
    """Builds the Keras policy layers once to draw a fresh state's weights.

    Keras defines the policy (an ``Embedding``, an ``LSTMCell``, one ``Dense``
    head per layer) and its seeded initialisers; Adam's variables come from a
    built ``keras.optimizers.Adam``. Only ``init-controller`` pays the
    TensorFlow import: rollouts and updates run in :mod:`bionas.search.strategies.policy`.
    """

    def __init__(self, counts: tuple[int, ...], settings: dict[str, Any]):
        _, keras = _tf()
        units, emb = settings["lstm_units"], settings["embedding_dim"]
        init = keras.initializers

        # Seeded initialisers, one per randomly initialised variable: a state's
        # initial weights are a function of its seed alone.
        def embedding_init(seed):
            return init.RandomUniform(-0.05, 0.05, seed=_seed_int(seed, 0))

        def kernel_init(seed):
            return init.GlorotUniform(seed=_seed_int(seed, 1))

        def recurrent_init(seed):
            return init.Orthogonal(seed=_seed_int(seed, 2))

        def head_init(i):
            return lambda seed: init.GlorotUniform(seed=_seed_int(seed, 3, i))

        embedding = keras.layers.Embedding(1 + sum(counts), emb)
        cell = keras.layers.LSTMCell(units)
        heads = [keras.layers.Dense(k) for k in counts]
        embedding.build((None,))
        cell.build((None, emb))
        for head in heads:
            head.build((None, units))
        variables = [
            *embedding.trainable_variables,
            *cell.trainable_variables,
            *(v for head in heads for v in head.trainable_variables),
        ]
        optimizer = keras.optimizers.Adam(learning_rate=settings["learning_rate"])
        optimizer.build(variables)
        seeded = {
            id(embedding.embeddings): embedding_init,
            id(cell.kernel): kernel_init,
            id(cell.recurrent_kernel): recurrent_init,
            **{id(h.kernel): head_init(i) for i, h in enumerate(heads)},
        }
        self._shapes = [(tuple(v.shape), v.dtype) for v in variables]
        self._seeded = [seeded.get(id(v)) for v in variables]
        # biases (zeros; the LSTM forget gate ones) and the fresh Adam variables
        # do not depend on the seed
        self._fresh = {f"policy_{i:03d}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
        for i, v in enumerate(optimizer.variables):
            self._fresh[f"adam_{i:03d}"] = np.asarray(v.numpy())

    def arrays(self, seed: int) -> dict[str, np.ndarray]:
        """Weights and Adam variables of a fresh policy seeded with ``seed``."""
        out = dict(self._fresh)
        for i, ((shape, dtype), factory) in enumerate(zip(self._shapes, self._seeded, strict=True)):
            if factory is not None:
                out[f"policy_{i:03d}"] = np.asarray(factory(seed)(shape, dtype=dtype))
        return out


def _centred_ranks(rewards: np.ndarray) -> np.ndarray:
    """Ranks of ``rewards`` (1 = lowest, ties share their mean rank), centred and scaled to unit variance.

    All-equal rewards give zeros: the step says nothing about which choice is better.
    """
    rewards = np.asarray(rewards, np.float64)
    order = np.argsort(rewards, kind="stable")
    ranks = np.empty(len(rewards))
    ranks[order] = np.arange(1, len(rewards) + 1)
    for value in np.unique(rewards):  # ties: the mean of their ranks
        tied = rewards == value
        ranks[tied] = ranks[tied].mean()
    centred = ranks - ranks.mean()
    sd = centred.std()
    return centred / sd if sd > 0 else np.zeros(len(rewards))


def _elite(rewards: np.ndarray, fraction: float) -> np.ndarray:
    """Positions of the elite among ``rewards`` (every result learnt from, in order), best first.

    The best ``max(1, round(fraction * N))`` of the ``N`` results, counting
    only those better than the lowest reward; ties keep their order of arrival.
    """
    rewards = np.asarray(rewards, np.float64)
    if fraction <= 0 or len(rewards) == 0:
        return np.zeros(0, np.int64)
    k = max(1, math.floor(fraction * len(rewards) + 0.5))
    order = np.argsort(-rewards, kind="stable")
    better = order[rewards[order] > rewards.min()]
    return better[:k]


class RLController(Controller):
    """LSTM policy trained with REINFORCE (default) or PPO-clip; see the module docstring.

    The defaults (rank advantages, learning rate 0.05, entropy weight 0.005,
    an elite of the best 20% with advantage 0.5) suit searches of tens of
    updates with 4-5 children each; they were picked by replaying a synthetic
    table and the recorded demo table over the default space
    (``bench/search.py``), the elite's on seeds 0-199 and checked on seeds
    200-599.
    """

    name = "rl"
    SETTINGS = {
        "learning_rate": Setting(0.05, positive_number, "a positive number", "Adam learning rate"),
        "baseline_decay": Setting(
            0.3, unit_interval, "a number in [0, 1)", "decay of the moving-average reward baseline"
        ),
        "entropy_weight": Setting(
            0.005, non_negative_number, "a number >= 0", "weight of the entropy bonus"
        ),
        "advantage": Setting(
            "rank", lambda v: v in ("rank", "baseline"), "'rank' or 'baseline'",
            "advantage of a child: its rank in the step, or its reward minus a moving baseline",
        ),
        "elite_fraction": Setting(
            0.2, unit_interval, "a number in [0, 1)",
            "share of all results so far that form the elite (see elite_weight)",
        ),
        "elite_weight": Setting(
            0.5, non_negative_number, "a number >= 0",
            "advantage of the elite's architectures in every update (0: no elite)",
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
        self._initialiser: _Initialiser | None = None

    @property
    def _temperature(self) -> float:
        return float(self.settings["temperature"])

    def _init_extra(self, seed: int):
        if self._initialiser is None:
            _, keras = _tf()
            # No TensorFlow random op is used (initialisers carry explicit
            # seeds); seeding the global generators once is a guard.
            keras.utils.set_random_seed(0)
            self._initialiser = _Initialiser(self.space.option_counts, self.settings)
        arrays = self._initialiser.arrays(seed)
        return {"baseline": None, "reward_var": None, "last_loss": None, "seen": []}, arrays

    def propose(self, state: ControllerState, n: int, step: int, pending=()) -> list[Architecture]:
        """Samples of the policy (repeats allowed, ``pending`` included: a repeat of a
        finished child reuses its trained model from the cache)."""
        self._check_state(state)
        if n == 0:
            return []
        rng = derive_rng(state.seed, step, PROPOSE_STREAM)
        u = rng.random((int(n), len(self.space.layers))).astype(np.float32)
        actions = policy.sample(state.arrays, self.space.option_counts, self._temperature, u)
        return [self.space.decode(row) for row in actions]

    def _learn(self, state, indices, rewards):
        self._check_state(state)
        decay = float(self.settings["baseline_decay"])
        baseline = state.extra.get("baseline")
        var = state.extra.get("reward_var")
        mean = float(np.mean(rewards))
        if baseline is None:
            baseline = mean
            var = float(np.mean((rewards - mean) ** 2))
        if self.settings["advantage"] == "rank" and len(rewards) > 1:
            advantages = _centred_ranks(rewards)
        else:
            scale = max(math.sqrt(var), 1e-6) if var > 0 else 1.0
            advantages = (rewards - baseline) / scale
        seen = [*state.extra.get("seen", []), *([a.tolist(), float(r)] for a, r in zip(indices, rewards))]
        weight = float(self.settings["elite_weight"])
        if weight > 0:
            elite = _elite(np.array([r for _, r in seen]), float(self.settings["elite_fraction"]))
            if len(elite):
                indices = np.concatenate([indices, np.array([seen[i][0] for i in elite], np.int64)])
                advantages = np.concatenate([advantages, np.full(len(elite), weight)])
        counts = self.space.option_counts
        temperature = self._temperature
        entropy_weight = float(self.settings["entropy_weight"])
        arrays = dict(state.arrays)
        if self.settings["algorithm"] == "reinforce":
            loss, grads = policy.loss_and_gradients(
                arrays, counts, temperature, indices, advantages, entropy_weight
            )
            arrays = policy.adam_step(arrays, grads, counts)
        else:
            old_logp = policy.log_probabilities(arrays, counts, temperature, indices)
            for _ in range(int(self.settings["ppo_epochs"])):
                loss, grads = policy.loss_and_gradients(
                    arrays, counts, temperature, indices, advantages, entropy_weight,
                    old_logp=old_logp, clip=float(self.settings["ppo_clip"]),
                )
                arrays = policy.adam_step(arrays, grads, counts)
        new_baseline = decay * baseline + (1 - decay) * mean
        new_var = decay * var + (1 - decay) * float(np.mean((rewards - baseline) ** 2))
        extra = {"baseline": new_baseline, "reward_var": new_var, "last_loss": loss, "seen": seen}
        return extra, arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        self._check_state(state)
        actions, _ = policy.greedy(state.arrays, self.space.option_counts, self._temperature)
        return self.space.decode(actions)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        self._check_state(state)
        return policy.greedy(state.arrays, self.space.option_counts, self._temperature)[1]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        hint = f"delete {path.parent} and rerun the stage that wrote it"
        for key in ("baseline", "reward_var"):
            v = state.extra.get(key)
            if v is not None and not finite_number(v):
                raise InputError(f"invalid {key} {v!r}; {hint}", path, key=f"extra.{key}")
        if (state.extra.get("baseline") is None) != (state.extra.get("reward_var") is None):
            raise InputError(f"baseline and reward_var must both be set or unset; {hint}", path)
        seen = state.extra.get("seen", [])
        counts = self.space.option_counts
        if not is_result_list(seen, counts):
            raise InputError(
                "'seen' must be a list of [option indices of every layer, finite reward]; " + hint,
                path,
                key="extra.seen",
            )
        expected = policy_shapes(
            self.space.option_counts, self.settings["lstm_units"], self.settings["embedding_dim"]
        )
        got = {k: tuple(v.shape) for k, v in state.arrays.items()}
        # Adam's iteration count is an integer >= 0; every other array float32
        if got != expected or not all(
            (v.dtype.kind in "iu" and int(v) >= 0) if k == "adam_000" else v.dtype == np.float32
            for k, v in state.arrays.items()
        ):
            raise InputError(
                "the weights do not fit this controller's policy (its shapes and dtypes; "
                f"settings or space differ); {hint}",
                path,
                key="arrays",
            )
