"""The rl controller's LSTM policy as numpy arithmetic: rollouts, gradients, Adam.

The policy is a Keras ``Embedding`` + ``LSTMCell`` + one ``Dense`` head per
layer (built and initialised by Keras in :mod:`bionas.search.strategies.rl`); its
weights travel as the arrays of the controller state. Everything a search
does with them after initialisation is here, in numpy, so that the jobs on
the search's serial path (``propose``, ``update-controller``) never import
TensorFlow: that import alone costs 3-5 s per job, paid once per controller
step while every core waits.

Arrays (``policy_shapes`` in rl.py): ``policy_000`` option embeddings (row 0
is the start token, then the options of each layer in order), ``policy_001``
LSTM kernel, ``policy_002`` recurrent kernel, ``policy_003`` bias (Keras gate
order i, f, c, o; sigmoid recurrent activation, tanh activation), then a
kernel and a bias per layer head. ``adam_000`` is Adam's iteration count,
``adam_001`` its learning rate, then a momentum and a velocity per policy
array, in the order of Keras's Adam.

Sampling runs in float32 as Keras's graph did; the gradient runs in float64
and the updated weights are stored as float32. ``tests/test_policy.py``
checks both against Keras (gradients to 1e-5, a full Adam step to 1e-6).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

N_BASE = 4  # embedding, kernel, recurrent kernel, bias

ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7  # Keras's default


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _offsets(counts: tuple[int, ...]) -> list[int]:
    """Row of each layer's first option in the embedding (row 0: start token)."""
    return [1 + sum(counts[:i]) for i in range(len(counts))]


def n_policy_arrays(counts: tuple[int, ...]) -> int:
    return N_BASE + 2 * len(counts)


def _weights(arrays: Mapping[str, np.ndarray], counts: tuple[int, ...], dtype) -> list[np.ndarray]:
    return [np.asarray(arrays[f"policy_{i:03d}"], dtype) for i in range(n_policy_arrays(counts))]


def _cell(x, h, c, kernel, recurrent, bias):
    """One LSTMCell step; returns the new (h, c) and the gate values for the backward pass."""
    z = x @ kernel + h @ recurrent + bias
    zi, zf, zc, zo = np.split(z, 4, axis=1)
    i, f, g, o = _sigmoid(zi), _sigmoid(zf), np.tanh(zc), _sigmoid(zo)
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    return o * tc, c_new, (i, f, g, o, tc)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def sample(
    arrays: Mapping[str, np.ndarray], counts: tuple[int, ...], temperature: float, u: np.ndarray
) -> np.ndarray:
    """``u`` (n, layers) uniform draws -> (n, layers) option indices by inverse-CDF sampling
    of ``softmax(logits / temperature)``, in float32."""
    f32 = np.float32
    w = _weights(arrays, counts, f32)
    emb, kernel, recurrent, bias = w[:N_BASE]
    n = u.shape[0]
    units = recurrent.shape[0]
    offsets = _offsets(counts)
    x = np.repeat(emb[:1], n, axis=0)
    h = np.zeros((n, units), f32)
    c = np.zeros((n, units), f32)
    actions = []
    for layer, k in enumerate(counts):
        h, c, _ = _cell(x, h, c, kernel, recurrent, bias)
        h, c = h.astype(f32), c.astype(f32)
        head_k, head_b = w[N_BASE + 2 * layer], w[N_BASE + 2 * layer + 1]
        p = _softmax(((h @ head_k + head_b) / f32(temperature)).astype(f32)).astype(f32)
        cdf = np.cumsum(p, axis=1)
        a = np.minimum((cdf < u[:, layer : layer + 1]).sum(axis=1), k - 1)
        actions.append(a)
        x = emb[a + offsets[layer]]
    return np.stack(actions, axis=1)


def greedy(
    arrays: Mapping[str, np.ndarray], counts: tuple[int, ...], temperature: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The most likely option of each layer given the ones before it, and each
    layer's option probabilities along that path."""
    w = _weights(arrays, counts, np.float64)
    emb, kernel, recurrent, bias = w[:N_BASE]
    units = recurrent.shape[0]
    offsets = _offsets(counts)
    x = emb[:1]
    h = np.zeros((1, units))
    c = np.zeros((1, units))
    actions, probs = [], []
    for layer in range(len(counts)):
        h, c, _ = _cell(x, h, c, kernel, recurrent, bias)
        p = _softmax((h @ w[N_BASE + 2 * layer] + w[N_BASE + 2 * layer + 1]) / temperature)[0]
        a = int(np.argmax(p))
        actions.append(a)
        probs.append(p)
        x = emb[a + offsets[layer] : a + offsets[layer] + 1]
    return np.array(actions), probs


def _forward(w, counts, temperature, actions):
    """Log-probabilities (n,), summed entropies (n,) and the cache of the backward pass."""
    emb, kernel, recurrent, bias = w[:N_BASE]
    n = actions.shape[0]
    units = recurrent.shape[0]
    offsets = _offsets(counts)
    rows = [np.zeros(n, int)] + [actions[:, t] + offsets[t] for t in range(len(counts) - 1)]
    h = np.zeros((n, units))
    c = np.zeros((n, units))
    logp = np.zeros(n)
    ent = np.zeros(n)
    cache = []
    for layer in range(len(counts)):
        x = emb[rows[layer]]
        h_prev, c_prev = h, c
        h, c, gates = _cell(x, h_prev, c_prev, kernel, recurrent, bias)
        logits = (h @ w[N_BASE + 2 * layer] + w[N_BASE + 2 * layer + 1]) / temperature
        p = _softmax(logits)
        log_p = np.log(np.maximum(p, np.finfo(float).tiny))
        logp += log_p[np.arange(n), actions[:, layer]]
        h_layer = -(p * log_p).sum(axis=1)
        ent += h_layer
        cache.append((rows[layer], x, h_prev, c_prev, h, gates, p, log_p, h_layer))
    return logp, ent, cache


def _backward(w, counts, temperature, actions, cache, d_logp, d_ent) -> list[np.ndarray]:
    """Gradients of ``sum(d_logp * logp) + sum(d_ent * ent)`` with respect to every array."""
    emb, kernel, recurrent, _ = w[:N_BASE]
    grads = [np.zeros_like(a) for a in w]
    n = actions.shape[0]
    dh = np.zeros_like(cache[0][4])
    dc = np.zeros_like(dh)
    for layer in reversed(range(len(counts))):
        rows, x, h_prev, c_prev, h, (i, f, g, o, tc), p, log_p, h_layer = cache[layer]
        onehot = np.zeros_like(p)
        onehot[np.arange(n), actions[:, layer]] = 1.0
        # d logp_a / d logits = onehot - p ; d H / d logits = -p * (log p + H)
        d_logits = d_logp[:, None] * (onehot - p) - d_ent[:, None] * p * (log_p + h_layer[:, None])
        d_logits /= temperature
        head = N_BASE + 2 * layer
        grads[head] += h.T @ d_logits
        grads[head + 1] += d_logits.sum(axis=0)
        dh = dh + d_logits @ w[head].T
        # back through the LSTM cell
        d_o = dh * tc
        dc = dc + dh * o * (1.0 - tc**2)
        d_i, d_f, d_g = dc * g, dc * c_prev, dc * i
        dz = np.concatenate(
            [d_i * i * (1 - i), d_f * f * (1 - f), d_g * (1 - g**2), d_o * o * (1 - o)], axis=1
        )
        grads[1] += x.T @ dz
        grads[2] += h_prev.T @ dz
        grads[3] += dz.sum(axis=0)
        np.add.at(grads[0], rows, dz @ kernel.T)
        dh = dz @ recurrent.T
        dc = dc * f
    return grads


def loss_and_gradients(
    arrays: Mapping[str, np.ndarray],
    counts: tuple[int, ...],
    temperature: float,
    actions: np.ndarray,
    advantages: np.ndarray,
    entropy_weight: float,
    old_logp: np.ndarray | None = None,
    clip: float = 0.2,
) -> tuple[float, list[np.ndarray]]:
    """The policy-gradient loss of a batch and its gradients (float64).

    REINFORCE (``old_logp`` None): ``-mean(A * logp) - entropy_weight * mean(H)``.
    PPO-clip: ``-mean(min(r A, clip(r, 1-eps, 1+eps) A)) - entropy_weight * mean(H)``
    with ``r = exp(logp - old_logp)``; the clipped branch carries no gradient.
    """
    w = _weights(arrays, counts, np.float64)
    actions = np.asarray(actions, int)
    adv = np.asarray(advantages, np.float64)
    n = actions.shape[0]
    logp, ent, cache = _forward(w, counts, temperature, actions)
    if old_logp is None:
        loss = -np.mean(adv * logp)
        d_logp = -adv / n
    else:
        ratio = np.exp(logp - old_logp)
        clipped = np.clip(ratio, 1.0 - clip, 1.0 + clip)
        unclipped_wins = ratio * adv <= clipped * adv
        loss = -np.mean(np.minimum(ratio * adv, clipped * adv))
        d_logp = np.where(unclipped_wins, -adv * ratio / n, 0.0)
    loss -= entropy_weight * np.mean(ent)
    d_ent = np.full(n, -entropy_weight / n)
    return float(loss), _backward(w, counts, temperature, actions, cache, d_logp, d_ent)


def log_probabilities(
    arrays: Mapping[str, np.ndarray], counts: tuple[int, ...], temperature: float, actions: np.ndarray
) -> np.ndarray:
    """Log-probability of each architecture (rows of option indices) under the policy."""
    w = _weights(arrays, counts, np.float64)
    return _forward(w, counts, temperature, np.asarray(actions, int))[0]


def adam_step(
    arrays: Mapping[str, np.ndarray], grads: list[np.ndarray], counts: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """One step of Keras's Adam on the policy arrays; returns new arrays (float32),
    the inputs are not changed."""
    out = dict(arrays)
    step = int(np.asarray(arrays["adam_000"])) + 1
    lr = float(np.asarray(arrays["adam_001"]))
    alpha = lr * np.sqrt(1.0 - ADAM_BETA_2**step) / (1.0 - ADAM_BETA_1**step)
    for i, g in enumerate(grads):
        key_m, key_v = f"adam_{2 + 2 * i:03d}", f"adam_{3 + 2 * i:03d}"
        var = np.asarray(arrays[f"policy_{i:03d}"], np.float64)
        m = np.asarray(arrays[key_m], np.float64)
        v = np.asarray(arrays[key_v], np.float64)
        m = m + (g - m) * (1.0 - ADAM_BETA_1)
        v = v + (g * g - v) * (1.0 - ADAM_BETA_2)
        var = var - alpha * m / (np.sqrt(v) + ADAM_EPSILON)
        out[f"policy_{i:03d}"] = var.astype(np.float32)
        out[key_m] = m.astype(np.float32)
        out[key_v] = v.astype(np.float32)
    out["adam_000"] = np.asarray(step, dtype=np.asarray(arrays["adam_000"]).dtype)
    return out
