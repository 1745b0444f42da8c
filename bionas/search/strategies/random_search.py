"""Random search: every architecture of the space equally likely, every step."""

from __future__ import annotations

from typing import Any

import numpy as np

from bionas.records.controller_state import ControllerState
from bionas.search.strategies.base import Architecture, Controller, derive_rng

#: Stream number of the proposal draws in :func:`derive_rng`.
PROPOSE_STREAM = 0


class RandomController(Controller):
    """Uniform sampling with replacement; learns nothing but the best result seen.

    ``most_likely`` is the best architecture seen so far (the first option of
    each layer before any update); ``layer_probabilities`` are uniform.
    """

    name = "random"
    SETTINGS: dict = {}

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    def propose(self, state: ControllerState, n: int, step: int, pending=()) -> list[Architecture]:
        """Uniform draws (with repeats; ``pending`` plays no part)."""
        self._check_state(state)
        rng = derive_rng(state.seed, step, PROPOSE_STREAM)
        counts = self.space.option_counts
        draws = rng.integers(0, counts, size=(int(n), len(counts)))
        return [self.space.decode(row) for row in draws]

    def _learn(self, state, indices, rewards):
        return dict(state.extra), state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        self._check_state(state)
        return self._best_or_first(state)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        return [np.full(k, 1.0 / k) for k in self.space.option_counts]
