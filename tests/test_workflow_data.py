"""The data stages through real Snakemake runs: lint, dry-run, tiny configs, bad input."""

from __future__ import annotations

import gzip
import re
import shutil

import numpy as np
import pytest
import yaml
from workflow_helpers import ROOT, absolute_paths, load_case, snakemake

pytestmark = pytest.mark.workflow

DATA_TARGETS = [
    "results/{ds}/data/train.npz",
    "results/{ds}/data/val.npz",
    "results/{ds}/data/test.npz",
    "results/{ds}/priors.meme",
]


def targets(ds):
    return [t.format(ds=ds) for t in DATA_TARGETS]


def test_lint_reports_only_environment_lints(tmp_path):
    """Lints about conda/containers are by design; nothing else."""
    proc = snakemake(tmp_path, absolute_paths(load_case("tiny")), "--lint")
    text = proc.stdout + proc.stderr
    lints = re.findall(r"^    \* (.+?):?$", text, flags=re.M)
    allowed = ("Specify a conda environment or container for each rule.",)
    unexpected = [lint for lint in lints if not lint.startswith(allowed)]
    assert not unexpected, text


def test_default_config_dry_run(tmp_path):
    config = absolute_paths(__import__("yaml").safe_load((ROOT / "config/config.yaml").read_text()))
    proc = snakemake(tmp_path, config, "--dry-run", "--cores", "2")
    assert proc.returncode == 0, proc.stderr
    assert "simulate_demo" in proc.stdout and "encode_sequences" in proc.stdout


def test_nested_config_on_the_command_line(tmp_path):
    """The README's `--config training='{warm_worker: false}'` and the like are typed."""
    proc = snakemake(
        tmp_path, load_case("tiny"), "--dry-run", "--cores", "2", "--printshellcmds",
        "--config", "training={warm_worker: false}", "search={lambda: 0.5, steps: 1}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--lambda 0.5 " in proc.stdout and "step=002" not in proc.stdout


def test_training_gpus_become_the_gpu_resource_of_training_jobs(tmp_path):
    """training.gpus: every train_child and train_final job asks for that many `gpu` (what
    `--resources gpu=N` limits and the SLURM profile turns into --gpus); no other job does."""
    import re

    config = load_case("tiny")
    config["training"]["gpus"] = 1
    proc = snakemake(tmp_path, config, "--dry-run", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = re.split(r"\n\s*\n", proc.stdout)
    trains = [j for j in jobs if re.search(r"rule (train_child|train_final):", j)]
    assert trains and all("gpu=1" in j for j in trains), trains[:1]
    others = [j for j in jobs if re.search(r"rule (score_child|prepare_intervals):", j)]
    assert others and not any("gpu=" in j for j in others)
    config["training"]["gpus"] = 0
    proc = snakemake(tmp_path, config, "--dry-run", "--cores", "2")
    assert "gpu=1" not in proc.stdout


def test_a_configfile_replaces_the_default_config(tmp_path):
    """`--configfile mine.yaml` runs mine.yaml's datasets only, not also the demo's."""
    default = tmp_path / "config" / "config.yaml"
    default.parent.mkdir()
    demo = absolute_paths(yaml.safe_load((ROOT / "config/config.yaml").read_text()))
    default.write_text(yaml.safe_dump(demo))
    alone = snakemake(tmp_path, None, "--dry-run", "--cores", "2")
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "dataset=demo" in alone.stdout
    mine = snakemake(tmp_path, load_case("tiny"), "--dry-run", "--cores", "2")
    assert mine.returncode == 0, mine.stderr[-3000:]
    assert "dataset=tiny" in mine.stdout and "dataset=demo" not in mine.stdout


def test_tiny_data_stage_end_to_end(tmp_path):
    config = load_case("tiny")
    proc = snakemake(tmp_path, config, "--cores", "2", *targets("tiny"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for split in ("train", "val", "test"):
        with np.load(tmp_path / f"results/tiny/data/{split}.npz") as npz:
            assert npz["X"].dtype == np.uint8 and npz["X"].shape[1:] == (100, 4)
            assert npz["y"].shape == (npz["X"].shape[0], 1)
            assert list(npz["tasks"]) == ["bound"]
            assert 0 < npz["y"].mean() < 1
    assert "MOTIF MA0139.2" in (tmp_path / "results/tiny/priors.meme").read_text()
    assert (tmp_path / "logs/encode_sequences/tiny.log").exists()
    assert (tmp_path / "benchmarks/encode_sequences/tiny.tsv").exists()
    # A second run has nothing to do.
    again = snakemake(tmp_path, config, "--cores", "2", "--dry-run", *targets("tiny"))
    assert "Nothing to be done" in again.stdout + again.stderr


def _user_dataset(tmp_path):
    shutil.copy(ROOT / "tests/data/tiny.fa", tmp_path / "genome.fa")
    shutil.copy(ROOT / "tests/data/task_a.bed", tmp_path / "a.bed")
    shutil.copy(ROOT / "tests/data/task_b.narrowPeak", tmp_path / "b.narrowPeak")
    return {
        "datasets": {
            "lab": {
                "genome": str(tmp_path / "genome.fa"),
                "peaks": {"A": str(tmp_path / "a.bed"), "B": str(tmp_path / "b.narrowPeak")},
                "priors": {"meme": str(ROOT / "tests/data/motifs.meme")},
                "window": 100,
                "negatives": {"method": "dinucleotide_shuffle", "ratio": 1.0},
                "split": {"val": ["chr3"], "test": ["chr4"]},
            }
        }
    }


def test_user_dataset_multitask(tmp_path):
    """Two tasks; the genome and the model space lie under paths with spaces, and the
    genome is plain gzip (as UCSC ships hg38.fa.gz): the workflow makes a plain copy."""
    inputs = tmp_path / "lab data"
    inputs.mkdir()
    config = absolute_paths(_user_dataset(inputs))
    genome = inputs / "my genome.fa.gz"
    genome.write_bytes(gzip.compress((inputs / "genome.fa").read_bytes()))
    (inputs / "genome.fa").unlink()
    config["datasets"]["lab"]["genome"] = str(genome)
    space = inputs / "my space.yaml"
    shutil.copy(ROOT / ".test/tiny/model_space.yaml", space)
    config["search"] = {"space": str(space)}
    state = "results/lab/default/controller/step_000"
    proc = snakemake(tmp_path / "work", config, "--cores", "2", *targets("lab"), state)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "work" / state / "state.json").is_file()
    copy = tmp_path / "work/results/lab/genome/genome.fa"
    assert copy.read_bytes() == gzip.decompress(genome.read_bytes())
    with np.load(tmp_path / "work/results/lab/data/train.npz") as npz:
        assert list(npz["tasks"]) == ["A", "B"]
        assert npz["y"].shape[1] == 2


def test_bad_config_fails_before_any_job(tmp_path):
    config = load_case("tiny")
    config["datasets"]["tiny"]["windw"] = 100
    proc = snakemake(tmp_path, config, "--cores", "2")
    assert proc.returncode != 0
    assert "datasets.tiny" in proc.stderr and "did you mean 'window'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_bad_peak_file_fails_with_its_line_and_leaves_nothing(tmp_path):
    config = _user_dataset(tmp_path)
    bad = tmp_path / "a.bed"
    bad.write_text(bad.read_text() + "chr1\t500\t-20\n")
    proc = snakemake(tmp_path / "work", absolute_paths(config), "--cores", "2", *targets("lab"))
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert f"{bad}:" in text, text[-3000:]
    assert not (tmp_path / "work/results/lab/data/windows.tsv").exists()


@pytest.mark.parametrize(
    "block, change, expected",
    [
        ("search", {"space": "/nonexistent/space.yaml"}, "model-space file not found"),
        ("search", {"steps": 0}, "search.steps"),
        ("search", {"controller": "grid", "steps": 5, "children_per_step": 2}, "visits each of the 8"),
        ("search", {"children_per_step": 0}, "search.children_per_step"),
        ("final", {"top_k": 5}, "[final.top_k]: top_k 5 is more than the 4 children"),
        ("final", {"top_k": 2, "select": "controller"}, "[final.top_k]: top_k 2 needs"),
    ],
)
def test_bad_search_config_fails_when_the_dag_is_built(tmp_path, block, change, expected):
    config = load_case("tiny")
    config[block].update(change)
    proc = snakemake(tmp_path, config, "--dry-run", "--cores", "2")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert expected in text, text[-2000:]
    assert "Traceback" not in text
    assert not (tmp_path / "results").exists()


def test_resource_no_job_can_get_fails_before_any_job(tmp_path):
    """A profile or --resources limit below what a rule needs is an error up front."""
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "config.yaml").write_text("set-resources:\n  train_child:\n    mem_mb: 64000\n")
    proc = snakemake(
        tmp_path / "work", load_case("tiny"), "--cores", "2", "--resources", "mem_mb=16000",
        "--profile", str(profile),
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rule train_child asks for mem_mb=64000, the run allows 16000" in text, text[-2000:]
    assert not (tmp_path / "work/results").exists()
