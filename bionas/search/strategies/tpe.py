"""Tree-structured Parzen estimator (TPE) through Optuna, in ask/tell form.

The state keeps every result learnt from, ``extra["history"] = [[option
indices of every layer, reward], ...]`` in the order of the updates; Optuna
keeps nothing between steps. ``propose(state, n, step)`` rebuilds an
in-memory study from the history (one completed trial per result, a
:class:`optuna.distributions.CategoricalDistribution` over the option names of
each layer), seeds a :class:`optuna.samplers.TPESampler` with a seed derived
from the search's seed and the step, and asks ``n`` trials before telling any:
with ``constant_liar`` the sampler treats the trials asked earlier in the
batch as if they had the worst value seen, so the batch spreads out. The first
``n_startup`` results are drawn at random, TPE's own startup phase.

Every architecture is trained once: a proposal that is already in the history
or earlier in the batch is asked again (up to ``retries`` times; the repeat is
told to the study as failed, which TPE ignores), then replaced by an untried
architecture drawn uniformly at random. Only once every architecture of the
space has been tried do proposals repeat (then drawn uniformly among all). The
fallback enumerates the space, fine for up to about a million architectures.
(Drawing the fallback among the untried architectures nearest to the repeat
instead ranked worse on the recorded table: median gold rank 10 against 6
after 100 children, seeds 0-99.)

The final answer (:meth:`TPEController.most_likely`) is the best single reward
seen. Each architecture is trained once, so a reward is one noisy draw and
the best of them is biased upwards; pooling the rewards of similar children
should correct for that, but on the recorded table (``bench/replay.py``,
Lambda 0, seeds 0-99) it chose worse: blending a child's reward with a ridge
fit of additive option effects (weight 0.25) ranked 10-12 against 5-6 for the
best seen, and with the mean of its neighbours (one layer differing) 6-13
against 5-10. There 13% of the children sit at chance loss (0.69; over 40%
of those with ``gavg`` after ``none`` or ``avg4``), a heavy tail that an
additive fit or a local average spreads onto good neighbours, while the ten
best architectures' median losses lie within 0.005 of each other.

Optuna is imported by :meth:`TPEController.propose` only, so importing
:mod:`bionas.search.strategies` does not import it.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.search.strategies.base import (
    Architecture,
    Controller,
    ControllerState,
    Setting,
    derive_rng,
    is_result_list,
    positive_int,
)

#: Stream number of the sampler's seed in :func:`derive_rng`.
SEED_STREAM = 0
#: Stream number of the fallback draws (untried architectures) in :func:`derive_rng`.
FALLBACK_STREAM = 1


def _non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _n_good(n: int) -> int:
    """Size of TPE's good group among ``n`` results (Optuna's default ``gamma``)."""
    return min(math.ceil(0.1 * n), 25)


def _optuna():
    """The optuna module, its logging silenced; InputError when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise InputError(
            "the tpe controller needs Optuna 5 (pip install 'bionas[tpe]')"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


class TPEController(Controller):
    """TPE (Optuna's ``TPESampler``) with constant liar for batches; never repeats a child.

    See the module docstring for how a step is proposed, how repeats are
    avoided and how the final architecture is chosen. ``layer_probabilities``
    are, per layer, the option frequencies among the best 10% of the history
    (at most 25; TPE's "good" group) with one pseudo-count per option; uniform
    before any update.

    The defaults were chosen on the recorded table (``bench/replay.py``, Lambda
    0, seeds 0-99, batch 5; median gold rank of the final choice after 25, 50
    and 100 children): ``n_startup`` 5 ranked 6, 4, 4 against 5, 5.5, 6 for
    10 and 8.5, 6, 5.5 for 20; with ``n_startup`` 10, ``retries`` 10 ranked
    5, 5.5, 6 against 6, 6, 8 for 0 (five times faster: once TPE has settled,
    most asks repeat a tried architecture). ``retries`` 3 (7, 6.5, 8) and
    ``multivariate: false`` (7, 4, 7) did no better. ``n_candidates`` is
    Optuna's default.
    """

    name = "tpe"
    SETTINGS = {
        "n_startup": Setting(
            5, _non_negative_int, "an integer >= 0", "results drawn at random before TPE starts"
        ),
        "multivariate": Setting(
            True, lambda v: isinstance(v, bool), "true or false",
            "one joint Parzen estimator over all layers (else one per layer)",
        ),
        "n_candidates": Setting(
            24, positive_int, "a positive integer", "candidates TPE scores per proposal"
        ),
        "retries": Setting(
            10, _non_negative_int, "an integer >= 0",
            "times a repeated proposal is asked again before an untried one is drawn at random",
        ),
    }

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"history": []}, {}

    def _history(self, state: ControllerState) -> tuple[np.ndarray, np.ndarray]:
        """``(indices (N, n_layers) int64, rewards (N,) float64)`` of the state's history."""
        history = state.extra["history"]
        indices = np.array([h[0] for h in history], dtype=np.int64).reshape(
            len(history), len(self.space.layers)
        )
        return indices, np.array([h[1] for h in history], dtype=np.float64)

    def _sampler(self, optuna, seed: int):
        s = self.settings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                n_startup_trials=s["n_startup"],
                n_ei_candidates=s["n_candidates"],
                multivariate=s["multivariate"],
                constant_liar=True,
                seed=seed,
            )

    def propose(self, state: ControllerState, n: int, step: int) -> list[Architecture]:
        """``n`` architectures for step ``step``, none already tried unless the space is exhausted."""
        self._check_state(state)
        n = int(n)
        if n == 0:
            return []
        optuna = _optuna()
        names = self.space.layer_names
        distributions = {
            layer.name: optuna.distributions.CategoricalDistribution(layer.option_names)
            for layer in self.space.layers
        }
        seed = int(derive_rng(state.seed, step, SEED_STREAM).integers(2**31))
        study = optuna.create_study(direction="maximize", sampler=self._sampler(optuna, seed))
        indices, rewards = self._history(state)
        for row, reward in zip(indices, rewards, strict=True):
            study.add_trial(
                optuna.trial.create_trial(
                    params=dict(zip(names, self.space.decode(row), strict=True)),
                    distributions=distributions,
                    value=float(reward),
                )
            )
        tried = {tuple(int(i) for i in row) for row in indices}
        fallback = derive_rng(state.seed, step, FALLBACK_STREAM)
        proposals: list[Architecture] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for _ in range(n):
                arch = self._ask_untried(optuna, study, distributions, tried, fallback)
                tried.add(self.space.encode(arch))
                proposals.append(arch)
        return proposals

    def _ask_untried(
        self, optuna, study, distributions, tried: set, fallback: np.random.Generator
    ) -> Architecture:
        """One proposal not in ``tried`` unless all are (left as a running trial of ``study``)."""
        counts = self.space.option_counts
        untried = self.space.size - len(tried)
        for _ in range(self.settings["retries"] + 1 if untried else 0):
            trial = study.ask(distributions)
            arch = tuple(trial.params[name] for name in self.space.layer_names)
            if self.space.encode(arch) not in tried:
                return arch
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        flat = np.arange(self.space.size)
        if untried:
            left = np.ones(self.space.size, dtype=bool)
            left[np.ravel_multi_index(np.array(sorted(tried)).T, counts)] = False
            flat = flat[left]
        row = np.unravel_index(flat[int(fallback.integers(len(flat)))], counts)
        arch = self.space.decode([int(i) for i in row])
        study.enqueue_trial(dict(zip(self.space.layer_names, arch, strict=True)))
        study.ask(distributions)  # the fallback runs as a trial so the liar sees it
        return arch

    def _learn(self, state, indices, rewards):
        history = [*state.extra["history"], *([a.tolist(), float(r)] for a, r in zip(indices, rewards))]
        return {"history": history}, state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        """The best architecture seen (the first option of each layer before any update)."""
        self._check_state(state)
        return self._best_or_first(state)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        self._check_state(state)
        indices, rewards = self._history(state)
        good = indices[np.argsort(-rewards, kind="stable")[: _n_good(len(rewards))]]
        return [
            (np.bincount(good[:, j], minlength=k) + 1.0) / (len(good) + k)
            for j, k in enumerate(self.space.option_counts)
        ]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        history = state.extra.get("history")
        counts = self.space.option_counts
        if not is_result_list(history, counts) or len(history) != state.n_seen:
            raise InputError(
                "'history' must be a list of [option indices of every layer, finite reward], "
                f"one per result seen; delete {path.parent} and rerun the stage that wrote it",
                path,
                key="extra.history",
            )
