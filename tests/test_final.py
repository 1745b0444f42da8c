"""The end of a search: the final candidates and the model kept among their replicates."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_child import GOOD, write_space, write_tensors

from bionas.cli import main
from bionas.errors import InputError
from bionas.records.architecture import make_architecture
from bionas.records.history import history_columns, write_history
from bionas.search.final import evaluate_replicates, select_from_history

A = GOOD
B = ("conv_k10_f16", "max2", "gmax", "none")
C = ("conv_k10_f16", "none", "gavg", "none")
D = ("conv_k6_same", "none", "gmax", "none")


def _history(tmp_path: Path, space, rows: list[tuple[tuple[str, ...], float, str]]) -> Path:
    """A history.tsv of children (layers, reward, status), one per row, in step 1."""
    records = []
    for child, (layers, reward, status) in enumerate(rows):
        record = dict(zip(space.layer_names, layers, strict=True))
        record.update(
            val_loss=-reward if status == "ok" else math.nan,
            knowledge=0.0 if status == "ok" else math.nan,
            val_auroc=0.5, replicate=0, reward=reward, step=1, child=child,
            id=space.architecture_id(layers), status=status, cached=False, rung=0,
        )  # fmt: skip
        records.append(record)
    path = tmp_path / "history.tsv"
    write_history(path, pd.DataFrame(records, columns=history_columns(space)))
    return path


def test_top_k_takes_distinct_architectures_by_their_best_child(tmp_path):
    space = write_space(tmp_path / "space.yaml")
    path = _history(
        tmp_path,
        space,
        [
            (B, -0.40, "ok"),
            (A, -0.30, "ok"),
            (B, -0.20, "ok"),  # B's best child: B comes first
            (D, -0.01, "failed"),  # failed children never count, whatever their reward
            (C, -0.30, "ok"),  # ties with A's child: the earlier child goes first
        ],
    )
    assert select_from_history(path, space, 1) == [B]
    assert select_from_history(path, space, 3) == [B, A, C]
    with pytest.raises(InputError, match=r"3 distinct architectures .* asks for 4 .* final.top_k"):
        select_from_history(path, space, 4)


def _two_objective_history(tmp_path: Path, space) -> Path:
    """B predicts best but is far from the priors, C is close to them but predicts worse,
    A lies between (on the front), D is dominated by A."""
    path = _history(tmp_path, space, [(A, 0, "ok"), (B, 0, "ok"), (C, 0, "ok"), (D, 0, "ok")])
    history = pd.read_csv(path, sep="\t")
    history["val_loss"] = [0.30, 0.20, 0.50, 0.35]
    history["knowledge"] = [1.0, 3.0, 0.2, 1.5]
    history["reward"] = -(history["val_loss"] + 1.0 * history["knowledge"])  # the search's Lambda 1
    write_history(path, history)
    return path


def test_a_new_lambda_reselects_from_the_recorded_objectives(tmp_path):
    space = write_space(tmp_path / "space.yaml")
    path = _two_objective_history(tmp_path, space)
    assert select_from_history(path, space, 1) == [C]  # the recorded rewards (Lambda 1)
    assert select_from_history(path, space, 1, lam=0.0) == [B]
    assert select_from_history(path, space, 1, lam=0.06) == [A]
    assert select_from_history(path, space, 1, lam=10.0) == [C]
    assert select_from_history(path, space, 2, lam=0.0) == [B, A]


def test_pareto_front_and_where_each_lambda_lands(tmp_path):
    from bionas.records.history import read_history
    from bionas.search.pareto import front, lambda_landings, pareto_mask

    assert pareto_mask(np.array([[1, 1], [0, 0], [1, 0], [2, -1], [1, 1]])).tolist() == [
        True, False, False, True, True,
    ]  # fmt: skip
    space = write_space(tmp_path / "space.yaml")
    history = read_history(_two_objective_history(tmp_path, space), space)
    marked = front(history)
    assert marked["front"].tolist() == [True, True, True, False]
    landings = lambda_landings(history, space, [0, 0.06, 10])
    assert landings["child"].tolist() == [1, 0, 2]
    assert landings["front"].all()


def test_select_architecture_with_lambda_prints_the_landings(tmp_path, capsys):
    space = write_space(tmp_path / "space.yaml")
    history = _two_objective_history(tmp_path, space)
    out = tmp_path / "candidates.json"
    code = main(["select-architecture", "--space", str(tmp_path / "space.yaml"),
                 "--history", str(history), "--lambda", "0", "--out", str(out)])  # fmt: skip
    assert code == 0
    assert [r["layers"] for r in json.loads(out.read_text())] == [list(B)]
    printed = capsys.readouterr().out
    assert "# lambda 0: step 1 child 1" in printed and "<- --lambda" in printed
    assert "# lambda 10: step 1 child 2" in printed and "on the Pareto front" in printed
    code = main(["select-architecture", "--space", str(tmp_path / "space.yaml"), "--mode", "given",
                 "--architecture", str(out), "--lambda", "1", "--out", str(tmp_path / "x.json")])  # fmt: skip
    assert code == 2 and "--lambda needs --mode best_reward" in capsys.readouterr().err


def test_select_architecture_writes_the_candidates_best_first(tmp_path, capsys):
    space = write_space(tmp_path / "space.yaml")
    history = _history(tmp_path, space, [(A, -0.5, "ok"), (B, -0.2, "ok"), (A, -0.1, "ok")])
    out = tmp_path / "candidates.json"
    code = main(["select-architecture", "--space", str(tmp_path / "space.yaml"), "--top-k", "2",
                 "--history", str(history), "--out", str(out)])  # fmt: skip
    assert code == 0
    records = json.loads(out.read_text())
    assert [r["layers"] for r in records] == [list(A), list(B)]
    assert [r["id"] for r in records] == [space.architecture_id(A), space.architecture_id(B)]


def test_top_k_with_the_controller_is_refused(tmp_path, capsys):
    write_space(tmp_path / "space.yaml")
    out = tmp_path / "candidates.json"
    code = main(["select-architecture", "--space", str(tmp_path / "space.yaml"), "--mode",
                 "controller", "--state", str(tmp_path), "--top-k", "2", "--out", str(out)])  # fmt: skip
    assert code == 2
    assert "--top-k 2 needs --mode best_reward" in capsys.readouterr().err
    assert not out.exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three saved models (two of A, one of B) with train.json records, and test tensors."""
    from bionas.search.builder import build_model

    tmp = tmp_path_factory.mktemp("final")
    space = write_space(tmp / "space.yaml")
    write_tensors(tmp / "test.npz", n=40, seed=3)
    results = []
    for i, (layers, val_loss) in enumerate([(A, 0.30), (A, 0.20), (B, 0.25)]):
        directory = tmp / f"model_{i}"
        directory.mkdir()
        model = build_model(space, layers, input_length=100, n_tasks=1, seed=i)
        model.save(directory / "model.keras")
        arch = make_architecture(space, layers)
        record = {
            "status": "ok", "error": None, "stop_reason": "patience", "layers": arch["layers"],
            "id": arch["id"], "step": None, "child": None, "val_loss": val_loss,
            "val_auroc": 0.9, "val_auprc": 0.9, "per_task": {}, "epochs": 2, "best_epoch": 1,
            "seconds": 1.0, "params": model.count_params(), "cached": False,
            "cache_key": "0" * 64, "model": "model.keras", "seed": 1001 + i, "settings": {},
            "history": {"loss": [0.5, 0.4], "val_loss": [val_loss + 0.1, val_loss]},
        }  # fmt: skip
        (directory / "train.json").write_text(json.dumps(record))
        results.append(directory / "train.json")
    return tmp, space, results


def _metrics(result: Path, knowledge: float, lam: float = 1.0, status: str = "ok") -> Path:
    """A final model's metrics.json as `bionas score-child` writes it."""
    record = json.loads(result.read_text())
    reward = -(record["val_loss"] + lam * knowledge) if status == "ok" else -10.0
    metrics = {
        "status": status, "error": None if status == "ok" else "NaN filters",
        "layers": record["layers"], "id": record["id"], "step": None, "child": None,
        "val_loss": record["val_loss"], "val_auroc": 0.9, "val_auprc": 0.9,
        "knowledge": knowledge if status == "ok" else None, "knowledge_per_prior": {},
        "reward": reward, "lambda": lam, "lambda_reg": 0.0, "reward_kind": "loss",
        "temperature": 0.15, "both_strands": True, "epochs": 2, "seconds": 1.0,
        "params": record["params"], "cached": False,
    }  # fmt: skip
    path = result.parent / "metrics.json"
    path.write_text(json.dumps(metrics))
    return path


def test_the_highest_reward_is_kept_over_the_lowest_validation_loss(trained):
    tmp, space, results = trained
    # Rewards -0.50, -0.60, -0.35: B's model has the highest, A's second the lowest loss.
    metrics = [_metrics(r, k) for r, k in zip(results, [0.20, 0.40, 0.10], strict=True)]
    by_loss = evaluate_replicates(results, tmp / "test.npz")
    assert by_loss.chosen == 1 and (by_loss.candidate, by_loss.replicate) == (0, 1)
    assert by_loss.reward is None
    by_reward = evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics, space=space)
    assert by_reward.chosen == 2 and (by_reward.candidate, by_reward.replicate) == (1, 0)
    assert by_reward.candidates == 2
    assert by_reward.reward == pytest.approx(-0.35) and by_reward.knowledge == pytest.approx(0.10)
    table = by_reward.table
    assert list(table["candidate"]) == [0, 0, 1] and list(table["replicate"]) == [0, 1, 0]
    assert list(table["chosen"]) == [False, False, True]
    assert np.allclose(table["reward"], [-0.50, -0.60, -0.35])
    assert table["layers"].iloc[2] == " ".join(B)
    assert by_reward.y_score.shape == (40, 1)


def test_a_model_whose_scoring_failed_is_never_kept(trained):
    tmp, space, results = trained
    metrics = [
        _metrics(results[0], 0.20),
        _metrics(results[1], 0.40),
        _metrics(results[2], 0.0, status="failed"),
    ]
    got = evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics, space=space)
    assert got.chosen == 0
    assert got.table.loc[2, "status"] == "failed" and math.isnan(got.table.loc[2, "test_auroc"])


def test_metrics_of_another_training_are_refused(trained):
    tmp, space, results = trained
    metrics = [_metrics(r, 0.1) for r in results]
    swapped = [metrics[2], metrics[1], metrics[0]]
    with pytest.raises(InputError, match="scored from another training") as err:
        evaluate_replicates(results, tmp / "test.npz", metric_paths=swapped, space=space)
    assert err.value.key == "id" and Path(err.value.path) == metrics[2]
    with pytest.raises(InputError, match="2 metrics files for 3 train results"):
        evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics[:2], space=space)


def test_median_choice_takes_the_candidate_not_the_lucky_replicate(trained):
    tmp, space, results = trained
    # A's replicates: -0.40 and -0.22 (median -0.31); B's one: -0.30. The single best
    # replicate is A's second; by the median over replicates B is the better candidate.
    metrics = [_metrics(r, k) for r, k in zip(results, [0.10, 0.02, 0.05], strict=True)]
    lucky = evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics, space=space)
    assert lucky.chosen == 1
    robust = evaluate_replicates(
        results, tmp / "test.npz", metric_paths=metrics, space=space, choose="median"
    )
    assert robust.chosen == 2 and (robust.candidate, robust.replicate) == (1, 0)
    # Within the chosen candidate the best replicate is kept.
    metrics = [_metrics(r, k) for r, k in zip(results, [0.10, 0.02, 0.20], strict=True)]
    got = evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics, space=space, choose="median")
    assert got.chosen == 1


def test_a_failed_replicate_counts_against_its_candidate_by_median(trained):
    tmp, space, results = trained
    # A: one failed replicate (-10) and one at -0.21 (median -5.1); B: -0.30.
    metrics = [
        _metrics(results[0], 0.0, status="failed"),
        _metrics(results[1], 0.01),
        _metrics(results[2], 0.05),
    ]
    got = evaluate_replicates(results, tmp / "test.npz", metric_paths=metrics, space=space, choose="median")
    assert got.chosen == 2


def test_evaluate_median_needs_metrics(trained, tmp_path, capsys):
    tmp, _space, results = trained
    out = tmp_path / "out"
    code = main([
        "evaluate", "--space", str(tmp / "space.yaml"), "--results", *map(str, results),
        "--test", str(tmp / "test.npz"), "--choose", "median",
        "--out-metrics", str(out / "m.tsv"), "--out-model", str(out / "model.keras"),
        "--out-predictions", str(out / "p.npz"), "--out-summary", str(out / "s.json"),
    ])  # fmt: skip
    assert code == 2 and "--choose median needs --metrics" in capsys.readouterr().err
    assert not out.exists()
