"""Run the real Snakemake workflow in a temporary directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
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
    if config is not None:
        write_config(workdir, config)
    cmd, env = snakemake_command(workdir, *args, configfile=config is not None)
    return subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def write_config(workdir: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` to ``workdir/config.yaml``."""
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake_command(
    workdir: Path, *args: str, configfile: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a snakemake run in ``workdir`` (with its
    config.yaml when ``configfile``), for tests that start it themselves."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    if configfile:
        cmd += ["--configfile", str(workdir / "config.yaml")]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    return cmd + list(args), env


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


# ---------------------------------------------------------------------------
# killing a run, and comparing its outputs with an uninterrupted one


def processes_under(workdir: Path) -> list[int]:
    """PIDs of live processes whose working directory is ``workdir`` or inside it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = Path(os.readlink(proc / "cwd"))
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == workdir or workdir in cwd.parents):
            found.append(int(proc.name))
    return found


def kill_run(proc: subprocess.Popen, workdir: Path) -> None:
    """SIGKILL a run started with ``start_new_session=True``: its process group, then any
    process it started that still works inside ``workdir``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    for _ in range(50):
        left = processes_under(workdir)
        if not left:
            return
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"processes of the killed run still alive: {processes_under(workdir)}")


#: JSON keys (and TSV columns) that differ between two runs that computed the same thing:
#: wall time, and whether a child came from the cache (a resumed run takes a child that
#: its killed run trained from there).
VOLATILE = frozenset({"seconds", "cached", "max_abs_difference"})


def is_temporary(name: str) -> bool:
    """A temporary written by bionas.io (``.<name>.<host>-<pid>.<random>``), or the like."""
    return name.startswith(".") and name != ".snakemake_timestamp"


def _stable_json(path: Path) -> Any:
    obj = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if k not in VOLATILE}
    return obj


def _stable_tsv(path: Path) -> list[list[str]]:
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").split("\n")]
    keep = [i for i, name in enumerate(rows[0]) if name not in VOLATILE]
    return [[row[i] for i in keep if i < len(row)] for row in rows]


def _npz_problem(path: Path, reference: Path | None) -> str | None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    if reference is not None:
        with np.load(reference, allow_pickle=False) as npz:
            want = {key: npz[key] for key in npz.files}
        if arrays.keys() != want.keys() or not all(
            np.array_equal(arrays[k], want[k]) for k in want
        ):
            return "arrays differ from the uninterrupted run"
    return None


def _keras_problem(path: Path, reference: Path | None) -> str | None:
    with zipfile.ZipFile(path) as archive:
        if archive.testzip() is not None:
            return "damaged zip member"
        json.loads(archive.read("config.json"))
        weights = archive.read("model.weights.h5")
    if reference is not None:
        with zipfile.ZipFile(reference) as archive:
            if weights != archive.read("model.weights.h5"):
                return "weights differ from the uninterrupted run"
    return None


def output_problem(path: Path, reference: Path | None = None) -> str | None:
    """Why ``path`` is not a complete stage output equal to ``reference``; None when it is.

    Complete: JSON parses, every array of an ``.npz`` reads, a ``.keras`` is a sound zip
    with its config and weights, an HTML page ends with ``</html>``. Equal: the same
    bytes, except JSON and TSV without :data:`VOLATILE` keys and columns, ``.npz`` array
    by array, ``.keras`` by its weights (Keras writes the save time into metadata.json and
    Python object ids into config.json), the SavedModel and ONNX files of ``final/export``
    not at all (they rename their variables on every export; ``export.json`` holds their
    check against Keras), ``search/progress.json`` only for parsing (the run's live status:
    wall times and this run's cache hits) and HTML not at all (it shows wall times).
    """
    name = path.name
    try:
        if name.endswith(".json"):
            value = _stable_json(path)
            # progress.json is the run's live status: wall times, cache hits of this run
            if name == "progress.json":
                return None if isinstance(value, dict) else "not a JSON object"
            if reference is not None and value != _stable_json(reference):
                return "differs from the uninterrupted run"
        elif name.endswith(".npz"):
            return _npz_problem(path, reference)
        elif name.endswith(".keras"):
            return _keras_problem(path, reference)
        elif name.endswith(".html"):
            if not path.read_text(encoding="utf-8").rstrip().endswith("</html>"):
                return "does not end with </html>"
        elif name.endswith(".tsv") and reference is not None:
            if _stable_tsv(path) != _stable_tsv(reference):
                return "differs from the uninterrupted run"
        elif "export" in path.parts and "final" in path.parts:
            # SavedModel and ONNX files name their variables and nodes anew on every
            # export; export.json (compared above) records that both predict as Keras does
            if path.stat().st_size == 0:
                return "empty"
        elif reference is not None and path.read_bytes() != reference.read_bytes():
            return "differs from the uninterrupted run"
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        return f"does not load ({type(err).__name__}: {err})"
    return None


def compare_results(run: Path, reference: Path, under: str = "results") -> list[str]:
    """Every file of ``reference/under`` present and equal in ``run/under`` (see
    :func:`output_problem`), no file more, no temporary left; returns the differences."""
    problems = []
    mine = {p.relative_to(run) for p in (run / under).rglob("*") if p.is_file()}
    theirs = {p.relative_to(reference) for p in (reference / under).rglob("*") if p.is_file()}
    for rel in sorted(mine | theirs):
        if rel.name == ".snakemake_timestamp":
            continue
        if rel not in mine:
            problems.append(f"{rel}: missing")
        elif is_temporary(rel.name):
            problems.append(f"{rel}: temporary file left behind")
        elif rel not in theirs:
            problems.append(f"{rel}: not in the uninterrupted run")
        else:
            why = output_problem(run / rel, reference / rel)
            if why:
                problems.append(f"{rel}: {why}")
    return problems
