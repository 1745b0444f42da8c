"""The controller interface and the on-disk controller state.

A controller (search strategy) only proposes architectures and learns from
their rewards. Everything it knows lives in an immutable
:class:`ControllerState`; :meth:`Controller.update` returns a new state and
never changes the old one, and :meth:`Controller.propose` is a pure function
of the state and the step number, so any step of a search can be rerun
bit-for-bit from the state saved before it.

On disk a state is a directory::

    state.json    controller name, settings, space fingerprint, seed, step,
                  best architecture seen, controller-specific values
                  (baseline, grid position, ...), the sha256 of weights.npz,
                  and a checksum of its own content (an edited file is refused)
    weights.npz   numeric arrays (the RL policy's weights and Adam variables);
                  absent for controllers without arrays
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bionas.errors import InputError
from bionas.io import NPZ_ERRORS, read_json, read_npz_member, save_npz, write_json
from bionas.records.space import ModelSpace

STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.npz"
STATE_FORMAT = "bionas-controller-state"
STATE_VERSION = 1

Architecture = tuple[str, ...]
Result = tuple[Sequence[str], float]


@dataclass(frozen=True)
class Setting:
    """One controller setting: default, check and what the check expects."""

    default: Any
    check: Callable[[Any], bool]
    expected: str
    help: str = ""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def finite_number(v: Any) -> bool:
    """A finite JSON number, not a bool (an int beyond float's range is not one)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def positive_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def positive_number(v: Any) -> bool:
    return finite_number(v) and v > 0


def non_negative_number(v: Any) -> bool:
    return finite_number(v) and v >= 0


def unit_interval(v: Any) -> bool:
    """A number in [0, 1)."""
    return finite_number(v) and 0 <= v < 1


@dataclass(frozen=True, eq=False)
class ControllerState:
    """Everything a controller knows; treat as immutable.

    Attributes
    ----------
    controller : str
        Controller name (``rl``, ``random``, ``grid``).
    settings : mapping
        The controller's settings, defaults filled.
    fingerprint : str
        :meth:`ModelSpace.fingerprint` of the space the state belongs to.
    seed : int
        Seed of the search; every random draw derives from it and the step.
    step : int
        Number of updates applied (0 for a fresh state).
    n_seen : int
        Number of results learnt from.
    best : mapping or None
        ``{"layers": [option names], "reward": float}`` of the best result seen.
    extra : mapping
        Controller-specific JSON values (baseline, grid position, ...).
    arrays : mapping of str to ndarray
        Controller-specific arrays (read-only), saved to ``weights.npz``.
    """

    controller: str
    settings: Mapping[str, Any]
    fingerprint: str
    seed: int
    step: int = 0
    n_seen: int = 0
    best: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


def frozen_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Copies of ``arrays`` marked read-only (a state never changes in place)."""
    out = {}
    for key, value in arrays.items():
        a = np.array(value, copy=True)
        a.setflags(write=False)
        out[key] = a
    return out


def derive_rng(seed: int, step: int, stream: int) -> np.random.Generator:
    """The numpy generator for ``(seed, step, stream)``; never global random state."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(step), int(stream)]))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checksum(obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``obj`` without its ``checksum`` key."""
    body = {k: v for k, v in obj.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _delete_hint(directory: Path) -> str:
    return f"delete {directory} and rerun the stage that wrote it"


def read_state_json(directory: str | PathLike) -> dict[str, Any]:
    """Read and structurally check ``state.json`` in ``directory``."""
    directory = Path(directory)
    path = directory / STATE_FILE
    obj = read_json(
        path,
        missing=f"no controller state here (expected {STATE_FILE}; write one with "
        "`bionas init-controller`)",
        invalid="not a valid controller state",
        damaged=_delete_hint(directory),
    )
    checks = {
        "format": lambda v: v == STATE_FORMAT,
        "version": lambda v: v == STATE_VERSION,
        "controller": lambda v: isinstance(v, str),
        "settings": lambda v: isinstance(v, dict),
        "space_fingerprint": lambda v: isinstance(v, str),
        "seed": lambda v: _is_int(v) and v >= 0,
        "step": lambda v: _is_int(v) and v >= 0,
        "n_seen": lambda v: _is_int(v) and v >= 0,
        "best": lambda v: v is None
        or (
            isinstance(v, dict)
            and isinstance(v.get("layers"), list)
            and finite_number(v.get("reward"))
        ),
        "extra": lambda v: isinstance(v, dict),
        "arrays": lambda v: v is None
        or (isinstance(v, dict) and isinstance(v.get("sha256"), str)
            and isinstance(v.get("names"), list) and all(isinstance(n, str) for n in v["names"])
            and len(set(v["names"])) == len(v["names"])
            and v.get("file", WEIGHTS_FILE) == WEIGHTS_FILE),
    }
    if not isinstance(obj, dict):
        raise InputError(f"not a controller state (a JSON object); {_delete_hint(directory)}", path)
    if obj.get("checksum") != _checksum(obj):
        raise InputError(
            f"the controller state does not match its checksum (truncated or edited); "
            f"{_delete_hint(directory)}",
            path,
            key="checksum",
        )
    for key, check in checks.items():
        if key not in obj or not check(obj[key]):
            raise InputError(
                f"missing or invalid {key!r} in the controller state (truncated or edited?); "
                f"{_delete_hint(directory)}",
                path,
                key=key,
            )
    return obj


def _read_weights(path: Path, names: Sequence[str], hint: str) -> dict[str, np.ndarray]:
    """The numeric arrays ``names`` of a state's ``weights.npz``, every float finite.

    Raises :class:`InputError` naming the file (and the array) when it is not an
    archive, lacks an array, or holds one that is damaged, not numeric or not
    finite: a state whose checksum was fixed after an edit, or that a writer
    with a bug saved, is never used. Controllers check dtypes and shapes in
    their ``_check_loaded``.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except NPZ_ERRORS as err:
        raise InputError(f"cannot read the weights ({err}); {hint}", path) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InputError(f"the weights are not an .npz archive of named arrays; {hint}", path)
    arrays = {}
    with npz:
        for name in names:
            if name not in npz.files:
                raise InputError(f"the weights lack the array {name!r}; {hint}", path, key=name)
            try:
                array = read_npz_member(npz, name)
            except (*NPZ_ERRORS, MemoryError) as err:
                raise InputError(f"cannot read the array ({err}); {hint}", path, key=name) from None
            if array.dtype.kind not in "biuf":
                raise InputError(
                    f"the array is {array.dtype}, expected numbers; {hint}", path, key=name
                )
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise InputError(f"the array holds NaN or infinite values; {hint}", path, key=name)
            arrays[name] = array
    return arrays


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
        if isinstance(s.default, float) and _is_int(value) and finite_number(value):
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
    def propose(self, state: ControllerState, n: int, step: int) -> list[Architecture]:
        """``n`` architectures (option names per layer) for search step ``step``.

        Deterministic: the same state and step give the same proposals.
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
        if not _is_int(seed) or seed < 0:
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

    def update(self, state: ControllerState, results: Sequence[Result]) -> ControllerState:
        """Learn from ``[(layers, reward), ...]``; return a new state (``state`` is unchanged).

        Rewards must be finite (a failed child carries its penalty reward).
        """
        self._check_state(state)
        if not results:
            raise ValueError("update needs at least one (layers, reward) result")
        indices = np.array([self.space.encode(tuple(layers)) for layers, _ in results], dtype=np.int64)
        rewards = np.array([float(r) for _, r in results], dtype=np.float64)
        if not np.all(np.isfinite(rewards)):
            raise ValueError(f"rewards must be finite, got {rewards.tolist()}")
        extra, arrays = self._learn(state, indices, rewards)
        best = state.best
        i = int(np.argmax(rewards))
        if best is None or rewards[i] > best["reward"]:
            best = {"layers": list(results[i][0]), "reward": float(rewards[i])}
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
        """Write ``state`` to ``directory`` (``weights.npz`` first, then ``state.json``; both atomic)."""
        self._check_state(state)
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays_meta = None
        if state.arrays:
            weights = directory / WEIGHTS_FILE
            save_npz(weights, **state.arrays)
            arrays_meta = {
                "file": WEIGHTS_FILE,
                "sha256": _sha256(weights),
                "names": list(state.arrays),
                "shapes": [list(a.shape) for a in state.arrays.values()],
            }
        obj = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "controller": state.controller,
            "settings": dict(state.settings),
            "space_fingerprint": state.fingerprint,
            "space_layers": list(self.space.layer_names),
            "space_size": self.space.size,
            "seed": state.seed,
            "step": state.step,
            "n_seen": state.n_seen,
            "best": None if state.best is None else dict(state.best),
            "extra": dict(state.extra),
            "arrays": arrays_meta,
        }
        obj["checksum"] = _checksum(obj)
        write_json(directory / STATE_FILE, obj)

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
        hint = _delete_hint(directory)
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
        arrays: dict[str, np.ndarray] = {}
        meta = obj["arrays"]
        if meta is not None:
            weights = directory / WEIGHTS_FILE
            if not weights.is_file():
                raise InputError(f"{weights.name} is missing; {hint}", path, key="arrays")
            if _sha256(weights) != meta["sha256"]:
                raise InputError(
                    f"{weights.name} does not match its checksum in {STATE_FILE} "
                    f"(truncated or edited); {hint}",
                    weights,
                )
            arrays = _read_weights(weights, meta["names"], hint)
        state = ControllerState(
            controller=self.name,
            settings=settings,
            fingerprint=self._fingerprint,
            seed=obj["seed"],
            step=obj["step"],
            n_seen=obj["n_seen"],
            best=best,
            extra=obj["extra"],
            arrays=frozen_arrays(arrays),
        )
        self._check_loaded(state, path)
        return state
