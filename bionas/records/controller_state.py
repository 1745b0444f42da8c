"""A search strategy's saved state: ``controller/step_NNN/{state.json,weights.npz}``.

Written by ``bionas init-controller`` and ``update-controller``, read by
``propose``, the next update, the final selection and the report. A state is
immutable: :class:`ControllerState` in memory, a directory on disk::

    state.json    format, version, controller name, settings, space fingerprint,
                  layers and size, seed, step, n_seen, best architecture seen,
                  controller-specific values (``extra``), the sha256, names and
                  shapes of weights.npz, and a checksum of its own content (an
                  edited file is refused)
    weights.npz   numeric arrays (the RL policy's weights and Adam variables);
                  absent for controllers without arrays

Whether a state belongs to a given controller, space and settings is the
controller's check (:meth:`bionas.search.strategies.base.Controller.load_state`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.io import (
    NPZ_ERRORS,
    file_sha256,
    output_dir,
    read_json,
    read_npz_member,
    save_npz,
    write_json,
)
from bionas.records.values import finite_number, is_int

STATE_FILE = "state.json"
WEIGHTS_FILE = "weights.npz"
STATE_FORMAT = "bionas-controller-state"
STATE_VERSION = 1






@dataclass(frozen=True, eq=False)
class ControllerState:
    """Everything a controller knows; treat as immutable.

    Attributes
    ----------
    controller : str
        Controller name (``rl``, ``evolution``, ``random``, ``grid``).
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


def _checksum(obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``obj`` without its ``checksum`` key."""
    body = {k: v for k, v in obj.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def delete_hint(directory: Path) -> str:
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
        damaged=delete_hint(directory),
    )
    checks = {
        "format": lambda v: v == STATE_FORMAT,
        "version": lambda v: v == STATE_VERSION,
        "controller": lambda v: isinstance(v, str),
        "settings": lambda v: isinstance(v, dict),
        "space_fingerprint": lambda v: isinstance(v, str),
        "seed": lambda v: is_int(v) and v >= 0,
        "step": lambda v: is_int(v) and v >= 0,
        "n_seen": lambda v: is_int(v) and v >= 0,
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
        raise InputError(f"not a controller state (a JSON object); {delete_hint(directory)}", path)
    if obj.get("checksum") != _checksum(obj):
        raise InputError(
            f"the controller state does not match its checksum (truncated or edited); "
            f"{delete_hint(directory)}",
            path,
            key="checksum",
        )
    for key, check in checks.items():
        if key not in obj or not check(obj[key]):
            raise InputError(
                f"missing or invalid {key!r} in the controller state (truncated or edited?); "
                f"{delete_hint(directory)}",
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


def write_state(
    directory: str | PathLike, state: ControllerState, layers: Sequence[str], size: int
) -> None:
    """Write ``state`` (``weights.npz`` first, then ``state.json``; both atomic).

    ``layers`` and ``size`` describe the model space, for people reading the file.
    """
    directory = output_dir(directory)
    arrays_meta = None
    if state.arrays:
        weights = directory / WEIGHTS_FILE
        save_npz(weights, **state.arrays)
        arrays_meta = {
            "file": WEIGHTS_FILE,
            "sha256": file_sha256(weights),
            "names": list(state.arrays),
            "shapes": [list(a.shape) for a in state.arrays.values()],
        }
    obj = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "controller": state.controller,
        "settings": dict(state.settings),
        "space_fingerprint": state.fingerprint,
        "space_layers": list(layers),
        "space_size": size,
        "seed": state.seed,
        "step": state.step,
        "n_seen": state.n_seen,
        "best": None if state.best is None else dict(state.best),
        "extra": dict(state.extra),
        "arrays": arrays_meta,
    }
    obj["checksum"] = _checksum(obj)
    write_json(directory / STATE_FILE, obj)


def read_state_arrays(directory: str | PathLike, obj: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The arrays of the state whose checked ``state.json`` is ``obj`` (read-only copies).

    InputError when ``weights.npz`` is missing, does not match its checksum, or
    holds a damaged or non-finite array.
    """
    directory = Path(directory)
    meta = obj["arrays"]
    if meta is None:
        return {}
    hint = delete_hint(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise InputError(f"{weights.name} is missing; {hint}", directory / STATE_FILE, key="arrays")
    if file_sha256(weights) != meta["sha256"]:
        raise InputError(
            f"{weights.name} does not match its checksum in {STATE_FILE} "
            f"(truncated or edited); {hint}",
            weights,
        )
    return frozen_arrays(_read_weights(weights, meta["names"], hint))
