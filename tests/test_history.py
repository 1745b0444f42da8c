"""history.tsv and the metrics files it is built from."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bionas.errors import InputError
from bionas.records.history import (
    append_rows,
    empty_history,
    history_columns,
    metrics_row,
    read_history,
    write_history,
)
from bionas.records.metrics import METRICS_KEYS, read_metrics
from bionas.records.space import parse_space
from bionas.search.replay import read_table

SPACE = parse_space(
    {
        "layers": [
            {"name": "conv", "options": [
                {"name": "conv_a", "type": "conv1d", "filters": 4, "kernel_size": 3},
                {"name": "conv_b", "type": "conv1d", "filters": 4, "kernel_size": 5},
            ]},
            {"name": "reduce", "options": [
                {"name": "gmax", "type": "global_max_pool"},
                {"name": "flatten", "type": "flatten"},
            ]},
        ]
    },
    source="tiny.yaml",
)


def metrics(layers=("conv_a", "gmax"), child=0, step=1, status="ok", cached=False, **over):
    obj = {
        "status": status, "layers": list(layers), "id": SPACE.architecture_id(layers), "step": step,
        "child": child, "val_loss": 0.5, "val_auroc": 0.8, "val_auprc": 0.7, "knowledge": 0.2,
        "reward": -0.7, "epochs": 4, "seconds": 1.5, "cached": cached,
    }
    if status == "failed":
        obj.update(val_loss=None, val_auroc=None, val_auprc=None, knowledge=None, reward=-10.0)
    obj.update(over)
    return obj


def write_metrics(tmp_path, obj, name="metrics.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_read_metrics_normalises_nulls(tmp_path):
    m = read_metrics(write_metrics(tmp_path, metrics(status="failed")), SPACE)
    assert m["layers"] == ("conv_a", "gmax")
    assert math.isnan(m["val_loss"]) and math.isnan(m["knowledge"]) and m["reward"] == -10.0
    m = read_metrics(write_metrics(tmp_path, '{"status": "ok", "layers": ["conv_b", "flatten"], '
                                   f'"id": "{SPACE.architecture_id(("conv_b", "flatten"))}", '
                                   '"step": 2, "child": 1, "val_loss": NaN, "val_auroc": 0.5, '
                                   '"val_auprc": 0.5, "knowledge": 0.1, "reward": -1, "epochs": 1, '
                                   '"seconds": 2, "cached": true}'), SPACE)
    assert math.isnan(m["val_loss"]) and m["cached"] is True and m["reward"] == -1.0


@pytest.mark.parametrize(
    "obj, match, key",
    [
        ("{not json", "not valid JSON.*delete it and rerun", None),
        ("[1, 2]", "JSON object", None),
        ({k: v for k, v in metrics().items() if k != "reward"}, "missing key 'reward'", "reward"),
        (metrics(status="done"), "'status' must be", "status"),
        (metrics(reward=None), "'reward' must be a finite number", "reward"),
        (metrics(reward=float("nan")), "'reward' must be a finite number", "reward"),
        (metrics(cached="no"), "'cached' must be true or false", "cached"),
        (metrics(child=-1), "'child' must be", "child"),
        ({**metrics(), "layers": ["conv_a", "avg"]}, "no option 'avg'.*delete it and rerun", "reduce"),
        ({**metrics(), "layers": ["conv_a"]}, "needs 2 option names", "layers"),
        ({**metrics(), "id": "abc"}, "id does not match", "id"),
    ],
)
def test_read_metrics_rejects_bad_files(tmp_path, obj, match, key):
    path = write_metrics(tmp_path, obj)
    with pytest.raises(InputError, match=match) as err:
        read_metrics(path, SPACE)
    assert err.value.path == str(path)
    assert err.value.key == key


def test_metrics_keys_match_the_documented_contract():
    assert set(METRICS_KEYS) == set(metrics())


def test_columns():
    assert history_columns(SPACE) == [
        "conv", "reduce", "val_loss", "knowledge", "val_auroc", "replicate",
        "reward", "step", "child", "id", "status", "cached", "rung",
    ]


def rows(*ms):
    return [metrics_row(SPACE, read_metrics_obj(m)) for m in ms]


def read_metrics_obj(m):
    out = dict(m)
    out["layers"] = tuple(m["layers"])
    for k in ("val_loss", "val_auroc", "knowledge"):
        out[k] = math.nan if m[k] is None else m[k]
    return out


def test_append_marks_repeats_cached_by_the_order_of_the_children():
    """A repeat is cached whether its job hit the child cache or trained beside the first
    (the same result either way), so a rerun's history does not depend on timing."""
    h = append_rows(empty_history(SPACE), rows(metrics(child=0), metrics(child=1, cached=False),
                                                metrics(("conv_b", "gmax"), child=2, cached=True)), SPACE)
    assert h["cached"].tolist() == [False, True, False]
    assert h["replicate"].tolist() == [0, 0, 0]
    h = append_rows(h, rows(metrics(child=0, step=2), metrics(child=1, step=2, cached=True)), SPACE)
    assert h["cached"].tolist() == [False, True, False, True, True]
    assert h["replicate"].tolist() == [0, 0, 0, 0, 0]
    assert h["step"].tolist() == [1, 1, 1, 2, 2]
    assert list(h.columns) == history_columns(SPACE)
    # a history read from elsewhere with independent replicates keeps counting them
    h.loc[1, ["cached", "replicate"]] = [False, 1]
    h = append_rows(h.iloc[:3], rows(metrics(child=0, step=2)), SPACE)
    assert h["replicate"].tolist()[-1] == 1


def test_write_read_round_trip_and_replayable(tmp_path):
    h = append_rows(empty_history(SPACE), rows(metrics(child=0),
                                                metrics(("conv_b", "gmax"), status="failed", child=1),
                                                metrics(child=2, cached=True)), SPACE)
    path = tmp_path / "history.tsv"
    write_history(path, h)
    text = path.read_text()
    assert text.splitlines()[0].split("\t") == history_columns(SPACE)
    assert "\tnan\t" in text and "\ttrue\t0\n" in text
    # a history written before successive halving (no rung column) reads as rung 0
    old = tmp_path / "old.tsv"
    old.write_text("\n".join("\t".join(line.split("\t")[:-1]) for line in text.splitlines()) + "\n")
    assert read_history(old, SPACE)["rung"].tolist() == [0, 0, 0]
    back = read_history(path, SPACE)
    assert back["reward"].tolist() == [-0.7, -10.0, -0.7]
    assert back["conv"].tolist()[2] == "conv_a"
    assert back["cached"].tolist() == [False, False, True]
    assert back["status"].tolist() == ["ok", "failed", "ok"]
    assert np.isnan(back.loc[1, "val_loss"])
    assert back["id"].tolist() == h["id"].tolist()
    write_history(tmp_path / "again.tsv", back)
    assert (tmp_path / "again.tsv").read_text() == text
    table = read_table(path, SPACE)  # a history is a replay table
    assert set(table.rows) == {("conv_a", "gmax"), ("conv_b", "gmax")}  # the cached row skipped
    assert table.rows["conv_a", "gmax"].failed.tolist() == [False]
    assert table.rows["conv_b", "gmax"].failed.tolist() == [True]


@pytest.mark.parametrize(
    "old, new, match, line",
    [
        ("conv_b", "conv_z", "no option 'conv_z'", 3),
        ("\t-10.0\t", "\tlots\t", "reward must be a number", 3),
        ("\tfailed\t", "\tbroken\t", "status must be", 3),
        ("\ttrue\t", "\tmaybe\t", "cached must be true or false", 4),
    ],
)
def test_read_history_rejects_bad_rows(tmp_path, old, new, match, line):
    h = append_rows(empty_history(SPACE), rows(metrics(child=0),
                                                metrics(("conv_b", "gmax"), status="failed", child=1),
                                                metrics(child=2, cached=True)), SPACE)
    path = tmp_path / "history.tsv"
    write_history(path, h)
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(InputError, match=match) as err:
        read_history(path, SPACE)
    assert err.value.line == line and err.value.path == str(path)


def test_read_history_missing_file_and_column(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_history(tmp_path / "nope.tsv", SPACE)
    path = tmp_path / "h.tsv"
    path.write_text("conv\treduce\tval_loss\nconv_a\tgmax\t0.1\n")
    with pytest.raises(InputError, match="missing column.*knowledge"):
        read_history(path, SPACE)
