"""Successive halving: the ladder, promotion, and continuing a child from its saved state
(`bionas promote`, `bionas continue-child`), through the CLI with real Keras training."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers_child import BIG, GOOD, child_args, setup_inputs, write_architecture

from bionas.cli import main
from bionas.errors import InputError
from bionas.search.fidelity import best_rung, ladder, member_of, rank, read_promoted

FLAGS = ("--batch-size", "32", "--learning-rate", "0.01", "--patience", "0")


# ---------------------------------------------------------------- the ladder


def test_ladder_counts_and_child_epochs():
    assert ladder([3, 10, 30], 0.5, 4).counts == (4, 2, 1)
    assert ladder([3, 10, 30], 0.34, 8).counts == (8, 3, 2)
    assert ladder([2, 5], 0.01, 4).counts == (4, 1)  # at least one
    assert ladder([2, 5, 9], [3, 1], 4).counts == (4, 3, 1)
    # 4 x 3 + 2 x 7 + 1 x 20 epochs at most, against 4 x 30 without halving
    assert ladder([3, 10, 30], 0.5, 4).child_epochs() == 46


@pytest.mark.parametrize(
    ("epochs", "keep", "key", "fragment"),
    [
        ([10], 0.5, "epochs", "at least two budgets"),
        ([3, 3, 10], 0.5, "epochs", "increase rung by rung"),
        ([10, 3], 0.5, "epochs", "increase rung by rung"),
        ([0, 3], 0.5, "epochs", ">= 1"),
        ([3, 10.5], 0.5, "epochs", "whole numbers"),
        ([3, 10], 1.0, "keep", "between 0 and 1"),
        ([3, 10], 0, "keep", "between 0 and 1"),
        ([3, 10], True, "keep", "between 0 and 1"),
        ([3, 10], [5], "keep", "rung 0 has 4"),
        ([3, 10, 20], [2, 3], "keep", "rung 1 has 2"),
        ([3, 10, 20], [2], "keep", "needs 2 number(s)"),
    ],
)
def test_bad_ladders_name_the_key(epochs, keep, key, fragment):
    with pytest.raises(InputError) as err:
        ladder(epochs, keep, 4, "config.yaml")
    assert err.value.key == f"search.fidelity.{key}"
    assert fragment in str(err.value)
    assert "config.yaml" in str(err.value)


# ---------------------------------------------------------------- ranking


def _m(child, reward, status="ok", rung=0):
    return {"child": child, "reward": reward, "status": status, "rung": rung}


def test_rank_puts_failed_children_last_and_breaks_ties_by_child():
    members = [
        ("child_00", _m(0, -0.5)),
        ("child_01", _m(1, -10.0, "failed")),
        ("child_02", _m(2, -0.3)),
        ("child_03", _m(3, -0.5)),
    ]
    assert [m for m, _ in rank(members)] == ["child_02", "child_00", "child_03", "child_01"]


def test_best_rung_takes_each_childs_highest_rung():
    got = best_rung([_m(0, -1), _m(1, -2), _m(1, -0.5, rung=1), _m(1, -0.4, rung=2), _m(0, -0.9, rung=1)])
    assert [(m["child"], m["rung"]) for m in got] == [(0, 1), (1, 2)]
    with pytest.raises(InputError, match="twice at rung 1"):
        best_rung([_m(0, -1), _m(0, -1, rung=1), _m(0, -1, rung=1)])
    with pytest.raises(InputError, match="none at rung 0"):
        best_rung([_m(0, -1), _m(1, -1, rung=1)])


def test_member_of_names_the_step_member(tmp_path):
    assert member_of(tmp_path / "step_001/child_02/metrics.json") == "child_02"
    assert member_of(tmp_path / "step_001/rung_1/slot_00/metrics.json") == "rung_1/slot_00"
    with pytest.raises(InputError, match="not in a child directory"):
        member_of(tmp_path / "elsewhere/metrics.json")


# ---------------------------------------------------------------- through the CLI


@pytest.fixture(scope="module")
def rung0(tmp_path_factory):
    """Two children of step 1 trained 2 epochs with --keep-resume and scored."""
    tmp = tmp_path_factory.mktemp("fidelity")
    space = setup_inputs(tmp)
    step = tmp / "step_001"
    cache = tmp / "cache"
    for child, layers in enumerate((GOOD, BIG)):
        arch = write_architecture(tmp / f"arch{child}.json", space, layers, step=1, child=child)
        out = step / f"child_{child:02d}"
        argv = child_args(tmp, out, "--keep-resume", "--cache-dir", str(cache), *FLAGS, arch=arch)
        argv[argv.index("--epochs") + 1] = "2"
        assert main(argv) == 0
        assert main(_score(tmp, out)) == 0
    return tmp


def _score(tmp: Path, out: Path) -> list[str]:
    return [
        "score-child", "--space", str(tmp / "space.yaml"), "--train-result", str(out / "train.json"),
        "--priors", str(tmp / "priors.meme"), "--lambda", "1", "--out", str(out / "metrics.json"),
    ]  # fmt: skip


def _promote(tmp: Path, rung: int, n: int, epochs: int, members: list[Path]) -> Path:
    out = tmp / "step_001" / f"rung_{rung}" / "promoted.json"
    argv = ["promote", "--space", str(tmp / "space.yaml"), "--rung", str(rung), "--n", str(n),
            "--epochs", str(epochs), "--out", str(out), "--metrics", *map(str, members)]  # fmt: skip
    assert main(argv) == 0
    return out


def _continue(tmp: Path, promoted: Path, slot: int, out: Path, *extra: str) -> list[str]:
    return ["continue-child", "--promoted", str(promoted), "--slot", str(slot), "--train",
            str(tmp / "train.npz"), "--val", str(tmp / "val.npz"), "--out-dir", str(out),
            *FLAGS, *extra]  # fmt: skip


def test_a_kept_child_has_its_last_epoch_and_the_cache_keeps_it(rung0):
    child = rung0 / "step_001" / "child_00"
    assert (child / "resume.keras").is_file() and (child / "model.keras").is_file()
    record = json.loads((child / "train.json").read_text())
    assert record["rung"] == 0 and record["epochs"] == 2
    entries = list((rung0 / "cache").iterdir())
    assert all((e / "resume.keras").is_file() for e in entries if json.loads((e / "train.json").read_text())["status"] == "ok")


def test_promote_then_continue_trains_only_the_new_epochs(rung0, caplog):
    tmp = rung0
    step = tmp / "step_001"
    metrics = [step / f"child_{c:02d}" / "metrics.json" for c in (0, 1)]
    rewards = [json.loads(p.read_text())["reward"] for p in metrics]
    promoted = _promote(tmp, 1, 1, 5, metrics)
    record = read_promoted(promoted)
    best = max(range(2), key=lambda c: (rewards[c], -c))
    assert record["promoted"] == [{"slot": 0, "child": best, "from": f"child_{best:02d}", "reward": rewards[best]}]

    out = step / "rung_1" / "slot_00"
    with caplog.at_level(logging.INFO):
        assert main(_continue(tmp, promoted, 0, out, "--keep-resume")) == 0
    epochs = [r.getMessage().split(":")[0] for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert epochs == ["epoch 3", "epoch 4", "epoch 5"]  # never epochs 1 and 2 again
    before = json.loads((step / f"child_{best:02d}" / "train.json").read_text())
    after = json.loads((out / "train.json").read_text())
    assert after["rung"] == 1 and after["epochs"] == 5 and after["child"] == best
    assert after["history"]["val_loss"][:2] == before["history"]["val_loss"]
    assert after["val_loss"] == pytest.approx(min(after["history"]["val_loss"]), rel=1e-6)
    assert after["val_loss"] <= before["val_loss"]
    assert after["cache_key"] is None

    # the optimizer's state came along: Adam has counted the steps of all five epochs
    import keras

    batches = math.ceil(300 / 32)
    first = keras.models.load_model(step / f"child_{best:02d}" / "resume.keras")
    last = keras.models.load_model(out / "resume.keras")
    assert int(first.optimizer.iterations.numpy()) == 2 * batches
    assert int(last.optimizer.iterations.numpy()) == 5 * batches

    # a rerun gives the same bits
    again = step / "rung_1" / "again"
    assert main(_continue(tmp, promoted, 0, again)) == 0
    rerun = json.loads((again / "train.json").read_text())
    assert rerun["history"] == after["history"] and rerun["val_loss"] == after["val_loss"]

    # scored, it becomes the child's best-rung result
    assert main(_score(tmp, out)) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["rung"] == 1 and m["child"] == best


def test_continue_child_refuses_what_it_cannot_continue(rung0, tmp_path, capsys):
    tmp = rung0
    step = tmp / "step_001"
    metrics = [step / f"child_{c:02d}" / "metrics.json" for c in (0, 1)]
    promoted = _promote(tmp, 1, 2, 4, metrics)

    def refused(argv, fragment):
        capsys.readouterr()
        out = Path(argv[argv.index("--out-dir") + 1])
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and "Traceback" not in err, err
        assert not (out / "train.json").exists()

    refused(_continue(tmp, promoted, 5, tmp_path / "a"), "promotes 2 child(ren)")
    changed = _continue(tmp, promoted, 0, tmp_path / "b")
    changed[changed.index("--learning-rate") + 1] = "0.02"
    refused(changed, "other settings (learning_rate)")
    # a child trained without --keep-resume cannot be continued
    source = step / read_promoted(promoted)["promoted"][0]["from"]
    moved = source / "resume.keras.moved"
    (source / "resume.keras").rename(moved)
    try:
        refused(_continue(tmp, promoted, 0, tmp_path / "c"), "no resume.keras")
    finally:
        moved.rename(source / "resume.keras")
    # promote: more children than metrics, or metrics of another rung
    capsys.readouterr()
    argv = ["promote", "--space", str(tmp / "space.yaml"), "--rung", "1", "--n", "3", "--epochs", "4",
            "--out", str(tmp_path / "p.json"), "--metrics", *map(str, metrics)]  # fmt: skip
    assert main(argv) == 2 and "promotes more children" in capsys.readouterr().err
    argv[argv.index("--rung") + 1] = "2"
    argv[argv.index("--n") + 1] = "1"
    assert main(argv) == 2 and "promotes from rung 1" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()


def test_a_child_stopped_early_is_carried_over_without_training(rung0, tmp_path):
    tmp = rung0
    step = tmp / "step_001"
    source = step / "child_00"
    record = json.loads((source / "train.json").read_text())
    stopped = tmp_path / "step_001" / "child_00"
    shutil.copytree(source, stopped)
    record["stop_reason"] = "early_stopping"
    (stopped / "train.json").write_text(json.dumps(record))
    promoted = tmp_path / "step_001" / "rung_1" / "promoted.json"
    promoted.parent.mkdir(parents=True)
    promoted.write_text(json.dumps({"step": 1, "rung": 1, "epochs": 6, "promoted": [
        {"slot": 0, "child": 0, "from": "child_00", "reward": -1.0}]}))  # fmt: skip
    out = tmp_path / "step_001" / "rung_1" / "slot_00"
    assert main(_continue(tmp, promoted, 0, out)) == 0
    after = json.loads((out / "train.json").read_text())
    assert after["epochs"] == 2 and after["rung"] == 1 and after["seconds"] == 0
    assert after["history"] == record["history"]
    assert (out / "model.keras").read_bytes() == (source / "model.keras").read_bytes()


def test_promoted_json_is_checked(tmp_path):
    path = tmp_path / "promoted.json"
    path.write_text(json.dumps({"step": 1, "rung": 1, "epochs": 5, "promoted": [
        {"slot": 0, "child": 0, "from": "../../elsewhere", "reward": 0}]}))  # fmt: skip
    with pytest.raises(InputError, match="must name a member of the step"):
        read_promoted(path)


def test_a_continued_child_over_its_jobs_memory_is_recorded_as_failed_at_its_rung(rung0, tmp_path):
    """continue-child on its job's last attempt (bionas.search.guard): over the job's
    memory it ends itself, in its own process, with a failed record of its rung."""
    step = rung0 / "step_001"
    metrics = [step / f"child_{c:02d}" / "metrics.json" for c in (0, 1)]
    promoted = _promote(rung0, 1, 1, 5, metrics)
    out = tmp_path / "slot_00"
    env = {k: v for k, v in os.environ.items() if k != "BIONAS_WORKER"}
    proc = subprocess.run(
        [sys.executable, "-m", "bionas", *_continue(rung0, promoted, 0, out, "--job-memory-mb", "150")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((out / "train.json").read_text())
    assert record["status"] == "failed" and record["stop_reason"] == "memory" and record["rung"] == 1
    assert record["child"] == read_promoted(promoted)["promoted"][0]["child"]
    assert "child failed: out of memory: the job's memory (150 MB)" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["train.json"]
