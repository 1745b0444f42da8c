"""bench/surrogate.py: calibration recovers planted effects and noise; tables are readable and seeded."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bionas.records.space import load_space
from bionas.search.replay import gold_standard, read_table

BENCH = Path(__file__).resolve().parent.parent / "bench"
_spec = importlib.util.spec_from_file_location("surrogate", BENCH / "surrogate.py")
surrogate = importlib.util.module_from_spec(_spec)
sys.modules["surrogate"] = surrogate  # dataclasses look their module up there
_spec.loader.exec_module(surrogate)

RECORDED = load_space(BENCH / "data" / "space.yaml")


def planted(seed: int = 1, collapse: float = 0.0) -> surrogate.Surrogate:
    """A surrogate over the recorded space with known, centred effects."""
    rng = np.random.default_rng(seed)
    space = RECORDED

    def effects(mean: float, main_sd: float, pair_sd: float) -> surrogate.Effects:
        main = {n: rng.normal(0, main_sd, k) for n, k in zip(space.layer_names, space.option_counts)}
        main = {n: v - v.mean() for n, v in main.items()}
        pairs = {}
        for a, b in surrogate.adjacent_pairs(space):
            m = rng.normal(0, pair_sd, (len(main[a]), len(main[b])))
            pairs[a, b] = m - m.mean(0) - m.mean(1)[:, None] + m.mean()
        return surrogate.Effects(mean=mean, main=main, pairs=pairs)

    return surrogate.Surrogate(
        space=space, loss=effects(-1.0, 0.6, 0.2), knowledge=effects(0.45, 0.06, 0.02),
        noise_loss=0.15, noise_knowledge=0.04, prone=0.3 if collapse else 0.0,
        collapse=collapse, collapse_loss=surrogate.CHANCE, collapse_knowledge=(0.65, 0.01),
    )


def calibrate_frame(frame: pd.DataFrame, tmp_path: Path) -> surrogate.Calibration:
    path = tmp_path / "planted.tsv"
    frame.to_csv(path, sep="\t", index=False)
    return surrogate.calibrate(read_table(path, RECORDED))


def max_error(a: surrogate.Effects, b: surrogate.Effects) -> float:
    errors = [abs(a.mean - b.mean)]
    errors += [np.abs(a.main[n] - b.main[n]).max() for n in a.main]
    errors += [np.abs(a.pairs[p] - b.pairs[p]).max() for p in a.pairs]
    return float(max(errors))


def test_calibration_recovers_planted_effects_and_noise(tmp_path):
    truth = planted()
    fit = calibrate_frame(surrogate.simulate(truth, seed=3, replicates=12), tmp_path)
    got = fit.surrogate
    # the median of 12 noisy replicates has sd ~ 0.15 * 1.25 / sqrt(12) = 0.054 per
    # architecture; main effects average 36-108 of them, interactions 6-54
    assert max_error(got.loss, truth.loss) < 0.1
    assert max_error(got.knowledge, truth.knowledge) < 0.01
    # a different planted model is far outside that tolerance: the check can fail
    assert max_error(got.loss, planted(seed=2).loss) > 0.3
    assert got.noise_loss == pytest.approx(0.15, rel=0.05)
    assert got.noise_knowledge == pytest.approx(0.04, rel=0.05)
    assert got.prone == 0.0 and fit.collapsed == 0
    assert fit.r2["logit_loss"] > 0.95


def test_calibration_recovers_collapses(tmp_path):
    truth = planted(collapse=0.4)
    frame = surrogate.simulate(truth, seed=4, replicates=12)
    assert frame["prone"].any()
    fit = calibrate_frame(frame, tmp_path)
    got = fit.surrogate
    assert fit.collapsed == int((frame["val_loss"] == surrogate.CHANCE).sum()) > 0
    assert got.prone == pytest.approx(0.3, abs=0.1)
    assert got.collapse == pytest.approx(0.4, abs=0.1)
    assert got.collapse_loss == pytest.approx(surrogate.CHANCE)
    # collapses are left out of the effect fit
    assert max_error(got.loss, truth.loss) < 0.1


def test_the_written_large_table_is_read_with_its_space(tmp_path, capsys):
    assert surrogate.main(["--out", str(tmp_path), "--replicates", "2"]) == 0
    assert "R^2" in capsys.readouterr().out
    space = load_space(tmp_path / "space.yaml", window=surrogate.WINDOW)
    assert space.size >= 10_000
    assert len(space.layers) > len(RECORDED.layers)
    for layer in RECORDED.layers:  # every recorded option keeps its meaning
        large = space.layers[space.layer_names.index(layer.name)]
        assert [large.options[large.index(o.name)] for o in layer.options] == list(layer.options)
    table = read_table(tmp_path / "results.tsv", space)
    assert len(table.rows) == space.size
    assert all(len(r.val_loss) == 2 for r in table.rows.values())
    gold = gold_standard(table, 1.0)
    # a collapse repeats the recorded value, ln 2 rounded in float32
    assert gold["median_loss"].between(0, surrogate.CHANCE + 1e-6).all()
    frame = pd.read_csv(tmp_path / "results.tsv", sep="\t")
    assert {"true_loss", "true_knowledge"} <= set(frame.columns)


def test_recorded_architectures_keep_their_fitted_truth_in_the_large_space():
    calibration = surrogate.calibrate(read_table(BENCH / "data" / "results.tsv", RECORDED))
    large = surrogate.extend(calibration, seed=0)
    names = [dict(zip(RECORDED.layer_names, arch)) for arch in RECORDED.architectures()]
    embedded = np.array([
        large.space.encode([n.get(layer, "none") for layer in large.space.layer_names])
        for n in names
    ])
    for name in ("loss", "knowledge"):
        small = getattr(calibration.surrogate, name).evaluate(RECORDED, surrogate.grid_indices(RECORDED))
        big = getattr(large, name).evaluate(large.space, embedded)
        np.testing.assert_allclose(big, small, atol=1e-12)


def test_the_fair_table_covers_the_recorded_space_with_fresh_noise():
    calibration = surrogate.calibrate(read_table(BENCH / "data" / "results.tsv", RECORDED))
    fair = surrogate.fair_table(calibration, seed=0, replicates=12)
    assert len(fair) == 12 * RECORDED.size
    recorded = pd.read_csv(BENCH / "data" / "results.tsv", sep="\t")
    fresh = fair["val_loss"] < surrogate.CHANCE - surrogate.COLLAPSE_TOL  # collapses repeat ln 2
    assert fresh.mean() > 0.9
    assert not np.isin(fair.loc[fresh, "val_loss"], recorded["val_loss"]).any()


def test_seeded_runs_are_identical_and_seeds_differ():
    calibration = surrogate.calibrate(read_table(BENCH / "data" / "results.tsv", RECORDED))

    def run(effect_seed, noise_seed):
        large = surrogate.extend(calibration, effect_seed)
        return surrogate.simulate(large, noise_seed, replicates=1)

    a = run(0, 0)
    pd.testing.assert_frame_equal(a, run(0, 0))
    other_effects, other_noise = run(1, 0), run(0, 1)
    assert not np.allclose(a["true_loss"], other_effects["true_loss"])
    np.testing.assert_array_equal(a["true_loss"], other_noise["true_loss"])
    assert not np.allclose(a["val_loss"], other_noise["val_loss"])


def test_simulated_curves_end_at_the_rows_loss_with_their_counterparts_shapes():
    calibration = surrogate.calibrate(read_table(BENCH / "data" / "results.tsv", RECORDED))
    large = surrogate.extend(calibration, seed=0)
    recorded = list(RECORDED.architectures())
    # planted shapes: recorded architecture j learns for 2 + j % 7 epochs, best at the last
    shapes = {RECORDED.encode(a): (np.linspace(1.0, 0.0, 2 + j % 7),) for j, a in enumerate(recorded)}
    curves = surrogate.CurveShapes(space=RECORDED, shapes=shapes)
    frame = surrogate.simulate(large, seed=0, replicates=1).sample(3000, random_state=0)
    frame.loc[frame.index[:5], "val_loss"] = surrogate.CHANCE  # collapses
    parent = {name: {o["name"]: o.get("from", o["name"]) for o in options}
              for name, options in surrogate.LARGE_SPACE}
    texts = surrogate.simulate_curves(frame, large, curves, seed=0)
    for (_, row), text in zip(frame.iterrows(), texts, strict=True):
        values = np.array(text.split(","), dtype=float)
        if row["val_loss"] >= surrogate.CHANCE - surrogate.COLLAPSE_TOL:
            assert len(values) == surrogate.COLLAPSED_EPOCHS
            assert values == pytest.approx(np.full(len(values), row["val_loss"]), rel=1e-5)
            continue
        j = recorded.index(tuple(parent[name][row[name]] for name in RECORDED.layer_names))
        assert len(values) == 2 + j % 7
        assert values.argmin() == len(values) - 1 and (np.diff(values) < 0).all()
        assert values.min() == pytest.approx(row["val_loss"], rel=1e-5)


def test_a_large_table_with_curves_replays_successive_halving(tmp_path):
    shapes = surrogate.curve_shapes(read_table(BENCH / "data" / "curves.tsv", RECORDED))
    assert len(shapes.shapes) > 0.9 * RECORDED.size
    assert all(s.min() == 0.0 and s.size >= 1 for group in shapes.shapes.values() for s in group)
    out = tmp_path / "large"
    assert surrogate.main(["--out", str(out), "--replicates", "2", "--curves"]) == 0
    space = load_space(out / "space.yaml", window=surrogate.WINDOW)
    table = read_table(out / "results.tsv", space)
    assert table.has_curves
    from bionas.search.fidelity import ladder
    from bionas.search.replay import replay_search
    from bionas.search.strategies import get_controller

    result = replay_search(table, get_controller("random", space), 20, 1.0, seed=0,
                           fidelity=ladder([2, 5, 15], 0.4, 5), epochs=15)
    # 4 steps of 5 children: 5 x 2 epochs, 2 continue to 5 and 1 to 15 (less where one
    # stopped early)
    assert 0 < result.epochs <= 4 * (5 * 2 + 2 * 3 + 10)
