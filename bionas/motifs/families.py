"""Motif families: a collection grouped so that paralogs with near-identical motifs share a family.

A filter that learned IRF1's sites often matches IRF2's matrix best: the two
are paralogs and their motifs are near-identical. Judged by the top hit's
name, that filter would miss the prior IRF1 and add IRF2 to "found, not
given". Recovery and found motifs are therefore judged by family.

How a collection is grouped
---------------------------
1. Every matrix is compared with every other (tomtom-lite, both strands, the
   same comparison that filters get), and BH q-values are taken per query over
   the collection. Two matrices are as similar as the smaller of their two
   q-values (``S_ij = min(q_ij, q_ji)``).
2. JASPAR annotates each matrix with one or more structural families
   (``tf_family`` in pyjaspar: "Interferon-regulatory factors", "More than 3
   adjacent zinc fingers", ...). Names alone over-merge: CTCF's family also
   holds a hundred zinc fingers whose motifs differ from CTCF's and from each
   other. Similarity alone, cut loosely, chains the whole collection together
   (at ``S < 0.05`` single linkage puts 750 of JASPAR 2024's 879 vertebrate
   matrices in one group).
3. So the pairwise distance is ``log10 S_ij`` for two matrices that share an
   annotated family, ``log10 S_ij + log10(FAMILY_Q / SIMILARITY_Q)`` (a
   stricter bar, ``S < SIMILARITY_Q``) when either has no annotation (a user's
   own MEME file), and no link (0) between annotated matrices of different
   families. Average-linkage agglomerative clustering merges groups while
   their mean distance is below ``log10 FAMILY_Q``. Average linkage, not
   single: heterodimer matrices annotated with two families (ELK1::HOXA1)
   would otherwise bridge the Ets and HOX families into one.

On JASPAR 2024 CORE vertebrates (879 matrices) this gives 265 families: IRF1-9
in one, MAX/MYC/MNT/MLX/TFE3 (the CACGTG E-box) in one, the GATA factors in
one, CTCF's three matrices with CTCFL, and no other zinc finger with CTCF.
The largest family (50) is the Ets factors with the heterodimers that carry an
Ets half-site. Similarity alone (a MEME file) at ``S < 1e-3`` keeps CTCF apart
too and gives 362 groups.

Grouping compares the whole collection with itself: about 3 s once memelite's
kernels are compiled. The workflow groups a collection once (``bionas
motif-families``) and every interpretation job reads the table.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.errors import InputError

#: Two matrices that share an annotated family join when their mean q is below this.
FAMILY_Q = 0.05

#: The bar for matrices without family annotation: similarity alone.
SIMILARITY_Q = 1e-3

#: Columns of a family table, in order.
FAMILY_COLUMNS = [
    "target_id",
    "target_name",
    "family_id",
    "family_label",
    "family_size",
    "jaspar_families",
    "grouped_by",
]

#: ``grouped_by`` values.
BY_FAMILY_AND_SIMILARITY = "jaspar family and similarity"
BY_SIMILARITY = "similarity"

_NO_LINK = 0.0


def pairwise_similarity(
    motifs: Sequence[Any], *, cache_dir: str | PathLike | None = None, n_jobs: int = 1
) -> np.ndarray:
    """``S_ij = min(q_ij, q_ji)``: the collection compared with itself.

    Parameters
    ----------
    motifs : sequence of Motif
        The collection (anything with a ``pwm``).
    cache_dir : path, optional
        memelite's compilation cache (see :func:`bionas.motifs.compare.numba_cache_dir`).
    n_jobs : int
        Threads for memelite.

    Returns
    -------
    (n, n) float64
        Symmetric; the diagonal is 0.
    """
    from bionas.motifs.compare import benjamini_hochberg, tomtom_function
    from bionas.motifs.pwm import check_pwms, to_tomtom_layout

    pwms = [to_tomtom_layout(p) for p in check_pwms(list(motifs), "motif")]
    if not pwms:
        return np.zeros((0, 0))
    p = tomtom_function(cache_dir)(
        pwms, pwms, n_nearest=None, reverse_complement=True, n_jobs=n_jobs
    )[0]
    q = benjamini_hochberg(p)
    s = np.minimum(q, q.T)
    np.fill_diagonal(s, 0.0)
    return s


def _average_linkage(distance: np.ndarray, cut: float) -> np.ndarray:
    """Cluster labels (index of a member) from average-linkage agglomeration stopped at ``cut``.

    Deterministic: the closest pair first, ties by lowest index.
    """
    d = np.array(distance, dtype=np.float64)
    n = d.shape[0]
    np.fill_diagonal(d, np.inf)
    size = np.ones(n)
    label = np.arange(n)
    for _ in range(max(n - 1, 0)):
        flat = int(np.argmin(d))
        i, j = divmod(flat, n)
        if not d[i, j] < cut:
            break
        i, j = min(i, j), max(i, j)
        merged = (size[i] * d[i] + size[j] * d[j]) / (size[i] + size[j])
        d[i, :] = merged
        d[:, i] = merged
        d[i, i] = np.inf
        d[j, :] = np.inf
        d[:, j] = np.inf
        size[i] += size[j]
        label[label == j] = i
    return label


def family_distance(
    similarity: np.ndarray, annotations: Sequence[frozenset[str]]
) -> np.ndarray:
    """The linkage distance of the module docstring from similarities and annotated families."""
    s = np.clip(np.asarray(similarity, dtype=np.float64), 1e-300, 1.0)
    log_s = np.log10(s)
    n = len(annotations)
    annotated = np.array([bool(a) for a in annotations])
    labels = sorted({f for a in annotations for f in a})
    member = np.zeros((n, len(labels)), dtype=bool)
    col = {f: k for k, f in enumerate(labels)}
    for i, a in enumerate(annotations):
        for f in a:
            member[i, col[f]] = True
    share = (member.astype(np.int32) @ member.T.astype(np.int32)) > 0
    both = annotated[:, None] & annotated[None, :]
    penalty = math.log10(FAMILY_Q / SIMILARITY_Q)
    return np.where(both, np.where(share, log_s, _NO_LINK), np.minimum(log_s + penalty, 0.0))


def _family_label(names: Sequence[str], annotations: Sequence[frozenset[str]]) -> str:
    """``IRF1/IRF2/IRF3/+6 (Interferon-regulatory factors)``: members' TF names, and the
    JASPAR family most of them carry (none for a group without annotation)."""
    distinct = list(dict.fromkeys(str(n) for n in names))
    shown = "/".join(distinct[:3]) + (f"/+{len(distinct) - 3}" if len(distinct) > 3 else "")
    counts = Counter(f for a in annotations for f in sorted(a))
    return f"{shown} ({counts.most_common(1)[0][0]})" if counts else shown


def group_families(
    motifs: Sequence[Any],
    annotations: Mapping[str, Sequence[str]] | None = None,
    *,
    similarity: np.ndarray | None = None,
    cache_dir: str | PathLike | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Group a motif collection into families (see the module docstring).

    Parameters
    ----------
    motifs : sequence of Motif
        The collection; ids must be unique.
    annotations : mapping of matrix id -> family names, optional
        JASPAR's ``tf_family`` per matrix (:func:`bionas.motifs.jaspar.jaspar_families`).
        None or missing ids: grouped by similarity alone.
    similarity : (n, n) array, optional
        :func:`pairwise_similarity` of ``motifs`` when already computed.
    cache_dir, n_jobs
        For the comparison.

    Returns
    -------
    pandas.DataFrame
        :data:`FAMILY_COLUMNS`, one row per matrix in collection order.
        ``family_id`` is the family's first member's id in collection order,
        prefixed ``family:``; ``family_label`` names up to three members and
        the JASPAR family most of its members carry, ``jaspar_families``
        the matrix's own annotation (``;``-joined), ``grouped_by`` how the
        matrix was linked.
    """
    motifs = list(motifs)
    ids = [str(m.id) for m in motifs]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"motif ids must be unique to group families; {dup!r} repeats")
    annotations = annotations or {}
    ann = [frozenset(str(f) for f in annotations.get(i, ())) for i in ids]
    if similarity is None:
        similarity = pairwise_similarity(motifs, cache_dir=cache_dir, n_jobs=n_jobs)
    labels = _average_linkage(family_distance(similarity, ann), math.log10(FAMILY_Q))
    first: dict[int, int] = {}
    for i, lab in enumerate(labels):
        first.setdefault(int(lab), i)
    rows = []
    groups: dict[int, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(int(lab), []).append(i)
    names = {g: _family_label([motifs[k].name for k in ks], [ann[k] for k in ks])
             for g, ks in groups.items()}  # fmt: skip
    for i, m in enumerate(motifs):
        members = groups[int(labels[i])]
        head = members[0]
        rows.append(
            {
                "target_id": ids[i],
                "target_name": str(m.name),
                "family_id": f"family:{ids[head]}",
                "family_label": names[int(labels[i])],
                "family_size": len(members),
                "jaspar_families": ";".join(sorted(ann[i])),
                "grouped_by": BY_FAMILY_AND_SIMILARITY if ann[i] else BY_SIMILARITY,
            }
        )
    return pd.DataFrame(rows, columns=FAMILY_COLUMNS)


def collection_families(
    source: str,
    motifs: Sequence[Any],
    *,
    cache_dir: str | PathLike | None = None,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Families of a loaded collection; JASPAR's annotations when ``source`` is a JASPAR release."""
    from bionas.motifs.compare import jaspar_releases
    from bionas.motifs.jaspar import jaspar_families

    annotations = jaspar_families(source) if str(source) in jaspar_releases() else None
    return group_families(motifs, annotations, cache_dir=cache_dir, n_jobs=n_jobs)


def read_families(path: str | PathLike, motifs: Sequence[Any] | None = None) -> pd.DataFrame:
    """A family table written by ``bionas motif-families``; checked against ``motifs`` when given.

    Raises
    ------
    InputError
        Not a family table (missing columns, empty ids), or it does not cover
        the collection (a matrix of ``motifs`` without a family: the table
        was made for another collection).
    """
    p = Path(path)
    try:
        df = pd.read_csv(p, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the family table ({type(err).__name__}: {err})", p) from None
    missing = [c for c in FAMILY_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            f"not a motif family table: missing column(s) {', '.join(missing)} "
            "(write it with `bionas motif-families`)",
            p,
        )
    empty = df.index[(df["target_id"] == "") | (df["family_id"] == "")]
    if len(empty):
        raise InputError("a row without target_id or family_id", p, line=int(empty[0]) + 2)
    df["family_size"] = pd.to_numeric(df["family_size"], errors="coerce").astype("Int64")
    if motifs is not None:
        known = set(df["target_id"])
        lacking = [str(m.id) for m in motifs if str(m.id) not in known]
        if lacking:
            raise InputError(
                f"the family table has no family for {len(lacking)} matrices of the collection "
                f"(first: {lacking[0]}); it was made for another collection: rerun "
                "`bionas motif-families` with this collection",
                p,
            )
    return df[FAMILY_COLUMNS]


def family_index(families: pd.DataFrame | None) -> dict[str, str]:
    """Matrix id -> family id (empty without a table: every matrix is then its own family)."""
    if families is None:
        return {}
    return dict(zip(families["target_id"], families["family_id"], strict=True))


__all__ = [
    "FAMILY_COLUMNS",
    "FAMILY_Q",
    "SIMILARITY_Q",
    "collection_families",
    "family_distance",
    "family_index",
    "group_families",
    "pairwise_similarity",
    "read_families",
]
