"""The controller interface and the on-disk controller state.

A controller (search strategy) only proposes architectures and learns from
their rewards. Everything it knows lives in an immutable
:class:`ControllerState`; :meth:`Controller.update` returns a new state and
never changes the old one, and :meth:`Controller.propose` is a pure function
of the state and the step number, so any step of a search can be rerun
bit-for-bit from the state saved before it.

On disk a state is a directory of :mod:`bionas.records.controller_state`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bionas.errors import InputError
from bionas.records.controller_state import (
    STATE_FILE,
    ControllerState,
    delete_hint,
    frozen_arrays,
    read_state_arrays,
    read_state_json,
    write_state,
)
from bionas.records.space import ModelSpace
from bionas.records.values import finite_number, is_int

Architecture = tuple[str, ...]
#: ``(layers, reward)``; for a controller with two objectives ``(layers, (a, b))``, higher is
#: better in both, or ``(layers, None)`` for a child that failed
Result = tuple[Sequence[str], Any]


@dataclass(frozen=True)
class Setting:
    """One controller setting: default, check and what the check expects."""

    default: Any
    check: Callable[[Any], bool]
    expected: str
    help: str = ""


def is_result_list(value: Any, counts: Sequence[int]) -> bool:
    """Whether ``value`` is a JSON list of ``[option indices of every layer, finite reward]``,
    the form in which strategies keep the results they learnt from in ``extra``."""
    return isinstance(value, list) and all(
        isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], list)
        and len(item[0]) == len(counts)
        and all(type(i) is int and 0 <= i < k for i, k in zip(item[0], counts))
        and finite_number(item[1])
        for item in value
    )


def is_objective_list(value: Any, counts: Sequence[int], n_objectives: int) -> bool:
    """:func:`is_result_list` for two or more objectives: each result is
    ``[option indices, [finite numbers, one per objective]]`` or ``[option indices, null]``
    (a child that failed)."""
    return isinstance(value, list) and all(
        isinstance(item, list)
        and len(item) == 2
        and is_result_list([[item[0], 0.0]], counts)
        and (
            item[1] is None
            or (isinstance(item[1], list) and len(item[1]) == n_objectives
                and all(finite_number(x) for x in item[1]))
        )
        for item in value
    )


def positive_int(v: Any) -> bool:
    return is_int(v) and v >= 1


def positive_number(v: Any) -> bool:
    return finite_number(v) and v > 0


def non_negative_number(v: Any) -> bool:
    return finite_number(v) and v >= 0


def unit_interval(v: Any) -> bool:
    """A number in [0, 1)."""
    return finite_number(v) and 0 <= v < 1


def derive_rng(seed: int, step: int, stream: int) -> np.random.Generator:
    """The numpy generator for ``(seed, step, stream)``; never global random state."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step), int(stream)]))


def check_settings(
    name: str, spec: Mapping[str, Setting], settings: Mapping[str, Any], source: str | None = None
) -> dict[str, Any]:
    """Fill defaults and validate ``settings`` against ``spec``; InputError on a bad one."""
    unknown = sorted(set(settings) - set(spec))
    if unknown:
        allowed = ", ".join(spec) or "no settings"
        raise InputError(
            f"the {name} controller has no setting(s) {', '.join(unknown)} (it takes {allowed})",
            source,
            key=unknown[0],
        )
    out = {}
    for key, s in spec.items():
        value = settings.get(key, s.default)
        if isinstance(s.default, float) and is_int(value) and finite_number(value):
            value = float(value)
        if not s.check(value):
            raise InputError(
                f"setting {key!r} of the {name} controller must be {s.expected}, got {value!r}",
                source,
                key=key,
            )
        out[key] = value
    return out


class Controller(ABC):
    """A search strategy: proposes architectures and learns from their rewards.

    Subclasses set :attr:`name` and :attr:`SETTINGS` and implement
    :meth:`_init_extra`, :meth:`propose`, :meth:`_learn`, :meth:`most_likely`
    and :meth:`layer_probabilities`. Construct them with
    :func:`bionas.search.strategies.get_controller`.
    """

    name: ClassVar[str]
    SETTINGS: ClassVar[Mapping[str, Setting]] = {}

    def __init__(self, space: ModelSpace, **settings: Any):
        self.space = space
        self.settings = check_settings(self.name, self.SETTINGS, settings)
        self._fingerprint = space.fingerprint()

    # -- what a strategy implements -------------------------------------------

    @abstractmethod
    def _init_extra(self, seed: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Controller-specific ``(extra, arrays)`` of a fresh state."""

    @abstractmethod
    def propose(
        self, state: ControllerState, n: int, step: int, pending: Sequence[Architecture] = ()
    ) -> list[Architecture]:
        """``n`` architectures (option names per layer) for search step ``step``.

        ``pending`` are the architectures proposed by earlier steps that the
        state has not learnt from yet (still training, ``search.in_flight`` >
        1): the strategies that never repeat a child do not propose them
        again. Deterministic: the same state, step and pending give the same
        proposals.
        """

    @abstractmethod
    def _learn(
        self, state: ControllerState, indices: np.ndarray, rewards: np.ndarray
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """New ``(extra, arrays)`` after learning from ``indices (n, n_layers)`` and ``rewards (n,)``."""

    @abstractmethod
    def most_likely(self, state: ControllerState) -> Architecture:
        """The architecture the controller currently believes best."""

    @abstractmethod
    def layer_probabilities(self, state: ControllerState) -> list[np.ndarray]:
        """Per-layer option probabilities along the most likely path, one ``(n_options,)`` array per layer."""

    def _check_loaded(self, state: ControllerState, path: Path) -> None:  # noqa: B027
        """Controller-specific checks of a loaded state (raise InputError naming ``path``)."""

    # -- shared behaviour ---------------------------------------------------------

    def init_state(self, seed: int) -> ControllerState:
        """A fresh state for a search seeded with ``seed`` (an integer >= 0)."""
        if not is_int(seed) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        extra, arrays = self._init_extra(int(seed))
        return ControllerState(
            controller=self.name,
            settings=dict(self.settings),
            fingerprint=self._fingerprint,
            seed=int(seed),
            extra=extra,
            arrays=frozen_arrays(arrays),
        )

    def entropy(self, state: ControllerState) -> float:
        """Sum over layers of the entropy (nats) of :meth:`layer_probabilities`."""
        total = 0.0
        for p in self.layer_probabilities(state):
            p = p[p > 0]
            total -= float(np.sum(p * np.log(p)))
        return total

    @property
    def n_objectives(self) -> int:
        """How many objectives the controller learns from (the setting ``objectives``; 1 for
        the controllers without it)."""
        return int(self.settings.get("objectives", 1))

    def update(self, state: ControllerState, results: Sequence[Result]) -> ControllerState:
        """Learn from ``[(layers, reward), ...]``; return a new state (``state`` is unchanged).

        Rewards must be finite (a failed child carries its penalty reward). A
        controller with two objectives takes ``(layers, (a, b))`` (higher is
        better in both) or ``(layers, None)`` for a failed child, and hands
        :meth:`_learn` an ``(n, 2)`` array with NaN rows for the failed; its
        ``best`` is the child best by the first objective.
        """
        self._check_state(state)
        if not results:
            raise ValueError("update needs at least one (layers, reward) result")
        indices = np.array([self.space.encode(tuple(layers)) for layers, _ in results], dtype=np.int64)
        rewards = self._values([r for _, r in results])
        extra, arrays = self._learn(state, indices, rewards)
        best = state.best
        first = rewards if rewards.ndim == 1 else np.where(np.isnan(rewards[:, 0]), -np.inf, rewards[:, 0])
        i = int(np.argmax(first))
        if np.isfinite(first[i]) and (best is None or first[i] > best["reward"]):
            best = {"layers": list(results[i][0]), "reward": float(first[i])}
        new = ControllerState(
            controller=state.controller,
            settings=state.settings,
            fingerprint=state.fingerprint,
            seed=state.seed,
            step=state.step + 1,
            n_seen=state.n_seen + len(results),
            best=best,
            extra=extra,
            arrays=frozen_arrays(arrays) if arrays is not state.arrays else state.arrays,
        )
        return new

    def _values(self, values: Sequence[Any]) -> np.ndarray:
        """Rewards ``(n,)``, or objectives ``(n, m)`` with NaN rows for failed children."""
        m = self.n_objectives
        if m == 1:
            rewards = np.array([float(r) for r in values], dtype=np.float64)
            if not np.all(np.isfinite(rewards)):
                raise ValueError(f"rewards must be finite, got {rewards.tolist()}")
            return rewards
        out = np.full((len(values), m), np.nan)
        for i, v in enumerate(values):
            if v is None:
                continue
            try:
                row = np.array([float(x) for x in v], dtype=np.float64)
            except (TypeError, ValueError):
                row = np.full(0, np.nan)
            if row.shape != (m,) or not np.all(np.isfinite(row)):
                raise ValueError(f"objectives must be {m} finite numbers or None, got {v!r}")
            out[i] = row
        return out

    def _check_state(self, state: ControllerState) -> None:
        if state.controller != self.name:
            raise ValueError(f"a {state.controller} state given to the {self.name} controller")
        if state.fingerprint != self._fingerprint:
            raise ValueError("the state belongs to another model space")

    def _best_or_first(self, state: ControllerState) -> Architecture:
        if state.best is not None:
            return tuple(state.best["layers"])
        return self.space.decode([0] * len(self.space.layers))

    def save_state(self, state: ControllerState, directory: str | PathLike) -> None:
        """Write ``state`` to ``directory`` (:func:`bionas.records.controller_state.write_state`)."""
        self._check_state(state)
        write_state(directory, state, self.space.layer_names, self.space.size)

    def load_state(self, directory: str | PathLike) -> ControllerState:
        """Read a state written by :meth:`save_state` and check it belongs to this controller and space.

        Raises
        ------
        InputError
            Naming the file and saying to delete it, when the state is missing,
            truncated or edited, or was written for another space, controller
            or settings.
        """
        directory = Path(directory)
        path = directory / STATE_FILE
        obj = read_state_json(directory)
        hint = delete_hint(directory)
        if obj["controller"] != self.name:
            raise InputError(
                f"this state belongs to the {obj['controller']} controller, not {self.name}; {hint}",
                path,
                key="controller",
            )
        if obj["space_fingerprint"] != self._fingerprint:
            raise InputError(
                f"this state was written for another model space than {self.space.source} "
                f"(fingerprints differ); {hint}",
                path,
                key="space_fingerprint",
            )
        try:
            settings = check_settings(self.name, self.SETTINGS, obj["settings"], str(path))
        except InputError as err:
            raise InputError(f"{err.message}; {hint}", path, key=err.key) from None
        if settings != self.settings:
            raise InputError(
                f"this state holds other settings ({settings}) than the controller "
                f"({self.settings}); {hint}",
                path,
                key="settings",
            )
        best = obj["best"]
        if best is not None:
            try:
                self.space.encode(best["layers"])
            except InputError:
                raise InputError(f"invalid best architecture; {hint}", path, key="best") from None
            best = {"layers": list(best["layers"]), "reward": float(best["reward"])}
        state = ControllerState(
            controller=self.name,
            settings=settings,
            fingerprint=self._fingerprint,
            seed=obj["seed"],
            step=obj["step"],
            n_seen=obj["n_seen"],
            best=best,
            extra=obj["extra"],
            arrays=read_state_arrays(directory, obj),
        )
        self._check_loaded(state, path)
        return state
