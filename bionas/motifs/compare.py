"""Filters against a motif database: tomtom-lite (memelite) with Tomtom's q-values.

Every query PWM (a filter turned into a PWM, or any motif) is compared with
every target motif of a collection by :func:`memelite.tomtom`, on both strands
of the target. The result is one table in Tomtom's terms (:data:`MATCH_COLUMNS`):
p-value of the best alignment, E-value (p times the number of targets),
q-value (Benjamini-Hochberg over that query's targets), offset, overlap,
orientation and the consensus strings.

Conventions
-----------
- Motifs are ``(width, 4)`` float64 probability matrices, columns A, C, G, T.
  memelite wants ``(4, width)``; :func:`to_tomtom_layout` is the one place that
  converts. Everything handed to memelite is float64: memelite compiles one set
  of kernels per dtype (about 50 s each on 2 cores), so mixing float32 and
  float64 would pay that twice.
- memelite's kernels are compiled by numba on the first call and cached on disk
  in the directory named by ``NUMBA_CACHE_DIR``. That variable is read when
  memelite is imported, so this module imports memelite lazily and sets the
  variable first (:func:`numba_cache_dir`): point every job of a run at one
  directory and only the first job compiles.
- Near-uniform filter PWMs match long, low-information database motifs with
  tiny p-values (for example CTCF MA1929.2 at q ~ 1e-11). Pass ``min_bits``
  so each query is trimmed to its informative span first (:func:`trim_pwm`):
  1.0 bit for activation-based PWMs (:data:`ACTIVATION_MIN_BITS`), 0.5 bit for
  softmax PWMs (:data:`SOFTMAX_MIN_BITS`). A query with no column that
  informative is not compared; it gets one row with status ``uninformative``.
- p-values depend on the target set (each query column's score distribution
  is built from all target columns): always compare against the whole
  collection, never a handful of chosen motifs.
- tomtom-lite's analytic p-values are not calibrated for filter PWMs, and
  trimming does not make them so. Its null scores every query column against
  the pooled columns of all targets as if a target's columns were drawn
  independently; real matrices are runs of similar columns (CTCF's long
  variants MA1929.2/MA1930.2, GATA1::TAL1 MA0140.3, ZNF354A are mostly
  low-information), so a query of low- or mid-information columns scores
  above the column median at every position of such a target, and the
  best-alignment p-value (already the maximum over all offsets, so offsets
  are not the problem) is orders of magnitude too small. Measured (widths
  8/14/20, best hit q < 0.05): Dirichlet(1) random PWMs 82% untrimmed, 49%
  trimmed at 0.5 bit; Dirichlet(2) 100% untrimmed, 16-21% at 0.5 bit.
- So by default (``shuffles``, :data:`SHUFFLES`) each query's p-values are
  calibrated against an empirical null: its own (trimmed) columns in random
  orders (:func:`bionas.motifs.pwm.shuffled_columns`), compared with the same
  collection. A query that is just a random arrangement of its columns is
  exchangeable with these copies, whatever its width and information
  content, so its best hit is significant in about 5% of cases at q < 0.05;
  a real motif loses its match when its columns are shuffled. The
  calibrated p-value of a target is ``(1 + r) / (1 + shuffles * n_targets)``
  with ``r`` the number of null p-values (all copies, all targets) at or
  below its tomtom-lite p-value (Phipson & Smyth's permutation p-value, never
  zero). The q-value is Benjamini-Hochberg over the query's targets, but
  never below the query's own permutation p-value for matching anything,
  ``(1 + s) / (1 + shuffles)`` with ``s`` the copies whose best p-value is at
  or below the query's best: that gate makes "the best hit has q < alpha"
  a test of level alpha for a query that is a random arrangement of its
  columns (BH alone lets a query with many moderately small p-values through
  slightly more often, 6-9% instead of 5% measured), and puts a floor of
  ``1 / (1 + shuffles)`` under every q-value.
  tomtom-lite's own p-value stays in ``tomtom_p_value`` and orders ties.
  A query whose columns are all alike (a one-column core, a homopolymer) is
  its own null and is never significant.
- The fix is in the null, not in the trimming or the overlap rule. Trimming
  stays (to the span between the first and last informative column), but a
  rule that a match must cover the whole trimmed core does not help: the
  spurious hits already lie wholly inside the long low-information targets,
  and such a rule would forbid a long filter from ever matching a shorter
  motif (a 17-column filter against a 12-column matrix).
- The negative controls: a randomly initialised model's filters on the same
  data, through the same trimming, and the trained filters with their
  columns shuffled (:func:`bionas.motifs.pwm.shuffled_columns`), which share
  the trained model's weight scale and information content.
- q-values: :func:`benjamini_hochberg` is our own six lines of numpy, kept
  over ``scipy.stats.false_discovery_control(p, method="bh")`` (scipy 1.17.1,
  measured): scipy was not a dependency then (modisco-lite brings it now, but
  this module still does not import it), ``import scipy.stats``
  costs 0.55-0.75 s, and once installed Keras imports ``scipy.sparse`` in
  every child job (+0.2 s); scipy is 8x slower on one query's p-values (68 vs
  8.6 us for 50) and only 8% faster on a 64 x 879 table (2.9 vs 3.2 ms); it
  differs in the last bit (up to 3.3e-16 relative) on about a third of the
  q-values; and it raises on NaN p-values, which ours propagates.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.motifs.io import Motif, read_meme
from bionas.motifs.jaspar import DEFAULT_RELEASE, jaspar_collection
from bionas.motifs.pwm import (
    _check_pwms,
    _consensus_many,
    shuffled_columns,
    to_tomtom_layout,
    trim_pwm,
)
from bionas.motifs.pwm import reverse_complement as _rc

#: Trimming threshold (bits) for activation-based filter PWMs.
ACTIVATION_MIN_BITS = 1.0


#: Trimming threshold (bits) for softmax filter PWMs.
SOFTMAX_MIN_BITS = 0.5


#: Columns of the table :func:`compare_motifs` returns, in order.
MATCH_COLUMNS = [
    "query",
    "query_start",
    "query_end",
    "status",
    "rank",
    "target_id",
    "target_name",
    "orientation",
    "offset",
    "overlap",
    "p_value",
    "e_value",
    "q_value",
    "query_consensus",
    "target_consensus",
    "tomtom_p_value",
]

#: Column-shuffled copies of each query whose p-values form its null (see
#: :func:`compare_motifs`). The smallest calibrated p-value is about
#: ``1 / (SHUFFLES * n_targets)``, so the best target's q-value cannot fall
#: below about ``1 / SHUFFLES``; 100 leaves room under q = 0.05 for a true
#: match (it must beat all but about 3 of the 87,900 null p-values of 879
#: targets).
SHUFFLES = 100

#: Shuffled copies handed to memelite in one call (bounds its
#: ``(n, n_targets, 5)`` float64 result to about 70 MB for 879 targets).
_SHUFFLED_PER_CALL = 2000


_ENV = "NUMBA_CACHE_DIR"




_VERSION = re.compile(r"^(.+)\.\d+$")


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg q-values (as Tomtom computes them per query).

    ``q_(i) = min_{j >= i} p_(j) * n / j`` over the p-values sorted ascending,
    capped at 1.

    Parameters
    ----------
    p_values : (n,) or (m, n) array-like
        p-values in [0, 1]; a 2-D array is corrected row by row.

    Returns
    -------
    float64, the shape of ``p_values``
        q-values in the input order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim not in (1, 2):
        raise ValueError(f"p_values must be one- or two-dimensional, got shape {p.shape}")
    n = p.shape[-1]
    if n == 0:
        return p.copy()
    order = np.argsort(p, axis=-1, kind="stable")
    scaled = np.take_along_axis(p, order, axis=-1) * n / np.arange(1, n + 1)
    q_sorted = np.minimum.accumulate(scaled[..., ::-1], axis=-1)[..., ::-1]
    q = np.empty_like(p)
    np.put_along_axis(q, order, np.minimum(q_sorted, 1.0), axis=-1)
    return q


def id_base(motif_id: str) -> str:
    """A matrix id without its version suffix: ``MA0139.2`` -> ``MA0139``."""
    m = _VERSION.match(str(motif_id))
    return m.group(1) if m else str(motif_id)


def _frozen(motifs: Sequence[Motif]) -> tuple[Motif, ...]:
    """The motifs with read-only float64 copies of their matrices (safe to cache)."""
    out = []
    for m in motifs:
        pwm = np.array(m.pwm, dtype=np.float64)
        pwm.flags.writeable = False
        out.append(Motif(m.id, m.name, pwm))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _jaspar_collection(release: str, collection: str, tax_group: str | None) -> tuple[Motif, ...]:
    with warnings.catch_warnings():
        # an empty selection is reported by load_collection as an InputError
        warnings.filterwarnings("ignore", message="Zero motifs returned")
        return _frozen(jaspar_collection(release, collection=collection, tax_group=tax_group))


@functools.lru_cache(maxsize=8)
def _meme_collection(path: str, mtime_ns: int, size: int) -> tuple[Motif, ...]:
    return _frozen(read_meme(path))


def jaspar_releases() -> list[str]:
    """The JASPAR releases the installed pyjaspar ships (offline)."""
    from pyjaspar import jaspar_releases as releases

    return sorted(releases)


def load_collection(
    source: str | PathLike = DEFAULT_RELEASE,
    collection: str = "CORE",
    tax_group: str | None = "vertebrates",
) -> list[Motif]:
    """A whole motif collection: a JASPAR release (via pyjaspar, offline) or a MEME file.

    Results are cached in-process (a MEME file is re-read when its size or
    modification time changes); the PWM arrays are read-only.

    Parameters
    ----------
    source : str or PathLike
        A JASPAR release name (``"JASPAR2024"``; see :func:`jaspar_releases`)
        or the path of a MEME motif file.
    collection : str
        JASPAR collection (``"CORE"``, ``"UNVALIDATED"``, ...). Ignored for a
        MEME file.
    tax_group : str or None
        JASPAR taxonomic group (``"vertebrates"``, ``"insects"``, ...); None
        for all. Ignored for a MEME file.

    Returns
    -------
    list of bionas.motifs.io.Motif
        The latest version of each matrix, ``pwm`` as ``(width, 4)`` float64
        probabilities (JASPAR counts divided by column totals, no pseudocount).

    Raises
    ------
    InputError
        Unknown release and no such file, or an empty selection.
    """
    name = os.fspath(source)
    releases = jaspar_releases()
    if name in releases:
        motifs = _jaspar_collection(name, collection, tax_group)
        if not motifs:
            raise InputError(
                f"{name} has no motifs in collection {collection!r} for tax group {tax_group!r}"
            )
        return [Motif(m.id, m.name, m.pwm) for m in motifs]
    path = Path(name)
    if not path.is_file():
        raise InputError(
            f"not a JASPAR release ({', '.join(releases)}) and no such MEME file",
            path=name,
        )
    stat = path.stat()
    motifs = _meme_collection(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return [Motif(m.id, m.name, m.pwm) for m in motifs]


_tomtom_fn = None


def default_cache_dir() -> Path:
    """Where compiled kernels go when no directory is named.

    ``$NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/bionas/numba``
    (``~/.cache/bionas/numba``).
    """
    if os.environ.get(_ENV):
        return Path(os.environ[_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bionas" / "numba"


def _loaded_cache_dir(tomtom_module: Any) -> Path | None:
    """The directory memelite's kernels actually cache into (numba's own record)."""
    cache = getattr(getattr(tomtom_module, "_tomtom", None), "_cache", None)
    path = getattr(cache, "_cache_path", None)
    return None if path is None else Path(path)


def numba_cache_dir(cache_dir: str | PathLike | None = None) -> Path:
    """Set the compilation cache for memelite's kernels and import memelite.

    numba fixes a function's cache directory when the function is defined,
    that is when memelite is imported; so the directory is set in
    ``NUMBA_CACHE_DIR`` (and numba's configuration reloaded) before the first
    import. Once memelite is imported in a process its directory cannot
    change: asking for another one warns and keeps the first.

    Parameters
    ----------
    cache_dir : str or PathLike, optional
        Writable directory shared by all jobs of a run; created if missing.
        Default :func:`default_cache_dir`.

    Returns
    -------
    Path
        The directory memelite's kernels are cached in.
    """
    global _tomtom_fn
    want = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    want = want.expanduser().resolve()
    if "memelite.tomtom" not in sys.modules:
        want.mkdir(parents=True, exist_ok=True)
        os.environ[_ENV] = str(want)
        if "numba" in sys.modules:
            from numba.core import config

            config.reload_config()
    import memelite  # noqa: F401  (its package attribute ``tomtom`` is the function)

    tomtom_module = sys.modules["memelite.tomtom"]
    _tomtom_fn = tomtom_module.tomtom
    loaded = _loaded_cache_dir(tomtom_module)
    if loaded is None:
        return want
    if want != loaded and want not in loaded.parents:
        # numba caches into <NUMBA_CACHE_DIR>/<package dir>_<hash>, or next to the source
        used = loaded.parent if loaded.name.startswith("memelite_") else loaded
        warnings.warn(
            f"memelite was already imported with its compilation cache in {used}; "
            f"{want} is not used in this process",
            stacklevel=2,
        )
        return used
    return want


def tomtom_function(cache_dir: str | PathLike | None = None) -> Any:
    """memelite's ``tomtom``, imported with its compilation cache set (:func:`numba_cache_dir`)."""
    if _tomtom_fn is None or cache_dir is not None:
        numba_cache_dir(cache_dir)
    return _tomtom_fn


def _as_queries(queries: Any) -> list[np.ndarray]:
    if isinstance(queries, np.ndarray):
        if queries.ndim == 2:
            raise ValueError("queries must be a sequence of (width, 4) PWMs, not a single PWM")
        if queries.ndim != 3:
            raise ValueError(
                f"queries must be (n, width, 4) or a list of (width, 4), got {queries.shape}"
            )
    return _check_pwms(list(queries), "query")


def compare_motifs(
    queries: Any,
    targets: Sequence[Any],
    *,
    query_names: Sequence[str] | None = None,
    min_bits: float | None = None,
    top_k: int | None = None,
    cache_dir: str | PathLike | None = None,
    n_jobs: int = -1,
    shuffles: int = SHUFFLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare query PWMs with every target motif (tomtom-lite, both strands).

    Parameters
    ----------
    queries : sequence of (width_i, 4) array-like, or (n, width, 4) array
        Query PWMs (rows sum to 1; float64 inside); objects with ``pwm`` (and
        ``id``) attributes work too.
    targets : sequence of bionas.motifs.io.Motif
        The whole collection (see :func:`load_collection`); anything with
        ``id``, ``name`` and ``pwm`` attributes.
    query_names : sequence of str, optional
        One per query. Default: each query's ``id`` attribute, else
        ``filter_<i>``.
    min_bits : float, optional
        Trim each query to its informative span first (:func:`trim_pwm`);
        queries with no column that informative are not compared. Default:
        no trimming.
    top_k : int, optional
        Keep the k best targets of each query. Default: every target. The
        q-values are computed over all targets either way.
    cache_dir : str or PathLike, optional
        numba compilation cache (see :func:`numba_cache_dir`).
    n_jobs : int
        Threads for memelite (-1: numba's default, all cores).
    shuffles : int
        Column-shuffled copies of each (trimmed) query whose p-values against
        the collection are the query's null (see the module notes); 0 keeps
        tomtom-lite's analytic p-values, which are not calibrated for
        low-information queries. The copies cost about ``shuffles`` times
        one comparison.
    seed : int
        Seeds the shuffles together with each query's own values, so a
        query's result does not depend on the other queries or their order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`MATCH_COLUMNS`, queries in input order, each query's
        targets by ascending p-value (ties: higher score, then collection
        order), ``rank`` counting from 1.

        - ``query_start``, ``query_end``: the span of the query that was
          compared (``end`` exclusive; the whole query without trimming).
        - ``status``: ``compared``, or ``uninformative`` for a query with no
          column of ``min_bits``; such a query has one row, targets empty and
          numbers missing.
        - ``orientation``: ``+`` when the query aligns with the target as
          stored, ``-`` when it aligns with the target's reverse complement.
        - ``offset``: query column ``j`` (of the compared span) faces column
          ``j + offset`` of the target in that orientation (of the reverse
          complement for ``-``); negative when the query starts before the
          target.
        - ``overlap``: number of aligned columns.
        - ``p_value``: of the best alignment over both strands, calibrated
          against the query's shuffled copies (``shuffles`` > 0), else
          ``tomtom_p_value``.
        - ``e_value``: ``p_value * len(targets)``.
        - ``q_value``: Benjamini-Hochberg over the query's targets, with
          ``shuffles`` > 0 at least the query's permutation p-value of
          matching anything (see the module notes).
        - ``query_consensus``: IUPAC consensus of the compared span;
          ``target_consensus``: of the target in the aligned orientation.
        - ``tomtom_p_value``: tomtom-lite's p-value of that alignment
          (memelite combines the two strands' p-values as
          ``1 - (1 - p)^2``); it ranks targets with equal ``p_value``.
    """
    if not isinstance(queries, np.ndarray):
        queries = list(queries)
    qs = _as_queries(queries)
    targets = list(targets)
    if not qs:
        raise ValueError("compare_motifs needs at least one query")
    if not targets:
        raise ValueError("compare_motifs needs at least one target motif")
    if query_names is None:
        query_names = [str(getattr(q, "id", f"filter_{i}")) for i, q in enumerate(queries)]
    else:
        query_names = [str(n) for n in query_names]
        if len(query_names) != len(qs):
            raise ValueError(f"{len(query_names)} query names for {len(qs)} queries")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k!r}")
    if isinstance(shuffles, bool) or not isinstance(shuffles, (int, np.integer)) or shuffles < 0:
        raise ValueError(f"shuffles must be an integer >= 0, got {shuffles!r}")

    t_pwms = _check_pwms(targets, "target")
    t_ids = np.array([str(t.id) for t in targets], dtype=object)
    t_names = np.array([str(t.name) for t in targets], dtype=object)

    spans = [(0, q.shape[0]) if min_bits is None else trim_pwm(q, min_bits) for q in qs]
    compared = np.array([i for i, s in enumerate(spans) if s is not None], dtype=np.int64)
    n_q, n_t = len(qs), len(targets)
    k = n_t if top_k is None else min(top_k, n_t)

    # rows per query: k for a compared one, 1 for an uninformative one
    n_rows = np.ones(n_q, dtype=np.int64)
    n_rows[compared] = k
    first_row = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
    starts = np.array([np.nan if s is None else s[0] for s in spans])
    ends = np.array([np.nan if s is None else s[1] for s in spans])
    cols: dict[str, Any] = {
        "query": np.repeat(np.array(query_names, dtype=object), n_rows),
        "query_start": np.repeat(starts, n_rows),
        "query_end": np.repeat(ends, n_rows),
        "status": np.repeat(np.where(np.isnan(starts), "uninformative", "compared"), n_rows),
    }
    total = int(n_rows.sum())
    for name in ("rank", "offset", "overlap", "p_value", "e_value", "q_value", "tomtom_p_value"):
        cols[name] = np.full(total, np.nan)
    for name in ("target_id", "target_name", "orientation", "query_consensus", "target_consensus"):
        cols[name] = np.full(total, np.nan, dtype=object)

    if compared.size:
        tomtom = tomtom_function(cache_dir)
        trimmed = [qs[i][spans[i][0] : spans[i][1]] for i in compared]
        t_layout = [to_tomtom_layout(t) for t in t_pwms]
        res = tomtom(
            [to_tomtom_layout(q) for q in trimmed],
            t_layout,
            n_nearest=None,
            reverse_complement=True,
            n_jobs=n_jobs,
        )
        # res: (5, n_compared, n_targets) = p-value, score, offset, overlap, strand (1: rc)
        raw_p, score, offset, overlap, strand = res
        if shuffles:
            p, p_any = _shuffle_calibrated(
                tomtom, trimmed, t_layout, raw_p, int(shuffles), seed, n_jobs
            )
            q = np.maximum(benjamini_hochberg(p), p_any[:, None])
        else:
            p = raw_p
            q = benjamini_hochberg(p)
        tie = np.broadcast_to(np.arange(n_t), p.shape)
        order = np.lexsort((tie, -score, raw_p, p), axis=-1)[:, :k]  # (n_compared, k)

        flat = (np.arange(compared.size)[:, None] * n_t + order).ravel()

        def pick(a: np.ndarray) -> np.ndarray:
            return a.ravel()[flat]

        rows = (first_row[compared][:, None] + np.arange(k)).ravel()
        target = order.ravel()
        rc = pick(strand) > 0.5
        cols["rank"][rows] = np.tile(np.arange(1, k + 1), compared.size)
        cols["offset"][rows] = pick(offset)
        cols["overlap"][rows] = pick(overlap)
        cols["p_value"][rows] = pick(p)
        cols["e_value"][rows] = pick(p) * n_t
        cols["q_value"][rows] = pick(q)
        cols["tomtom_p_value"][rows] = pick(raw_p)
        cols["target_id"][rows] = t_ids[target]
        cols["target_name"][rows] = t_names[target]
        cols["orientation"][rows] = np.where(rc, "-", "+")
        cols["query_consensus"][rows] = np.repeat(_consensus_many(trimmed), k)
        fwd = _consensus_many(t_pwms)
        rev = _consensus_many([_rc(t) for t in t_pwms])
        cols["target_consensus"][rows] = np.where(rc, rev[target], fwd[target])

    df = pd.DataFrame(cols, columns=MATCH_COLUMNS)
    for name in ("query_start", "query_end", "rank", "offset", "overlap"):
        df[name] = df[name].astype("Int64")
    return df


def _shuffle_seed(pwm: np.ndarray, seed: int) -> list[int]:
    """Seed of one query's shuffles: ``seed`` and a digest of the query's values."""
    digest = hashlib.blake2b(np.ascontiguousarray(pwm).tobytes(), digest_size=8).digest()
    return [int(seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest, "little")]


def _shuffle_calibrated(
    tomtom: Any,
    queries: list[np.ndarray],
    targets: list[np.ndarray],
    p_values: np.ndarray,
    shuffles: int,
    seed: int,
    n_jobs: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query's p-values against its column-shuffled copies' (an empirical null).

    Returns ``(p, p_any)``: ``p[i, t] = (1 + r) / (1 + shuffles * n_targets)``
    with ``r`` the number of the copies' p-values (every copy against every
    target, both strands) at or below query ``i``'s p-value for target ``t``;
    ``p_any[i] = (1 + s) / (1 + shuffles)`` with ``s`` the number of copies
    whose best p-value is at or below the query's best.
    """
    n_t = p_values.shape[1]
    out = np.empty_like(p_values)
    out_any = np.empty(p_values.shape[0])
    per_call = max(1, _SHUFFLED_PER_CALL // shuffles)
    for start in range(0, len(queries), per_call):
        block = queries[start : start + per_call]
        copies = []
        for pwm in block:
            rng = np.random.default_rng(_shuffle_seed(pwm, seed))
            copies.extend(shuffled_columns([pwm] * shuffles, rng))
        null = tomtom(
            [np.ascontiguousarray(c.T) for c in copies],
            targets,
            n_nearest=None,
            reverse_complement=True,
            n_jobs=n_jobs,
        )[0].reshape(len(block), shuffles, n_t)
        best = null.min(axis=2)
        null = null.reshape(len(block), shuffles * n_t)
        null.sort(axis=1)
        for i, row in enumerate(null):
            obs = p_values[start + i]
            r = np.searchsorted(row, obs, side="right")
            out[start + i] = (1.0 + r) / (1.0 + row.size)
            out_any[start + i] = (1.0 + np.count_nonzero(best[i] <= obs.min())) / (1.0 + shuffles)
    return out, out_any


def best_matches(matches: pd.DataFrame) -> pd.DataFrame:
    """Each compared query's best target (smallest p-value), one row per query.

    Parameters
    ----------
    matches : pandas.DataFrame
        A table from :func:`compare_motifs` (or read back from its TSV);
        needs ``query`` and ``p_value``, uses ``q_value`` to break ties.

    Returns
    -------
    pandas.DataFrame
        The same columns, queries in first-appearance order; uninformative
        queries (no p-value) left out.
    """
    sig = matches[matches["p_value"].notna()]
    if sig.empty:
        return sig.copy()
    keys = [k for k in ("p_value", "q_value", "tomtom_p_value") if k in sig.columns]
    first = pd.unique(sig["query"])
    best = sig.sort_values(keys, kind="stable").drop_duplicates("query")
    return best.set_index("query").loc[first].reset_index()[list(matches.columns)]
