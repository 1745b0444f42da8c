"""Bayesian optimisation with a Gaussian process over the layers' options (numpy and scipy only).

An architecture is its option index per layer. The Gaussian process has an
exponentiated Hamming kernel with one weight per layer,

    k(x, x') = s * exp(-sum_l theta_l * [x_l != x'_l]),

the one-hot RBF kernel with a lengthscale per layer (``theta_l`` near 0: the
layer does not matter; large: any change of it decorrelates), plus a noise
variance, since a child's reward is one noisy training. The rewards are
warped before the fit (``warp``): ``rank`` maps them to normal scores of
their ranks (a collapsed child or a failure's penalty is one low rank, not an
outlier that flattens every other difference), ``standardize`` to zero mean
and unit variance. The log-weights, ``log s`` and the log-noise maximise the
marginal likelihood under weak normal priors (sd 2 on the log scale, which
only keeps a fit on a handful of results away from the bounds), by L-BFGS-B
with analytic gradients from the previous step's values, a neutral start and
``restarts`` random starts; they are fitted when the controller learns, and
kept in the state (``extra["hyper"]``) with every result learnt from
(``extra["history"]``, ``[option indices, reward]``).

A step scores candidates by expected improvement over the best posterior
mean among the architectures trained. The candidates are every architecture
of the space when it has at most ``candidates``, otherwise ``candidates``
drawn uniformly plus every one-option change of the :data:`PARENTS` best
results; trained and pending (``search.in_flight``) architectures are never
candidates. The children of a step come one at a time by kriging believer:
each chosen child (and each pending one, first) joins the Gaussian process
with its own posterior mean as its value, which leaves the posterior mean
unchanged and shrinks the variance around it, so the next child's expected
improvement looks elsewhere unless the mean alone justifies staying close.
(A constant liar that tells the worst value seen would also lower the mean
around the chosen child.)

Until ``n_startup`` results exist every child is drawn uniformly from the
architectures neither trained nor pending. As for the other strategies that
never repeat a child, only once every architecture has been trained or is
pending does a child repeat one: it is then :meth:`GPController.most_likely`.

Every draw comes from :func:`derive_rng` of the search's seed and the step
(proposals) or the step the update completes (restarts), so ``propose`` is a
pure function of the state, the step and the pending architectures. The
linear algebra runs on one BLAS thread (:func:`one_blas_thread`): the matrices
are at most a few hundred wide, where more threads only wait on each other
(on two busy cores the unit tests took 48 s instead of 4), and one thread
sums in the same order on every machine.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy import linalg, optimize, special
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from bionas.errors import InputError
from bionas.records.values import finite_number
from bionas.search.strategies.base import (
    Architecture,
    Controller,
    ControllerState,
    Setting,
    derive_rng,
    is_result_list,
    positive_int,
)
from bionas.search.strategies.optuna_search import non_negative_int

#: Stream number of the proposal draws in :func:`derive_rng`.
PROPOSE_STREAM = 0
#: Stream number of the restarts of the hyperparameter fit in :func:`derive_rng`.
FIT_STREAM = 1
#: Best results whose one-option changes join the candidates of a large space.
PARENTS = 5
#: Bounds of ``log theta_l``, ``log s`` and ``log noise`` (rewards warped to unit variance).
LOG_THETA = (math.log(1e-3), math.log(20.0))
LOG_SIGNAL = (math.log(0.05), math.log(20.0))
LOG_NOISE = (math.log(1e-4), math.log(2.0))
#: Means of the weak normal priors on ``log theta_l``, ``log s``, ``log noise``, and their sd.
PRIOR_MEAN = (math.log(0.5), 0.0, math.log(0.1))
PRIOR_SD = 2.0
#: L-BFGS-B iterations per start.
MAX_ITER = 60
#: Added to the kernel's diagonal so that a Cholesky factor always exists.
JITTER = 1e-9
#: Uniform draws tried for a random child before the untaken architectures are enumerated.
RANDOM_TRIES = 64

WARPS = ("rank", "standardize")


def one_blas_thread():
    """A context in which numpy's and scipy's BLAS use one thread."""
    return threadpool_limits(limits=1, user_api="blas")


class Hyper(NamedTuple):
    """Fitted kernel: ``theta (n_layers,)``, signal variance and noise variance."""

    theta: np.ndarray
    signal: float
    noise: float

    @classmethod
    def from_log(cls, p: np.ndarray) -> Hyper:
        p = np.asarray(p, dtype=np.float64)
        return cls(np.exp(p[:-2]), float(np.exp(p[-2])), float(np.exp(p[-1])))


def hamming_kernel(a: np.ndarray, b: np.ndarray, theta: np.ndarray, signal: float) -> np.ndarray:
    """``s * exp(-sum_l theta_l [a_l != b_l])``.

    Parameters
    ----------
    a : (n_a, n_layers) int64 option indices
    b : (n_b, n_layers) int64 option indices
    theta : (n_layers,) float64 weights of a mismatch per layer
    signal : float, the variance ``s``

    Returns
    -------
    (n_a, n_b) float64
    """
    s = np.zeros((len(a), len(b)))
    for layer, t in enumerate(theta):
        s += t * (a[:, layer, None] != b[None, :, layer])
    return signal * np.exp(-s)


def warp(rewards: np.ndarray, how: str) -> np.ndarray:
    """Rewards ``(n,)`` -> zero mean, unit variance ``(n,)``: normal scores of the ranks (ties
    share their mean rank) with ``rank``, or the rewards standardised with ``standardize``;
    all zeros when they are all equal."""
    y = np.asarray(rewards, dtype=np.float64)
    if how == "rank":
        order = np.argsort(y, kind="stable")
        ranks = np.empty(len(y))
        ranks[order] = np.arange(1, len(y) + 1)
        for value in np.unique(y):  # ties: their mean rank
            tied = y == value
            ranks[tied] = ranks[tied].mean()
        y = special.ndtri((ranks - 0.5) / len(y))
    sd = float(np.std(y))
    return (y - y.mean()) / sd if sd > 0 else np.zeros_like(y)


def _neg_log_posterior(p: np.ndarray, d: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus the priors, and its gradient in ``p``.

    ``d (n_layers, n * n)`` holds the mismatches of every pair of results, layer by layer
    (LAPACK directly: at 100 results scipy's checking wrappers cost more than the algebra).
    """
    n_layers, n = d.shape[0], len(y)
    h = Hyper.from_log(p)
    kf = h.signal * np.exp(-(h.theta @ d)).reshape(n, n)
    k = kf + (h.noise + JITTER) * np.eye(n)
    c, info = lapack.dpotrf(k, lower=1)
    if info != 0:
        return 1e25, np.zeros_like(p)
    alpha, _ = lapack.dpotrs(c, y, lower=1)
    kinv, _ = lapack.dpotri(c, lower=1)  # the lower triangle of K^-1
    kinv = np.tril(kinv) + np.tril(kinv, -1).T
    value = 0.5 * float(y @ alpha) + float(np.sum(np.log(np.diag(c)))) + 0.5 * n * math.log(2 * math.pi)
    w = np.outer(alpha, alpha) - kinv
    wk = (w * kf).ravel()
    grad = np.empty_like(p)
    grad[:n_layers] = 0.5 * h.theta * (d @ wk)
    grad[n_layers] = -0.5 * float(np.sum(wk))
    grad[n_layers + 1] = -0.5 * h.noise * float(np.trace(w))
    mean = np.array([PRIOR_MEAN[0]] * n_layers + list(PRIOR_MEAN[1:]))
    value += 0.5 * float(np.sum(((p - mean) / PRIOR_SD) ** 2))
    grad += (p - mean) / PRIOR_SD**2
    return value, grad


def fit_hyper(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int, warm: np.ndarray | None = None
) -> np.ndarray:
    """Log hyperparameters ``(n_layers + 2,)`` that maximise the marginal likelihood (with the
    priors) of warped rewards ``y (n,)`` at architectures ``x (n, n_layers)``: the best of
    L-BFGS-B from ``warm``, a neutral start and ``restarts`` random starts."""
    n_layers = x.shape[1]
    d = (x.T[:, :, None] != x.T[:, None, :]).astype(np.float64).reshape(n_layers, -1)
    bounds = [LOG_THETA] * n_layers + [LOG_SIGNAL, LOG_NOISE]
    low, high = np.array(bounds).T
    starts = [np.array([PRIOR_MEAN[0]] * n_layers + list(PRIOR_MEAN[1:]))]
    if warm is not None:
        starts.insert(0, np.clip(warm, low, high))
    starts += [rng.uniform(low, high) for _ in range(restarts)]
    best_p, best_value = starts[0], math.inf
    for start in starts:
        res = optimize.minimize(
            _neg_log_posterior, start, args=(d, y), jac=True, method="L-BFGS-B",
            bounds=bounds, options={"maxiter": MAX_ITER},
        )
        if res.fun < best_value:
            best_p, best_value = np.clip(res.x, low, high), float(res.fun)
    return best_p


class Posterior:
    """The Gaussian process conditioned on ``y (n,)`` at ``x (n, n_layers)``."""

    def __init__(self, x: np.ndarray, y: np.ndarray, hyper: Hyper):
        self.x, self.hyper = x, hyper
        self.kf = hamming_kernel(x, x, hyper.theta, hyper.signal)
        self.chol = linalg.cholesky(self.kf + (hyper.noise + JITTER) * np.eye(len(x)), lower=True)
        self.alpha = linalg.cho_solve((self.chol, True), y)

    def mean_at_data(self) -> np.ndarray:
        """Posterior mean of the noise-free value at ``x``, ``(n,)``."""
        return self.kf @ self.alpha

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean ``(m,)``, variance ``(m,)`` and ``L^-1 k(x, points)`` ``(n, m)`` at ``points``."""
        kc = hamming_kernel(self.x, points, self.hyper.theta, self.hyper.signal)
        v = linalg.solve_triangular(self.chol, kc, lower=True)
        var = self.hyper.signal - np.sum(v * v, axis=0)
        return kc.T @ self.alpha, np.maximum(var, 0.0), v


def expected_improvement(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """EI of a maximisation over ``best`` for normal beliefs ``mean (m,), var (m,)``."""
    sd = np.sqrt(np.maximum(var, 1e-18))
    z = (mean - best) / sd
    return (mean - best) * special.ndtr(z) + sd * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


class GPController(Controller):
    """Bayesian optimisation: a Gaussian process with a per-layer Hamming kernel, expected
    improvement, kriging believer for the children of a step; never repeats a child.

    See the module docstring for the model and how a step is proposed.
    ``most_likely`` is the best single reward seen, as for ``tpe`` (the first
    option of each layer before any result); ``layer_probabilities`` are, per
    layer, the option frequencies among the best 10% of the results (at most
    25) with one pseudo-count per option.

    The defaults were chosen on ``bench/data/curves.tsv`` (``bench/search.py
    --draw-replicate 0``: each search draws replicate 0 and is judged by the
    median of the other; seeds 0-199, Lambda 0 and 1, two steps in flight),
    by the median gold rank of the kept architecture (share in the gold top
    5) after 25, 50 and 100 children. ``n_startup`` 5 ranked 11 / 2.5 (73%)
    at 25 children against 11 / 3 (62%) for 10, and within one rank or two
    points elsewhere (13 / 1, 16 / 1). Two random restarts of the fit moved
    no cell beyond the seeds' noise (at ``n_startup`` 10: 11 against 13 at
    Lambda 0 and 25 children, equal elsewhere) and tripled the time of a
    search, so there are none by default. ``warp: standardize`` ranked like
    ``rank`` (3 (66%) against 3 (62%) at Lambda 1 and 25 children, 98%
    against 100% at 50); ``rank`` stays, as a failure's penalty reward would
    otherwise flatten every other difference. ``candidates`` keeps the
    recorded space (216) whole and samples the 12,960 of ``bench/surrogate.py``.
    """

    name = "gp"
    SETTINGS = {
        "n_startup": Setting(
            5, non_negative_int, "an integer >= 0",
            "results drawn at random before the Gaussian process proposes",
        ),
        "candidates": Setting(
            5000, positive_int, "a positive integer",
            "the largest space scored whole; a larger one scores this many random "
            "architectures plus one-option changes of the best results",
        ),
        "restarts": Setting(
            0, non_negative_int, "an integer >= 0",
            "random starts of the hyperparameter fit besides the previous fit and a neutral one",
        ),
        "warp": Setting(
            "rank", lambda v: v in WARPS, "rank or standardize",
            "rewards as normal scores of their ranks (rank) or standardised (standardize)",
        ),
    }

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"history": [], "hyper": None}, {}

    # -- the model ---------------------------------------------------------------

    def _data(self, state: ControllerState) -> tuple[np.ndarray, np.ndarray]:
        """``(option indices (n, n_layers) int64, rewards (n,) float64)`` of the history."""
        history = state.extra["history"]
        x = np.array([h[0] for h in history], dtype=np.int64).reshape(len(history), len(self.space.layers))
        return x, np.array([h[1] for h in history], dtype=np.float64)

    def _posterior(self, state: ControllerState) -> Posterior | None:
        """The Gaussian process of the state (None before the first fit)."""
        if state.extra["hyper"] is None:
            return None
        x, rewards = self._data(state)
        return Posterior(x, warp(rewards, self.settings["warp"]), Hyper.from_log(state.extra["hyper"]))

    def _learn(self, state, indices, rewards):
        history = [
            *state.extra["history"],
            *([[int(i) for i in row], float(r)] for row, r in zip(indices, rewards, strict=True)),
        ]
        hyper = None
        if len(history) >= max(self.settings["n_startup"], 2):
            x = np.array([h[0] for h in history], dtype=np.int64)
            y = warp(np.array([h[1] for h in history]), self.settings["warp"])
            old = state.extra["hyper"]
            rng = derive_rng(state.seed, state.step + 1, FIT_STREAM)
            with one_blas_thread():
                p = fit_hyper(x, y, rng, self.settings["restarts"], None if old is None else np.array(old))
            hyper = [float(v) for v in p]
        return {"history": history, "hyper": hyper}, state.arrays

    # -- proposing -----------------------------------------------------------------

    def propose(self, state: ControllerState, n: int, step: int, pending=()) -> list[Architecture]:
        """``n`` architectures for step ``step``, none trained or ``pending`` unless every
        architecture of the space is (then :meth:`most_likely`)."""
        self._check_state(state)
        n = int(n)
        rng = derive_rng(state.seed, step, PROPOSE_STREAM)
        x, rewards = self._data(state)
        pending_rows = [self.space.encode(a) for a in pending]
        taken = {tuple(int(i) for i in row) for row in x} | set(pending_rows)
        with one_blas_thread():
            model = self._posterior(state) if len(x) >= self.settings["n_startup"] else None
        chosen: list[tuple[int, ...]] = []
        if model is not None and n > 0:
            with one_blas_thread():
                chosen = self._by_expected_improvement(model, x, rewards, pending_rows, taken, n, rng)
            taken |= set(chosen)
        out = [self.space.decode(c) for c in chosen]
        while len(out) < n:
            if len(taken) >= self.space.size:
                out.append(self.most_likely(state))
                continue
            child = self._random_new(taken, rng)
            taken.add(child)
            out.append(self.space.decode(child))
        return out

    def _candidates(self, x: np.ndarray, rewards: np.ndarray, taken: set, rng: np.random.Generator) -> np.ndarray:
        """Untaken candidates ``(m, n_layers)`` int64, each once, in a fixed order."""
        counts = np.array(self.space.option_counts)
        if self.space.size <= self.settings["candidates"]:
            rows = np.array(np.unravel_index(np.arange(self.space.size), counts)).T
        else:
            drawn = rng.integers(0, counts, size=(self.settings["candidates"], len(counts)))
            mutants = []
            for parent in x[np.argsort(-rewards, kind="stable")[:PARENTS]]:
                for layer, k in enumerate(counts):
                    for option in range(k):
                        if option != parent[layer]:
                            child = parent.copy()
                            child[layer] = option
                            mutants.append(child)
            rows = np.vstack([drawn, *mutants]) if mutants else drawn
        flat = np.ravel_multi_index(rows.T, counts)
        _, first = np.unique(flat, return_index=True)
        keep = np.sort(first)
        if taken:
            gone = np.ravel_multi_index(np.array(sorted(taken)).T, counts)
            keep = keep[~np.isin(flat[keep], gone)]
        return rows[keep].astype(np.int64)

    def _by_expected_improvement(
        self, model: Posterior, x: np.ndarray, rewards: np.ndarray, pending_rows: list,
        taken: set, n: int, rng: np.random.Generator,
    ) -> list[tuple[int, ...]]:
        """Up to ``n`` candidates by expected improvement, one at a time, each (and first every
        pending architecture) believed at its posterior mean before the next is chosen."""
        candidates = self._candidates(x, rewards, taken, rng)
        m = len(candidates)
        if m == 0:
            return []
        points = np.vstack([candidates, np.array(pending_rows, dtype=np.int64).reshape(-1, x.shape[1])])
        mean, var, v = model.predict(points)
        best = float(np.max(model.mean_at_data()))
        h = model.hyper
        believed: list[np.ndarray] = []

        def believe(j: int) -> None:
            k = hamming_kernel(points, points[j : j + 1], h.theta, h.signal)[:, 0]
            cov = k - v.T @ v[:, j]
            for u in believed:
                cov -= u * u[j]
            u = cov / math.sqrt(max(float(cov[j]), 0.0) + h.noise + JITTER)
            var[:] = np.maximum(var - u * u, 0.0)
            believed.append(u)

        for j in range(m, len(points)):
            believe(j)
        free = np.ones(m, dtype=bool)
        out = []
        for _ in range(min(n, m)):
            ei = np.where(free, expected_improvement(mean[:m], var[:m], best), -np.inf)
            j = int(np.argmax(ei))
            free[j] = False
            out.append(tuple(int(i) for i in candidates[j]))
            believe(j)
        return out

    def _random_new(self, taken: set, rng: np.random.Generator) -> tuple[int, ...]:
        """A uniformly random architecture not in ``taken`` (which must not hold them all)."""
        counts = self.space.option_counts
        for _ in range(RANDOM_TRIES):
            child = tuple(int(i) for i in rng.integers(0, counts))
            if child not in taken:
                return child
        flat = np.ravel_multi_index(np.array(sorted(taken)).T, counts)
        free = np.setdiff1d(np.arange(self.space.size), flat)
        return tuple(int(i) for i in np.unravel_index(int(rng.choice(free)), counts))

    # -- answers ----------------------------------------------------------------------

    def most_likely(self, state: ControllerState) -> Architecture:
        self._check_state(state)
        return self._best_or_first(state)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        self._check_state(state)
        x, rewards = self._data(state)
        good = x[np.argsort(-rewards, kind="stable")[: min(int(np.ceil(0.1 * len(rewards))), 25)]]
        return [
            (np.bincount(good[:, j], minlength=k) + 1.0) / (len(good) + k)
            for j, k in enumerate(self.space.option_counts)
        ]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        history = state.extra.get("history")
        hint = f"delete {path.parent} and rerun the stage that wrote it"
        if not is_result_list(history, self.space.option_counts) or len(history) != state.n_seen:
            raise InputError(
                f"'history' must be a list of [option indices of every layer, finite reward], "
                f"one per result seen; {hint}",
                path,
                key="extra.history",
            )
        hyper = state.extra.get("hyper", "missing")
        fitted = len(history) >= max(self.settings["n_startup"], 2)
        ok = (
            isinstance(hyper, list) and len(hyper) == len(self.space.layers) + 2
            and all(finite_number(v) for v in hyper)
        ) if fitted else hyper is None
        if not ok:
            what = f"{len(self.space.layers) + 2} finite numbers" if fitted else "null"
            raise InputError(
                f"'hyper' must be {what} (the fitted kernel's log parameters); {hint}",
                path,
                key="extra.hyper",
            )
