"""The Optuna strategies' shared machinery: a study rebuilt from the history, asked in batches.

The state keeps every result learnt from, ``extra["history"] = [[option
indices of every layer, value], ...]`` in the order of the updates, and the
size of every update, ``extra["batches"]``; Optuna keeps nothing between
steps. ``propose(state, n, step)`` rebuilds an in-memory study from the history
(one completed trial per result, a
:class:`optuna.distributions.CategoricalDistribution` over the option names of
each layer), seeds the strategy's sampler with a seed derived from the
search's seed and the step, and asks ``n`` trials before telling any.

One objective: ``value`` is the reward, maximised. Two objectives (the
setting ``objectives: 2``, ``search.objective: pareto``): ``value`` is
``[a, b]``, both maximised (``(-val_loss, -K)``), or ``null`` for a failed
child, which is kept out of the study (Optuna ignores failed trials) but never
proposed again.

Every architecture is trained once: a proposal that is already in the history
or earlier in the batch is asked again (up to ``retries`` times; the repeat is
told to the study as failed, which the samplers ignore), then replaced by an
untried architecture drawn uniformly at random. Only once every architecture of
the space has been tried do proposals repeat (then drawn uniformly among all).
The fallback enumerates the space, fine for up to about a million
architectures.

Optuna is imported by :meth:`OptunaController.propose` only, so importing
:mod:`bionas.search.strategies` does not import it.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
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
    is_objective_list,
    is_result_list,
)

#: Stream number of the sampler's seed in :func:`derive_rng`.
SEED_STREAM = 0
#: Stream number of the fallback draws (untried architectures) in :func:`derive_rng`.
FALLBACK_STREAM = 1


def non_negative_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def unit_number(v: Any) -> bool:
    """A number in [0, 1]."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1


OBJECTIVES = Setting(
    1, lambda v: v in (1, 2) and not isinstance(v, bool), "1 or 2",
    "objectives learnt from: 1 (the reward) or 2 (predictive loss and K, search.objective pareto)",
)
RETRIES = Setting(
    10, non_negative_int, "an integer >= 0",
    "times a repeated proposal is asked again before an untried one is drawn at random",
)


def optuna_module(name: str):
    """The optuna module, its logging silenced; InputError when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise InputError(
            f"the {name} controller needs Optuna 5 (pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


class OptunaController(Controller):
    """A controller whose proposals an Optuna sampler makes (:meth:`_sampler`)."""

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"history": [], "batches": []}, {}

    @abstractmethod
    def _sampler(self, optuna, seed: int, state: ControllerState):
        """The sampler of one step, seeded with ``seed`` (each Optuna strategy gives its own)."""

    def _trial_attrs(self, optuna, state: ControllerState) -> list[dict[str, Any]]:
        """System attributes of every history trial (none by default)."""
        return [{} for _ in state.extra["history"]]

    def _history(self, state: ControllerState) -> tuple[np.ndarray, np.ndarray]:
        """``(indices (N, n_layers) int64, values (N,) or (N, m) float64)``; NaN rows: failed."""
        history = state.extra["history"]
        indices = np.array([h[0] for h in history], dtype=np.int64).reshape(
            len(history), len(self.space.layers)
        )
        m = self.n_objectives
        if m == 1:
            return indices, np.array([h[1] for h in history], dtype=np.float64)
        values = np.array(
            [[np.nan] * m if h[1] is None else h[1] for h in history], dtype=np.float64
        ).reshape(len(history), m)
        return indices, values

    def propose(
        self, state: ControllerState, n: int, step: int, pending=()
    ) -> list[Architecture]:
        """``n`` architectures for step ``step``, none already tried or ``pending`` unless the
        space is exhausted; the pending ones run as trials of the study (TPE's liar counts
        them like the batch's own)."""
        self._check_state(state)
        n = int(n)
        if n == 0:
            return []
        optuna = optuna_module(self.name)
        names = self.space.layer_names
        distributions = {
            layer.name: optuna.distributions.CategoricalDistribution(layer.option_names)
            for layer in self.space.layers
        }
        seed = int(derive_rng(state.seed, step, SEED_STREAM).integers(2**31))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = self._sampler(optuna, seed, state)
            if self.n_objectives == 1:
                study = optuna.create_study(direction="maximize", sampler=sampler)
            else:
                study = optuna.create_study(
                    directions=["maximize"] * self.n_objectives, sampler=sampler
                )
            indices, values = self._history(state)
            for row, value, attrs in zip(indices, values, self._trial_attrs(optuna, state), strict=True):
                if np.any(np.isnan(value)):
                    continue  # a failed child (two objectives): nothing to learn from
                study.add_trial(
                    optuna.trial.create_trial(
                        params=dict(zip(names, self.space.decode(row), strict=True)),
                        distributions=distributions,
                        system_attrs=attrs,
                        **(
                            {"value": float(value)} if self.n_objectives == 1
                            else {"values": [float(v) for v in value]}
                        ),
                    )
                )
            tried = {tuple(int(i) for i in row) for row in indices}
            for arch in pending:
                study.enqueue_trial(dict(zip(names, arch, strict=True)))
                study.ask(distributions)
                tried.add(self.space.encode(arch))
            fallback = derive_rng(state.seed, step, FALLBACK_STREAM)
            proposals: list[Architecture] = []
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
        if self.n_objectives == 1:
            values = [float(r) for r in rewards]
        else:
            values = [None if np.any(np.isnan(r)) else [float(x) for x in r] for r in rewards]
        history = [*state.extra["history"], *([a.tolist(), v] for a, v in zip(indices, values, strict=True))]
        return {"history": history, "batches": [*state.extra["batches"], len(values)]}, state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        """The best architecture seen (by the first objective with two; the first option of
        each layer before any update)."""
        self._check_state(state)
        return self._best_or_first(state)

    def _good(self, state: ControllerState) -> np.ndarray:
        """Option indices of the history's good results: with one objective the best 10%
        (at most 25; TPE's "good" group), with two the Pareto front."""
        indices, values = self._history(state)
        if self.n_objectives == 1:
            return indices[np.argsort(-values, kind="stable")[: min(int(np.ceil(0.1 * len(values))), 25)]]
        from bionas.search.pareto import pareto_mask

        ok = ~np.any(np.isnan(values), axis=1)
        return indices[ok][pareto_mask(values[ok])] if ok.any() else indices[:0]

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        """Per layer, the option frequencies among :meth:`_good` with one pseudo-count per
        option; uniform before any update."""
        self._check_state(state)
        good = self._good(state)
        return [
            (np.bincount(good[:, j], minlength=k) + 1.0) / (len(good) + k)
            for j, k in enumerate(self.space.option_counts)
        ]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        history = state.extra.get("history")
        batches = state.extra.get("batches")
        counts = self.space.option_counts
        m = self.n_objectives
        ok = is_result_list(history, counts) if m == 1 else is_objective_list(history, counts, m)
        if not ok or len(history) != state.n_seen:
            what = "finite reward" if m == 1 else f"[{m} finite objectives] or null"
            raise InputError(
                f"'history' must be a list of [option indices of every layer, {what}], "
                f"one per result seen; delete {path.parent} and rerun the stage that wrote it",
                path,
                key="extra.history",
            )
        if not (
            isinstance(batches, list)
            and all(non_negative_int(b) and b > 0 for b in batches)
            and sum(batches) == len(history)
        ):
            raise InputError(
                "'batches' must list the size of every update, summing to the results seen; "
                f"delete {path.parent} and rerun the stage that wrote it",
                path,
                key="extra.batches",
            )
