"""Regularized (aging) evolution (Real et al. 2019, "Regularized evolution for image
classifier architecture search").

The state keeps every result learnt from, in order: ``extra["history"]`` is a
list of ``[option indices of every layer, reward]``. The population is the
last ``population`` (P) results, so every result ages out of it P results
after it arrived, however good it was. A child is made by a tournament:
draw ``tournament`` (S) distinct members of the population uniformly, take
the one with the highest reward (ties: the first drawn) as the parent, and
change ``mutations`` of its layers (at most every layer with two or more
options), each to another of that layer's options, all uniformly. Until P
results exist every child is drawn uniformly from the architectures not yet
proposed (with ``b`` children per step, this random phase lasts
``ceil(P / b)`` steps).

No architecture is proposed twice: a child that is in the history or earlier
in the same batch is redrawn (another tournament and mutation, up to
:data:`MAX_TRIES` times, then a uniformly random architecture not yet
proposed). Only once every architecture of the space has been proposed does
a child repeat one: it is then :meth:`EvolutionController.most_likely`, so the
rest of the budget re-trains the current final choice.

Every draw comes from :func:`derive_rng` of the state's seed and the step, so
``propose`` is a pure function of the state and the step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.records.space import ModelSpace
from bionas.search.strategies.base import (
    Architecture,
    Controller,
    ControllerState,
    Setting,
    derive_rng,
    is_result_list,
    positive_int,
)

#: Stream number of the proposal draws in :func:`derive_rng`.
PROPOSE_STREAM = 0
#: Tournaments (each with its mutation) tried for one child before it is drawn
#: uniformly from the architectures not yet proposed.
MAX_TRIES = 50
#: Uniform draws tried for a random child before the architectures not yet
#: proposed are enumerated (only a nearly exhausted, hence small, space gets there).
RANDOM_TRIES = 64

Indices = tuple[int, ...]


class EvolutionController(Controller):
    """Regularized evolution: tournament selection, mutation, the oldest result dies.

    See the module docstring for the algorithm. ``most_likely`` is the
    architecture with the highest mean reward over its results (ties: the
    earliest; the first option of every layer before any result). With no repeats each
    architecture has one result until the space is exhausted, so this is the
    best single reward seen; once children repeat the final choice, their
    mean rather than their luckiest replicate decides.

    ``layer_probabilities`` are the shares of each option among the
    population's architectures (uniform before any result): their entropy
    says how far the population has converged.

    The defaults (P 15, S 3, two mutations) had the lowest sum of median final
    ranks over budgets 25, 50 and 100 among P 5-50, S 2-20 and one or two
    mutations, replaying the recorded table of the default space
    (``bench/search.py``) on seeds 0-199 at lambda 0; they were then checked
    on seeds 200-599 at lambdas 0, 1, 2 and 10. On that table the settings
    matter little (most lie within the seeds' noise of each other); two
    mutations beat one at a budget of 100 for most P and S. On the held-out
    seeds evolution beats random search's best seen at lambda 1 and 2, not
    at lambda 0 with 100 children, where the replicates' noise decides which
    of many near-equal architectures looks best (README, "The controller").
    """

    name = "evolution"
    SETTINGS = {
        "population": Setting(
            15, positive_int, "a positive integer",
            "P: the last P results form the population (random children until P exist)",
        ),
        "tournament": Setting(
            3, positive_int, "a positive integer (at most population)",
            "S: population members drawn per tournament; the best is the parent",
        ),
        "mutations": Setting(
            2, positive_int, "a positive integer",
            "layers changed per child (at most every layer with two or more options)",
        ),
    }

    def __init__(self, space: ModelSpace, **settings: Any):
        super().__init__(space, **settings)
        if self.settings["tournament"] > self.settings["population"]:
            raise InputError(
                f"setting 'tournament' of the evolution controller must be at most population "
                f"({self.settings['population']}), got {self.settings['tournament']}",
                key="tournament",
            )
        self._mutable = np.array([i for i, k in enumerate(space.option_counts) if k > 1], np.int64)
        self._mutations = min(int(self.settings["mutations"]), len(self._mutable))

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"history": []}, {}

    # -- proposing -----------------------------------------------------------------

    def propose(self, state: ControllerState, n: int, step: int, pending=()) -> list[Architecture]:
        self._check_state(state)
        rng = derive_rng(state.seed, step, PROPOSE_STREAM)
        history = state.extra["history"]
        taken = {tuple(indices) for indices, _ in history} | {self.space.encode(a) for a in pending}
        population = history[-int(self.settings["population"]):]
        evolving = len(history) >= int(self.settings["population"])
        out = []
        for _ in range(int(n)):
            if len(taken) >= self.space.size:
                out.append(self.most_likely(state))
                continue
            child = self._mutant(population, taken, rng) if evolving else None
            if child is None:
                child = self._random_new(taken, rng)
            taken.add(child)
            out.append(self.space.decode(child))
        return out

    def _tournament(self, population: list, rng: np.random.Generator) -> Indices:
        """The parent: the best of ``tournament`` distinct members drawn from ``population``."""
        drawn = rng.choice(len(population), int(self.settings["tournament"]), replace=False)
        best = drawn[int(np.argmax([population[i][1] for i in drawn]))]  # ties: the first drawn
        return tuple(population[best][0])

    def _mutate(self, parent: Indices, rng: np.random.Generator) -> Indices:
        """``parent`` with ``mutations`` distinct layers each set to another of its options.

        Only layers with two or more options can change; a space with fewer of
        them than ``mutations`` has all of them changed.
        """
        child = list(parent)
        counts = self.space.option_counts
        for layer in rng.choice(self._mutable, self._mutations, replace=False):
            other = int(rng.integers(counts[layer] - 1))
            child[layer] = other + (other >= child[layer])
        return tuple(child)

    def _mutant(self, population: list, taken: set, rng: np.random.Generator) -> Indices | None:
        """A mutated tournament winner not in ``taken``, or None after :data:`MAX_TRIES` tries."""
        for _ in range(MAX_TRIES):
            child = self._mutate(self._tournament(population, rng), rng)
            if child not in taken:
                return child
        return None

    def _random_new(self, taken: set, rng: np.random.Generator) -> Indices:
        """A uniformly random architecture not in ``taken`` (which must not hold them all)."""
        counts = self.space.option_counts
        for _ in range(RANDOM_TRIES):
            child = tuple(int(i) for i in rng.integers(0, counts))
            if child not in taken:
                return child
        flat = np.ravel_multi_index(np.array(sorted(taken)).T, counts)
        free = np.setdiff1d(np.arange(self.space.size), flat)
        return tuple(int(i) for i in np.unravel_index(int(rng.choice(free)), counts))

    # -- learning and answers -------------------------------------------------------

    def _learn(self, state, indices, rewards):
        history = [
            *state.extra["history"],
            *([[int(i) for i in row], float(r)] for row, r in zip(indices, rewards, strict=True)),
        ]
        return {"history": history}, state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        self._check_state(state)
        totals: dict[Indices, list[float]] = {}
        for indices, reward in state.extra["history"]:
            totals.setdefault(tuple(indices), []).append(reward)
        if not totals:
            return self.space.decode([0] * len(self.space.layers))
        # dicts keep insertion order, so max() keeps the earliest on ties
        best = max(totals, key=lambda a: math.fsum(totals[a]) / len(totals[a]))
        return self.space.decode(best)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        self._check_state(state)
        counts = self.space.option_counts
        population = state.extra["history"][-int(self.settings["population"]):]
        if not population:
            return [np.full(k, 1.0 / k) for k in counts]
        rows = np.array([indices for indices, _ in population], np.int64)
        return [np.bincount(rows[:, i], minlength=k) / len(rows) for i, k in enumerate(counts)]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        history = state.extra.get("history")
        counts = self.space.option_counts
        if not is_result_list(history, counts):
            raise InputError(
                "'history' must be a list of [option indices of every layer, finite reward]; "
                f"delete {path.parent} and rerun the stage that wrote it",
                path,
                key="extra.history",
            )
        if len(history) != state.n_seen:
            raise InputError(
                f"'history' holds {len(history)} results but the state has learnt from "
                f"{state.n_seen}; delete {path.parent} and rerun the stage that wrote it",
                path,
                key="extra.history",
            )
