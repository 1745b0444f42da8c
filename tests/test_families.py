"""Motif families: JASPAR annotation combined with similarity, and recovery judged by family."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bionas.errors import InputError
from bionas.motifs.compare import compare_motifs, load_collection, numba_cache_dir
from bionas.motifs.families import (
    BY_FAMILY_AND_SIMILARITY,
    BY_SIMILARITY,
    FAMILY_COLUMNS,
    collection_families,
    family_distance,
    group_families,
    read_families,
)
from bionas.motifs.interpret import found_not_given, recovery_table
from bionas.motifs.io import Motif
from bionas.motifs.jaspar import jaspar_families

CACHE = Path(__file__).resolve().parents[1] / ".numba_cache"


@pytest.fixture(scope="module")
def jaspar() -> list[Motif]:
    numba_cache_dir(CACHE)
    return load_collection("JASPAR2024", "CORE", "vertebrates")


@pytest.fixture(scope="module")
def families(jaspar) -> pd.DataFrame:
    return collection_families("JASPAR2024", jaspar, cache_dir=CACHE)


def family_of(families: pd.DataFrame, matrix_id: str) -> str:
    return families.set_index("target_id").loc[matrix_id, "family_id"]


def test_jaspar_annotations_name_structural_families():
    ann = jaspar_families("JASPAR2024")
    assert ann["MA0050.4"] == ("Interferon-regulatory factors",)
    assert ann["MA0051.2"] == ("Interferon-regulatory factors",)
    assert ann["MA0139.2"] == ("More than 3 adjacent zinc fingers",)
    # a heterodimer carries both partners' families
    assert len(ann["MA0089.1"]) == 2


def test_paralogs_share_a_family_and_ctcf_stays_apart_from_long_zinc_fingers(jaspar, families):
    assert list(families.columns) == FAMILY_COLUMNS
    assert families["target_id"].tolist() == [m.id for m in jaspar]
    assert family_of(families, "MA0050.4") == family_of(families, "MA0051.2")  # IRF1, IRF2
    assert family_of(families, "MA0058.4") == family_of(families, "MA0147.4")  # MAX, MYC
    ctcf = family_of(families, "MA0139.2")
    members = set(families.loc[families["family_id"] == ctcf, "target_name"])
    assert members <= {"CTCF", "CTCFL"}
    # every long zinc finger of CTCF's structural family is elsewhere, ZNF354A included
    by_id = {m.id: m for m in jaspar}
    znf = families[
        families["jaspar_families"].str.contains("More than 3 adjacent zinc fingers")
        & ~families["target_name"].isin(["CTCF", "CTCFL"])
    ]
    long_znf = [i for i in znf["target_id"] if by_id[i].width >= 15]
    assert "MA1978.2" in long_znf and len(long_znf) > 20
    assert all(family_of(families, i) != ctcf for i in long_znf)
    # most matrices are grouped with JASPAR's annotation
    assert (families["grouped_by"] == BY_FAMILY_AND_SIMILARITY).mean() > 0.99
    # families are far fewer than matrices but no family swallows the collection
    n = families["family_id"].nunique()
    assert 150 < n < 600 and families["family_size"].max() < 100


def test_a_collection_without_annotation_is_grouped_by_similarity_alone(jaspar):
    fams = group_families(jaspar, None, cache_dir=CACHE)  # as from a user's MEME file
    assert set(fams["grouped_by"]) == {BY_SIMILARITY}
    fam = dict(zip(fams["target_id"], fams["family_id"], strict=True))
    assert fam["MA0139.2"] == fam["MA1930.2"]
    assert fam["MA0139.2"] != fam["MA1978.2"] != fam["MA0083.3"]
    assert fam["MA0051.2"] == fam["MA0772.2"]  # IRF2, IRF7
    assert fams.set_index("target_id").loc["MA1978.2", "family_label"] == "ZNF354A"


def test_family_distance_links_only_shared_families_or_strong_similarity():
    s = np.array([[0, 1e-2, 1e-2, 1e-2], [1e-2, 0, 1e-5, 1e-5], [1e-2, 1e-5, 0, 1e-2],
                  [1e-2, 1e-5, 1e-2, 0]])  # fmt: skip
    ann = [frozenset({"a"}), frozenset({"a"}), frozenset({"b"}), frozenset()]
    d = family_distance(s, ann)
    assert d[0, 1] == pytest.approx(-2)  # shared family: log10 q
    assert d[1, 2] == 0  # different annotated families: never linked
    assert d[1, 3] == pytest.approx(-5 + np.log10(50))  # unannotated: the stricter bar
    assert d[0, 3] > np.log10(0.05)  # q 1e-2 is not similar enough without annotation


def test_a_paralogs_matrix_recovers_the_prior_by_family(jaspar, families):
    by_id = {m.id: m for m in jaspar}
    irf1, irf2 = by_id["MA0050.4"], by_id["MA0051.2"]
    rng = np.random.default_rng(0)
    learned = np.array([rng.dirichlet(50 * row + 0.2) for row in irf2.pwm])
    df = compare_motifs([learned], jaspar, query_names=["filter_00"], cache_dir=CACHE)
    assert df.iloc[0]["target_id"] != irf1.id  # the top hit is not the prior's own matrix
    strict = recovery_table(df, [irf1])
    assert not strict["recovered"].any()
    table = recovery_table(df, [irf1], families=families)
    row = table.iloc[0]
    assert row["recovered"] and row["match"] == "family"
    assert row["family_label"].endswith("(Interferon-regulatory factors)")
    assert row["own_rank"] > 1
    assert found_not_given(df, [irf1], families=families).empty
    # without families the paralog is reported as found, not given
    assert not found_not_given(df, [irf1]).empty


def test_family_table_round_trip_and_bad_tables(tmp_path, jaspar):
    picked = jaspar[:30]
    fams = group_families(picked, jaspar_families("JASPAR2024"), cache_dir=CACHE)
    path = tmp_path / "families.tsv"
    fams.to_csv(path, sep="\t", index=False)
    back = read_families(path, picked)
    assert back["family_id"].tolist() == fams["family_id"].tolist()
    assert back["family_size"].tolist() == fams["family_size"].tolist()
    with pytest.raises(InputError, match="another collection"):
        read_families(path, jaspar[:31])
    (tmp_path / "bad.tsv").write_text("target_id\tfamily\nMA0001.1\tx\n")
    with pytest.raises(InputError, match="missing column"):
        read_families(tmp_path / "bad.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(InputError, match="cannot read"):
        read_families(tmp_path / "empty.tsv")
    with pytest.raises(ValueError, match="unique"):
        group_families([picked[0], picked[0]], None, cache_dir=CACHE)
