"""Model spaces: a sequence of layers, each a list of named options.

A space is declared in YAML::

    layers:
      - name: conv1
        options:
          - {name: conv_k8, type: conv1d, filters: 32, kernel_size: 8, activation: relu}
      - name: reduce
        options:
          - {name: gmax, type: global_max_pool}

An architecture is one option name per layer. Layer 0 is always a ``conv1d``
on the one-hot input (the layer the knowledge term reads); the output head
(one sigmoid per task) is added by the builder, not declared here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from bionas.errors import InputError
from bionas.io import read_text

ACTIVATIONS = ("relu", "elu", "gelu", "selu", "sigmoid", "tanh", "linear", "softplus", "swish")


# type -> {parameter: (python types, default or REQUIRED, check, description)}
REQUIRED = object()


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _rate(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0


def _activation(v: Any) -> bool:
    return isinstance(v, str) and v in ACTIVATIONS


def _padding(v: Any) -> bool:
    return v in ("valid", "same")


def _opt_pos_int(v: Any) -> bool:
    return v is None or _pos_int(v)


PARAMS: dict[str, dict[str, tuple[Any, Any, str]]] = {
    "conv1d": {
        "filters": (REQUIRED, _pos_int, "a positive integer"),
        "kernel_size": (REQUIRED, _pos_int, "a positive integer"),
        "activation": ("relu", _activation, f"one of {', '.join(ACTIVATIONS)}"),
        "dilation": (1, _pos_int, "a positive integer"),
        "padding": ("valid", _padding, "'valid' or 'same'"),
    },
    "maxpool1d": {
        "size": (REQUIRED, _pos_int, "a positive integer"),
        "stride": (None, _opt_pos_int, "a positive integer (default: size)"),
    },
    "avgpool1d": {
        "size": (REQUIRED, _pos_int, "a positive integer"),
        "stride": (None, _opt_pos_int, "a positive integer (default: size)"),
    },
    "identity": {},
    "flatten": {},
    "global_max_pool": {},
    "global_avg_pool": {},
    "dense": {
        "units": (REQUIRED, _pos_int, "a positive integer"),
        "activation": ("relu", _activation, f"one of {', '.join(ACTIVATIONS)}"),
    },
    "dropout": {"rate": (REQUIRED, _rate, "a number in [0, 1)")},
    "batch_norm": {},
}


#: Layer types that keep the sequence axis (input and output are (L, C)).
SEQUENCE_TYPES = ("conv1d", "maxpool1d", "avgpool1d")


#: Layer types that turn (L, C) into a flat vector.
REDUCE_TYPES = ("flatten", "global_max_pool", "global_avg_pool")


#: Layer types that work on either shape.
ANY_TYPES = ("identity", "dense", "dropout", "batch_norm")


@dataclass(frozen=True)
class Option:
    """One choice of a layer: a name, a type and the type's parameters (defaults filled)."""

    name: str
    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The option as in the YAML: ``{"name", "type", **params}`` with defaults filled."""
        return {"name": self.name, "type": self.type, **dict(self.params)}


@dataclass(frozen=True)
class Layer:
    """A searched layer: a unique name and its options."""

    name: str
    options: tuple[Option, ...]

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.options)

    def index(self, option_name: str) -> int:
        """Index of the option called ``option_name``; KeyError if absent."""
        for i, option in enumerate(self.options):
            if option.name == option_name:
                return i
        raise KeyError(option_name)


@dataclass(frozen=True)
class ModelSpace:
    """An ordered tuple of layers; an architecture picks one option of each."""

    layers: tuple[Layer, ...]
    source: str = "<space>"

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def option_counts(self) -> tuple[int, ...]:
        return tuple(len(layer.options) for layer in self.layers)

    @property
    def size(self) -> int:
        """Number of architectures in the space."""
        return math.prod(self.option_counts)

    def decode(self, indices: Sequence[int]) -> tuple[str, ...]:
        """Option indices (one per layer) -> option names."""
        if len(indices) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} indices, got {len(indices)}")
        return tuple(layer.options[int(i)].name for layer, i in zip(self.layers, indices, strict=False))

    def encode(self, names: Sequence[str], path: str | PathLike | None = None) -> tuple[int, ...]:
        """Option names (one per layer) -> indices; InputError naming the layer if one is unknown."""
        if len(names) != len(self.layers):
            raise InputError(
                f"an architecture needs {len(self.layers)} option names "
                f"({', '.join(self.layer_names)}), got {len(names)}",
                path=path,
            )
        out = []
        for layer, name in zip(self.layers, names, strict=False):
            try:
                out.append(layer.index(name))
            except KeyError:
                raise InputError(
                    f"layer {layer.name!r} has no option {name!r} in {self.source} "
                    f"(options: {', '.join(layer.option_names)})",
                    path=path,
                    key=layer.name,
                ) from None
        return tuple(out)

    def resolve(self, names: Sequence[str]) -> list[tuple[Layer, Option]]:
        """Option names -> ``[(layer, option), ...]`` with full parameters."""
        indices = self.encode(names)
        return [(layer, layer.options[i]) for layer, i in zip(self.layers, indices, strict=False)]

    def architecture_id(self, names: Sequence[str]) -> str:
        """sha256 of the canonical JSON of the resolved architecture.

        The options' parameters are part of the hash, so editing what an option
        name means in the YAML gives new ids and never reuses a stale cached child.
        """
        spec = [
            {"layer": layer.name, **option.to_dict()} for layer, option in self.resolve(names)
        ]
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def architectures(self) -> Iterator[tuple[str, ...]]:
        """Every architecture in grid order (the last layer varies fastest)."""
        yield from itertools.product(*(layer.option_names for layer in self.layers))

    def to_dict(self) -> dict[str, Any]:
        """The space in its YAML shape, defaults filled."""
        return {
            "layers": [
                {"name": layer.name, "options": [o.to_dict() for o in layer.options]}
                for layer in self.layers
            ]
        }

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the whole space (detects a state from another space)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


#: Columns of results tables and history.tsv; a layer may not be named like one.
RESERVED_COLUMNS = (
    "val_loss", "knowledge", "val_auroc", "replicate", "reward",
    "step", "child", "id", "status", "cached", "rung", "val_loss_curve",
)


def _check_name(name: str, source: str, key: str) -> None:
    """Names become TSV columns and cells: no tabs, line breaks or other control characters."""
    if any(ch.isspace() and ch != " " or not ch.isprintable() for ch in name):
        raise InputError(
            f"name {name!r} holds a tab, line break or control character; names are "
            "columns and cells of TSV tables",
            source,
            key=key,
        )


def _parse_option(raw: Any, layer_name: str, index: int, source: str) -> Option:
    key = f"layers.{layer_name}.options[{index}]"
    if not isinstance(raw, Mapping):
        raise InputError(f"expected a mapping with 'name' and 'type', got {raw!r}", source, key=key)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InputError("every option needs a non-empty string 'name'", source, key=key)
    _check_name(name, source, key)
    key = f"layers.{layer_name}.options.{name}"
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in PARAMS:
        raise InputError(
            f"unknown type {kind!r}; expected one of {', '.join(PARAMS)}", source, key=key
        )
    spec = PARAMS[kind]
    params: dict[str, Any] = {}
    for pname in raw:
        if pname in ("name", "type"):
            continue
        if pname not in spec:
            allowed = ", ".join(spec) or "no parameters"
            raise InputError(
                f"unknown parameter {pname!r} for type {kind} (allowed: {allowed})",
                source,
                key=key,
            )
    for pname, (default, check, expected) in spec.items():
        if pname in raw:
            value = raw[pname]
            if not check(value):
                raise InputError(
                    f"parameter {pname!r} must be {expected}, got {value!r}", source, key=key
                )
            params[pname] = value
        elif default is REQUIRED:
            raise InputError(f"type {kind} needs parameter {pname!r} ({expected})", source, key=key)
        else:
            params[pname] = default
    if kind in ("maxpool1d", "avgpool1d") and params["stride"] is None:
        params["stride"] = params["size"]
    return Option(name=name, type=kind, params=params)


def _output_length(length: int, option: Option) -> int:
    p = option.params
    if option.type == "conv1d":
        if p["padding"] == "same":
            return length
        return length - p["dilation"] * (p["kernel_size"] - 1)
    if option.type in ("maxpool1d", "avgpool1d"):
        if length < p["size"]:
            return 0
        return (length - p["size"]) // p["stride"] + 1
    return length


def _check_decodable(layers: tuple[Layer, ...], source: str, window: int | None) -> None:
    """Every combination of options must build: walk the reachable shapes layer by layer.

    A shape is ``("seq", length)`` or ``("flat", 0)``; the set of reachable
    shapes is small, so this is linear in the number of options, not in the
    size of the space. The model must end flat (the head is a Dense layer).
    """
    start_length = window if window is not None else 10**9
    # reachable shape -> example path of option names reaching it
    reachable: dict[tuple[str, int], tuple[str, ...]] = {("seq", start_length): ()}
    for layer in layers:
        nxt: dict[tuple[str, int], tuple[str, ...]] = {}
        for (kind, length), path in reachable.items():
            for option in layer.options:
                where = " -> ".join((*path, option.name))
                key = f"layers.{layer.name}.options.{option.name}"
                if kind == "flat" and option.type in SEQUENCE_TYPES + REDUCE_TYPES:
                    raise InputError(
                        f"option {option.name!r} ({option.type}) needs a sequence input, but "
                        f"the architecture {where} has already been reduced to a flat vector",
                        source,
                        key=key,
                    )
                if option.type in REDUCE_TYPES:
                    state = ("flat", 0)
                elif kind == "seq":
                    new_length = _output_length(length, option)
                    if new_length < 1:
                        raise InputError(
                            f"the architecture {where} leaves no sequence positions for an "
                            f"input of {window} bp",
                            source,
                            key=key,
                        )
                    state = ("seq", new_length)
                else:
                    state = (kind, length)
                nxt.setdefault(state, (*path, option.name))
        reachable = nxt
    for (kind, _), path in reachable.items():
        if kind != "flat":
            raise InputError(
                f"the architecture {' -> '.join(path)} never reduces the sequence axis; "
                "every architecture needs a flatten or global pooling option on its path",
                source,
            )


def parse_space(obj: Any, source: str = "<space>", window: int | None = None) -> ModelSpace:
    """Validate a space given as a Python object (the parsed YAML).

    Parameters
    ----------
    obj : mapping
        ``{"layers": [{"name": str, "options": [{"name", "type", ...}, ...]}, ...]}``
    source : str
        File name used in error messages.
    window : int, optional
        Input length in bp; when given, every architecture must keep at least
        one sequence position through its convolutions and poolings.
    """
    if not isinstance(obj, Mapping) or "layers" not in obj:
        raise InputError("a model space is a mapping with a 'layers' list", source, key="layers")
    extra = set(obj) - {"layers"}
    if extra:
        raise InputError(f"unknown top-level key(s): {', '.join(sorted(map(str, extra)))}", source)
    raw_layers = obj["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise InputError("'layers' must be a non-empty list", source, key="layers")
    layers: list[Layer] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_layers):
        if not isinstance(raw, Mapping):
            raise InputError(f"expected a mapping, got {raw!r}", source, key=f"layers[{i}]")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError("every layer needs a non-empty string 'name'", source, key=f"layers[{i}]")
        if name in seen:
            raise InputError(f"layer name {name!r} is used twice", source, key=f"layers.{name}")
        _check_name(name, source, f"layers[{i}].name")
        if name in RESERVED_COLUMNS:
            raise InputError(
                f"layer name {name!r} clashes with a results-table column", source, key=f"layers.{name}"
            )
        seen.add(name)
        extra = set(raw) - {"name", "options"}
        if extra:
            raise InputError(
                f"unknown key(s) {', '.join(sorted(map(str, extra)))}; a layer has 'name' and 'options'",
                source,
                key=f"layers.{name}",
            )
        raw_options = raw.get("options")
        if not isinstance(raw_options, list) or not raw_options:
            raise InputError("'options' must be a non-empty list", source, key=f"layers.{name}")
        options = tuple(_parse_option(o, name, j, source) for j, o in enumerate(raw_options))
        names = [o.name for o in options]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(
                f"option name(s) used twice: {', '.join(dupes)}", source, key=f"layers.{name}"
            )
        layers.append(Layer(name=name, options=options))
    first = layers[0]
    for option in first.options:
        if option.type != "conv1d":
            raise InputError(
                f"every option of the first layer must be a conv1d on the one-hot input "
                f"(the layer the knowledge term reads); {option.name!r} is {option.type}",
                source,
                key=f"layers.{first.name}.options.{option.name}",
            )
    space = ModelSpace(layers=tuple(layers), source=source)
    _check_decodable(space.layers, source, window)
    return space


def load_space(path: str | PathLike, window: int | None = None) -> ModelSpace:
    """Read and validate a model-space YAML file (see :func:`parse_space`)."""
    path = Path(path)
    text = read_text(path, "model-space file not found", "cannot read the model-space file")
    try:
        obj = yaml.safe_load(text)
    # PyYAML's constructors raise plain ValueError and friends on some bad scalars
    # (a date '2001-13-45', '!!float abc', '!!timestamp x'); deep nesting recurses
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, RecursionError) as err:
        line = None
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        raise InputError(f"not valid YAML: {getattr(err, 'problem', err)}", path, line=line) from None
    return parse_space(obj, source=str(path), window=window)
