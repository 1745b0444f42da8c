"""One child of the search, from architecture to ``train.json``: from the cache or trained.

:func:`run_child` is what ``bionas train-child`` does: it removes a stale
result, reuses a cached child of the same architecture, tensors (by content),
settings and seed, or trains it (:func:`bionas.search.train.train_child`),
saves the model and stores it in the cache. Writing ``train.json`` is left to
the caller, last, so that it marks a finished child. The cache path does not
import TensorFlow. Failed children are cached too, except out-of-memory
failures (they depend on the machine).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bionas.io import atomic_path
from bionas.records.space import ModelSpace
from bionas.records.tensors import Tensors
from bionas.records.train_result import (
    MODEL_FILE,
    RESULT_FILE,
    RESUME_FILE,
    TrainSettings,
    child_record,
)
from bionas.search.cache import cache_key, cache_lookup, cache_store

log = logging.getLogger("bionas.train_child")


def remove_stale(out_dir: Path) -> None:
    """Remove an earlier result in ``out_dir``: ``train.json`` first, so it never outlives its model."""
    for name in (RESULT_FILE, MODEL_FILE, RESUME_FILE):
        target = out_dir / name
        if target.is_file() or target.is_symlink():
            target.unlink()


def run_child(
    space: ModelSpace,
    arch: Mapping[str, Any],
    train: Tensors,
    val: Tensors,
    settings: TrainSettings,
    out_dir: Path,
    cache_dir: str | None = None,
    keep_resume: bool = False,
) -> dict[str, Any]:
    """Train (or reuse) the child ``arch``; write its model to ``out_dir``; return its record.

    With ``keep_resume`` an ok child also leaves ``resume.keras`` (its last
    epoch's weights and optimizer state), from which a later rung of
    successive halving continues (:func:`run_continuation`).

    Parameters
    ----------
    space : ModelSpace
    arch : mapping
        A checked architecture record (``layers``, ``id``, ``step``, ``child``).
    train, val : Tensors
        Checked tensors of one ``bionas encode`` run.
    settings : TrainSettings
    out_dir : Path
        Receives ``model.keras`` (an ok child only).
    cache_dir : str, optional
        Cache of trained children; None trains without one.
    keep_resume : bool
        Also write ``resume.keras`` (and cache it).

    Returns
    -------
    dict
        The ``train.json`` record (:func:`bionas.records.train_result.child_record`).
    """
    key = cache_key(arch["id"], train.sha256, val.sha256, settings, resume=keep_resume)
    remove_stale(out_dir)
    record = cache_lookup(cache_dir, key) if cache_dir else None
    if record is not None:
        log.info("cache hit %s for %s", key[:12], " ".join(arch["layers"]))
        record.pop("resume", None)
        record = {**record, **{k: arch[k] for k in ("step", "child")}, "cached": True}
        if record["status"] == "ok":
            for name in (MODEL_FILE, *((RESUME_FILE,) if keep_resume else ())):
                with atomic_path(out_dir / name) as tmp:
                    shutil.copyfile(Path(cache_dir) / key / name, tmp)
        return record
    from bionas.search.train import train_child

    log.info("training %s (%s)", " ".join(arch["layers"]), arch["id"][:12])
    result = train_child(space, arch["layers"], train, val, settings)
    resume = _save(result, out_dir, keep_resume)
    record = child_record(arch, result, settings, key)
    if cache_dir and result.cacheable:
        model = out_dir / MODEL_FILE if result.status == "ok" else None
        cache_store(cache_dir, key, record, model, resume)
    return record


def _save(result, out_dir: Path, keep_resume: bool) -> Path | None:
    """Write an ok child's ``model.keras`` (its best epoch) and, with ``keep_resume``,
    ``resume.keras`` (its last epoch, with the optimizer's state); the resume file's path."""
    if result.status != "ok":
        return None
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        result.model.save(tmp)
    if not keep_resume:
        return None
    best = result.model.get_weights()
    result.model.set_weights(result.last_weights)
    with atomic_path(out_dir / RESUME_FILE) as tmp:
        result.model.save(tmp)
    result.model.set_weights(best)
    return out_dir / RESUME_FILE


#: stop reasons after which a promoted child has nothing left to train
_FINISHED = ("early_stopping", "time")


def run_continuation(
    previous: dict[str, Any],
    previous_dir: Path,
    rung: int,
    train: Tensors,
    val: Tensors,
    settings: TrainSettings,
    out_dir: Path,
    keep_resume: bool = False,
) -> dict[str, Any]:
    """Continue the child of ``previous`` (its ``train.json``, in ``previous_dir``) to
    ``settings.epochs`` epochs in all, as rung ``rung``; write its files to ``out_dir``;
    return the new record (``train.json``).

    A child that failed, or whose training already ended by early stopping or
    the time cap, is carried to the new rung as it is (its files copied, no
    epoch trained, ``seconds`` 0). The record's ``epochs`` and ``history``
    count the whole training, ``seconds`` this rung's; a continued child is
    not cached (``cache_key`` null).
    """
    remove_stale(out_dir)
    arch = {k: previous[k] for k in ("layers", "id", "step", "child")}
    done = previous["status"] != "ok" or previous.get("stop_reason") in _FINISHED
    if done or previous["epochs"] >= settings.epochs:
        why = previous["error"] if previous["status"] != "ok" else f"stopped by {previous.get('stop_reason')}"
        log.info("rung %d: child %s carried over without training (%s)", rung, previous["child"], why)
        if previous["status"] == "ok":
            names = (MODEL_FILE, *((RESUME_FILE,) if keep_resume else ()))
            for name in names:
                with atomic_path(out_dir / name) as tmp:
                    shutil.copyfile(previous_dir / name, tmp)
        return {**previous, "rung": rung, "seconds": 0.0, "cache_key": None, "settings": settings.to_dict()}
    from bionas.search.train import continue_child

    log.info(
        "rung %d: continuing %s (%s) from epoch %d to %d",
        rung, " ".join(arch["layers"]), arch["id"][:12], previous["epochs"], settings.epochs,
    )  # fmt: skip
    result = continue_child(
        previous_dir / MODEL_FILE, previous_dir / RESUME_FILE, previous, train, val, settings
    )
    _save(result, out_dir, keep_resume)
    record = child_record(arch, result, settings, None)
    record["rung"] = rung
    record["cached"] = bool(previous.get("cached"))
    return record
