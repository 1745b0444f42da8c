"""Damaged intermediates are refused by the stage that reads them, through the real CLI.

A killed job, a full disk, a hand edit or a file left from another run must
stop the stage that reads it with exit status 2 and one line on stderr that
names the file (and the key) and says what to delete and rerun, without a
traceback and without writing any output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers_child import GOOD, SPACE_YAML, motif_pwm, write_architecture, write_meme, write_tensors

from bionas.records.architecture import make_architecture
from bionas.records.space import load_space
from bionas.search.strategies import get_controller


def bionas(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m bionas ARGS`` in a fresh process, as Snakemake runs it."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "bionas", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_refused(
    proc: subprocess.CompletedProcess, command: str, path: Path, *fragments: str, outputs=()
) -> str:
    """Exit 2, one stderr line naming ``path`` with ``fragments``, no traceback, no output."""
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert line.startswith(f"bionas {command}: error: {path}"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    for out in outputs:
        out = Path(out)
        assert not out.exists(), out
        if out.parent.exists():  # no temporary file left beside it either
            assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    return line


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """space.yaml, arch.json, train/val/test.npz, priors.meme and a controller state."""
    tmp = tmp_path_factory.mktemp("intermediates")
    (tmp / "space.yaml").write_text(SPACE_YAML)
    space = load_space(tmp / "space.yaml")
    write_architecture(tmp / "arch.json", space)
    for split, seed in (("train", 1), ("val", 2), ("test", 3)):
        write_tensors(tmp / f"{split}.npz", n=40, seed=seed)
    write_meme(tmp / "priors.meme", {"PLANTED": motif_pwm()})
    controller = get_controller("random", space)
    controller.save_state(controller.init_state(seed=1), tmp / "state_000")
    return tmp


def train_record(space, **change) -> dict:
    """A train.json as ``bionas train-child`` writes it for a child that failed."""
    arch = make_architecture(space, GOOD, step=1, child=0)
    record = {
        "status": "failed", "error": "the model has too many parameters", "stop_reason": "params",
        "layers": arch["layers"], "id": arch["id"], "step": 1, "child": 0, "val_loss": None,
        "val_auroc": None, "val_auprc": None, "per_task": {}, "epochs": 0, "best_epoch": None,
        "seconds": 0.01, "params": 6617, "cached": False, "cache_key": "0" * 64, "model": None,
        "seed": 1, "settings": {}, "history": {"loss": [], "val_loss": []},
    }  # fmt: skip
    record.update(change)
    return record


def metrics_record(space, child: int = 0, **change) -> dict:
    """A metrics.json as ``bionas score-child`` writes it."""
    arch = make_architecture(space, GOOD, step=1, child=child)
    record = {
        "status": "ok", "error": None, "layers": arch["layers"], "id": arch["id"], "step": 1,
        "child": child, "val_loss": 0.5, "val_auroc": 0.8, "val_auprc": 0.7, "knowledge": 0.3,
        "knowledge_per_prior": {"PLANTED": 0.3}, "reward": -0.8, "lambda": 1.0, "lambda_reg": 0.0,
        "reward_kind": "loss", "temperature": 0.15, "both_strands": True, "epochs": 3,
        "seconds": 1.0, "params": 10, "cached": False,
    }  # fmt: skip
    record.update(change)
    return record


def cut_in_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


# -- tensors --------------------------------------------------------------------


def test_train_child_refuses_an_npz_cut_in_half(inputs, tmp_path):
    val = cut_in_half(inputs / "val.npz", tmp_path / "val.npz")
    out = tmp_path / "child"
    proc = bionas(
        "train-child", "--space", inputs / "space.yaml", "--architecture", inputs / "arch.json",
        "--train", inputs / "train.npz", "--val", val, "--out-dir", out, "--epochs", "1",
        cwd=tmp_path,
    )  # fmt: skip
    assert_refused(proc, "train-child", val, "not a readable .npz", "delete it and rerun `bionas encode`")
    assert not out.exists()


def test_evaluate_refuses_an_npz_cut_in_half(inputs, tmp_path):
    space = load_space(inputs / "space.yaml")
    result = tmp_path / "replicate_0" / "train.json"
    result.parent.mkdir()
    ok = train_record(space, status="ok", error=None, val_loss=0.4, model="model.keras")
    result.write_text(json.dumps(ok))
    test = cut_in_half(inputs / "test.npz", tmp_path / "test.npz")
    outs = [tmp_path / "final" / name for name in
            ("test_metrics.tsv", "model.keras", "predictions.npz", "summary.json")]  # fmt: skip
    proc = bionas(
        "evaluate", "--results", result, "--test", test, "--out-metrics", outs[0],
        "--out-model", outs[1], "--out-predictions", outs[2], "--out-summary", outs[3],
        cwd=tmp_path,
    )  # fmt: skip
    assert_refused(proc, "evaluate", test, "delete it and rerun `bionas encode`", outputs=outs)


# -- train.json -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value",
    [("epochs", "3"), ("id", ["not", "a", "string"]), ("val_auroc", 7.5), ("model", "../../x")],
)
def test_score_child_refuses_a_train_json_with_a_wrong_type(inputs, tmp_path, key, value):
    space = load_space(inputs / "space.yaml")
    result = tmp_path / "child" / "train.json"
    result.parent.mkdir()
    result.write_text(json.dumps(train_record(space, **{key: value})))
    out = tmp_path / "child" / "metrics.json"
    proc = bionas(
        "score-child", "--space", inputs / "space.yaml", "--train-result", result,
        "--priors", inputs / "priors.meme", "--out", out, cwd=tmp_path,
    )  # fmt: skip
    assert_refused(
        proc, "score-child", result, f"[{key}]", "delete it and rerun `bionas train-child`",
        outputs=[out],
    )  # fmt: skip


def test_evaluate_refuses_replicates_with_a_wrong_typed_id(inputs, tmp_path):
    """An id that is a list made evaluate crash (TypeError: unhashable) before it was checked."""
    space = load_space(inputs / "space.yaml")
    results = []
    for r, record_id in enumerate([make_architecture(space, GOOD)["id"], ["x"]]):
        path = tmp_path / f"replicate_{r}" / "train.json"
        path.parent.mkdir()
        path.write_text(json.dumps(train_record(space, id=record_id)))
        results.append(path)
    out = tmp_path / "final"
    proc = bionas(
        "evaluate", "--results", *results, "--test", inputs / "test.npz",
        "--out-metrics", out / "m.tsv", "--out-model", out / "model.keras",
        "--out-predictions", out / "p.npz", "--out-summary", out / "s.json", cwd=tmp_path,
    )  # fmt: skip
    assert_refused(proc, "evaluate", results[1], "[id]", "delete it and rerun `bionas train-child`")
    assert not out.exists()


# -- metrics.json ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["reward", "layers", "cached"])
def test_update_controller_refuses_a_metrics_json_with_a_missing_key(inputs, tmp_path, key):
    space = load_space(inputs / "space.yaml")
    paths = []
    for child in (0, 1):
        record = metrics_record(space, child=child)
        if child == 1:
            del record[key]
        path = tmp_path / f"child_{child:02d}" / "metrics.json"
        path.parent.mkdir()
        path.write_text(json.dumps(record, indent=2))
        paths.append(path)
    out, history = tmp_path / "state_001", tmp_path / "history.tsv"
    proc = bionas(
        "update-controller", "--space", inputs / "space.yaml", "--state", inputs / "state_000",
        "--metrics", *paths, "--out", out, "--history-out", history, cwd=tmp_path,
    )  # fmt: skip
    assert_refused(
        proc, "update-controller", paths[1], f"missing key '{key}'", f"[{key}]",
        "delete it and rerun", outputs=[history],
    )  # fmt: skip
    assert not out.exists()


def test_update_controller_refuses_a_metrics_json_cut_in_half(inputs, tmp_path):
    space = load_space(inputs / "space.yaml")
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_record(space), indent=2))
    cut_in_half(path, path)
    proc = bionas(
        "update-controller", "--space", inputs / "space.yaml", "--state", inputs / "state_000",
        "--metrics", path, "--out", tmp_path / "s1", "--history-out", tmp_path / "h.tsv",
        cwd=tmp_path,
    )  # fmt: skip
    line = assert_refused(proc, "update-controller", path, "not valid JSON", "delete it and rerun",
                          outputs=[tmp_path / "h.tsv"])  # fmt: skip
    assert line.startswith(f"bionas update-controller: error: {path}:")  # the line of the cut


# -- controller state -----------------------------------------------------------


@pytest.fixture()
def other_space(inputs, tmp_path) -> Path:
    """The space of ``inputs`` with one more option: a state of the first does not fit it."""
    obj = yaml.safe_load(SPACE_YAML)
    obj["layers"][1]["options"].append({"name": "max4", "type": "maxpool1d", "size": 4})
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(obj))
    return path


def test_update_controller_refuses_a_state_of_another_space(inputs, tmp_path, other_space):
    space = load_space(other_space)
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_record(space)))
    state = inputs / "state_000"
    out, history = tmp_path / "state_001", tmp_path / "history.tsv"
    proc = bionas(
        "update-controller", "--space", other_space, "--state", state, "--metrics", path,
        "--out", out, "--history-out", history, cwd=tmp_path,
    )  # fmt: skip
    assert_refused(
        proc, "update-controller", state / "state.json", "[space_fingerprint]",
        "another model space", f"delete {state}", outputs=[history],
    )  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize("command", ["propose", "select-architecture"])
def test_state_readers_refuse_a_state_of_another_space(inputs, tmp_path, other_space, command):
    state = inputs / "state_000"
    out = tmp_path / "out.json"
    args = ["--space", other_space, "--state", state, "--out", out]
    if command == "propose":
        args += ["--n", "2", "--step", "1"]
    else:
        args += ["--mode", "controller"]
    proc = bionas(command, *args, cwd=tmp_path)
    assert_refused(proc, command, state / "state.json", "another model space", f"delete {state}",
                   outputs=[out])  # fmt: skip


def test_update_controller_refuses_a_state_json_cut_in_half(inputs, tmp_path):
    space = load_space(inputs / "space.yaml")
    state = tmp_path / "state_000"
    state.mkdir()
    cut_in_half(inputs / "state_000" / "state.json", state / "state.json")
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics_record(space)))
    proc = bionas(
        "update-controller", "--space", inputs / "space.yaml", "--state", state, "--metrics", path,
        "--out", tmp_path / "state_001", "--history-out", tmp_path / "h.tsv", cwd=tmp_path,
    )  # fmt: skip
    assert_refused(proc, "update-controller", state / "state.json", f"delete {state}",
                   outputs=[tmp_path / "h.tsv"])  # fmt: skip
    assert not (tmp_path / "state_001").exists()


# -- proposals.json -------------------------------------------------------------


def test_train_child_refuses_proposals_cut_in_half(inputs, tmp_path):
    space = load_space(inputs / "space.yaml")
    proposals = tmp_path / "proposals.json"
    records = [make_architecture(space, GOOD, step=1, child=k) for k in range(3)]
    proposals.write_text(json.dumps(records, indent=2))
    cut_in_half(proposals, proposals)
    out = tmp_path / "child_02"
    proc = bionas(
        "train-child", "--space", inputs / "space.yaml", "--architecture", proposals,
        "--index", "2", "--train", inputs / "train.npz", "--val", inputs / "val.npz",
        "--out-dir", out, cwd=tmp_path,
    )  # fmt: skip
    assert_refused(proc, "train-child", proposals, "not a valid architecture JSON",
                   "delete it and rerun")  # fmt: skip
    assert not out.exists()


def test_a_good_train_json_is_scored(inputs, tmp_path):
    """The control: the same inputs, undamaged, run through (so the refusals above are real)."""
    space = load_space(inputs / "space.yaml")
    result = tmp_path / "train.json"
    result.write_text(json.dumps(train_record(space)))
    out = tmp_path / "metrics.json"
    proc = bionas(
        "score-child", "--space", inputs / "space.yaml", "--train-result", result,
        "--priors", inputs / "priors.meme", "--out", out, "--failure-reward", "-3", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(out.read_text())
    assert metrics["status"] == "failed" and metrics["reward"] == -3.0
    history = tmp_path / "history.tsv"
    proc = bionas(
        "update-controller", "--space", inputs / "space.yaml", "--state", inputs / "state_000",
        "--metrics", out, "--out", tmp_path / "state_001", "--history-out", history, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "state_001" / "state.json").is_file() and history.is_file()
    header, row = (line.split("\t") for line in history.read_text().splitlines()[:2])
    assert np.isclose(float(row[header.index("reward")]), -3.0)
