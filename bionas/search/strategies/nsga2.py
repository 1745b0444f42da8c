"""NSGA-II (Deb et al. 2002) through Optuna, in ask/tell form.

A genetic algorithm: children of a generation are made from parents chosen
by non-domination rank and crowding distance (with one objective: by reward)
among the previous generation and its parents, by uniform crossover of two
parents (probability ``crossover``) and a random option per layer with
probability ``mutation``. The first generation (``population`` children) is
drawn at random. With ``objectives: 2`` (``search.objective: pareto``) it
spreads its children along the front of predictive loss and K.

The study is rebuilt from the history every step
(:mod:`bionas.search.strategies.optuna_search`, which also says how repeats
are avoided). Optuna files every trial under the generation that was current
when it was asked; the state keeps the size of every update
(``extra["batches"]``), from which :func:`generations` recomputes that number
for every result, so the rebuilt study has the generations a long-lived one
would have had. A batch of children is asked from one set of parents, which
is how NSGA-II makes a generation, so no liar is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bionas.search.strategies.base import ControllerState, Setting
from bionas.search.strategies.optuna_search import (
    OBJECTIVES,
    RETRIES,
    OptunaController,
    unit_number,
)


def generations(failed: Sequence[bool], batches: Sequence[int], population: int) -> list[int]:
    """The NSGA-II generation of every result, as Optuna assigns it when the trial is asked.

    A batch's trials are asked together, after the earlier batches were told:
    they join the latest generation that has a completed (not failed) trial,
    or the next one when that generation already holds ``population``
    completed trials.
    """
    out: list[int] = []
    current, complete, i = 0, 0, 0
    for size in batches:
        g = current + 1 if complete >= population else current
        for f in failed[i : i + size]:
            out.append(g)
            if not f:
                if g > current:
                    current, complete = g, 1
                else:
                    complete += 1
        i += size
    return out


class NSGA2Controller(OptunaController):
    """NSGA-II (Optuna's ``NSGAIISampler``); never repeats a child.

    ``most_likely`` is the best child seen (by the first objective with two);
    ``layer_probabilities`` are the option frequencies on the front (with one
    objective: the best 10%, at most 25) with one pseudo-count per option.
    """

    name = "nsga2"
    SETTINGS = {
        "population": Setting(
            10, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2,
            "an integer >= 2", "children per generation; the first generation is drawn at random",
        ),
        "mutation": Setting(
            0.2, unit_number, "a number in [0, 1]",
            "probability that a layer takes a random option instead of its parents'",
        ),
        "crossover": Setting(
            0.9, unit_number, "a number in [0, 1]",
            "probability that a child mixes two parents (else it copies one)",
        ),
        "retries": RETRIES,
        "objectives": OBJECTIVES,
    }

    def _sampler(self, optuna, seed: int, state: ControllerState):
        s = self.settings
        return optuna.samplers.NSGAIISampler(
            population_size=s["population"],
            mutation_prob=s["mutation"],
            crossover_prob=s["crossover"],
            seed=seed,
        )

    def _trial_attrs(self, optuna, state: ControllerState) -> list[dict[str, Any]]:
        key = optuna.samplers.NSGAIISampler._get_generation_key()
        failed = [h[1] is None for h in state.extra["history"]]
        gens = generations(failed, state.extra["batches"], self.settings["population"])
        return [{key: g} for g in gens]
