"""Search strategies behind one interface (:class:`Controller`).

``rl`` (an LSTM policy, :mod:`bionas.search.strategies.rl`), ``evolution`` (regularized
evolution, :mod:`bionas.search.strategies.evolution`), ``tpe`` (Optuna's TPE,
:mod:`bionas.search.strategies.tpe`), ``nsga2`` (Optuna's NSGA-II,
:mod:`bionas.search.strategies.nsga2`), ``gp`` (Bayesian optimisation with a Gaussian
process, :mod:`bionas.search.strategies.gp`), ``random`` and ``grid``.
A controller proposes architectures and learns from rewards; its whole
knowledge is a :class:`ControllerState` that is saved to a directory after
every update. Importing this package does not import TensorFlow.

>>> ctrl = get_controller("random", space)             # doctest: +SKIP
>>> state = ctrl.init_state(seed=0)                    # doctest: +SKIP
>>> archs = ctrl.propose(state, n=5, step=1)           # doctest: +SKIP
>>> state = ctrl.update(state, [(a, r) for a, r in zip(archs, rewards)])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from os import PathLike
from pathlib import Path
from typing import Any

from bionas.errors import InputError
from bionas.records.controller_state import STATE_FILE, ControllerState, read_state_json
from bionas.records.space import ModelSpace
from bionas.search.strategies.base import Architecture, Controller

#: controller name -> "module:class" (imported on first use)
CONTROLLERS: dict[str, str] = {
    "rl": "bionas.search.strategies.rl:RLController",
    "random": "bionas.search.strategies.random_search:RandomController",
    "grid": "bionas.search.strategies.grid:GridController",
    "evolution": "bionas.search.strategies.evolution:EvolutionController",
    "tpe": "bionas.search.strategies.tpe:TPEController",
    "nsga2": "bionas.search.strategies.nsga2:NSGA2Controller",
    "gp": "bionas.search.strategies.gp:GPController",
}

__all__ = [
    "CONTROLLERS",
    "Architecture",
    "Controller",
    "ControllerState",
    "controller_class",
    "get_controller",
    "load_controller",
]


def controller_class(name: str) -> type[Controller]:
    """The class of the controller called ``name``; InputError if there is none."""
    try:
        target = CONTROLLERS[name]
    except KeyError:
        raise InputError(
            f"unknown controller {name!r}; expected one of {', '.join(CONTROLLERS)}"
        ) from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def get_controller(name: str, space: ModelSpace, **settings: Any) -> Controller:
    """A controller for ``space`` with ``settings`` (defaults filled, validated).

    Parameters
    ----------
    name : {"rl", "random", "grid", "evolution", "tpe", "nsga2", "gp"}
    space : ModelSpace
    **settings
        Controller settings (see each class's ``SETTINGS``); ``random`` and
        ``grid`` take none.
    """
    return controller_class(name)(space, **settings)


def load_controller(directory: str | PathLike, space: ModelSpace) -> tuple[Controller, ControllerState]:
    """The controller and state saved in ``directory`` (settings come from the state).

    Raises InputError naming ``state.json`` when the state is missing, damaged,
    or was written for another space.
    """
    obj = read_state_json(directory)
    path = Path(directory) / STATE_FILE
    name = obj["controller"]
    if name not in CONTROLLERS:
        raise InputError(
            f"unknown controller {name!r} in the state; delete {directory} and rerun "
            "the stage that wrote it",
            path,
            key="controller",
        )
    try:
        controller = get_controller(name, space, **obj["settings"])
    except InputError as err:
        raise InputError(
            f"{err.message}; delete {directory} and rerun the stage that wrote it",
            path,
            key=err.key,
        ) from None
    return controller, controller.load_state(directory)
