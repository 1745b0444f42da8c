"""A trained child's ``train.json``: written by ``bionas train-child``, read by scoring and the final stage.

``train.json`` (strict JSON; an undefined number is null)::

    {"status": "ok" | "failed", "error": null | str,
     "stop_reason": "epochs" | "early_stopping" | "time" | "nan" | "params" | "memory"
                    | "time_limit" | "killed",
     "layers": [option names], "id": str, "step": int | null, "child": int | null,
     "rung": int (0; successive halving's later rungs: 1, 2, ...; missing: 0),
     "val_loss": float (best epoch), "val_auroc": float, "val_auprc": float (means over tasks),
     "per_task": {task: {"auroc", "auprc", "note": null | why undefined}},
     "epochs": int (run), "best_epoch": int (1-based),
     "seconds": float (build, training, evaluation; not imports),
     "params": int, "cached": bool, "cache_key": str | null (null: a continued rung),
     "model": "model.keras" | null (relative to train.json), "seed": int,
     "settings": {epochs, patience, batch_size, learning_rate, max_seconds,
                  max_params, seed, threads},
     "history": {"loss": [per epoch], "val_loss": [per epoch]}}

A failed child has null metrics, ``best_epoch`` and ``model``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError, shown
from bionas.io import read_json, write_json
from bionas.records.values import as_float, is_int

#: Name of the model file in a child's output directory and a cache entry.
MODEL_FILE = "model.keras"


#: Name of the result record in a child's output directory and a cache entry.
RESULT_FILE = "train.json"


#: The last epoch's weights and optimizer state, from which a later rung continues
#: (successive halving, ``search.fidelity``): in a child's directory and its cache entry.
RESUME_FILE = "resume.keras"


def json_safe(obj: Any) -> Any:
    """Replace NaN and infinities (also inside lists and dicts) by None, numpy scalars by Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def child_record(
    architecture: dict[str, Any],
    result: ChildResult,
    settings: TrainSettings,
    cache_key: str,
) -> dict[str, Any]:
    """The ``train.json`` record of a child (strict JSON: NaN written as null)."""
    ok = result.status == "ok"
    return json_safe(
        {
            "status": result.status,
            "error": result.error,
            "stop_reason": result.stop_reason,
            "layers": list(architecture["layers"]),
            "id": architecture["id"],
            "step": architecture.get("step"),
            "child": architecture.get("child"),
            "rung": 0,
            "val_loss": result.val_loss if ok else None,
            "val_auroc": result.val_auroc if ok else None,
            "val_auprc": result.val_auprc if ok else None,
            "per_task": result.per_task if ok else {},
            "epochs": result.epochs,
            "best_epoch": result.best_epoch if ok else None,
            "seconds": round(result.seconds, 3),
            "params": result.params,
            "cached": False,
            "cache_key": cache_key,
            "model": MODEL_FILE if ok else None,
            "seed": settings.seed,
            "settings": settings.to_dict(),
            "history": result.history,
        }
    )


RERUN_TRAIN_CHILD = "delete it and rerun `bionas train-child`"


#: Keys every train.json has (written by bionas.records.train_result.child_record).
TRAIN_KEYS = (
    "status",
    "error",
    "layers",
    "id",
    "step",
    "child",
    "val_loss",
    "val_auroc",
    "val_auprc",
    "epochs",
    "seconds",
    "params",
    "cached",
    "model",
)


def _train_number(v: Any, low: float | None = None, high: float | None = None) -> bool:
    """A finite JSON number (not a bool) within ``[low, high]``."""
    x = as_float(v)
    return x is not None and math.isfinite(x) and (low is None or x >= low) and (high is None or x <= high)


def _count(v: Any) -> bool:
    return is_int(v) and v >= 0


def _file_name(v: Any) -> bool:
    """A plain file name (the model beside train.json), nothing that leads elsewhere."""
    return (
        isinstance(v, str)
        and v not in ("", ".", "..")
        and not any(c in v for c in "/\\")
        and v.isprintable()
    )


#: key of train.json -> (check, what it must be); what child_record writes
_TRAIN_CHECKS: dict[str, tuple[Any, str]] = {
    "status": (lambda v: v in ("ok", "failed"), "'ok' or 'failed'"),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "layers": (
        lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
        "a list of option names",
    ),
    "id": (lambda v: isinstance(v, str), "a string"),
    "step": (lambda v: v is None or _count(v), "an integer >= 0 or null"),
    "child": (lambda v: v is None or _count(v), "an integer >= 0 or null"),
    "val_loss": (lambda v: v is None or _train_number(v), "a finite number or null"),
    "val_auroc": (lambda v: v is None or _train_number(v, 0, 1), "a number in [0, 1] or null"),
    "val_auprc": (lambda v: v is None or _train_number(v, 0, 1), "a number in [0, 1] or null"),
    "epochs": (_count, "an integer >= 0"),
    "seconds": (lambda v: _train_number(v, 0), "a finite number >= 0"),
    "params": (_count, "an integer >= 0"),
    "cached": (lambda v: isinstance(v, bool), "true or false"),
    "model": (lambda v: v is None or _file_name(v), "a file name beside train.json or null"),
    "rung": (lambda v: _count(v) and v < 10, "an integer from 0 to 9"),
}


def read_train_result(path: str | Path) -> dict[str, Any]:
    """Read and check a ``train.json`` (see :func:`child_record`).

    Raises :class:`InputError` naming the file, and the key, when it is
    missing, not JSON, lacks a key or holds a value child_record would not
    write (an ``ok`` child needs a finite ``val_loss`` and a ``model``).
    """
    path = Path(path)
    record = read_json(
        path,
        missing="train result not found; run `bionas train-child` to write it",
        invalid="not a valid train.json",
        damaged=RERUN_TRAIN_CHILD,
    )
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object; {RERUN_TRAIN_CHILD}", path)
    for key in (*TRAIN_KEYS, "rung"):
        if key == "rung" and key not in record:  # written before successive halving: rung 0
            continue
        if key not in record:
            raise InputError(f"missing key {key!r}; {RERUN_TRAIN_CHILD}", path, key=key)
        check, expected = _TRAIN_CHECKS[key]
        if not check(record[key]):
            raise InputError(
                f"{key!r} must be {expected}, got {shown(record[key])}; {RERUN_TRAIN_CHILD}",
                path,
                key=key,
            )
    if record["status"] == "ok":
        if record["model"] is None:
            raise InputError(f"an ok child needs a model file; {RERUN_TRAIN_CHILD}", path, key="model")
        if record["val_loss"] is None:
            raise InputError(
                f"an ok child needs a finite val_loss; {RERUN_TRAIN_CHILD}", path, key="val_loss"
            )
    return record


@dataclass(frozen=True)
class TrainSettings:
    """Every setting that can change a trained child (all of them enter the cache key).

    Each field is also a ``bionas train-child`` flag (``--batch-size`` for
    ``batch_size``) and a key of the config's ``training`` block: the command
    builds its flags from these fields and the workflow passes every
    ``training`` key that is a field (``threads`` comes from the job), so a new
    setting is one field here plus its schema entry and its use in training.
    ``metadata``: ``help``, ``minimum`` (``maximum`` for ints) and, for floats, ``open`` (``> minimum``).
    """

    epochs: int = field(
        default=30, metadata={"minimum": 1, "maximum": 10000, "help": "at most this many epochs"}
    )
    patience: int = field(
        default=5,
        metadata={"minimum": 0, "help": "stop after this many epochs without a lower val loss; 0: never"},
    )
    batch_size: int = field(
        default=64, metadata={"minimum": 1, "maximum": 65536, "help": "training batch size"}
    )
    learning_rate: float = field(
        default=3e-3, metadata={"minimum": 0, "open": True, "help": "Adam learning rate"}
    )
    max_seconds: float = field(
        default=600.0,
        metadata={"minimum": 0, "open": True, "help": "stop training after this much wall time"},
    )
    max_params: int = field(
        default=2_000_000,
        metadata={"minimum": 1, "help": "a child with more weights fails without training"},
    )
    seed: int = field(
        default=1, metadata={"minimum": 0, "maximum": 2**32 - 1, "help": "random seed"}
    )
    threads: int = field(
        default=1, metadata={"minimum": 1, "help": "TensorFlow intra- and inter-op threads"}
    )

    def __post_init__(self) -> None:
        checks = {
            "epochs": 1 <= self.epochs <= 10000,
            "patience": self.patience >= 0,
            "batch_size": 1 <= self.batch_size <= 65536,
            "learning_rate": math.isfinite(self.learning_rate) and self.learning_rate > 0,
            "max_seconds": self.max_seconds > 0,
            "max_params": self.max_params >= 1,
            "threads": self.threads >= 1,
            "seed": 0 <= self.seed < 2**32,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s): {', '.join(bad)} in {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChildResult:
    """What training one child gave; ``model`` is the trained Keras model (None if failed).

    ``stop_reason``: ``epochs`` (ran them all), ``early_stopping``, ``time``
    (max_seconds), ``nan``, ``params``, ``memory`` (out of memory, or the job's memory on
    its last attempt), ``time_limit`` (the job's time on its last attempt;
    :mod:`bionas.search.guard`) or ``killed`` (every attempt of its job was ended from
    outside; recorded by the attempt after the last). ``per_task`` maps a task
    to ``{"auroc", "auprc", "note"}`` (note: why a value is NaN).
    """

    status: str
    error: str | None
    stop_reason: str
    params: int
    seconds: float
    epochs: int = 0
    best_epoch: int | None = None
    val_loss: float = math.nan
    val_auroc: float = math.nan
    val_auprc: float = math.nan
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "val_loss": []})
    model: Any = None
    last_weights: Any = None  # the last epoch's weights (before the best epoch's are restored)

    @property
    def cacheable(self) -> bool:
        """Out-of-memory depends on the machine, so such failures are not cached."""
        return self.stop_reason != "memory"


def write_train_result(path: str | Path, record: dict[str, Any]) -> None:
    """Write ``train.json`` atomically (strict JSON); write it last: it marks a finished child."""
    write_json(path, json_safe(record))
