"""Exhaustive grid: every architecture once, in :meth:`ModelSpace.architectures` order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.records.controller_state import ControllerState
from bionas.search.strategies.base import Architecture, Controller


class GridController(Controller):
    """Walks the grid in order; the position (architectures learnt from) lives in the state.

    ``propose(state, n, step)`` returns the next ``n`` architectures after the
    position; ``update`` advances the position by the number of results.
    ``most_likely`` is the best architecture seen so far.
    """

    name = "grid"
    SETTINGS: dict = {}

    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"position": 0}, {}

    def remaining(self, state: ControllerState) -> int:
        """Number of architectures not yet proposed."""
        return self.space.size - int(state.extra["position"])

    def propose(self, state: ControllerState, n: int, step: int, pending=()) -> list[Architecture]:
        """The next ``n`` architectures in grid order after the state's position and the
        ``pending`` ones (which the position does not count yet)."""
        self._check_state(state)
        n = int(n)
        left = self.remaining(state) - len(pending)
        if n > left:
            raise InputError(
                f"the grid controller has {left} architecture(s) left of the "
                f"{self.space.size} in the space; asked for {n}"
            )
        start = int(state.extra["position"]) + len(pending)
        # grid order is C order over the option indices (the last layer varies fastest)
        digits = np.unravel_index(np.arange(start, start + n), self.space.option_counts)
        return [self.space.decode(row) for row in np.stack(digits, axis=1)]

    def _learn(self, state, indices, rewards):
        position = min(self.space.size, int(state.extra["position"]) + len(rewards))
        return {"position": position}, state.arrays

    def most_likely(self, state: ControllerState) -> Architecture:
        self._check_state(state)
        return self._best_or_first(state)

    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        return [np.full(k, 1.0 / k) for k in self.space.option_counts]

    def _check_loaded(self, state: ControllerState, path: Path) -> None:
        pos = state.extra.get("position")
        if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos <= self.space.size:
            raise InputError(
                f"invalid grid position {pos!r}; delete {path.parent} and rerun the stage "
                "that wrote it",
                path,
                key="extra.position",
            )
