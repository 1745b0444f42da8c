"""bench/build_table.py --extend: which replicates of an existing table it keeps, and the
builds it refuses to mix (the trainings themselves are the workflow's, tested elsewhere)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bionas.records.space import load_space

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_table", ROOT / "bench" / "build_table.py")
build_table = importlib.util.module_from_spec(_spec)
sys.modules["build_table"] = build_table
_spec.loader.exec_module(build_table)

SPACE = load_space(ROOT / "config" / "model_space.yaml")
RECORD = {"dataset": "demo", "epochs": 15, "patience": 3, "space": {"layers": "as built"}}


def _table(tmp_path, replicates, rows=SPACE.size):
    out = tmp_path / "results.tsv"
    frames = []
    arch = list(SPACE.architectures())[:rows]
    for r in range(replicates):
        frame = pd.DataFrame([dict(zip(SPACE.layer_names, a)) for a in arch])
        frame["val_loss"] = [f"0.{r}{i:04d}1" for i in range(len(frame))]
        frame["replicate"] = r
        frames.append(frame)
    pd.concat(frames).to_csv(out, sep="\t", index=False)
    out.with_suffix(".build.yaml").write_text(yaml.safe_dump(RECORD))
    return out


def _args(out, replicates=3):
    return argparse.Namespace(out=out, replicates=replicates)


def test_extend_keeps_the_recorded_replicates_verbatim(tmp_path):
    out = _table(tmp_path, 2)
    kept = build_table._kept_replicates(_args(out), RECORD, SPACE)
    assert [set(k["replicate"]) for k in kept] == [{"0"}, {"1"}]
    # values stay the text they were written as, so the kept rows are rewritten unchanged
    assert kept[1]["val_loss"].iloc[3] == "0.100031"
    # a table that already holds every replicate asked for trains nothing more; one that
    # holds more is not cut down to --replicates
    assert len(build_table._kept_replicates(_args(out, replicates=2), RECORD, SPACE)) == 2
    with pytest.raises(SystemExit, match="holds 2 replicates, more than --replicates 1"):
        build_table._kept_replicates(_args(out, replicates=1), RECORD, SPACE)


def test_extend_of_no_table_builds_everything(tmp_path):
    assert build_table._kept_replicates(_args(tmp_path / "results.tsv"), RECORD, SPACE) == []


@pytest.mark.parametrize("key", ["dataset", "epochs", "space"])
def test_extend_refuses_a_table_built_otherwise(tmp_path, key):
    out = _table(tmp_path, 1)
    other = {**RECORD, key: "something else"}
    with pytest.raises(SystemExit, match=f"results.build.yaml: {key} differs"):
        build_table._kept_replicates(_args(out), other, SPACE)


def test_extend_refuses_a_table_without_its_record_or_with_missing_rows(tmp_path):
    out = _table(tmp_path, 2, rows=SPACE.size - 1)
    with pytest.raises(SystemExit, match=r"replicate 0 has 215 rows, expected 216"):
        build_table._kept_replicates(_args(out), RECORD, SPACE)
    out.with_suffix(".build.yaml").unlink()
    with pytest.raises(SystemExit, match="results.build.yaml: missing"):
        build_table._kept_replicates(_args(out), RECORD, SPACE)
