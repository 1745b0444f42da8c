"""The environment the workflow's jobs run in."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def put_entry_point_on_path() -> bool:
    """Put the ``bionas`` of the running interpreter's environment first on PATH, if needed.

    Rules call the ``bionas`` entry point of the environment they run in (a
    cluster node may hold the same environment at another path). When
    Snakemake was started by path (``.venv/bin/snakemake``) without its
    environment on PATH, local jobs would not find ``bionas``: its bin folder
    is then put first. Returns whether PATH was changed.
    """
    here = Path(sys.executable).parent
    if shutil.which("bionas") is not None or not (here / "bionas").exists():
        return False
    os.environ["PATH"] = f"{here}{os.pathsep}{os.environ.get('PATH', '')}"
    return True
