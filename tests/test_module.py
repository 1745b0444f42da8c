"""The workflow used as a Snakemake module from another folder, with jobs finding `bionas`
on their own (Snakemake started by path, the environment not on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import ROOT, load_case

pytestmark = pytest.mark.workflow

SNAKEFILE = """\
configfile: "config/config.yaml"


module bionas:
    snakefile:
        "{workflow}"
    config:
        config


use rule * from bionas
"""


def test_the_tiny_run_as_a_module_from_another_folder(tmp_path):
    work = tmp_path / "my analysis"
    (work / "config").mkdir(parents=True)
    (work / "Snakefile").write_text(SNAKEFILE.format(workflow=ROOT / "workflow" / "Snakefile"))
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(load_case("tiny")))
    env = dict(os.environ)
    # the environment's bin folder is not on PATH: rules must still find `bionas`
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=work, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = work / "results/tiny/tiny"
    for rel in ("report/index.html", "report/model_card.json", "final/model.keras",
                "interpret/matches.tsv", "attribute/summary.json", "predict/predictions.tsv"):
        assert (run / rel).is_file(), rel  # fmt: skip
    assert (work / "logs").is_dir() and not (ROOT / "results" / "tiny").exists()
    again = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "--dry-run"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "Nothing to be done" in again.stdout + again.stderr
