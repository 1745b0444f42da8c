"""`bionas compare-motifs` in-process: output tables, the negative control, bad input,
and the demo's planted motifs recovered by a small model trained inside the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers_child import setup_inputs

from bionas.cli import main
from bionas.motifs.compare import MATCH_COLUMNS, id_base
from bionas.motifs.io import read_meme
from bionas.records.architecture import make_architecture
from bionas.records.space import load_space

REPO = Path(__file__).resolve().parents[1]
#: The compilation cache every test session shares (see tests/test_compare.py).
CACHE = REPO / ".numba_cache"

OUTPUTS = (
    "matches.tsv",
    "control_matches.tsv",
    "filters.tsv",
    "filters.meme",
    "filters_softmax.meme",
    "recovery.tsv",
    "found_not_given.tsv",
    "replicates.tsv",
    "families.tsv",
    "tomtom.tsv",
    "shuffled_matches.tsv",
    "best_targets.meme",
    "summary.json",
)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values=["NA"], keep_default_na=False)


def compare_args(tmp: Path, out: Path, *extra: str, model: Path | None = None) -> list[str]:
    return [
        "compare-motifs",
        "--space", str(tmp / "space.yaml"),
        "--model", str(model or tmp / "model.keras"),
        "--architecture", str(tmp / "arch.json"),
        "--test", str(tmp / "val.npz"),
        "--priors", str(tmp / "priors.meme"),
        "--cache-dir", str(CACHE),
        "--top-k", "3",
        "--out-dir", str(out),
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    """helpers_child's inputs and a saved, randomly initialised model of its GOOD architecture."""
    from bionas.search.builder import build_model

    tmp = tmp_path_factory.mktemp("untrained")
    space = setup_inputs(tmp)
    layers = json.loads((tmp / "arch.json").read_text())["layers"]
    build_model(space, layers, 100, 1, seed=5).save(tmp / "model.keras")
    return tmp


def test_outputs_of_an_untrained_model(untrained, tmp_path, cli):
    out = tmp_path / "interpret"
    status, _, err = cli(*compare_args(untrained, out))
    assert status == 0, err
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    matches = _read(out / "matches.tsv")
    assert list(matches.columns) == ["kind", *MATCH_COLUMNS]
    assert set(matches["kind"]) == {"activation", "softmax"}
    # 16 filters per kind: 3 targets each, or one row when uninformative
    per_query = matches.groupby(["kind", "query"]).size()
    assert len(per_query) == 32 and set(per_query) <= {1, 3}
    assert (matches.loc[matches["status"] == "uninformative", "p_value"].isna()).all()
    control = _read(out / "control_matches.tsv")
    assert list(control.columns) == list(matches.columns)
    # Tomtom's own columns, in its order, one row per compared activation match
    tomtom = pd.read_csv(out / "tomtom.tsv", sep="\t")
    assert list(tomtom.columns) == [
        "Query_ID", "Target_ID", "Optimal_offset", "p-value", "E-value", "q-value", "Overlap",
        "Query_consensus", "Target_consensus", "Orientation",
    ]  # fmt: skip
    act = matches[(matches["kind"] == "activation") & matches["p_value"].notna()]
    assert len(tomtom) == len(act)
    assert tomtom["Query_ID"].tolist() == act["query"].tolist()

    filters = _read(out / "filters.tsv")
    assert filters["filter"].tolist() == [f"filter_{i:02d}" for i in range(16)]
    assert (filters["width"] == 10).all() and (filters["activation_sites"] >= 0).all()
    assert [m.id for m in read_meme(out / "filters.meme")] == filters["filter"].tolist()
    softmax = read_meme(out / "filters_softmax.meme")
    assert len(softmax) == 16 and all(m.pwm.shape == (10, 4) for m in softmax)

    recovery = _read(out / "recovery.tsv")
    assert recovery[["kind", "prior_id"]].values.tolist() == [
        ["activation", "PLANTED"], ["activation", "OTHER"],
        ["softmax", "PLANTED"], ["softmax", "OTHER"],
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_filters"] == 16 and summary["targets"] > 800
    assert set(summary["control_significant_filters"]) == {"activation", "softmax"}
    assert summary["collection"] == "JASPAR2024" and summary["tax_group"] == "vertebrates"
    # every best match has its matrix in best_targets.meme for the report's logos
    targets = {m.id for m in read_meme(out / "best_targets.meme")}
    best = matches[matches["rank"] == 1]
    assert set(best["target_id"]) <= targets


def _replicate(tmp: Path, name: str, arch: dict, seed: int, model_seed: int, space) -> Path:
    """A train.json of one replicate of ``arch`` with a randomly initialised model beside it."""
    from bionas.records.train_result import (
        ChildResult,
        TrainSettings,
        child_record,
        write_train_result,
    )
    from bionas.search.builder import build_model

    out = tmp / name
    out.mkdir()
    build_model(space, arch["layers"], 100, 1, seed=model_seed).save(out / "model.keras")
    result = ChildResult("ok", None, "epochs", 10, 1.0, epochs=1, best_epoch=1, val_loss=0.6,
                         val_auroc=0.5, val_auprc=0.5)  # fmt: skip
    write_train_result(
        out / "train.json", child_record(arch, result, TrainSettings(seed=seed), "key")
    )
    return out / "train.json"


def test_every_replicate_of_the_final_architecture_is_interpreted(untrained, tmp_path, cli):
    space = load_space(untrained / "space.yaml")
    arch = json.loads((untrained / "arch.json").read_text())
    other = {**arch, "id": "0" * 64}
    reps = [
        _replicate(tmp_path, "r1", arch, 11, 1, space),
        _replicate(tmp_path, "r2", arch, 12, 2, space),
        _replicate(tmp_path, "r3", other, 13, 3, space),  # another candidate: left out
    ]
    out = tmp_path / "interpret"
    status, _, err = cli(*compare_args(untrained, out, "--replicates", *map(str, reps)))
    assert status == 0, err
    agreement = _read(out / "replicates.tsv")
    priors = agreement[agreement["what"] == "prior"]
    assert priors[["kind", "id"]].values.tolist() == [
        ["activation", "PLANTED"], ["activation", "OTHER"],
        ["softmax", "PLANTED"], ["softmax", "OTHER"],
    ]  # fmt: skip
    assert (agreement["replicates"] == 2).all()
    assert (agreement["recovered_in"] <= 2).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replicates"]["n"] == 2 and summary["replicates"]["seeds"] == [11, 12]
    assert [p["id"] for p in summary["replicates"]["priors"]["activation"]] == ["PLANTED", "OTHER"]
    families = _read(out / "families.tsv")
    assert families["family_id"].notna().all() and len(families) > 800
    assert summary["families"]["count"] == families["family_id"].nunique()
    # a damaged replicate record is named, and nothing is written
    bad = tmp_path / "bad" / "train.json"
    bad.parent.mkdir()
    bad.write_text("{")
    out2 = tmp_path / "interpret2"
    status, _, err = cli(*compare_args(untrained, out2, "--replicates", str(bad)))
    assert status == 2 and "train.json" in err
    assert not out2.exists() or not any(out2.iterdir())


@pytest.mark.filterwarnings("ignore:tomtom was given")
def test_a_meme_file_as_the_collection(untrained, tmp_path, cli):
    out = tmp_path / "interpret"
    status, _, err = cli(
        *compare_args(untrained, out, "--collection", str(untrained / "priors.meme"))
    )
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["targets"] == 2
    # no family annotation: families by similarity alone, and the summary says so
    assert summary["families"]["grouped_by"] == ["similarity"]
    matches = _read(out / "matches.tsv")
    assert set(matches["target_id"].dropna()) <= {"PLANTED", "OTHER"}


def test_bad_input_exits_2_and_writes_nothing(untrained, tmp_path, cli):
    out = tmp_path / "interpret"
    status, _, err = cli(*compare_args(untrained, out, model=tmp_path / "missing.keras"))
    assert status == 2 and "missing.keras" in err and "not found" in err
    status, _, err = cli(*compare_args(untrained, out, "--collection", "JASPAR1999"))
    assert status == 2 and "JASPAR1999" in err
    # a test split without positive windows has no activation PWMs
    tensors = np.load(untrained / "val.npz")
    no_pos = tmp_path / "neg" / "val.npz"
    no_pos.parent.mkdir()
    np.savez(
        no_pos, **{k: tensors[k] for k in tensors.files if k != "y"}, y=np.zeros_like(tensors["y"])
    )
    args = compare_args(untrained, out)
    args[args.index("--test") + 1] = str(no_pos)
    status, _, err = cli(*args)
    assert status == 2 and "no positive window" in err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(SystemExit) as exc:
        main(compare_args(untrained, out, "--activation-threshold", "1.0"))
    assert exc.value.code == 2


def test_help_lists_the_flags(cli):
    with pytest.raises(SystemExit) as exc:
        main(["compare-motifs", "--help"])
    assert exc.value.code == 0


# ---------------------------------------------------------------------------
# the demo: planted CTCF, REST (priors) and SRF (not given)

DEMO_SPACE = """\
layers:
  - name: conv1
    options:
      - {name: conv_k20_f32, type: conv1d, filters: 32, kernel_size: 20, activation: relu}
  - name: reduce
    options:
      - {name: gmax, type: global_max_pool}
  - name: dropout
    options:
      - {name: drop_0.2, type: dropout, rate: 0.2}
  - name: dense
    options:
      - {name: dense_16, type: dense, units: 16, activation: relu}
"""
DEMO_LAYERS = ["conv_k20_f32", "gmax", "drop_0.2", "dense_16"]
PLANTED = {"MA0139.2": "CTCF", "MA0138.3": "REST", "MA0083.3": "SRF"}
PRIORS = ["MA0139.2", "MA0138.3"]


def _demo_data(tmp: Path) -> None:
    """A smaller demo genome (6 x 300 kb, 5,000 sites) through simulate, prepare, encode, priors."""
    inp = tmp / "input"
    steps = [
        ["simulate", "--out-dir", inp, "--seed", "1", "--chromosomes", "6",
         "--chrom-length", "300000", "--sites", "5000"],
        ["prepare", "--genome", inp / "genome.fa", "--peaks", f"bound={inp / 'peaks.narrowPeak'}",
         "--val-chroms", "chr5", "--test-chroms", "chr6", "--out", tmp / "windows.tsv",
         "--summary", tmp / "summary.tsv"],
        ["encode", "--genome", inp / "genome.fa", "--windows", tmp / "windows.tsv",
         "--out-dir", tmp / "data"],
        ["priors", "--jaspar", *PRIORS, "--out", tmp / "priors.meme"],
    ]  # fmt: skip
    for argv in steps:
        assert main([str(a) for a in argv]) == 0, argv[0]


@pytest.mark.training
def test_demo_planted_motifs_recovered_and_srf_found_not_given(tmp_path, cli):
    from bionas.records.tensors import load_tensors
    from bionas.records.train_result import TrainSettings
    from bionas.search.train import train_child

    _demo_data(tmp_path)
    (tmp_path / "space.yaml").write_text(DEMO_SPACE)
    space = load_space(tmp_path / "space.yaml")
    (tmp_path / "arch.json").write_text(json.dumps(make_architecture(space, DEMO_LAYERS)))
    train = load_tensors(tmp_path / "data/train.npz")
    val = load_tensors(tmp_path / "data/val.npz")
    settings = TrainSettings(
        epochs=20, patience=5, batch_size=64, learning_rate=3e-3, threads=2, seed=3
    )
    result = train_child(space, DEMO_LAYERS, train, val, settings)
    assert result.status == "ok", result.error
    assert result.val_auroc > 0.9
    result.model.save(tmp_path / "model.keras")

    out = tmp_path / "interpret"
    status, _, err = cli(
        "compare-motifs", "--space", tmp_path / "space.yaml", "--model", tmp_path / "model.keras",
        "--architecture", tmp_path / "arch.json", "--test", tmp_path / "data/test.npz",
        "--priors", tmp_path / "priors.meme", "--collection", "JASPAR2024",
        "--tax-group", "vertebrates", "--temperature", "0.15", "--activation-threshold", "0.5",
        "--q-threshold", "0.05", "--cache-dir", CACHE, "--threads", "2", "--out-dir", out,
    )  # fmt: skip
    assert status == 0, err

    # Both priors: some filter's best match is the prior itself (any version) or the
    # same TF, at q < 0.05, from the activation PWMs.
    recovery = _read(out / "recovery.tsv")
    act = recovery[recovery["kind"] == "activation"].set_index("prior_id")
    for prior in PRIORS:
        row = act.loc[prior]
        assert str(row["recovered"]) == "True", recovery.to_string()
        assert str(row["top_hit"]) == "True" and row["q_value"] < 0.05
        assert id_base(row["target_id"]) == id_base(prior) or row["target_name"] == PLANTED[prior]
    # SRF, planted but not given, is found by some filter as its significant best match.
    found = _read(out / "found_not_given.tsv")
    srf = found[(found["kind"] == "activation") & (found["target_name"] == "SRF")]
    assert not srf.empty, found.to_string()
    assert (srf["q_value"] < 0.05).all()
    # The negative control: no filter of a randomly initialised model matches significantly.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["control_significant_filters"]["activation"] == 0
    assert summary["significant_filters"]["activation"] >= 3
    assert summary["n_filters"] == 32 and summary["test_positives"] > 300
