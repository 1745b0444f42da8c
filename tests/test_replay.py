"""Replay: controllers searched against recorded results."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from bionas.cli import main
from bionas.errors import InputError
from bionas.records.space import parse_space
from bionas.search.replay import FinalSettings, gold_standard, read_table, replay, replay_search
from bionas.search.strategies import get_controller

SPACE_OBJ = {
    "layers": [
        {"name": "conv", "options": [
            {"name": f"conv_k{k}", "type": "conv1d", "filters": 8, "kernel_size": k} for k in (4, 8, 12)
        ]},
        {"name": "pool", "options": [
            {"name": "none", "type": "identity"},
            {"name": "max2", "type": "maxpool1d", "size": 2},
            {"name": "avg2", "type": "avgpool1d", "size": 2},
        ]},
        {"name": "reduce", "options": [
            {"name": "gmax", "type": "global_max_pool"},
            {"name": "gavg", "type": "global_avg_pool"},
            {"name": "flatten", "type": "flatten"},
        ]},
    ]
}
SPACE = parse_space(SPACE_OBJ, source="small.yaml")
LAYERS = SPACE.layer_names
# per-layer, per-option effects: loss prefers (conv_k12, max2, gmax); knowledge
# prefers conv_k4 strongly on the first layer (loss and knowledge disagree there)
LOSS_FX = [np.array([0.12, 0.06, 0.0]), np.array([0.05, 0.0, 0.08]), np.array([0.0, 0.07, 0.1])]
K_FX = [np.array([0.0, 0.3, 0.6]), np.array([0.0, 0.02, 0.04]), np.array([0.0, 0.02, 0.04])]
BEST_LOSS = ("conv_k12", "max2", "gmax")


def table_frame(replicates: int = 3, noise: float = 0.005, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for names in SPACE.architectures():
        idx = SPACE.encode(names)
        loss = 0.3 + sum(fx[i] for fx, i in zip(LOSS_FX, idx, strict=True))
        k = 0.1 + sum(fx[i] for fx, i in zip(K_FX, idx, strict=True))
        for r in range(replicates):
            rows.append({**dict(zip(LAYERS, names, strict=True)), "val_loss": loss + rng.normal(0, noise),
                         "knowledge": k + rng.normal(0, noise), "val_auroc": 0.8, "replicate": r,
                         "note": "x"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "results.tsv"
    table_frame().to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def space_path(tmp_path_factory):
    import yaml

    path = tmp_path_factory.mktemp("space") / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE_OBJ))
    return path


def write(tmp_path, df, name="t.tsv"):
    path = tmp_path / name
    df.to_csv(path, sep="\t", index=False)
    return path


# -- the gold standard ---------------------------------------------------------------


def test_gold_standard_ranks_by_medians(tmp_path):
    df = table_frame(replicates=1, noise=0.0)
    gold = gold_standard(read_table(write(tmp_path, df), SPACE), lam=0.0)
    assert gold.loc[[BEST_LOSS], "rank_loss"].item() == 1
    assert gold.loc[[BEST_LOSS], "rank_reward"].item() == 1
    assert gold["rank_knowledge"].min() == 1
    best_k = gold.index[gold["rank_knowledge"] == 1]
    assert all(a[0] == "conv_k4" and a[1] == "none" and a[2] == "gmax" for a in best_k)
    big = gold_standard(read_table(write(tmp_path, df), SPACE), lam=10.0)
    assert big.index[big["rank_reward"] == 1][0][0] == "conv_k4"


def test_gold_standard_uses_the_median_of_replicates(tmp_path):
    rows = [
        {"conv": "conv_k4", "pool": "none", "reduce": "gmax", "val_loss": v, "knowledge": 0.0, "replicate": i}
        for i, v in enumerate([0.1, 0.9, 0.2])
    ] + [
        {"conv": "conv_k8", "pool": "none", "reduce": "gmax", "val_loss": v, "knowledge": 1.0, "replicate": i}
        for i, v in enumerate([0.15, 0.16])
    ]
    gold = gold_standard(read_table(write(tmp_path, pd.DataFrame(rows)), SPACE), lam=0.0)
    assert gold.loc[[("conv_k4", "none", "gmax")], "median_loss"].item() == pytest.approx(0.2)
    assert gold.loc[[("conv_k8", "none", "gmax")], "rank_loss"].item() == 1
    assert gold.loc[[("conv_k4", "none", "gmax")], "rank_knowledge"].item() == 1


# -- searches -------------------------------------------------------------------------


def test_rl_ends_on_the_clear_optimum(table_path):
    table = read_table(table_path, SPACE)
    ctrl = get_controller("rl", SPACE)
    finals = [replay_search(table, ctrl, 100, 0.0, seed).final for seed in range(3)]
    assert finals.count(BEST_LOSS) >= 2, finals


def test_lambda_trades_loss_for_knowledge(space_path, table_path):
    """BioNAS: a large Lambda moves the final architecture toward the knowledge optimum."""
    runs = {}
    for lam in (0.0, 2.0):
        out = replay(SPACE, read_table(table_path, SPACE), "rl", 100, lam, seed=0, repeats=3)
        runs[lam] = out["repeats"]
    k0 = np.median([r["final"]["rank_knowledge"] for r in runs[0.0]])
    k2 = np.median([r["final"]["rank_knowledge"] for r in runs[2.0]])
    l0 = np.median([r["final"]["rank_loss"] for r in runs[0.0]])
    l2 = np.median([r["final"]["rank_loss"] for r in runs[2.0]])
    assert k2 < k0 and l2 > l0, runs


def test_replay_is_deterministic_and_repeats_use_seed_plus_r(table_path):
    table = read_table(table_path, SPACE)
    a = replay(SPACE, table, "random", 20, 0.5, seed=3, repeats=2)
    b = replay(SPACE, table, "random", 20, 0.5, seed=3, repeats=2)
    assert a == b
    assert [r["seed"] for r in a["repeats"]] == [3, 4]
    c = replay(SPACE, table, "random", 20, 0.5, seed=4, repeats=1)
    assert c["repeats"][0] == a["repeats"][1]
    assert set(a) == {"controller", "lambda", "budget", "space_size", "repeats"}
    assert a["space_size"] == 27 and a["budget"] == 20 and a["lambda"] == 0.5
    rep = a["repeats"][0]
    assert set(rep["final"]) == {"layers", "rank_reward", "rank_loss", "rank_knowledge"}
    assert rep["final"] == rep["best_seen"]  # random: final is the best seen
    assert rep["kept"] == rep["best_seen"]  # the default final stage keeps the best seen
    assert list(rep["final"]["layers"]) == list(LAYERS)
    robust = replay(SPACE, table, "random", 20, 0.5, seed=3, repeats=2,
                    final=FinalSettings(top_k=3, replicates=3, choose="median"))
    assert robust == replay(SPACE, table, "random", 20, 0.5, seed=3, repeats=2,
                            final=FinalSettings(top_k=3, replicates=3, choose="median"))
    assert [r["best_seen"] for r in robust["repeats"]] == [r["best_seen"] for r in a["repeats"]]


def test_replay_draws_replicates_and_recomputes_the_reward(tmp_path):
    rows = [{"conv": c, "pool": "none", "reduce": "gmax", "val_loss": v, "knowledge": k, "replicate": r}
            for c in ("conv_k4",) for r, (v, k) in enumerate([(0.5, 0.1), (0.7, 0.3)])]
    rows += [{"conv": a[0], "pool": a[1], "reduce": a[2], "val_loss": 1.0, "knowledge": 1.0, "replicate": 0}
             for a in SPACE.architectures() if a != ("conv_k4", "none", "gmax")]
    table = read_table(write(tmp_path, pd.DataFrame(rows)), SPACE)
    res = replay_search(table, get_controller("grid", SPACE), 27, 2.0, seed=0)
    first = res.rewards[0]  # grid order: ("conv_k4", "none", "gmax") first
    assert first in (pytest.approx(-(0.5 + 2 * 0.1)), pytest.approx(-(0.7 + 2 * 0.3)))
    assert res.best_seen == ("conv_k4", "none", "gmax")
    drawn = {replay_search(table, get_controller("grid", SPACE), 1, 0.0, seed=s).rewards[0] for s in range(20)}
    assert drawn == {-0.5, -0.7}


def test_grid_budget_beyond_the_space_is_an_input_error(table_path):
    with pytest.raises(InputError, match="left of the 27"):
        replay_search(read_table(table_path, SPACE), get_controller("grid", SPACE), 30, 0.0, 0)


def test_missing_architecture_is_named(tmp_path):
    df = table_frame(replicates=1)
    df = df[~((df.conv == "conv_k8") & (df.pool == "avg2") & (df.reduce == "flatten"))]
    table = read_table(write(tmp_path, df), SPACE)
    with pytest.raises(InputError, match="conv=conv_k8, pool=avg2, reduce=flatten"):
        replay_search(table, get_controller("grid", SPACE), 27, 0.0, 0)


# -- table validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit, match, line",
    [
        (lambda df: df.drop(columns=["knowledge"]), "missing column.*knowledge", None),
        (lambda df: df.drop(columns=["pool"]), "missing column.*pool", None),
        (lambda df: df.assign(val_loss=df.val_loss.astype(object).where(df.index != 4, "abc")),
         "val_loss must be a number, got 'abc'", 6),
        (lambda df: df.assign(pool=df.pool.where(df.index != 2, "max9")), "no option 'max9'", 4),
        (lambda df: df.assign(val_loss=df.val_loss.where(df.index != 1, np.nan)),
         "failed row.*needs a reward column", 3),
        (lambda df: df.iloc[:0], "no rows", None),
    ],
)
def test_table_validation(tmp_path, edit, match, line):
    path = write(tmp_path, edit(table_frame(replicates=1)))
    with pytest.raises(InputError, match=match) as err:
        read_table(path, SPACE)
    assert err.value.path == str(path)
    assert err.value.line == line


def test_missing_knowledge_needs_lambda_zero(tmp_path):
    df = table_frame(replicates=1).assign(knowledge=np.nan)
    table = read_table(write(tmp_path, df), SPACE)
    replay_search(table, get_controller("random", SPACE), 10, 0.0, 0)
    with pytest.raises(InputError, match="knowledge is missing") as err:
        replay_search(table, get_controller("random", SPACE), 10, 1.0, 0)
    assert err.value.line == 2
    assert gold_standard(table, 0.0)["rank_knowledge"].eq(1).all()


def test_failed_rows_get_their_recorded_penalty_and_cached_rows_are_skipped(tmp_path):
    df = table_frame(replicates=1, noise=0.0)
    df["status"] = "ok"
    df["reward"] = 0.0
    df["cached"] = "false"
    first = ("conv_k4", "none", "gmax")
    is_first = (df.conv == first[0]) & (df.pool == first[1]) & (df.reduce == first[2])
    df.loc[is_first, ["status", "val_loss", "knowledge", "reward"]] = ["failed", np.nan, np.nan, -5.0]
    cached = df[is_first].assign(status="ok", val_loss=0.0, knowledge=0.0, cached="true")
    df = pd.concat([df, cached], ignore_index=True)
    table = read_table(write(tmp_path, df), SPACE)
    res = replay_search(table, get_controller("grid", SPACE), 3, 0.0, 0)
    assert res.rewards[0] == -5.0
    gold = gold_standard(table, 0.0)
    assert gold.loc[[first], "rank_loss"].item() == 27  # no successful replicate: last


# -- the CLI ----------------------------------------------------------------------------


def test_cli_json_output(space_path, table_path, capsys):
    argv = ["replay", "--space", str(space_path), "--table", str(table_path), "--controller", "random",
            "--budget", "15", "--lambda", "0.5", "--seed", "2", "--repeats", "2", "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    obj = json.loads(out)  # exactly one JSON object
    assert obj["controller"] == "random" and obj["lambda"] == 0.5 and obj["budget"] == 15
    assert [r["seed"] for r in obj["repeats"]] == [2, 3]


def test_cli_table_output_and_errors(space_path, table_path, tmp_path, capsys):
    argv = ["replay", "--space", str(space_path), "--table", str(table_path), "--controller", "grid",
            "--budget", "10", "--lambda", "0", "--batch", "4"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "best seen" in out and "final" in out and "conv=" in out
    bad = write(tmp_path, table_frame(replicates=1).drop(columns=["replicate"]))
    assert main([*argv[:4], str(bad), *argv[5:]]) == 2
    assert "missing column(s) replicate" in capsys.readouterr().err
    assert main([*argv[:6], "random", *argv[7:], "--learning-rate", "0.1"]) == 2
    assert "the random controller has no setting(s) learning_rate" in capsys.readouterr().err


def test_every_option_combination_of_the_table_is_used():
    # the table helper covers the whole space (the replay tests rely on it)
    df = table_frame(replicates=1)
    combos = set(map(tuple, df[list(LAYERS)].to_numpy()))
    assert combos == set(itertools.product(*(layer.option_names for layer in SPACE.layers)))


def test_the_benchmark_table_covers_its_space():
    """bench/search.py's gold standard: every architecture of bench/data/space.yaml,
    trained at least twice, readable as a results table of that space."""
    from pathlib import Path

    from bionas.records.space import load_space

    bench = Path(__file__).resolve().parent.parent / "bench" / "data"
    space = load_space(bench / "space.yaml")
    table = read_table(bench / "results.tsv", space)
    assert set(table.rows) == set(space.architectures())
    assert min(len(r.val_loss) for r in table.rows.values()) >= 2
    assert space.size > 100  # more than the largest budget of the benchmark


@pytest.mark.parametrize(("name", "replicates"), [("curves.tsv", 2), ("gata_foxa/results.tsv", 3)])
def test_the_curve_tables_cover_the_product_space(name, replicates):
    """bench/data/curves.tsv (the demo, two replicates) and gata_foxa/results.tsv (another
    dataset, three): every architecture of config/model_space.yaml (rebuild them with
    bench/build_table.py when the space changes) in every replicate, each with its curve."""
    from pathlib import Path

    from bionas.records.space import load_space

    root = Path(__file__).resolve().parent.parent
    space = load_space(root / "config" / "model_space.yaml")
    table = read_table(root / "bench" / "data" / name, space)
    assert set(table.rows) == set(space.architectures()) and table.has_curves
    assert all(len(r.val_loss) == replicates for r in table.rows.values())
    for r in table.rows.values():  # the recorded val_loss is the curve's best epoch
        for loss, curve in zip(r.val_loss, r.curves, strict=True):
            assert loss == pytest.approx(np.nanmin(curve), rel=1e-6)


def test_final_choice_models_the_final_stage(tmp_path):
    from bionas.search.replay import FinalSettings, final_choice

    x, y, z = ((c, "none", "gmax") for c in ("conv_k4", "conv_k8", "conv_k12"))
    rows = []
    # x: one lucky replicate (0.10) among bad ones; y: consistently good; z: bad.
    for arch, losses in ((x, [0.10, 0.50, 0.50]), (y, [0.20, 0.21, 0.22]), (z, [0.60, 0.61, 0.62])):
        rows += [{**dict(zip(LAYERS, arch)), "val_loss": v, "knowledge": 0.5, "replicate": r}
                 for r, v in enumerate(losses)]
    path = tmp_path / "t.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    table = read_table(path, SPACE)
    proposals = [z, x, y]
    rewards = np.array([-0.6, -0.1, -0.2])
    args = (table, proposals, rewards, z, 0.0, 3)
    assert final_choice(*args, FinalSettings()) == x  # top_k 1: the best seen
    assert final_choice(*args, FinalSettings(select="controller")) == z
    assert final_choice(*args, FinalSettings(top_k=2, replicates=15, choose="median")) == y
    assert final_choice(*args, FinalSettings(top_k=2, replicates=15)) == x


def test_replay_with_steps_in_flight_proposes_from_older_states(table_path):
    """search.in_flight 2: step s proposes from the state after s-2 updates, told the
    proposals of step s-1; with the evolution strategy no child repeats while the space
    lasts, and the replay is a function of its seed."""
    table = read_table(table_path, SPACE)
    ctrl = get_controller("evolution", SPACE, population=4, tournament=2)
    one = replay_search(table, ctrl, 15, 0.5, seed=2, batch=3, in_flight=1)
    two = replay_search(table, ctrl, 15, 0.5, seed=2, batch=3, in_flight=2)
    assert len(set(two.proposals)) == 15 and len(set(one.proposals)) == 15
    assert two.proposals[:6] != one.proposals[:6] or two.proposals[6:] != one.proposals[6:]
    again = replay_search(table, ctrl, 15, 0.5, seed=2, batch=3, in_flight=2)
    assert again.proposals == two.proposals
    # the first in_flight steps start from the first state, so they match
    assert two.proposals[:3] == one.proposals[:3]
    with pytest.raises(ValueError, match="in_flight"):
        replay_search(table, ctrl, 15, 0.5, seed=2, in_flight=0)


def _with_curves(df: pd.DataFrame, epochs: int = 6) -> pd.DataFrame:
    """Curves that fall to each row's val_loss by the last epoch (a steeper start for a
    worse final loss), one shorter curve ended by early stopping."""
    df = df.copy()
    curves = []
    for i, loss in enumerate(df["val_loss"]):
        values = [loss + 0.4 * (epochs - e) / epochs for e in range(1, epochs + 1)]
        if i == 0:
            values = values[:3]  # early stopping after 3 epochs
        curves.append(",".join(repr(v) for v in values))
    df["val_loss_curve"] = curves
    return df


def test_successive_halving_replays_rungs_and_counts_child_epochs(tmp_path):
    from bionas.search.fidelity import ladder

    table = read_table(write(tmp_path, _with_curves(table_frame(replicates=1))), SPACE)
    assert table.has_curves
    ctrl = get_controller("random", SPACE)
    rungs = ladder([2, 4, 6], [2, 1], 4)
    res = replay_search(table, ctrl, 8, 0.0, seed=3, batch=4, fidelity=rungs)
    rows = {tuple(k): v for k, v in table.rows.items()}
    spent = 0
    for step in range(2):
        archs = res.proposals[4 * step : 4 * step + 4]
        got = res.rewards[4 * step : 4 * step + 4]
        at = {}
        for budget in (2, 4, 6):
            at[budget] = [-float(np.min(rows[a].curves[0][:budget])) for a in archs]
        first = sorted(range(4), key=lambda c: (-at[2][c], c))
        second = sorted(first[:2], key=lambda c: (-at[4][c], c))
        for c in range(4):
            want = at[6][c] if c == second[0] else at[4][c] if c in first[:2] else at[2][c]
            assert got[c] == pytest.approx(want), (step, c)
        # 4 x 2 epochs, then 2 x 2 more, then 1 x 2 more; the first row's curve ends at 3
        length = [len(rows[a].curves[0]) for a in archs]
        spent += sum(min(2, n) for n in length)
        spent += sum(min(4, length[c]) - min(2, length[c]) for c in first[:2])
        spent += min(6, length[second[0]]) - min(4, length[second[0]])
    assert res.epochs == spent
    # without halving, a curve table costs each child its whole curve up to --epochs
    plain = replay_search(table, ctrl, 8, 0.0, seed=3, batch=4, epochs=6)
    assert plain.epochs == sum(min(6, len(rows[a].curves[0])) for a in plain.proposals)
    # a table without curves cannot replay halving
    bare = read_table(write(tmp_path, table_frame(replicates=1), "bare.tsv"), SPACE)
    with pytest.raises(InputError, match="val_loss_curve"):
        replay_search(bare, ctrl, 4, 0.0, seed=1, batch=4, fidelity=rungs)


def test_a_bad_curve_is_named_by_its_line(tmp_path):
    df = _with_curves(table_frame(replicates=1))
    df.loc[2, "val_loss_curve"] = "0.5,lots"
    with pytest.raises(InputError, match="comma-separated numbers") as err:
        read_table(write(tmp_path, df), SPACE)
    assert err.value.line == 4


def test_the_search_benchmark_compares_halving_at_its_child_epochs(tmp_path, space_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    table = write(tmp_path, _with_curves(table_frame(replicates=2)))
    proc = subprocess.run(
        [sys.executable, str(root / "bench" / "search.py"), str(table), "--space", str(space_path),
         "--lambdas", "0", "--budgets", "10", "--seeds", "0:4", "--controllers", "random",
         "random+sh", "--fidelity", "2,4,6:0.4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("random")}
    cost = {name: int(line.rsplit("|", 1)[1]) for name, line in rows.items()}
    # 10 children of 6 epochs (one curve ends at 3) against 2 per child + 2 x 2 + 1 x 2 per step
    assert 55 <= cost["random"] <= 60
    assert 2 * (5 * 2 + 2 * 2 + 1 * 2) - 3 <= cost["random+sh"] <= 2 * (5 * 2 + 2 * 2 + 1 * 2)
    # drawn from one replicate, judged by the other
    proc = subprocess.run(
        [sys.executable, str(root / "bench" / "search.py"), str(table), "--space", str(space_path),
         "--lambdas", "0", "--budgets", "10", "--seeds", "0:2", "--controllers", "random",
         "--draw-replicate", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "(replicate 1)" in proc.stdout and "median over the other replicates" in proc.stdout
    bare = write(tmp_path, table_frame(replicates=1), "bare.tsv")
    proc = subprocess.run(
        [sys.executable, str(root / "bench" / "search.py"), str(bare), "--space", str(space_path),
         "--controllers", "random+sh", "--fidelity", "2,4:0.4", "--seeds", "0:1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and "no val_loss_curve column" in proc.stderr


def test_cli_replays_successive_halving(tmp_path, space_path, capsys):
    table = write(tmp_path, _with_curves(table_frame(replicates=1)))
    argv = ["replay", "--space", str(space_path), "--table", str(table), "--controller", "random",
            "--budget", "8", "--batch", "4", "--lambda", "0", "--seed", "1", "--fidelity-epochs", "2", "4", "6",
            "--fidelity-keep", "0.5", "--json"]  # fmt: skip
    assert main(argv) == 0
    [rep] = json.loads(capsys.readouterr().out)["repeats"]
    assert 2 * (4 * 2) <= rep["epochs"] <= 2 * (4 * 2 + 2 * 2 + 1 * 2)
    argv[argv.index("--fidelity-keep") + 1] = "1.5"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--fidelity-epochs/--fidelity-keep" in err and "between 0 and 1" in err
