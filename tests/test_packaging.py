"""What a user or the workflow catalog reads besides the code: the license and the catalog's
usage file agree with the package."""

from __future__ import annotations

from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_is_the_license_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "MIT" and text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_workflow_catalog_usage_file():
    usage = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["mandatory-flags"]["desc"] and usage["mandatory-flags"]["flags"]
    # the workflow lives where the catalog looks for it, and documents its config there
    assert (ROOT / "workflow/Snakefile").is_file() and (ROOT / "config/README.md").is_file()
    assert usage["report"] is True  # `snakemake --report` is tested in tests/test_report.py
    assert set(usage["software-stack-deployment"]) == {"conda", "singularity", "singularity+conda"}


def test_the_lsf_profile_mirrors_the_slurm_profiles_resources():
    slurm = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    lsf = yaml.safe_load((ROOT / "profiles/lsf/config.yaml").read_text())
    assert lsf["executor"] == "lsf" and slurm["executor"] == "slurm"
    assert lsf["set-resources"] == slurm["set-resources"]
    assert lsf["set-threads"] == slurm["set-threads"]
    for key in ("mem_mb", "runtime"):
        assert lsf["default-resources"][key] == slurm["default-resources"][key]
    assert "Untested" in (ROOT / "profiles/lsf/README.md").read_text()


def test_a_command_without_tensorflow_says_which_extra_to_install(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "from bionas.cli import main\n"
        "sys.exit(main(['predict', '--model', 'm.keras', '--genome', 'g.fa', '--tile', 'c:0-9',"
        " '--out', 'o.tsv']))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "BIONAS_NO_WORKER": "1"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env=env, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "tensorflow is not installed" in proc.stderr and "bionas[cpu]" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_tensorflow_comes_with_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("tensorflow") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(d.startswith("tensorflow-cpu") for d in extras["cpu"])
    assert extras["gpu"] == ["tensorflow[and-cuda]>=2.16,<2.22"]
    assert '".[cpu,test]"' in (ROOT / "scripts/setup.sh").read_text()
