"""Filters -> PWMs (activation-based and softmax) and recovery of prior motifs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bionas.data.onehot import one_hot
from bionas.motifs.compare import (
    ACTIVATION_MIN_BITS,
    best_matches,
    compare_motifs,
    load_collection,
    numba_cache_dir,
)
from bionas.motifs.interpret import (
    ACTIVATIONS,
    ActivationPWMs,
    activation_pwms,
    conv_weights,
    found_not_given,
    recovery_table,
    softmax_pwms,
)
from bionas.motifs.io import Motif
from bionas.motifs.pwm import filters_to_pwms, reverse_complement

CACHE = Path(__file__).resolve().parents[1] / ".numba_cache"
BASES = "ACGT"


def strong(seq: str, p: float = 0.97) -> np.ndarray:
    out = np.full((len(seq), 4), (1 - p) / 3)
    for j, base in enumerate(seq):
        out[j, BASES.index(base)] = p
    return out


def log_odds_kernel(pwms: list[np.ndarray]) -> np.ndarray:
    """Conv1D kernel (width, 4, n) scoring log(p / 0.25): the PWM's own scanner."""
    return np.stack([np.log(p / 0.25) for p in pwms], axis=-1).astype(np.float32)


def random_seqs(rng: np.random.Generator, n: int, length: int) -> list[str]:
    return ["".join(rng.choice(list(BASES), size=length)) for _ in range(n)]


def plant(seqs: list[str], sites: list[str], rng: np.random.Generator) -> list[str]:
    out = []
    for s, site in zip(seqs, sites, strict=True):
        at = int(rng.integers(0, len(s) - len(site) + 1))
        out.append(s[:at] + site + s[at + len(site) :])
    return out


def sample_sites(pwm: np.ndarray, n: int, rng: np.random.Generator) -> list[str]:
    return ["".join(BASES[rng.choice(4, p=row)] for row in pwm) for _ in range(n)]


def reference(kernel, bias, X, threshold, activation="linear", pseudocount=1.0, dilation=1):
    """Slow, obvious implementation: every full window, one at a time (float64)."""
    act = ACTIVATIONS[activation]
    k, _, n_filters = kernel.shape
    span = (k - 1) * dilation + 1
    n, length, _ = X.shape
    acts = np.empty((n_filters, n, length - span + 1))
    for f in range(n_filters):
        for i in range(n):
            for p in range(length - span + 1):
                z = bias[f] + sum(
                    float(X[i, p + j * dilation] @ kernel[j, :, f].astype(np.float64))
                    for j in range(k)
                )
                acts[f, i, p] = act(np.float64(z))
    pwms, counts = [], []
    for f in range(n_filters):
        top = acts[f].max()
        c = np.zeros((span, 4))
        hits = np.argwhere(acts[f] > threshold * top) if top > 0 else []
        for i, p in hits:
            c += X[i, p : p + span]
        c += pseudocount
        pwms.append(c / c.sum(axis=1, keepdims=True))
        counts.append(len(hits))
    return np.array(pwms), np.array(counts), acts


def mean_kl(p: np.ndarray, q: np.ndarray) -> float:
    """Mean over columns of KL(p || q) in nats."""
    return float(np.mean(np.sum(np.where(p > 0, p * np.log(p / q), 0.0), axis=1)))


# ---------------------------------------------------------------------------
# activation PWMs


@pytest.mark.parametrize(
    ("activation", "dilation", "threshold"),
    [("linear", 1, 0.5), ("relu", 2, 0.3), ("gelu", 1, 0.7)],
)
def test_activation_pwms_equal_the_slow_reference(activation, dilation, threshold):
    rng = np.random.default_rng(0)
    X = one_hot(random_seqs(rng, 12, 30))
    X[3, 5:8] = 0  # a run of N: no base, adds nothing
    kernel = rng.normal(size=(4, 4, 5)).astype(np.float32)
    bias = rng.normal(scale=0.5, size=5).astype(np.float32)
    bias[4] = -50.0  # never active: no window, uniform PWM
    got = activation_pwms(
        (kernel, bias), X, threshold, activation=activation, dilation=dilation, batch_size=5
    )
    want_pwms, want_counts, _ = reference(kernel, bias, X, threshold, activation, 1.0, dilation)
    assert isinstance(got, ActivationPWMs)
    assert got.pwms.shape == (5, 3 * dilation + 1, 4) and got.pwms.dtype == np.float64
    assert got.counts.dtype == np.int64
    np.testing.assert_array_equal(got.counts, want_counts)
    np.testing.assert_allclose(got.pwms, want_pwms, atol=1e-9)
    assert got.counts[4] == 0
    np.testing.assert_allclose(got.pwms[4], 0.25)
    pwms, counts = got  # unpacks like a pair
    assert pwms is got.pwms and counts is got.counts


def test_planted_consensus_counts_exactly():
    rng = np.random.default_rng(1)
    site = "TTGACGTCAGCA"
    pwm = strong(site)
    seqs = random_seqs(rng, 200, 60)
    planted = plant(seqs[:150], [site] * 150, rng) + seqs[150:]
    X = one_hot(planted)
    # log-odds kernel: the consensus scores 12 * log(0.97 / 0.25); at threshold 0.8
    # one mismatch already falls below, so only exact copies are aligned
    got = activation_pwms((log_odds_kernel([pwm]), None), X, threshold=0.8, pseudocount=0.5)
    assert got.counts.tolist() == [150]
    want = (one_hot(site)[0] * 150 + 0.5) / (150 + 2.0)
    np.testing.assert_allclose(got.pwms[0], want)


def test_sampled_instances_recover_the_pwm():
    rng = np.random.default_rng(2)
    pwm = strong("CCACTAGGGGGC", 0.9)
    seqs = plant(random_seqs(rng, 1000, 100), sample_sites(pwm, 1000, rng), rng)
    got = activation_pwms((log_odds_kernel([pwm]), np.zeros(1)), one_hot(seqs), activation="relu")
    # a site passes the cut (half of the consensus score) with at most 2 of 12
    # mismatches: P = 0.89 under Binomial(12, 0.1); a random window almost never does
    assert 850 <= got.counts[0] <= 930
    assert mean_kl(pwm, got.pwms[0]) < 0.02
    assert mean_kl(pwm, np.full((12, 4), 0.25)) > 0.9  # what "small" is measured against


def test_edges_use_full_windows_only():
    site = "GATTACAGGC"
    k = len(site)
    background = "C" * 30
    full = site + background[k:20] + site  # copies at positions 0 and 20 = L - k
    partial = site[3:] + background[7:23] + site[:7]  # copies cut by both ends
    X = one_hot([full, partial])
    kernel = log_odds_kernel([strong(site)])
    # the cut is 0.5 * 10 * log(0.97 / 0.25); a zero-padded ('same') window over
    # 7 columns of a cut copy would score 7 * log(0.97 / 0.25) and be aligned
    got = activation_pwms((kernel, None), X, threshold=0.5)
    assert got.counts.tolist() == [2]
    np.testing.assert_array_equal(got.pwms[0].argmax(axis=1), [BASES.index(b) for b in site])
    want_pwms, want_counts, _ = reference(kernel, np.zeros(1), X, 0.5)
    np.testing.assert_array_equal(got.counts, want_counts)
    np.testing.assert_allclose(got.pwms, want_pwms, atol=1e-9)


def test_keras_model_same_padding_matches_arrays():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(3)
    X = one_hot(random_seqs(rng, 20, 40))
    kernel = rng.normal(size=(5, 4, 6)).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input((40, 4)),
            keras.layers.Conv1D(6, 5, padding="same", activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(1),
        ]
    )
    model.layers[0].set_weights([kernel, bias])
    conv = conv_weights(model)
    assert conv.activation == "relu" and conv.dilation == 1
    np.testing.assert_array_equal(conv.kernel, kernel)
    from_model = activation_pwms(model, X)
    from_arrays = activation_pwms((kernel, bias), X, activation="relu")
    np.testing.assert_array_equal(from_model.counts, from_arrays.counts)
    np.testing.assert_allclose(from_model.pwms, from_arrays.pwms)
    np.testing.assert_allclose(softmax_pwms(model, 0.2), filters_to_pwms(kernel, 0.2))


def test_reference_agrees_with_keras_on_dilated_valid_conv():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(4)
    X = one_hot(random_seqs(rng, 4, 25))
    kernel = rng.normal(size=(3, 4, 2)).astype(np.float32)
    bias = rng.normal(size=2).astype(np.float32)
    layer = keras.layers.Conv1D(2, 3, dilation_rate=3, activation="tanh")
    model = keras.Sequential([keras.Input((25, 4)), layer])
    layer.set_weights([kernel, bias])
    want = np.asarray(model(X.astype(np.float32)))  # (n, L - span + 1, filters)
    _, _, acts = reference(kernel, bias, X, 0.5, "tanh", dilation=3)
    np.testing.assert_allclose(acts.transpose(1, 2, 0), want, atol=1e-5)
    conv = conv_weights(model)
    assert conv.dilation == 3 and conv.span == 7
    got = activation_pwms(model, X)
    want_pwms, want_counts, _ = reference(kernel, bias, X, 0.5, "tanh", dilation=3)
    np.testing.assert_array_equal(got.counts, want_counts)
    np.testing.assert_allclose(got.pwms, want_pwms, atol=1e-9)


def test_activation_pwms_reject_bad_input():
    X = one_hot(["ACGTACGTAC"])
    kernel = np.zeros((4, 4, 2), np.float32)
    with pytest.raises(ValueError, match="one-hot"):
        activation_pwms((kernel, None), X * 2)
    with pytest.raises(ValueError, match="shorter"):
        activation_pwms((np.zeros((12, 4, 2)), None), X)
    with pytest.raises(ValueError, match="threshold"):
        activation_pwms((kernel, None), X, threshold=1.0)
    with pytest.raises(ValueError, match="not supported"):
        activation_pwms((kernel, None), X, activation="mish")
    with pytest.raises(ValueError, match="kernel"):
        activation_pwms((np.zeros((4, 5, 2)), None), X)
    with pytest.raises(ValueError, match="bias"):
        activation_pwms((kernel, np.zeros(3)), X)


def test_softmax_pwms_is_the_knowledge_softmax():
    rng = np.random.default_rng(5)
    kernel = rng.normal(scale=0.3, size=(8, 4, 3))
    np.testing.assert_allclose(softmax_pwms(kernel, 0.15), filters_to_pwms(kernel, 0.15))


# ---------------------------------------------------------------------------
# both strands and the negative control, through tomtom-lite


@pytest.fixture(scope="module")
def jaspar() -> list[Motif]:
    numba_cache_dir(CACHE)
    return load_collection("JASPAR2024")


def test_both_strands_via_comparison(jaspar):
    ctcf = next(m for m in jaspar if m.id == "MA0139.2").pwm
    pwm = (ctcf + 0.01) / 1.04  # no zero probabilities in the log-odds kernel
    rng = np.random.default_rng(6)
    fwd = plant(random_seqs(rng, 300, 100), sample_sites(pwm, 300, rng), rng)
    rev = plant(random_seqs(rng, 300, 100), sample_sites(reverse_complement(pwm), 300, rng), rng)
    kernel = log_odds_kernel([pwm, reverse_complement(pwm)])
    got = activation_pwms((kernel, None), one_hot(fwd + rev), activation="relu")
    assert mean_kl(reverse_complement(pwm), got.pwms[1]) < 0.15
    df = compare_motifs(
        got.pwms,
        jaspar,
        query_names=["forward", "reverse"],
        min_bits=ACTIVATION_MIN_BITS,
        top_k=1,
        cache_dir=CACHE,
    ).set_index("query")
    assert df.loc["forward", "target_id"] == "MA0139.2"
    assert df.loc["reverse", "target_id"] == "MA0139.2"
    assert df.loc["forward", "orientation"] == "+"
    assert df.loc["reverse", "orientation"] == "-"
    assert (df["q_value"] < 0.05).all()


def test_negative_control_random_filters_match_nothing(jaspar):
    rng = np.random.default_rng(7)
    X = one_hot(random_seqs(rng, 1000, 200))
    width, n_filters = 20, 16
    limit = np.sqrt(6 / (width * 4 + width * n_filters))  # Glorot uniform, as Keras initialises
    kernel = rng.uniform(-limit, limit, size=(width, 4, n_filters))
    got = activation_pwms((kernel, np.zeros(n_filters)), X, activation="relu")
    df = compare_motifs(got.pwms, jaspar, min_bits=ACTIVATION_MIN_BITS, top_k=1, cache_dir=CACHE)
    assert len(df) == n_filters
    assert not (df["q_value"] < 0.05).any()


# ---------------------------------------------------------------------------
# recovery


PRIORS = [
    Motif("MA0139.2", "CTCF", strong("CCACTAGG")),
    Motif("MA0035.5", "GATA1", strong("AGATAA")),
    Motif("MA0080.7", "Spi1", strong("AGAGGAAGT")),
    Motif("MA0114.5", "HNF4A", strong("CAAAGTCCA")),
]


def matches_table() -> pd.DataFrame:
    rows = [
        # query, target_id, target_name, orientation, offset, p, q
        ("f0", "MA0139.1", "CTCF", "+", 0, 1e-12, 1e-9),  # an older version of the prior
        ("f0", "MA1929.2", "CTCF", "+", 3, 1e-8, 1e-6),
        ("f1", "MA1930.2", "ctcf", "-", 1, 1e-10, 1e-8),  # same TF by name
        ("f2", "MA0036.4", "GATA2", "+", 0, 1e-6, 1e-4),  # paralog first ...
        ("f2", "MA0035.5", "GATA1", "-", 0, 1e-5, 1e-3),  # ... the prior second
        ("f3", "MA0099.4", "FOS::JUN", "+", 2, 1e-9, 1e-7),  # found, not given
        ("f4", "MA0080.7", "Spi1", "+", 0, 1e-3, 0.2),  # the prior, not significant
        ("f5", "MA0506.3", "Nrf1", "-", -1, 1e-3, 0.3),  # nothing significant
    ]
    cols = ["query", "target_id", "target_name", "orientation", "offset", "p_value", "q_value"]
    df = pd.DataFrame(rows, columns=cols)
    uninformative = pd.DataFrame({"query": ["f6"], "status": ["uninformative"]})
    return pd.concat([df.assign(status="compared"), uninformative], ignore_index=True)


def test_recovery_table_top_hits():
    table = recovery_table(matches_table(), PRIORS).set_index("prior_id")
    assert table.index.tolist() == ["MA0139.2", "MA0035.5", "MA0080.7", "MA0114.5"]
    assert table["recovered"].tolist() == [True, False, False, False]
    ctcf = table.loc["MA0139.2"]
    assert ctcf["filter"] == "f0" and ctcf["target_id"] == "MA0139.1"
    assert ctcf["q_value"] == 1e-9 and ctcf["p_value"] == 1e-12 and ctcf["orientation"] == "+"
    # GATA1 was matched, but not as its filter's best hit: reported, not recovered
    gata = table.loc["MA0035.5"]
    assert gata["filter"] == "f2" and not gata["top_hit"] and gata["q_value"] == 1e-3
    assert table.loc["MA0080.7", "q_value"] == 0.2
    assert pd.isna(table.loc["MA0114.5", "filter"])


def test_recovery_table_any_significant_match():
    table = recovery_table(matches_table(), PRIORS, top_hit_only=False).set_index("prior_id")
    assert table["recovered"].tolist() == [True, True, False, False]
    assert table.loc["MA0035.5", "orientation"] == "-"
    strict = recovery_table(matches_table(), PRIORS, q_threshold=1e-10).set_index("prior_id")
    assert not strict["recovered"].any()


def test_found_not_given():
    found = found_not_given(matches_table(), PRIORS)
    # f0, f1: CTCF (by id base and by name); f2: GATA2 is not a prior; f3: FOS::JUN
    assert found["filter"].tolist() == ["f3", "f2"]
    assert found["target_id"].tolist() == ["MA0099.4", "MA0036.4"]
    assert found["family_id"].tolist() == ["matrix:MA0099", "matrix:MA0036"]
    assert found["filters"].tolist() == [1, 1]
    assert found_not_given(matches_table(), PRIORS, q_threshold=1e-5)["filter"].tolist() == ["f3"]
    with pytest.raises(ValueError, match="lacks"):
        found_not_given(matches_table().drop(columns="q_value"), PRIORS)


def family_table(groups: dict[str, list[tuple[str, str]]]) -> pd.DataFrame:
    rows = [
        {"target_id": i, "target_name": n, "family_id": fam, "family_label": fam.upper(),
         "family_size": len(members), "jaspar_families": "", "grouped_by": "similarity"}
        for fam, members in groups.items()
        for i, n in members
    ]  # fmt: skip
    return pd.DataFrame(rows)


GATA_FAMILY = family_table(
    {
        "family:gata": [("MA0035.5", "GATA1"), ("MA0036.4", "GATA2")],
        "family:ctcf": [("MA0139.2", "CTCF"), ("MA1929.2", "CTCF"), ("MA1930.2", "CTCF")],
        "family:ap1": [("MA0099.4", "FOS::JUN")],
        "family:ets": [("MA0080.7", "Spi1")],
        "family:nrf": [("MA0506.3", "Nrf1")],
    }
)


def test_a_paralog_top_hit_recovers_the_prior_through_its_family():
    table = recovery_table(matches_table(), PRIORS, families=GATA_FAMILY).set_index("prior_id")
    assert table["recovered"].tolist() == [True, True, False, False]
    gata = table.loc["MA0035.5"]
    # f2's best hit is the paralog GATA2; the prior's own matrix is its second hit
    assert gata["match"] == "family" and gata["filter"] == "f2"
    assert gata["target_id"] == "MA0036.4" and gata["family_id"] == "family:gata"
    assert gata["family_label"] == "FAMILY:GATA" and gata["q_value"] == 1e-4
    ctcf = table.loc["MA0139.2"]
    assert ctcf["match"] == "own" and ctcf["target_id"] == "MA0139.1"
    assert table.loc["MA0080.7", "match"] == ""
    # ... and the paralog is not "found, not given": only FOS::JUN is
    found = found_not_given(matches_table(), PRIORS, families=GATA_FAMILY)
    assert found["family_id"].tolist() == ["family:ap1"]
    assert found["members_hit"].tolist() == ["MA0099.4 FOS::JUN"]


def test_own_rank_counts_the_priors_place_among_the_filters_hits():
    df = matches_table()
    df["rank"] = df.groupby("query").cumcount() + 1
    table = recovery_table(df, PRIORS, families=GATA_FAMILY).set_index("prior_id")
    assert table.loc["MA0035.5", "own_rank"] == 2
    assert table.loc["MA0139.2", "own_rank"] == 1


def test_found_not_given_groups_filters_by_family():
    df = matches_table()
    extra = pd.DataFrame(
        [("f7", "MA0099.3", "FOS::JUN", "-", 0, 1e-8, 1e-6, "compared"),
         ("f8", "MA0478.1", "FOSL2", "+", 1, 1e-7, 1e-5, "compared")],
        columns=["query", "target_id", "target_name", "orientation", "offset", "p_value",
                 "q_value", "status"],
    )  # fmt: skip
    fams = family_table(
        {
            "family:ap1": [("MA0099.4", "FOS::JUN"), ("MA0099.3", "FOS::JUN"),
                           ("MA0478.1", "FOSL2")],
            "family:gata2": [("MA0036.4", "GATA2")],
        }
    )  # fmt: skip
    found = found_not_given(pd.concat([df, extra], ignore_index=True), PRIORS, families=fams)
    assert found["family_id"].tolist() == ["family:ap1", "family:gata2"]
    ap1 = found.iloc[0]
    assert ap1["filters"] == 3 and ap1["filter"] == "f3" and ap1["q_value"] == 1e-7
    assert ap1["members_hit"] == "MA0099.4 FOS::JUN, MA0099.3 FOS::JUN, MA0478.1 FOSL2"


def test_recovery_from_a_real_comparison(jaspar):
    by_id = {m.id: m for m in jaspar}
    priors = [by_id["MA0139.2"], by_id["MA0080.7"]]
    queries = [reverse_complement(by_id["MA0139.2"].pwm), by_id["MA0506.3"].pwm]
    df = compare_motifs(queries, jaspar, cache_dir=CACHE)
    table = recovery_table(df, priors)
    assert table["recovered"].tolist() == [True, False]
    assert table.loc[0, "orientation"] == "-"
    found = found_not_given(df, priors)
    assert found["target_id"].tolist() == ["MA0506.3"]
    assert best_matches(df)["target_id"].tolist() == ["MA0139.2", "MA0506.3"]
