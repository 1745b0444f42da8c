"""Run the real Snakemake workflow in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SNAKEFILE = ROOT / "workflow" / "Snakefile"


def absolute_paths(config: dict[str, Any]) -> dict[str, Any]:
    """Make the file paths of a config absolute, relative to the repository root."""

    def fix(value: str) -> str:
        return value if os.path.isabs(value) else str(ROOT / value)

    config = yaml.safe_load(yaml.safe_dump(config))
    for ds in config.get("datasets", {}).values():
        if "genome" in ds:
            ds["genome"] = fix(ds["genome"])
        if "peaks" in ds:
            ds["peaks"] = {task: fix(p) for task, p in ds["peaks"].items()}
        if "meme" in ds.get("priors", {}):
            ds["priors"]["meme"] = fix(ds["priors"]["meme"])
    search = config.setdefault("search", {})
    search["space"] = fix(search.get("space", "config/model_space.yaml"))
    # One compilation cache of the motif comparison for every test run (~1 min saved each).
    config.setdefault("interpret", {}).setdefault("cache_dir", str(ROOT / ".numba_cache"))
    if "architecture" in config.get("final", {}):
        config["final"]["architecture"] = fix(config["final"]["architecture"])
    return config


def load_case(name: str) -> dict[str, Any]:
    """The config of the `.test/<name>` scenario with absolute paths."""
    with open(ROOT / ".test" / name / "config.yaml") as handle:
        return absolute_paths(yaml.safe_load(handle))


def snakemake(
    workdir: Path, config: dict[str, Any] | None, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Run snakemake on `config` (written to workdir/config.yaml) inside `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if config is not None:
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        cmd += ["--configfile", str(path)]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    return subprocess.run(
        cmd + list(args), cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
    )


def finished_tiny_run(tmp_path_factory) -> Path:
    """The tiny scenario run to the end once per test session, shared by every module
    that only reads it (copy it before changing anything)."""
    workdir = tmp_path_factory.getbasetemp() / "tiny_run"
    done = workdir / ".finished"
    if not done.exists():
        proc = snakemake(workdir, load_case("tiny"), "--cores", "2")
        assert proc.returncode == 0, proc.stderr[-4000:]
        done.touch()
    return workdir
