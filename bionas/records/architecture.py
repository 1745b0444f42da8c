"""Architecture records (``proposals.json``, ``architecture.json``): make, check, read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from bionas.errors import InputError
from bionas.io import read_json, write_json
from bionas.records.space import ModelSpace


def make_architecture(
    space: ModelSpace, names: Sequence[str], step: int | None = None, child: int | None = None
) -> dict[str, Any]:
    """The architecture record ``{"step", "child", "layers", "id"}`` written between stages."""
    names = tuple(names)
    space.encode(names)
    return {"step": step, "child": child, "layers": list(names), "id": space.architecture_id(names)}


_ARCH_DAMAGED = (
    "delete it and rerun the stage that wrote it (or fix it, if you wrote it by hand)"
)


def _check_record(obj: Any, space: ModelSpace, path: Path, prefix: str) -> dict[str, Any]:
    """Check one architecture record against the space: option names, step/child, id.

    ``prefix`` starts the keys errors name (``"[2]."`` for a record of a list).
    """
    if not isinstance(obj, Mapping) or not isinstance(obj.get("layers"), list):
        raise InputError(
            f"expected a JSON object with a 'layers' list of option names; {_ARCH_DAMAGED}",
            path,
            key=f"{prefix}layers",
        )
    if not all(isinstance(n, str) for n in obj["layers"]):
        raise InputError(
            f"'layers' must hold option names (strings); {_ARCH_DAMAGED}", path, key=f"{prefix}layers"
        )
    for name in ("step", "child"):
        value = obj.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InputError(
                f"{name!r} must be an integer >= 0 or null, got {value!r}; {_ARCH_DAMAGED}",
                path,
                key=f"{prefix}{name}",
            )
    try:
        space.encode(obj["layers"], path=path)
    except InputError as err:
        raise InputError(
            f"{err.message}; {_ARCH_DAMAGED}", path, key=f"{prefix}{err.key or 'layers'}"
        ) from None
    expected = space.architecture_id(obj["layers"])
    if obj.get("id") not in (None, expected):
        raise InputError(
            "the architecture id does not match its layers in this model space "
            f"(it was written for another space or edited by hand); {_ARCH_DAMAGED}",
            path,
            key=f"{prefix}id",
        )
    return {
        "step": obj.get("step"),
        "child": obj.get("child"),
        "layers": list(obj["layers"]),
        "id": expected,
    }


def read_architecture(
    path: str | PathLike, space: ModelSpace, index: int | None = None
) -> dict[str, Any]:
    """Read an architecture JSON and check it against ``space`` (names and id).

    The file holds one record or a list of them (a step's ``proposals.json``);
    ``index`` picks one of a list (optional when the list holds one record).
    """
    obj = read_json(
        path,
        missing="architecture file not found",
        invalid="not a valid architecture JSON",
        damaged=_ARCH_DAMAGED,
    )
    if isinstance(obj, list):
        if index is None:
            if len(obj) != 1:
                raise InputError(
                    f"the file holds {len(obj)} architectures; pick one with --index", path
                )
            index = 0
        if not 0 <= index < len(obj):
            raise InputError(
                f"--index {index} is out of range: the file holds {len(obj)} architectures", path
            )
        return _check_record(obj[index], space, Path(path), prefix=f"[{index}].")
    if index not in (None, 0):
        raise InputError(f"--index {index} given, but the file holds one architecture", path)
    return _check_record(obj, space, Path(path), prefix="")


def read_architectures(path: str | PathLike, space: ModelSpace) -> list[dict[str, Any]]:
    """Every record of an architecture JSON (one record or a list), each checked."""
    obj = read_json(
        path,
        missing="architecture file not found",
        invalid="not a valid architecture JSON",
        damaged=_ARCH_DAMAGED,
    )
    if not isinstance(obj, list):
        return [_check_record(obj, space, Path(path), prefix="")]
    return [_check_record(r, space, Path(path), prefix=f"[{i}].") for i, r in enumerate(obj)]


def write_architectures(path: str | PathLike, records: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Write one architecture record or a list of them (``proposals.json``) atomically."""
    write_json(path, records)
