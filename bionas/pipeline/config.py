"""Workflow configuration: validation against the JSON schema, defaults filled.

The schema (``workflow/schemas/config.schema.yaml``) gives every key a
description, a default and bounds, and forbids unknown keys, so a misspelt key
fails loudly. This module turns jsonschema's errors into one line that names
the key, what was given and what was expected (with the closest known key for
a misspelling), and fills defaults at every depth, including inside each
dataset.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from bionas.errors import InputError, shown
from bionas.io import name_problem, read_text

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: str | PathLike | None = None) -> dict[str, Any]:
    """Read the config schema (YAML)."""
    with open(path or SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _key(path: Any) -> str:
    parts = []
    for p in path:
        parts.append(f"[{p}]" if isinstance(p, int) else str(p))
    return ".".join(parts).replace(".[", "[") or "<top level>"


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node[part]
        return node
    return schema


def _fill_defaults(data: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> None:
    schema = _resolve(schema, root)
    if not isinstance(data, dict):
        return
    props = schema.get("properties", {})
    for name, sub in props.items():
        sub = _resolve(sub, root)
        if name not in data and "default" in sub:
            data[name] = copy.deepcopy(sub["default"])
        if name in data:
            _fill_defaults(data[name], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for name, value in data.items():
            if name not in props:
                _fill_defaults(value, extra, root)


def _message(error: jsonschema.ValidationError, schema: Mapping[str, Any]) -> tuple[str, str]:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        hints = []
        for extra in extras:
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            hints.append(f"{extra!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        allowed_text = ", ".join(allowed) if allowed else "none"
        return key, f"unknown key {', '.join(hints)}; allowed keys: {allowed_text}"
    if error.validator == "oneOf" and key.endswith("priors"):
        return key, "give exactly one of 'jaspar' (IDs or names) or 'meme' (a file)"
    description = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    text = error.message
    if description and error.validator not in ("required",):
        text += f" (expected: {description})"
    return key, text


def _typed(value: Any) -> Any:
    """A ``--config`` value with its scalars typed as in a YAML config file."""
    if isinstance(value, Mapping):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            typed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        # A string that reads as a mapping or list was quoted on purpose: keep it.
        return value if isinstance(typed, (Mapping, list)) else typed
    return value


def type_overrides(config: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Type the nested values of ``snakemake --config`` in ``config``, in place.

    Snakemake reads ``--config search='{lambda: 1.0}'`` as a mapping whose
    scalars are all strings (``'1.0'``), which the schema would refuse as "not
    a number". Every nested scalar of ``overrides`` (Snakemake's parsed
    ``--config``, already merged into ``config``) is read again as a YAML
    config file would read it: ``1.0`` a number, ``false`` a boolean, ``null``
    nothing. Top-level values are left alone: Snakemake types those itself.
    """

    def apply(target: dict[str, Any], override: Mapping[str, Any]) -> None:
        for key, value in override.items():
            if isinstance(value, Mapping) and isinstance(target.get(key), dict):
                apply(target[key], value)
            else:
                target[key] = _typed(value)

    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            apply(config[key], value)
        elif isinstance(value, list):
            config[key] = _typed(value)


def validate_config(
    config: Mapping[str, Any],
    source: str | PathLike = "config",
    schema: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``config`` against the schema and return a copy with defaults filled.

    Raises
    ------
    InputError
        Naming ``source``, the offending key (``datasets.demo.window``) and
        what was expected.
    """
    schema = load_schema() if schema is None else schema
    data = copy.deepcopy(dict(config))
    _fill_defaults(data, schema, schema)
    _check_finite(data, source)
    _check_names(data, source)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        # The deepest error is the most specific; report it.
        best = max(errors, key=lambda e: len(e.absolute_path))
        key, message = _message(best, schema)
        raise InputError(message, path=source, key=key)
    _check_datasets(data, source)
    data["final"].setdefault("lambda", data["search"]["lambda"])
    return data


def _check_finite(value: Any, source: str | PathLike, key: str = "") -> None:
    """Refuse NaN and infinities at any depth (YAML's ``.nan``/``.inf``; a JSON-Schema
    ``minimum`` lets NaN through, as every comparison with it is false)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value}", path=source, key=key or None)
    if isinstance(value, Mapping):
        for k, v in value.items():
            _check_finite(v, source, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, source, f"{key}[{i}]")


def _check_names(config: Mapping[str, Any], source: str | PathLike) -> None:
    """Refuse a run, dataset or task name that is not one safe path component.

    Each names a folder or file under ``results/`` (``results/<dataset>/<run>/``,
    ``predict/bigwig/<task>.bw``), so ``..``, ``/``, a leading dot, whitespace
    and the like would write outside it or make odd paths
    (:func:`bionas.io.name_problem`). Two names that differ only in case would
    share a folder on a case-insensitive file system (macOS, Windows). The
    schema's patterns say the same (``NAME_REGEX``); this check runs first so
    that every bad name gets this one message, and it reads a name in full
    (a JSON-Schema ``$`` lets a trailing newline through in Python).
    """
    from bionas.records.windows import task_name_problem

    run = config.get("run")
    if isinstance(run, str) and (problem := name_problem(run)):
        raise InputError(
            f"run name {shown(run)} {problem} (it names the folder results/<dataset>/<run>/)",
            source,
            key="run",
        )
    datasets = config.get("datasets")
    if not isinstance(datasets, Mapping):
        return
    for name in datasets:
        if problem := name_problem(name):
            raise InputError(
                f"dataset name {shown(name)} {problem} (it names the folder results/<dataset>/)",
                source,
                key="datasets",
            )
    _check_case(list(datasets), "dataset names", source, "datasets")
    for name, ds in datasets.items():
        peaks = ds.get("peaks") if isinstance(ds, Mapping) else None
        if not isinstance(peaks, Mapping):
            continue
        key = f"datasets.{name}.peaks"
        for task in peaks:
            if problem := task_name_problem(task):
                raise InputError(f"task name {shown(task)} {problem}", source, key=key)
        _check_case(list(peaks), "task names", source, key)


def _check_case(names: list[str], what: str, source: str | PathLike, key: str) -> None:
    """Refuse two names that differ only in case (one folder on a case-insensitive file system)."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise InputError(
                f"{what} {other!r} and {name!r} differ only in case, so they would share one "
                "folder on a case-insensitive file system (macOS, Windows); rename one",
                source,
                key=key,
            )


def _check_datasets(config: Mapping[str, Any], source: str | PathLike) -> None:
    for name, ds in config["datasets"].items():
        key = f"datasets.{name}"
        if "simulate" in ds:
            for k in ("genome", "peaks"):
                if k in ds:
                    raise InputError(
                        f"'{k}' cannot be given together with 'simulate' (the demo makes its own)",
                        source,
                        key=f"{key}.{k}",
                    )
        else:
            for k in ("genome", "peaks"):
                if k not in ds:
                    raise InputError(
                        f"'{k}' is required (or 'simulate' for the synthetic demo)",
                        source,
                        key=f"{key}.{k}",
                    )
        predict = ds.get("predict")
        if predict is not None and ("regions" in predict) == ("tile" in predict):
            raise InputError(
                "give exactly one of 'regions' (a BED file) or 'tile' (CHROM:START-END)",
                source,
                key=f"{key}.predict",
            )
        split = ds["split"]
        seen: dict[str, str] = {}
        for part in ("train", "val", "test"):
            for chrom in split.get(part, []):
                if chrom in seen and seen[chrom] != part:
                    raise InputError(
                        f"chromosome {chrom!r} is in both '{seen[chrom]}' and '{part}'",
                        source,
                        key=f"{key}.split",
                    )
                seen[chrom] = part


def load_config(path: str | PathLike) -> dict[str, Any]:
    """Read a YAML config file and validate it (see :func:`validate_config`)."""
    path = Path(path)
    text = read_text(path, "config file not found", "cannot read the config file")
    try:
        obj = yaml.safe_load(text)
    # PyYAML's constructors raise plain ValueError and friends on some bad scalars
    # (a date '2001-13-45', '!!float abc', '!!timestamp x'); deep nesting recurses
    except (yaml.YAMLError, ValueError, TypeError, AttributeError, RecursionError) as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(
            f"not valid YAML: {getattr(err, 'problem', err)}",
            path,
            line=None if mark is None else mark.line + 1,
        ) from None
    if not isinstance(obj, Mapping):
        raise InputError("a config file is a YAML mapping of keys", path)
    return validate_config(obj, source=path)


def check_run(config: Mapping[str, Any], source: str) -> None:
    """The checks of a validated config that need more than the schema, before any job runs.

    The model space must load for every dataset's window; a grid search must
    fit in the space; ``final.top_k`` must be a choice the search can offer;
    a given ``final.architecture`` must be readable. Raises InputError naming
    ``source`` and the key.
    """
    from bionas.records.space import load_space

    search, final = config["search"], config["final"]
    if "architecture" in final:
        architecture_digest(final["architecture"], source)
        return
    budget = search["steps"] * search["children_per_step"]
    space = None
    for ds in config["datasets"].values():
        try:
            space = load_space(search["space"], window=ds["window"])
        except InputError as err:
            raise InputError(f"invalid model space: {err}", source, key="search.space") from None
    if search["controller"] == "grid" and space is not None and budget > space.size:
        raise InputError(
            f"the grid controller visits each of the {space.size} architectures of "
            f"{search['space']} once, but steps x children_per_step asks for {budget}; lower "
            "search.steps or search.children_per_step",
            source,
            key="search",
        )
    _check_objective(search, final, source)
    if search.get("fidelity"):
        from bionas.search.fidelity import ladder_from_config

        ladder_from_config(search, source)
    k = final["top_k"]
    if k > 1 and final["select"] == "controller":
        raise InputError(
            f"top_k {k} needs the search's best rewards to choose from, but final.select is "
            "controller, which names one architecture; set final.top_k: 1 or "
            "final.select: best_reward",
            source,
            key="final.top_k",
        )
    if k > budget:
        raise InputError(
            f"top_k {k} is more than the {budget} children of the search "
            "(steps x children_per_step); lower final.top_k",
            source,
            key="final.top_k",
        )


#: controllers that learn from two objectives (the others that take ``pareto`` ignore rewards)
MULTI_OBJECTIVE = ("tpe", "nsga2")
#: controllers that ignore the rewards, so any objective suits them
REWARD_BLIND = ("random", "grid")


def _check_objective(search: Mapping[str, Any], final: Mapping[str, Any], source: str) -> None:
    """``search.objective: pareto`` needs a controller that handles two objectives, and a final
    stage that chooses from the front by ``final.lambda`` (not the controller's one answer)."""
    if search["objective"] != "pareto":
        return
    if search["controller"] not in (*MULTI_OBJECTIVE, *REWARD_BLIND):
        raise InputError(
            f"the {search['controller']} controller learns from one reward, not the two objectives "
            f"of search.objective pareto; use one of {', '.join(MULTI_OBJECTIVE + REWARD_BLIND)}, "
            "or search.objective: reward",
            source,
            key="search.objective",
        )
    if final["select"] == "controller":
        raise InputError(
            "with search.objective pareto the final stage picks a point of the front by "
            "final.lambda; set final.select: best_reward",
            source,
            key="final.select",
        )


def architecture_digest(path: str | PathLike, source: str) -> str:
    """SHA-256 of a given ``final.architecture`` file; InputError when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as err:
        raise InputError(
            f"cannot read {path} ({err.strerror or err}); give an architecture JSON, e.g. an "
            "earlier run's final/architecture.json",
            source,
            key="final.architecture",
        ) from None
