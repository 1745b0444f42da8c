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
from bionas.records.train_result import MODEL_FILE, RESULT_FILE, TrainSettings, child_record
from bionas.search.cache import cache_key, cache_lookup, cache_store

log = logging.getLogger("bionas.train_child")


def remove_stale(out_dir: Path) -> None:
    """Remove an earlier result in ``out_dir``: ``train.json`` first, so it never outlives its model."""
    for name in (RESULT_FILE, MODEL_FILE):
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
) -> dict[str, Any]:
    """Train (or reuse) the child ``arch``; write its model to ``out_dir``; return its record.

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

    Returns
    -------
    dict
        The ``train.json`` record (:func:`bionas.records.train_result.child_record`).
    """
    key = cache_key(arch["id"], train.sha256, val.sha256, settings)
    remove_stale(out_dir)
    record = cache_lookup(cache_dir, key) if cache_dir else None
    if record is not None:
        log.info("cache hit %s for %s", key[:12], " ".join(arch["layers"]))
        record = {**record, **{k: arch[k] for k in ("step", "child")}, "cached": True}
        if record["status"] == "ok":
            with atomic_path(out_dir / MODEL_FILE) as tmp:
                shutil.copyfile(Path(cache_dir) / key / MODEL_FILE, tmp)
        return record
    from bionas.search.train import train_child

    log.info("training %s (%s)", " ".join(arch["layers"]), arch["id"][:12])
    result = train_child(space, arch["layers"], train, val, settings)
    if result.status == "ok":
        with atomic_path(out_dir / MODEL_FILE) as tmp:
            result.model.save(tmp)
    record = child_record(arch, result, settings, key)
    if cache_dir and result.cacheable:
        model = out_dir / MODEL_FILE if result.status == "ok" else None
        cache_store(cache_dir, key, record, model)
    return record
