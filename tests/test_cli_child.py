"""`bionas train-child` and `bionas score-child` run in-process through the CLI."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from helpers_child import BIG, GOOD, child_args, motif_pwm, setup_inputs

from bionas.cli import main
from bionas.records.architecture import make_architecture
from bionas.records.space import load_space

TRAIN_KEYS = {
    "status",
    "error",
    "stop_reason",
    "layers",
    "id",
    "step",
    "child",
    "val_loss",
    "val_auroc",
    "val_auprc",
    "per_task",
    "epochs",
    "best_epoch",
    "seconds",
    "params",
    "cached",
    "cache_key",
    "model",
    "seed",
    "settings",
    "history",
    "rung",
}
METRICS_KEYS = {
    "status",
    "error",
    "layers",
    "id",
    "step",
    "child",
    "val_loss",
    "val_auroc",
    "val_auprc",
    "knowledge",
    "knowledge_per_prior",
    "reward",
    "lambda",
    "lambda_reg",
    "reward_kind",
    "temperature",
    "both_strands",
    "epochs",
    "seconds",
    "params",
    "cached",
    "rung",
}


def _strict(value):
    raise ValueError(f"non-standard JSON constant {value}")


def read_json(path: Path) -> dict:
    """Parse strictly: a NaN or Infinity literal fails."""
    return json.loads(path.read_text(), parse_constant=_strict)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli_child")
    setup_inputs(tmp)
    return tmp


@pytest.fixture(scope="module")
def trained(inputs) -> Path:
    """One child trained through the CLI (3 epochs); returns its train.json."""
    out = inputs / "trained"
    assert main(child_args(inputs, out)) == 0
    return out / "train.json"


def score_args(inputs: Path, train_json: Path, out: Path, *extra: str) -> list[str]:
    return [
        "score-child",
        "--space",
        str(inputs / "space.yaml"),
        "--train-result",
        str(train_json),
        "--priors",
        str(inputs / "priors.meme"),
        "--out",
        str(out),
        *extra,
    ]


def test_help(capsys):
    for command, flag in (("train-child", "--fail-fatal"), ("score-child", "--failure-reward")):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0
        assert flag in capsys.readouterr().out


# -- train-child ---------------------------------------------------------------


@pytest.mark.training
def test_train_child_ok(trained):
    record = read_json(trained)
    assert set(record) == TRAIN_KEYS
    assert record["status"] == "ok" and record["error"] is None
    assert record["layers"] == list(GOOD) and (record["step"], record["child"]) == (1, 0)
    assert record["model"] == "model.keras" and (trained.parent / "model.keras").is_file()
    assert record["cached"] is False and len(record["cache_key"]) == 64
    assert record["epochs"] == 3 and 1 <= record["best_epoch"] <= 3
    assert record["val_loss"] == min(record["history"]["val_loss"])
    assert record["val_auroc"] > 0.8 and 0 < record["val_auprc"] <= 1
    assert set(record["per_task"]) == {"task0"}
    assert record["per_task"]["task0"]["auroc"] == record["val_auroc"]
    assert record["params"] == 10 * 4 * 16 + 16 + 16 + 1 and record["seed"] == 1
    assert not [p for p in trained.parent.iterdir() if p.name.startswith(".")]  # no temp files


@pytest.mark.training
def test_nan_loss_is_a_failed_child(inputs):
    out = inputs / "nan"
    assert main(child_args(inputs, out, "--learning-rate", "1e30")) == 0
    record = read_json(out / "train.json")
    assert record["status"] == "failed" and "loss became nan" in record["error"]
    assert record["stop_reason"] == "nan" and record["model"] is None
    assert record["val_loss"] is None and not (out / "model.keras").exists()


def test_too_many_params_is_a_failed_child(inputs):
    out = inputs / "big"
    (out).mkdir()
    (out / "model.keras").write_text("stale")
    arch = inputs / "big.json"
    space = load_space(inputs / "space.yaml")
    arch.write_text(json.dumps(make_architecture(space, BIG)))
    assert main(child_args(inputs, out, "--max-params", "5000", arch=arch)) == 0
    record = read_json(out / "train.json")
    assert set(record) == TRAIN_KEYS
    assert record["status"] == "failed" and "6617 parameters" in record["error"]
    assert record["model"] is None and not (out / "model.keras").exists()  # stale model removed


def test_fail_fatal_exits_nonzero_and_writes_nothing(inputs, capsys):
    out = inputs / "fatal"
    rc = main(child_args(inputs, out, "--max-params", "10", "--fail-fatal"))
    assert rc == 1
    assert "child failed" in capsys.readouterr().err
    assert not (out / "train.json").exists()


def test_architecture_list_and_index(inputs, capsys):
    space = load_space(inputs / "space.yaml")
    proposals = inputs / "proposals.json"
    proposals.write_text(
        json.dumps(
            [
                make_architecture(space, GOOD, step=4, child=0),
                make_architecture(space, BIG, step=4, child=1),
            ]
        )
    )
    out = inputs / "listed"
    assert main(child_args(inputs, out, "--index", "1", "--max-params", "10", arch=proposals)) == 0
    record = read_json(out / "train.json")
    assert record["layers"] == list(BIG) and (record["step"], record["child"]) == (4, 1)
    capsys.readouterr()
    assert main(child_args(inputs, out, "--max-params", "10", arch=proposals)) == 2
    assert "pick one with --index" in capsys.readouterr().err
    assert main(child_args(inputs, out, "--index", "2", "--max-params", "10", arch=proposals)) == 2
    assert "out of range" in capsys.readouterr().err
    bad = make_architecture(space, GOOD)
    bad["id"] = "0" * 64
    proposals.write_text(json.dumps([bad]))
    assert main(child_args(inputs, out, "--max-params", "10", arch=proposals)) == 2
    assert "id does not match" in capsys.readouterr().err


@pytest.mark.parametrize("which", ["train", "val"])
def test_bad_npz_exits_2_and_leaves_nothing(inputs, tmp_path, capsys, which):
    bad = tmp_path / f"{which}.npz"
    arrays = dict(np.load(inputs / f"{which}.npz"))
    arrays["X"] = arrays["X"].astype(np.float32)
    np.savez(bad, **arrays)
    argv = child_args(inputs, tmp_path / "out")
    argv[argv.index(f"--{which}") + 1] = str(bad)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "[X]" in err and "rerun `bionas encode`" in err
    assert not (tmp_path / "out").exists()


def test_mismatched_splits_exit_2(inputs, tmp_path, capsys):
    arrays = dict(np.load(inputs / "val.npz"))
    arrays["tasks"] = np.array(["other"])
    np.savez(tmp_path / "val.npz", **arrays)
    argv = child_args(inputs, tmp_path / "out")
    argv[argv.index("--val") + 1] = str(tmp_path / "val.npz")
    assert main(argv) == 2
    assert "tasks" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.training
def test_cache_hit_and_miss(inputs, tmp_path):
    cache = tmp_path / "cache"
    first = tmp_path / "first"
    assert main(child_args(inputs, first, "--cache-dir", str(cache))) == 0
    trained = read_json(first / "train.json")
    assert trained["cached"] is False
    assert [p.name for p in cache.iterdir()] == [trained["cache_key"]]

    start = time.monotonic()
    assert main(child_args(inputs, tmp_path / "second", "--cache-dir", str(cache))) == 0
    assert time.monotonic() - start < 1.0  # no training, no TensorFlow work
    hit = read_json(tmp_path / "second" / "train.json")
    assert hit["cached"] is True and hit["cache_key"] == trained["cache_key"]
    assert {k: v for k, v in hit.items() if k != "cached"} == {
        k: v for k, v in trained.items() if k != "cached"
    }
    assert (tmp_path / "second" / "model.keras").read_bytes() == (
        first / "model.keras"
    ).read_bytes()

    miss = tmp_path / "third"
    assert main(child_args(inputs, miss, "--cache-dir", str(cache), "--batch-size", "48")) == 0
    assert read_json(miss / "train.json")["cached"] is False
    assert len(list(cache.iterdir())) == 2

    # a failed child is cached as well
    for out in ("f1", "f2"):
        assert (
            main(
                child_args(inputs, tmp_path / out, "--cache-dir", str(cache), "--max-params", "10")
            )
            == 0
        )
    assert read_json(tmp_path / "f2" / "train.json")["cached"] is True
    assert read_json(tmp_path / "f2" / "train.json")["status"] == "failed"
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


# -- score-child ---------------------------------------------------------------


def _knowledge_before_training(inputs: Path) -> float:
    from bionas.motifs.pwm import filters_to_pwms
    from bionas.search.builder import build_model, first_conv_weights
    from bionas.search.knowledge import knowledge_dissimilarity
    from bionas.search.train import configure_tensorflow

    configure_tensorflow(1, 1)
    model = build_model(load_space(inputs / "space.yaml"), GOOD, 100, 1, seed=1)
    pwms = filters_to_pwms(first_conv_weights(model), 0.15)
    return float(knowledge_dissimilarity(pwms, [motif_pwm()]).per_prior[0])


@pytest.mark.training
def test_score_child_ok(inputs, trained):
    out = inputs / "metrics.json"
    assert main(score_args(inputs, trained, out, "--lambda", "0.5")) == 0
    metrics = read_json(out)
    record = read_json(trained)
    assert set(metrics) == METRICS_KEYS
    assert metrics["status"] == "ok" and metrics["error"] is None
    assert set(metrics["knowledge_per_prior"]) == {"PLANTED", "OTHER"}
    k = metrics["knowledge"]
    assert k == pytest.approx(np.mean(list(metrics["knowledge_per_prior"].values())))
    assert metrics["reward"] == pytest.approx(-(record["val_loss"] + 0.5 * k))
    assert (metrics["lambda"], metrics["reward_kind"], metrics["both_strands"]) == (
        0.5,
        "loss",
        True,
    )
    # the planted motif is closer to the trained filters than to the initial ones
    assert metrics["knowledge_per_prior"]["PLANTED"] < _knowledge_before_training(inputs)
    assert metrics["knowledge_per_prior"]["PLANTED"] < metrics["knowledge_per_prior"]["OTHER"]

    assert (
        main(
            score_args(inputs, trained, out, "--reward", "auroc", "--lambda", "0.2", "--one-strand")
        )
        == 0
    )
    auroc = read_json(out)
    assert auroc["reward"] == pytest.approx(record["val_auroc"] - 0.2 * auroc["knowledge"])
    assert auroc["both_strands"] is False and auroc["knowledge"] >= k


def test_score_child_failed_gets_penalty(inputs):
    out = inputs / "pen"
    assert main(child_args(inputs, out, "--max-params", "10")) == 0
    assert (
        main(score_args(inputs, out / "train.json", out / "metrics.json", "--failure-reward", "-7"))
        == 0
    )
    metrics = read_json(out / "metrics.json")
    assert set(metrics) == METRICS_KEYS
    assert metrics["status"] == "failed" and "parameters" in metrics["error"]
    assert metrics["knowledge"] is None and metrics["knowledge_per_prior"] is None
    assert metrics["reward"] == -7.0 and metrics["val_loss"] is None


@pytest.mark.training
def test_score_child_bad_inputs_exit_2(inputs, trained, tmp_path, capsys):
    child = tmp_path / "child"
    shutil.copytree(trained.parent, child)
    result = child / "train.json"
    text = result.read_text()
    out = tmp_path / "metrics.json"

    def check(fragment: str, path: Path) -> None:
        capsys.readouterr()
        assert main(score_args(inputs, result, out)) == 2
        err = capsys.readouterr().err
        assert (
            str(path) in err
            and fragment in err
            and "delete it and rerun `bionas train-child`" in err
        )
        assert not out.exists()

    result.write_text(text[: len(text) // 2])
    check("not a valid train.json", result)
    broken = json.loads(text)
    del broken["val_loss"]
    result.write_text(json.dumps(broken))
    check("missing key 'val_loss'", result)
    result.write_text(text)
    model = child / "model.keras"
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    check("cannot load the model", model)
    model.unlink()
    check("model file not found", model)
    capsys.readouterr()
    assert main(score_args(inputs, tmp_path / "none.json", out)) == 2
    assert "not found" in capsys.readouterr().err


def test_score_child_nan_reward_input_is_failed(inputs, tmp_path):
    """A reward that needs an undefined metric (val AUROC of a one-class split) fails the child."""
    train_json = tmp_path / "train.json"
    record = {
        "status": "ok",
        "error": None,
        "layers": list(GOOD),
        "id": None,
        "step": 0,
        "child": 0,
        "val_loss": 0.5,
        "val_auroc": None,
        "val_auprc": None,
        "epochs": 1,
        "seconds": 1.0,
        "params": 1,
        "cached": False,
        "model": "model.keras",
    }
    from bionas.io import atomic_path
    from bionas.search.builder import build_model

    space = load_space(inputs / "space.yaml")
    record["id"] = space.architecture_id(GOOD)
    with atomic_path(tmp_path / "model.keras") as tmp:
        build_model(space, GOOD, 100, 1, seed=0).save(tmp)
    train_json.write_text(json.dumps(record))
    out = tmp_path / "metrics.json"
    assert (
        main(score_args(inputs, train_json, out, "--reward", "auroc", "--failure-reward", "-3"))
        == 0
    )
    metrics = read_json(out)
    assert metrics["status"] == "failed" and "val_auroc" in metrics["error"]
    assert metrics["reward"] == -3.0 and math.isfinite(metrics["knowledge"])
