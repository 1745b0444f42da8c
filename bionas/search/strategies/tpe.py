"""Tree-structured Parzen estimator (TPE) through Optuna, in ask/tell form.

The study is rebuilt from the history every step
(:mod:`bionas.search.strategies.optuna_search`, which also says how repeats
are avoided) and a :class:`optuna.samplers.TPESampler` asks the step's
children before any is told: with ``constant_liar`` the sampler treats the
trials asked earlier in the batch as if they had the worst value seen, so the
batch spreads out. The first ``n_startup`` results are drawn at random, TPE's
own startup phase. With ``objectives: 2`` it is Optuna's multi-objective TPE
(MOTPE: the good group is chosen by non-domination and hypervolume
contribution). (Drawing the fallback among the untried architectures nearest to the repeat
instead ranked worse on the recorded table: median gold rank 10 against 6
after 100 children, seeds 0-99.)

The final answer (:meth:`TPEController.most_likely`) is the best single reward
seen. Each architecture is trained once, so a reward is one noisy draw and
the best of them is biased upwards; pooling the rewards of similar children
should correct for that, but on the recorded table (``bench/search.py``,
Lambda 0, seeds 0-99) it chose worse: blending a child's reward with a ridge
fit of additive option effects (weight 0.25) ranked 10-12 against 5-6 for the
best seen, and with the mean of its neighbours (one layer differing) 6-13
against 5-10. There 13% of the children sit at chance loss (0.69; over 40%
of those with ``gavg`` after ``none`` or ``avg4``), a heavy tail that an
additive fit or a local average spreads onto good neighbours, while the ten
best architectures' median losses lie within 0.005 of each other.
"""

from __future__ import annotations

from bionas.search.strategies.base import ControllerState, Setting, positive_int
from bionas.search.strategies.optuna_search import (
    OBJECTIVES,
    RETRIES,
    OptunaController,
    non_negative_int,
)


class TPEController(OptunaController):
    """TPE (Optuna's ``TPESampler``) with constant liar for batches; never repeats a child.

    See the module docstring for how a step is proposed, how repeats are
    avoided and how the final architecture is chosen. ``layer_probabilities``
    are, per layer, the option frequencies among the best 10% of the history
    (at most 25; TPE's "good" group) with one pseudo-count per option; uniform
    before any update.

    The defaults were chosen on the recorded table (``bench/search.py``, Lambda
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
            5, non_negative_int, "an integer >= 0", "results drawn at random before TPE starts"
        ),
        "multivariate": Setting(
            True, lambda v: isinstance(v, bool), "true or false",
            "one joint Parzen estimator over all layers (else one per layer)",
        ),
        "n_candidates": Setting(
            24, positive_int, "a positive integer", "candidates TPE scores per proposal"
        ),
        "retries": RETRIES,
        "objectives": OBJECTIVES,
    }

    def _sampler(self, optuna, seed: int, state: ControllerState):
        s = self.settings
        return optuna.samplers.TPESampler(
            n_startup_trials=s["n_startup"],
            n_ei_candidates=s["n_candidates"],
            multivariate=s["multivariate"],
            constant_liar=True,
            seed=seed,
        )

