"""JASPAR matrices through pyjaspar (offline): look-up by ID or name, whole collections."""

from __future__ import annotations

import difflib
import functools
import logging
import re
from collections.abc import Sequence

import numpy as np

from bionas.errors import InputError
from bionas.motifs.io import Motif
from bionas.motifs.pwm import ALPHABET

log = logging.getLogger(__name__)


DEFAULT_RELEASE = "JASPAR2024"


_ID = re.compile(r"^(?P<base>[A-Za-z]{2,3}\d{4,})(?:\.(?P<version>\d+))?$")


@functools.lru_cache(maxsize=4)
def _jaspar_db(release: str):
    from pyjaspar import jaspar_releases, jaspardb

    if release not in jaspar_releases:
        raise InputError(
            f"unknown JASPAR release {release!r}; available: {', '.join(sorted(jaspar_releases))}"
        )
    return jaspardb(release=release)


@functools.lru_cache(maxsize=4)
def _jaspar_table(release: str) -> list[tuple[str, int, str, str]]:
    """Every matrix of a release: (base ID, version, name, collection)."""
    db = _jaspar_db(release)
    rows = db.conn.execute("SELECT BASE_ID, VERSION, NAME, COLLECTION FROM MATRIX").fetchall()
    return [(str(b), int(v), str(nm), str(c)) for b, v, nm, c in rows]


def _counts_to_pwm(counts) -> np.ndarray:
    arr = np.array([counts[b] for b in ALPHABET], dtype=np.float64).T  # (width, 4)
    totals = arr.sum(axis=1, keepdims=True)
    return np.where(totals > 0, arr / np.where(totals > 0, totals, 1.0), 0.25)


def _close_matches(query: str, table: list[tuple[str, int, str, str]]) -> str:
    ids = [f"{b}.{v}" for b, v, _, _ in table]
    names = sorted({nm for _, _, nm, c in table if c.upper() == "CORE"})
    by_upper = {nm.upper(): nm for nm in names}
    hits = difflib.get_close_matches(query.upper(), list(by_upper), n=5, cutoff=0.6)
    shown = [by_upper[h] for h in hits]
    shown += difflib.get_close_matches(query.upper(), ids, n=5, cutoff=0.6)
    return f"; close matches: {', '.join(dict.fromkeys(shown))}" if shown else "; no close matches"


def resolve_jaspar(query: str, release: str = DEFAULT_RELEASE) -> str:
    """The versioned matrix ID a query stands for.

    A query is a matrix ID with version (``MA0139.2``), without version (the
    latest version in the release), or a TF name (case-insensitive, CORE
    collection; among several matrices of that name the latest version of the
    lowest base ID, logged).

    Raises
    ------
    InputError
        Unknown ID or name; the message lists close matches.
    """
    table = _jaspar_table(release)
    q = query.strip()
    m = _ID.match(q)
    if m:
        base, version = m["base"].upper(), m["version"]
        versions = sorted(v for b, v, _, _ in table if b.upper() == base)
        if versions and (version is None or int(version) in versions):
            return f"{base}.{version if version is not None else versions[-1]}"
    named = [(b, v) for b, v, nm, c in table if nm.upper() == q.upper() and c.upper() == "CORE"]
    if named:
        base = min(b for b, _ in named)
        version = max(v for b, v in named if b == base)
        bases = sorted({b for b, _ in named})
        if len(bases) > 1:
            log.info(
                "%s: %d matrices named %r (%s); using %s.%d",
                release,
                len(bases),
                q,
                ", ".join(bases),
                base,
                version,
            )
        return f"{base}.{version}"
    what = "matrix ID" if m else "matrix ID or TF name"
    raise InputError(f"unknown JASPAR {what} {q!r} in {release}{_close_matches(q, table)}")


def fetch_jaspar(queries: Sequence[str], release: str = DEFAULT_RELEASE) -> list[Motif]:
    """Fetch JASPAR matrices as probability motifs, offline (pyjaspar).

    Parameters
    ----------
    queries : sequence of str
        Matrix IDs with or without version, or TF names (see :func:`resolve_jaspar`).
    release : str
        A pyjaspar release, e.g. ``"JASPAR2024"``.

    Returns
    -------
    list of Motif
        One per distinct matrix, in query order; ``id`` is the versioned
        matrix ID, ``name`` the TF name, ``pwm`` counts normalised per position.

    Raises
    ------
    InputError
        Unknown release, ID or name (with close matches).
    """
    if isinstance(queries, str):
        queries = [queries]
    if not queries:
        raise InputError("no JASPAR queries given")
    db = _jaspar_db(release)
    out: list[Motif] = []
    seen: set[str] = set()
    for q in queries:
        matrix_id = resolve_jaspar(q, release)
        if matrix_id in seen:
            log.info("%s: %r is %s again; kept once", release, q, matrix_id)
            continue
        seen.add(matrix_id)
        record = db.fetch_motif_by_id(matrix_id)
        if record is None:  # pragma: no cover - resolve_jaspar found it in the same database
            raise InputError(f"JASPAR matrix {matrix_id} could not be read from {release}")
        out.append(Motif(matrix_id, str(record.name), _counts_to_pwm(record.counts)))
    return out


def jaspar_collection(
    release: str = DEFAULT_RELEASE, collection: str = "CORE", tax_group: str | None = "vertebrates"
) -> list[Motif]:
    """Every matrix (latest versions) of a JASPAR collection, e.g. to compare filters against."""
    db = _jaspar_db(release)
    records = db.fetch_motifs(collection=collection, tax_group=[tax_group] if tax_group else None)
    return [Motif(str(r.matrix_id), str(r.name), _counts_to_pwm(r.counts)) for r in records]


@functools.lru_cache(maxsize=4)
def _jaspar_families(release: str) -> dict[str, tuple[str, ...]]:
    db = _jaspar_db(release)
    rows = db.conn.execute(
        "SELECT m.BASE_ID, m.VERSION, a.VAL FROM MATRIX m JOIN MATRIX_ANNOTATION a ON m.ID = a.ID "
        "WHERE a.TAG = 'family'"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for base, version, value in rows:
        for family in str(value).split("::"):
            family = family.strip()
            if family and family not in out.setdefault(f"{base}.{int(version)}", []):
                out[f"{base}.{int(version)}"].append(family)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def jaspar_families(release: str = DEFAULT_RELEASE) -> dict[str, tuple[str, ...]]:
    """JASPAR's structural family annotation (``tf_family``) of every matrix, by versioned id.

    A heterodimer's matrix carries the families of both partners (one
    annotation row each, or one value joined by ``::``). Matrices without an
    annotation are absent.
    """
    return dict(_jaspar_families(release))
