"""Tests for bionas.motifs.attribution and bionas.motifs.patterns: real Keras, real modisco-lite."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from bionas.motifs.attribution import (
    Attributions,
    attributions,
    ism,
    logit_function,
    predict_logits,
)
from bionas.motifs.patterns import (
    ModiscoSettings,
    find_patterns,
    trim_span,
    write_patterns,
)
from bionas.motifs.pwm import consensus, reverse_complement

keras = pytest.importorskip("keras")

LENGTH = 100
MOTIF = "GCCACCAGGGGGCGC"  # a CTCF site (JASPAR MA0139 consensus)


def _onehot(idx: np.ndarray) -> np.ndarray:
    return np.eye(4, dtype=np.uint8)[idx]


def _planted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random windows, every other one with a MOTIF site at a random place.

    Each base of a site is MOTIF's with probability 0.85, else random: exact copies
    would give modisco identical seqlets, which its clustering splits apart.
    Returns X uint8, y float32 and the site starts (-1: none).
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, 4, (n, LENGTH))
    y = (np.arange(n) % 2 == 0).astype(np.float32)
    starts = np.full(n, -1)
    code = np.array(["ACGT".index(c) for c in MOTIF])
    for i in np.flatnonzero(y):
        starts[i] = rng.integers(0, LENGTH - len(MOTIF) + 1)
        site = np.where(rng.random(code.size) < 0.85, code, rng.integers(0, 4, code.size))
        idx[i, starts[i] : starts[i] + code.size] = site
    return _onehot(idx), y, starts


def _small_model(tasks: int = 1, activation: str = "relu", seed: int = 0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((LENGTH, 4)),
            keras.layers.Conv1D(8, 15, activation=activation),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(tasks, activation="sigmoid"),
        ]
    )


@pytest.fixture(scope="module")
def trained():
    """A tiny Conv1D model trained until MOTIF decides the label (accuracy > 0.9)."""
    X, y, _ = _planted(2000, seed=0)
    model = _small_model()
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=5, batch_size=64, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    return model


@pytest.fixture(scope="module")
def held_out():
    return _planted(800, seed=1)


# -- attributions ------------------------------------------------------------------------


def test_shapes_dtypes_and_gradient_x_input(trained, held_out):
    X = held_out[0][:50]
    a = attributions(trained, X, batch_size=16)
    assert isinstance(a, Attributions)
    for arr in a:
        assert arr.shape == X.shape and arr.dtype == np.float32
    np.testing.assert_allclose(a.hypothetical.sum(axis=2), 0.0, atol=1e-6)  # corrected
    np.testing.assert_array_equal(a.contrib, a.hypothetical * X)
    assert (a.contrib[X == 0] == 0).all()  # zero off the observed base
    assert np.abs(a.contrib).sum() > 0


def test_batches_do_not_change_the_scores(trained, held_out):
    X = held_out[0][:37]
    whole = attributions(trained, X, batch_size=256)
    pieces = attributions(trained, X, batch_size=5)
    np.testing.assert_allclose(pieces.hypothetical, whole.hypothetical, rtol=1e-5, atol=1e-7)


def test_logit_is_the_pre_sigmoid_output(trained, held_out):
    X = held_out[0][:64]
    logits = predict_logits(trained, X)
    p = trained.predict(X, verbose=0)[:, 0]
    np.testing.assert_allclose(1 / (1 + np.exp(-logits.astype(np.float64))), p, atol=1e-6)
    assert np.abs(logits).max() > 5  # confident windows, where the sigmoid's gradient vanishes


def test_gradients_agree_with_ism_at_the_motif(trained, held_out):
    X, y, starts = held_out
    pos = np.flatnonzero(y == 1)[:12]
    a = attributions(trained, X[pos])
    effects = ism(trained, X[pos])
    assert effects.shape == X[pos].shape and effects.dtype == np.float32
    assert (effects[X[pos] == 1] == 0).all()
    mask = np.zeros((len(pos), LENGTH), dtype=bool)
    for row, i in enumerate(pos):
        mask[row, starts[i] : starts[i] + len(MOTIF)] = True
    # contribution of the observed base vs minus the mean ISM effect of changing it
    r_contrib = np.corrcoef(a.contrib.sum(axis=2)[mask], -effects.mean(axis=2)[mask])[0, 1]
    # first-order substitution effects hyp[b] - hyp[ref] vs ISM
    first_order = a.hypothetical - a.contrib.sum(axis=2, keepdims=True)
    r_subst = np.corrcoef(first_order[mask].ravel(), effects[mask].ravel())[0, 1]
    assert r_contrib > 0.5 and r_subst > 0.5, (r_contrib, r_subst)
    # the motif carries the attribution
    contrib = np.abs(a.contrib.sum(axis=2))
    assert contrib[mask].mean() > 5 * contrib[~mask].mean()


def test_ism_is_exact_for_a_model_linear_in_its_input():
    model = keras.Sequential(
        [
            keras.Input((LENGTH, 4)),
            keras.layers.Conv1D(3, 5),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    X, _, _ = _planted(3, seed=2)
    a = attributions(model, X)
    first_order = a.hypothetical - a.contrib.sum(axis=2, keepdims=True)
    np.testing.assert_allclose(ism(model, X), first_order, atol=2e-4)


def test_tasks_are_columns_of_the_head():
    model = _small_model(tasks=2, seed=3)
    X, _, _ = _planted(20, seed=4)
    p = model.predict(X, verbose=0)
    for task in (0, 1):
        logits = predict_logits(model, X, task=task).astype(np.float64)
        np.testing.assert_allclose(1 / (1 + np.exp(-logits)), p[:, task], atol=1e-6)
    a0, a1 = attributions(model, X, task=0), attributions(model, X, task=1)
    assert not np.allclose(a0.hypothetical, a1.hypothetical)
    with pytest.raises(ValueError, match="2 tasks"):
        attributions(model, X)
    with pytest.raises(ValueError, match="task must be"):
        attributions(model, X, task=2)


def test_rejects_what_it_cannot_attribute():
    X, _, _ = _planted(4, seed=5)
    softmax = keras.Sequential(
        [
            keras.Input((LENGTH, 4)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    with pytest.raises(ValueError, match="sigmoid or linear"):
        logit_function(softmax, task=0)
    model = _small_model(seed=6)
    with pytest.raises(ValueError, match="one-hot"):
        attributions(model, X * 2)
    with pytest.raises(ValueError, match=r"\(n, L, 4\)"):
        attributions(model, X[0])
    with pytest.raises(ValueError, match="batch_size"):
        attributions(model, X, batch_size=0)


# -- patterns ----------------------------------------------------------------------------


def _mismatches(a: str, b: str) -> int:
    """Fewest mismatches of the shorter string against a same-length substring of the longer."""
    short, long = sorted((a, b), key=len)
    return min(
        sum(x != z for x, z in zip(short, long[i : i + len(short)], strict=True))
        for i in range(len(long) - len(short) + 1)
    )


def test_modisco_finds_the_planted_motif(trained, held_out, tmp_path):
    X, y, _ = held_out
    pos = X[y == 1]
    a = attributions(trained, pos)
    result = find_patterns(pos, a.hypothetical, ModiscoSettings.demo())
    assert result.status == "patterns" and result.length == LENGTH
    best = result.patterns[0]
    assert best.name == "pos_patterns.pattern_0" and best.sign == 1
    assert best.seqlets >= 20
    assert best.cwm.shape == best.pwm.shape == best.hcwm.shape == (best.width, 4)
    np.testing.assert_allclose(best.pwm.sum(axis=1), 1.0, atol=1e-9)
    # trimmed the way `modisco report` trims: both ends reach 0.3 of the top column score
    score = np.abs(best.cwm).sum(axis=1)
    assert min(score[0], score[-1]) >= 0.3 * score.max() - 1e-12
    # the pattern is the planted site (either strand), within one mismatch over its span
    fwd, rev = best.consensus, consensus(reverse_complement(best.pwm))
    assert best.width >= 8
    assert min(_mismatches(fwd, MOTIF), _mismatches(rev, MOTIF)) <= 1, (fwd, rev)

    files = write_patterns(tmp_path / "modisco", result)
    with h5py.File(files.h5, "r") as h5:
        assert "pos_patterns/pattern_0/contrib_scores" in h5
        assert h5["pos_patterns/pattern_0/seqlets/n_seqlets"][0] == best.seqlets
    meme = files.meme.read_text()
    assert meme.count("MOTIF ") == len(result.patterns)
    assert "MOTIF pos_patterns.pattern_0 " in meme
    rows = files.tsv.read_text().splitlines()
    assert rows[0] == "pattern\tsign\tseqlets\twidth\tconsensus"
    assert rows[1] == f"{best.name}\t1\t{best.seqlets}\t{best.width}\t{best.consensus}"


def test_no_patterns_is_not_an_error(tmp_path):
    X, _, _ = _planted(300, seed=7)
    zero = find_patterns(X, np.zeros(X.shape, np.float32), ModiscoSettings.demo())
    assert zero.patterns == [] and zero.status == "constant attributions"
    # almost every window scores exactly 0: modisco's null model cannot be fitted
    sparse = np.zeros(X.shape, np.float32)
    sparse[:5, 50, :] = -1.0
    assert find_patterns(X, sparse, ModiscoSettings.demo()).status == "no seqlets"
    # noise: seqlets fail the FDR, no cluster
    noise = np.random.default_rng(0).normal(size=X.shape).astype(np.float32)
    assert find_patterns(X, noise, ModiscoSettings.demo()).status == "no patterns"

    files = write_patterns(tmp_path, zero)
    with h5py.File(files.h5, "r") as h5:
        assert list(h5.keys()) == [] and h5.attrs["window_size"] == LENGTH
    assert "MOTIF" not in files.meme.read_text()
    assert files.tsv.read_text().splitlines()[1:] == ["# no patterns: constant attributions"]


def test_trim_span_and_settings():
    cwm = np.zeros((10, 4))
    cwm[2, 0], cwm[4, 1], cwm[7, 3] = 0.35, 1.0, -0.3
    assert trim_span(cwm, 0.3) == (2, 8)
    assert trim_span(cwm, 0.31) == (2, 5)
    assert trim_span(np.zeros((6, 4)), 0.3) == (0, 6)
    assert ModiscoSettings.demo().max_seqlets == 2000
    with pytest.raises(ValueError, match="max_seqlets"):
        ModiscoSettings(max_seqlets=0)
    with pytest.raises(ValueError, match="trim_threshold"):
        ModiscoSettings(trim_threshold=0)
    X, _, _ = _planted(10, seed=8)
    with pytest.raises(ValueError, match="shorter than a seqlet"):
        find_patterns(X[:, :20], np.ones((10, 20, 4), np.float32))
    with pytest.raises(ValueError, match="shape of one_hot"):
        find_patterns(X, np.ones((10, LENGTH, 3), np.float32))


# -- bionas attribute ---------------------------------------------------------------------

CACHE = Path(__file__).resolve().parents[1] / ".numba_cache"


def _tensors(path: Path, X: np.ndarray, y: np.ndarray) -> Path:
    np.savez_compressed(
        path, X=X, y=y[:, None].astype(np.float32), tasks=np.array(["ctcf"]),
        regions=np.array([f"chr1:{i * LENGTH}-{(i + 1) * LENGTH}" for i in range(len(X))]),
    )  # fmt: skip
    return path


def test_attribute_command_recovers_the_planted_prior_by_pattern(trained, held_out, tmp_path, cli):
    from bionas.cli import main

    X, y, _ = held_out
    trained.save(tmp_path / "model.keras")
    test = _tensors(tmp_path / "test.npz", X, y)
    assert main(["priors", "--jaspar", "MA0139.2", "--out", str(tmp_path / "priors.meme")]) == 0
    out = tmp_path / "attribute"
    args = ["attribute", "--model", tmp_path / "model.keras", "--test", test,
            "--priors", tmp_path / "priors.meme", "--cache-dir", CACHE, "--out-dir", out]  # fmt: skip
    status, _, err = cli(*args)
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tasks"]["ctcf"]["windows"] == int(y.sum())
    assert summary["tasks"]["ctcf"]["status"] == "patterns" and summary["patterns"] >= 1
    assert summary["recovered"] == ["MA0139.2"]
    recovery = pd.read_csv(out / "pattern_recovery.tsv", sep="\t")
    assert recovery.loc[0, "match"] == "own" and recovery.loc[0, "filter"].startswith("ctcf/")
    patterns = pd.read_csv(out / "patterns.tsv", sep="\t")
    assert len(patterns) == summary["patterns"] and (patterns["task"] == "ctcf").all()
    # the arrays modisco's own command line reads: arr_0 of (n, 4, L)
    ohe = np.load(out / "tasks/ctcf/ohe.npz")["arr_0"]
    hyp = np.load(out / "tasks/ctcf/hypothetical.npz")["arr_0"]
    assert ohe.shape == hyp.shape == (int(y.sum()), 4, LENGTH)
    np.testing.assert_array_equal(ohe, np.transpose(X[y == 1], (0, 2, 1)))
    cwms = np.load(out / "pattern_cwms.npz")
    assert sorted(cwms.files) == sorted(f"ctcf/{p}" for p in patterns["pattern"])
    assert (out / "tasks/ctcf/modisco.h5").stat().st_size > 0
    assert not list(out.rglob(".*")), "temporary files left behind"


def test_attribute_command_refuses_a_model_that_does_not_fit(trained, tmp_path, cli):
    X, y, _ = _planted(40, seed=9)
    short = _tensors(tmp_path / "test.npz", X[:, :50], y)
    trained.save(tmp_path / "model.keras")
    from bionas.cli import main

    assert main(["priors", "--jaspar", "MA0139.2", "--out", str(tmp_path / "priors.meme")]) == 0
    out = tmp_path / "attribute"
    status, _, err = cli(
        "attribute", "--model", tmp_path / "model.keras", "--test", short,
        "--priors", tmp_path / "priors.meme", "--cache-dir", CACHE, "--out-dir", out,
    )  # fmt: skip
    assert status == 2 and "test.npz" in err and "(50, 4)" in err, err
    assert not out.exists() or not any(out.rglob("*"))
