"""Children cached by architecture, data checksum, training settings and seed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any

from bionas import __version__
from bionas.io import output_dir, remove_dead_temps, temp_prefix
from bionas.records.train_result import MODEL_FILE, RESULT_FILE, RESUME_FILE, TrainSettings

log = logging.getLogger(__name__)


#: Bumped when the training procedure changes in a way that changes results.
CACHE_FORMAT = 2


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(
    architecture_id: str,
    train_sha256: str,
    val_sha256: str,
    settings: TrainSettings,
    resume: bool = False,
) -> str:
    """sha256 of the architecture id, both tensor checksums, every setting and the versions;
    ``resume``: an entry that also holds the last epoch's state (``resume.keras``), which a
    later rung of successive halving continues from."""
    payload = {
        "format": CACHE_FORMAT,
        "bionas": __version__,
        "keras": _package_version("keras"),
        "architecture": architecture_id,
        "train": train_sha256,
        "val": val_sha256,
        "settings": settings.to_dict(),
    }
    if resume:
        payload["resume"] = True
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cache_lookup(cache_dir: str | PathLike, key: str) -> dict[str, Any] | None:
    """The cached record of ``key``, or None on a miss.

    An entry is complete when its ``train.json`` parses, carries ``key`` and,
    for an ``ok`` child, ``model.keras`` exists beside it.
    """
    entry = Path(cache_dir) / key
    try:
        record = json.loads((entry / RESULT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        log.warning("ignoring an unreadable cache entry %s (%s)", entry, err)
        return None
    if not isinstance(record, dict) or record.get("cache_key") != key:
        log.warning("ignoring a cache entry that does not carry its key: %s", entry)
        return None
    if record.get("status") == "ok":
        for name in (MODEL_FILE, *((RESUME_FILE,) if record.get("resume") else ())):
            if not (entry / name).is_file():
                log.warning("ignoring a cache entry without %s: %s", name, entry)
                return None
    return record


def cache_store(
    cache_dir: str | PathLike,
    key: str,
    record: dict[str, Any],
    model_path: Path | None,
    resume_path: Path | None = None,
) -> None:
    """Add an entry: written in a temporary directory, then renamed to ``cache_dir/key``.

    If another job stored the same key first, its entry is kept. The entry
    holds no ``step`` or ``child`` (a hit takes its own), so it does not depend
    on which of two children of one architecture, training at once, stored it
    first. Temporary directories of this key left by killed jobs (dead PIDs of
    this host) are removed first.
    """
    cache_dir = output_dir(cache_dir)
    final = cache_dir / key
    remove_dead_temps(final)  # left by a job killed while storing this key
    if final.exists():
        return
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final), dir=cache_dir))
    try:
        if model_path is not None:
            shutil.copyfile(model_path, tmp / MODEL_FILE)
        stored = {k: v for k, v in record.items() if k not in ("step", "child")}
        if resume_path is not None:
            shutil.copyfile(resume_path, tmp / RESUME_FILE)
            stored["resume"] = True
        (tmp / RESULT_FILE).write_text(
            json.dumps(stored, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
        )
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
