"""A trained model's first-layer filters against a motif collection, with a negative control.

Every first-layer filter becomes a PWM two ways, and each is compared with
every matrix of the collection (tomtom-lite, both strands, q-values over the
whole collection; see :mod:`bionas.motifs.compare`):

- ``activation``: from the test windows that activate the filter
  (:func:`bionas.motifs.interpret.activation_pwms` on the test positives, trimmed to
  the columns of at least 1.0 bit before comparing);
- ``softmax``: from the weights, a per-position softmax with ``--temperature``
  (:func:`bionas.motifs.interpret.softmax_pwms`, trimmed at 0.5 bit).

Two negative controls run the same pipeline and should match nothing: the
filters of a randomly initialised model of the same architecture (built by
the caller) on the same sequences, and the trained filters with their
columns shuffled. The count of control filters with a significant best
match is written next to the model's own counts, and so is, per kind, the
number of filters too flat to compare (no column informative enough).

Outputs in ``--out-dir`` (each written atomically):

``matches.tsv``
    ``kind`` (activation | softmax), then :data:`bionas.motifs.compare.MATCH_COLUMNS`:
    the ``--top-k`` best targets of every filter and kind (q-values over all
    targets), one row with status ``uninformative`` for a PWM with no column
    informative enough to compare.
``tomtom.tsv``
    The activation PWMs' matches in Tomtom's own columns and order
    (:func:`tomtom_table`), so tools that read Tomtom output read ours.
``control_matches.tsv``
    The same for the randomly initialised model.
``shuffled_matches.tsv``
    The same for the trained filters with their columns (positions) shuffled
    (:func:`bionas.motifs.pwm.shuffled_columns`, seeded by the control seed):
    a second negative control that keeps the trained model's weight scale
    and each filter's information content.
``filters.meme``, ``filters_softmax.meme``
    Activation and softmax PWMs of every filter, full width (MEME minimal).
``filters.tsv``
    One row per filter: activation sites, and per kind the compared span,
    its information content (bits), consensus, best match and its p/q-value.
``recovery.tsv``
    Per kind and prior motif: recovered or not, by the prior's own matrix or
    a matrix of its family, the best filter and its q-value
    (:func:`bionas.motifs.interpret.recovery_table`).
``found_not_given.tsv``
    Per kind, one row per motif family that some filter's significant best
    match belongs to and that is no prior's family
    (:func:`bionas.motifs.interpret.found_not_given`).
``families.tsv``
    The collection's family table the judgement used
    (:data:`bionas.motifs.families.FAMILY_COLUMNS`), so the folder is
    complete for the report.
``replicates.tsv``
    Agreement over the final architecture's replicates: per kind, for each
    prior and each family found (not given) in any replicate, in how many
    replicates it was recovered or found (:func:`replicate_agreement`).
``best_targets.meme``
    The matrices of every best match (as stored in the collection), so the
    report can draw them without reading the collection again.
``summary.json``
    Settings, counts (filters, significant filters, recovered priors, found
    motifs, significant control filters) and timings.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from bionas.errors import InputError
from bionas.io import output_dir, write_json, write_text
from bionas.motifs.pwm import shuffled_columns

#: The two ways a filter becomes a PWM, in report order.
KINDS = ("activation", "softmax")

#: Columns of ``filters.tsv``.
FILTER_COLUMNS = [
    "filter",
    "width",
    "activation_sites",
    *(
        f"{kind}_{col}"
        for kind in KINDS
        for col in (
            "start", "end", "bits", "consensus", "best_id", "best_name",
            "orientation", "offset", "p_value", "q_value",
        )
    ),
]  # fmt: skip


@dataclass(frozen=True)
class AnalysisSettings:
    """How filters become PWMs and what counts as a match (recorded in ``summary.json``)."""

    temperature: float = 0.15
    activation_threshold: float = 0.5
    q_threshold: float = 0.05
    top_k: int = 10
    control_seed: int = 0
    cache_dir: str | None = None
    threads: int = 1


class FilterPWMs(NamedTuple):
    """PWMs of one model's first-layer filters.

    ``activation`` and ``softmax``: ``(n_filters, width, 4)`` float64;
    ``sites``: ``(n_filters,)`` int64 windows aligned per activation PWM.
    """

    activation: np.ndarray
    softmax: np.ndarray
    sites: np.ndarray


def filter_names(n: int) -> list[str]:
    """``filter_00`` ... ``filter_<n-1>``, zero-padded to the same width (at least 2)."""
    digits = max(2, len(str(n - 1)))
    return [f"filter_{i:0{digits}d}" for i in range(n)]


def model_pwms(
    model: Any, positives: np.ndarray, temperature: float, threshold: float
) -> FilterPWMs:
    """Activation and softmax PWMs of a Keras model's first convolution."""
    from bionas.motifs.interpret import activation_pwms, softmax_pwms

    act = activation_pwms(model, positives, threshold)
    soft = softmax_pwms(model, temperature)
    return FilterPWMs(act.pwms, soft, act.counts)


def compare_both(
    pwms: FilterPWMs,
    collection: Sequence[Any],
    *,
    top_k: int,
    cache_dir: str | None,
    threads: int,
) -> pd.DataFrame:
    """Both kinds of PWMs against the collection: one table with a leading ``kind`` column."""
    from bionas.motifs.compare import ACTIVATION_MIN_BITS, SOFTMAX_MIN_BITS, compare_motifs

    names = filter_names(len(pwms.activation))
    tables = []
    for kind, arr, bits in (
        ("activation", pwms.activation, ACTIVATION_MIN_BITS),
        ("softmax", pwms.softmax, SOFTMAX_MIN_BITS),
    ):
        df = compare_motifs(
            arr,
            collection,
            query_names=names,
            min_bits=bits,
            top_k=top_k,
            cache_dir=cache_dir,
            n_jobs=threads,
        )
        df.insert(0, "kind", kind)
        tables.append(df)
    return pd.concat(tables, ignore_index=True)


#: Tomtom's output columns, in its order.
TOMTOM_COLUMNS = [
    "Query_ID", "Target_ID", "Optimal_offset", "p-value", "E-value", "q-value", "Overlap",
    "Query_consensus", "Target_consensus", "Orientation",
]  # fmt: skip


def tomtom_table(matches: pd.DataFrame, kind: str = "activation") -> str:
    """One kind's compared matches as Tomtom writes them (``tomtom -text``), as TSV text.

    ``Optimal_offset`` is our ``offset``: query column ``j`` of the compared
    span faces target column ``j + offset``. Like Tomtom's, p-values are
    those the q-values come from (here calibrated, see
    :mod:`bionas.motifs.compare`). Tomtom's trailing comment lines are left
    out; uninformative filters have no rows.
    """
    sub = matches[(matches["kind"] == kind) & matches["p_value"].notna()]
    out = pd.DataFrame(
        {
            "Query_ID": sub["query"],
            "Target_ID": sub["target_id"],
            "Optimal_offset": sub["offset"].astype("Int64"),
            "p-value": sub["p_value"].map(lambda v: f"{v:.6g}"),
            "E-value": sub["e_value"].map(lambda v: f"{v:.6g}"),
            "q-value": sub["q_value"].map(lambda v: f"{v:.6g}"),
            "Overlap": sub["overlap"].astype("Int64"),
            "Query_consensus": sub["query_consensus"],
            "Target_consensus": sub["target_consensus"],
            "Orientation": sub["orientation"],
        },
        columns=TOMTOM_COLUMNS,
    )
    return out.to_csv(sep="\t", index=False, lineterminator="\n")


def flat_filters(matches: pd.DataFrame) -> dict[str, int]:
    """Per kind, the number of filters too flat to compare (status ``uninformative``)."""
    flat = matches[matches["status"] == "uninformative"]
    return {kind: int(flat.loc[flat["kind"] == kind, "query"].nunique()) for kind in KINDS}


def significant_filters(matches: pd.DataFrame, q_threshold: float) -> dict[str, int]:
    """Per kind, the number of filters whose best match has ``q < q_threshold``."""
    from bionas.motifs.compare import best_matches

    out = {}
    for kind in KINDS:
        top = best_matches(matches[matches["kind"] == kind])
        out[kind] = int((top["q_value"] < q_threshold).sum()) if not top.empty else 0
    return out


def per_kind(matches: pd.DataFrame, fn, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """``fn(matches of one kind, ...)`` for every kind, stacked with a leading ``kind`` column."""
    tables = []
    for kind in KINDS:
        df = fn(matches[matches["kind"] == kind].reset_index(drop=True), *args, **kwargs)
        df = df.drop(columns="kind", errors="ignore")
        df.insert(0, "kind", kind)
        tables.append(df)
    return pd.concat(tables, ignore_index=True)


def filter_table(pwms: FilterPWMs, matches: pd.DataFrame) -> pd.DataFrame:
    """One row per filter (:data:`FILTER_COLUMNS`) from its PWMs and the match table."""
    from bionas.motifs.compare import best_matches
    from bionas.motifs.pwm import column_bits, iupac_consensus

    names = filter_names(len(pwms.activation))
    rows: dict[str, dict[str, Any]] = {
        name: {"filter": name, "width": int(pwms.activation.shape[1]), "activation_sites": int(n)}
        for name, n in zip(names, pwms.sites, strict=True)
    }
    for kind, arr in (("activation", pwms.activation), ("softmax", pwms.softmax)):
        sub = matches[matches["kind"] == kind]
        spans = sub.drop_duplicates("query").set_index("query")
        best = best_matches(sub).set_index("query")
        for i, name in enumerate(names):
            row = rows[name]
            start, end = spans.loc[name, "query_start"], spans.loc[name, "query_end"]
            if pd.isna(start):
                row.update({f"{kind}_bits": 0.0, f"{kind}_consensus": ""})
                continue
            span = arr[i][int(start) : int(end)]
            row.update(
                {
                    f"{kind}_start": int(start),
                    f"{kind}_end": int(end),
                    f"{kind}_bits": round(float(column_bits(span).sum()), 3),
                    f"{kind}_consensus": iupac_consensus(span),
                }
            )
            if name in best.index:
                b = best.loc[name]
                row.update(
                    {
                        f"{kind}_best_id": b["target_id"],
                        f"{kind}_best_name": b["target_name"],
                        f"{kind}_orientation": b["orientation"],
                        f"{kind}_offset": b["offset"],
                        f"{kind}_p_value": b["p_value"],
                        f"{kind}_q_value": b["q_value"],
                    }
                )
    df = pd.DataFrame(list(rows.values())).reindex(columns=FILTER_COLUMNS)
    for kind in KINDS:
        for col in ("start", "end", "offset"):
            df[f"{kind}_{col}"] = df[f"{kind}_{col}"].astype("Int64")
    return df


def write_tsv(path: Path, df: pd.DataFrame) -> None:
    """A table as TSV, atomically; missing values as ``NA``."""
    write_text(path, df.to_csv(sep="\t", index=False, na_rep="NA", lineterminator="\n"))


def load_model(path: Path, test: Any = None, test_path: str | Path | None = None):
    """A saved Keras model (not compiled); InputError naming the file when it cannot be read,
    or naming ``test_path`` when the model does not read the windows of ``test`` (Tensors)."""
    import keras

    if not path.is_file():
        raise InputError("model file not found; run `bionas evaluate` to write it", path)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(
            f"cannot load the model ({type(err).__name__}: {err}); delete it and rerun "
            "`bionas evaluate`",
            path,
        ) from None
    if test is not None and tuple(model.input_shape[1:]) != tuple(test.X.shape[1:]):
        raise InputError(
            f"the model reads inputs of shape {tuple(model.input_shape[1:])}, the test tensors "
            f"hold {tuple(test.X.shape[1:])}",
            test_path,
            key="X",
        )
    return model


def positive_windows(test: Any, test_path: str | Path) -> np.ndarray:
    """The windows of ``test`` (Tensors) positive for any task; InputError when there is none."""
    positives = test.X[(test.y == 1).any(axis=1)]
    if positives.shape[0] == 0:
        raise InputError(
            "the test split has no positive window to compute activation PWMs", test_path, key="y"
        )
    return positives


def load_targets(source: str, tax_group: str) -> list[Any]:
    """The motif collection: a JASPAR release's CORE matrices of ``tax_group`` ('all': every group), or a MEME file."""
    from bionas.motifs.compare import load_collection

    group = None if tax_group.strip().lower() in ("", "all") else tax_group
    return load_collection(source, "CORE", group)


#: Columns of ``replicates.tsv``.
AGREEMENT_COLUMNS = ["kind", "what", "id", "name", "recovered_in", "replicates", "seeds"]


@dataclass(frozen=True)
class Interpretation:
    """One model's filters judged against the priors: matches, recovery, families found."""

    pwms: FilterPWMs
    matches: pd.DataFrame
    recovery: pd.DataFrame
    found: pd.DataFrame


def interpret_model(
    model: Any,
    positives: np.ndarray,
    priors: Sequence[Any],
    collection: Sequence[Any],
    settings: AnalysisSettings,
    families: pd.DataFrame | None,
) -> Interpretation:
    """PWMs of one model's filters, their matches, prior recovery and found families."""
    from bionas.motifs.interpret import found_not_given, recovery_table

    pwms = model_pwms(model, positives, settings.temperature, settings.activation_threshold)
    matches = compare_both(
        pwms, collection, top_k=settings.top_k, cache_dir=settings.cache_dir,
        threads=settings.threads,
    )  # fmt: skip
    q = settings.q_threshold
    return Interpretation(
        pwms,
        matches,
        per_kind(matches, recovery_table, priors, q, families=families),
        per_kind(matches, found_not_given, priors, q, families=families),
    )


def replicate_agreement(
    replicates: Sequence[tuple[int, Interpretation]], priors: Sequence[Any]
) -> pd.DataFrame:
    """In how many replicates each prior was recovered and each family found, per kind.

    Parameters
    ----------
    replicates : sequence of (seed, Interpretation)
        One per trained replicate of the final architecture.
    priors : sequence of Motif

    Returns
    -------
    pandas.DataFrame
        :data:`AGREEMENT_COLUMNS`: ``what`` is ``prior`` (every prior, in
        order) or ``found`` (every family found, not given, in any replicate,
        most replicates first); ``seeds`` lists the replicates (by training
        seed) that recovered or found it.
    """
    n = len(replicates)
    rows = []
    for kind in KINDS:
        for prior in priors:
            seeds = [
                seed
                for seed, rep in replicates
                if rep.recovery.loc[
                    (rep.recovery["kind"] == kind) & (rep.recovery["prior_id"] == str(prior.id)),
                    "recovered",
                ].any()
            ]
            rows.append(
                {"kind": kind, "what": "prior", "id": str(prior.id), "name": str(prior.name),
                 "recovered_in": len(seeds), "replicates": n, "seeds": seeds}
            )  # fmt: skip
        found: dict[str, dict[str, Any]] = {}
        for seed, rep in replicates:
            sub = rep.found[rep.found["kind"] == kind]
            for fam, label, target in zip(
                sub["family_id"], sub["family_label"], sub["target_name"], strict=True
            ):
                entry = found.setdefault(fam, {"name": label or target, "seeds": []})
                if seed not in entry["seeds"]:
                    entry["seeds"].append(seed)
        for fam, entry in sorted(found.items(), key=lambda kv: -len(kv[1]["seeds"])):
            rows.append(
                {"kind": kind, "what": "found", "id": fam, "name": entry["name"],
                 "recovered_in": len(entry["seeds"]), "replicates": n, "seeds": entry["seeds"]}
            )  # fmt: skip
    df = pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
    df["seeds"] = df["seeds"].map(lambda s: ",".join(str(x) for x in s))
    return df


@dataclass(frozen=True)
class FilterAnalysis:
    """Everything :func:`write_analysis` writes; see the module docstring for the files."""

    trained: FilterPWMs
    matches: pd.DataFrame
    control_matches: pd.DataFrame
    shuffled_matches: pd.DataFrame
    recovery: pd.DataFrame
    found: pd.DataFrame
    filters: pd.DataFrame
    agreement: pd.DataFrame
    families: pd.DataFrame | None
    seconds: dict[str, float]


def analyse_filters(
    model: Any,
    control_model: Any,
    positives: np.ndarray,
    priors: Sequence[Any],
    collection: Sequence[Any],
    settings: AnalysisSettings,
    model_path: str | Path | None = None,
    *,
    families: pd.DataFrame | None = None,
    replicates: Sequence[tuple[int, Any]] = (),
) -> FilterAnalysis:
    """PWMs of ``model``'s and ``control_model``'s filters, their matches, prior recovery, found families.

    Parameters
    ----------
    model, control_model : keras.Model
        The trained model and a randomly initialised one of the same architecture.
    positives : (n, L, 4) uint8
        Windows that give the activation PWMs (the test split's positives).
    priors, collection : sequence of Motif
    settings : AnalysisSettings
    model_path : path, optional
        Named in the error when the trained model's filters cannot be read.
    families : pandas.DataFrame, optional
        The collection's families (:mod:`bionas.motifs.families`); without
        them every matrix is its own family.
    replicates : sequence of (seed, keras.Model)
        Every trained replicate of the final architecture, for the agreement
        table; none: the agreement is over ``model`` alone.
    """
    started = time.monotonic()
    try:
        main = interpret_model(model, positives, priors, collection, settings, families)
    except ValueError as err:
        raise InputError(f"cannot read the first-layer filters: {err}", model_path) from None
    compared = time.monotonic()
    control = model_pwms(
        control_model, positives, settings.temperature, settings.activation_threshold
    )
    opts = {"top_k": settings.top_k, "cache_dir": settings.cache_dir, "threads": settings.threads}
    control_matches = compare_both(control, collection, **opts)
    rng = np.random.default_rng(settings.control_seed)
    shuffled = FilterPWMs(
        shuffled_columns(main.pwms.activation, rng),
        shuffled_columns(main.pwms.softmax, rng),
        main.pwms.sites,
    )
    shuffled_matches = compare_both(shuffled, collection, **opts)
    controlled = time.monotonic()
    reps = [
        (seed, interpret_model(m, positives, priors, collection, settings, families))
        for seed, m in replicates
    ] or [(None, main)]
    return FilterAnalysis(
        trained=main.pwms,
        matches=main.matches,
        control_matches=control_matches,
        shuffled_matches=shuffled_matches,
        recovery=main.recovery,
        found=main.found,
        filters=filter_table(main.pwms, main.matches),
        agreement=replicate_agreement(reps, priors),
        families=families,
        seconds={
            "model": round(compared - started, 2),
            "control": round(controlled - compared, 2),
            "replicates": round(time.monotonic() - controlled, 2),
            "total": round(time.monotonic() - started, 2),
        },
    )


def _agreement_counts(agreement: pd.DataFrame, what: str) -> dict[str, list[dict[str, Any]]]:
    """Per kind: id, name and the number of replicates that recovered (``prior``) or found it."""
    out = {}
    for kind in KINDS:
        rows = agreement[(agreement["kind"] == kind) & (agreement["what"] == what)]
        out[kind] = [
            {"id": str(i), "name": str(n), "in": int(k)}
            for i, n, k in rows[["id", "name", "recovered_in"]].itertuples(index=False)
        ]
    return out


def write_analysis(
    out_dir: str | Path,
    analysis: FilterAnalysis,
    layers: Sequence[str],
    priors: Sequence[Any],
    collection: Sequence[Any],
    settings: AnalysisSettings,
    provenance: dict[str, Any],
) -> dict[str, Any]:
    """Write every file of the module docstring into ``out_dir`` (each atomically); return the summary.

    ``provenance`` (collection, tax group, control seed, test positives) joins
    the settings and counts in ``summary.json``.
    """
    from bionas.motifs.compare import SHUFFLES, best_matches
    from bionas.motifs.io import Motif, write_meme

    out = output_dir(out_dir)
    trained, matches, q = analysis.trained, analysis.matches, settings.q_threshold
    names = filter_names(len(trained.activation))
    write_meme(out / "filters.meme", [Motif(n, n, p) for n, p in zip(names, trained.activation)])
    write_meme(
        out / "filters_softmax.meme", [Motif(n, n, p) for n, p in zip(names, trained.softmax)]
    )
    by_id = {m.id: m for m in collection}
    top_ids = list(
        dict.fromkeys(
            i for kind in KINDS for i in best_matches(matches[matches["kind"] == kind])["target_id"]
        )
    )
    write_meme(
        out / "best_targets.meme",
        [Motif(i, by_id[i].name, by_id[i].pwm) for i in top_ids if i in by_id],
    )
    write_tsv(out / "matches.tsv", matches)
    write_text(out / "tomtom.tsv", tomtom_table(matches))
    write_tsv(out / "control_matches.tsv", analysis.control_matches)
    write_tsv(out / "shuffled_matches.tsv", analysis.shuffled_matches)
    write_tsv(out / "filters.tsv", analysis.filters)
    write_tsv(out / "recovery.tsv", analysis.recovery)
    write_tsv(out / "found_not_given.tsv", analysis.found)
    write_tsv(out / "replicates.tsv", analysis.agreement)
    if analysis.families is not None:
        write_tsv(out / "families.tsv", analysis.families)
    recovery, found, agreement = analysis.recovery, analysis.found, analysis.agreement
    summary = {
        "n_filters": len(names),
        "filter_width": int(trained.activation.shape[1]),
        "layers": list(layers),
        "test_positives": provenance["test_positives"],
        "collection": provenance["collection"],
        "tax_group": provenance["tax_group"],
        "targets": len(collection),
        "priors": [{"id": m.id, "name": m.name} for m in priors],
        "temperature": settings.temperature,
        "activation_threshold": settings.activation_threshold,
        "q_threshold": q,
        "top_k": settings.top_k,
        "shuffles": SHUFFLES,
        "control_seed": provenance["control_seed"],
        "significant_filters": significant_filters(matches, q),
        "control_significant_filters": significant_filters(analysis.control_matches, q),
        "shuffled_significant_filters": significant_filters(analysis.shuffled_matches, q),
        "too_flat_filters": flat_filters(matches),
        "control_too_flat_filters": flat_filters(analysis.control_matches),
        "recovered": {
            kind: recovery.loc[
                (recovery["kind"] == kind) & recovery["recovered"], "prior_id"
            ].tolist()
            for kind in KINDS
        },
        "recovered_by": {
            kind: {
                str(i): str(m)
                for i, m in recovery.loc[
                    (recovery["kind"] == kind) & recovery["recovered"], ["prior_id", "match"]
                ].itertuples(index=False)
            }
            for kind in KINDS
        },
        "found_not_given": {
            kind: [
                {"family_id": f, "label": lab, "best": f"{t} {n}"}
                for f, lab, t, n in found.loc[
                    found["kind"] == kind, ["family_id", "family_label", "target_id", "target_name"]
                ].itertuples(index=False)
            ]
            for kind in KINDS
        },
        "families": provenance.get("families"),
        "replicates": {
            "n": int(agreement["replicates"].max()) if len(agreement) else 0,
            "seeds": provenance.get("replicate_seeds", []),
            "priors": _agreement_counts(agreement, "prior"),
            "found": _agreement_counts(agreement, "found"),
        },
        "seconds": dict(analysis.seconds),
    }
    write_json(out / "summary.json", summary)
    return summary
