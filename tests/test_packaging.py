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
