"""The sections of the report, assembled from a finished run's files."""

from __future__ import annotations

import logging
import time
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from markupsafe import Markup

from bionas import __version__
from bionas.errors import InputError
from bionas.io import read_json
from bionas.report import html as H
from bionas.report import plots

log = logging.getLogger(__name__)

#: Files of ``interpret/`` the report reads (written by ``bionas compare-motifs``).
INTERPRET_FILES = (
    "summary.json",
    "matches.tsv",
    "control_matches.tsv",
    "filters.tsv",
    "recovery.tsv",
    "found_not_given.tsv",
    "filters.meme",
    "filters_softmax.meme",
    "best_targets.meme",
)

_KIND_LABEL = {"activation": "activation PWMs", "softmax": "softmax PWMs"}


@dataclass
class ReportInputs:
    """Paths and names the report is built from (see ``bionas report --help``).

    ``history`` and ``controllers`` are absent when the run skipped the
    search; ``reference_history`` is the history of a random search to
    compare with; ``truth`` the planted-motif table of the demo;
    ``attribute_dir`` the output of ``bionas attribute`` (TF-MoDISco
    patterns), absent when it was not run; ``config_text`` the run's
    configuration as YAML; ``benchmarks`` the
    directory of Snakemake's benchmark files; ``out`` the page's path (links
    are made relative to its directory).
    """

    dataset: str
    run: str
    space: Path
    architecture: Path
    summary: Path
    test_metrics: Path
    predictions: Path
    model: Path
    interpret_dir: Path
    out: Path
    history: Path | None = None
    controllers: Sequence[Path] = field(default_factory=list)
    reference_history: Path | None = None
    truth: Path | None = None
    attribute_dir: Path | None = None
    config_text: str | None = None
    benchmarks: Path | None = None


# ---------------------------------------------------------------------------
# reading


def _read_json(path: Path, producer: str) -> dict[str, Any]:
    obj = read_json(
        path,
        missing=f"file not found; run `{producer}` to write it",
        invalid="not valid JSON",
        damaged=f"rerun `{producer}`",
    )
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object; rerun `{producer}`", path)
    return obj


def _read_tsv(path: Path, producer: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep="\t", keep_default_na=True, na_values=["NA"])
    except FileNotFoundError:
        raise InputError(f"file not found; run `{producer}` to write it", path) from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise InputError(f"not a readable TSV ({err}); rerun `{producer}`", path) from None


def _read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            y_true = np.asarray(npz["y_true"], dtype=np.float64)
            y_score = np.asarray(npz["y_score"], dtype=np.float64)
            tasks = [str(t) for t in npz["tasks"].tolist()]
    except FileNotFoundError:
        raise InputError("file not found; run `bionas evaluate` to write it", path) from None
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile, zlib.error) as err:
        # TypeError: np.load gave a plain array (an .npy), not an archive of named arrays
        raise InputError(f"unreadable predictions ({err}); rerun `bionas evaluate`", path) from None
    if y_true.ndim != 2 or y_true.shape != y_score.shape or y_true.shape[1] != len(tasks):
        raise InputError(
            f"y_true {y_true.shape}, y_score {y_score.shape} and {len(tasks)} tasks disagree; "
            "rerun `bionas evaluate`",
            path,
        )
    return y_true, y_score, tasks


# ---------------------------------------------------------------------------
# sections


def _budget(config: dict[str, Any] | None, history: pd.DataFrame | None) -> str:
    search = (config or {}).get("search", {})
    steps, children = search.get("steps"), search.get("children_per_step")
    if history is not None and not history.empty:
        steps = steps or int(history["step"].max())
        children = children or int(history.groupby("step").size().max())
    if steps is None or children is None:
        return "unknown"
    trained = (
        ""
        if history is None
        else f" ({len(history)} recorded, {int((~history['cached']).sum())} trained)"
    )
    return f"{steps} steps × {children} children = {steps * children} children{trained}"


def run_section(
    inputs: ReportInputs,
    space,
    config: dict[str, Any] | None,
    history: pd.DataFrame | None,
) -> Markup:
    """Dataset, model space, budget, compute summed from the benchmark files, the configuration."""
    from bionas.report.run import benchmark_table, compute_by_rule

    counts = " × ".join(str(c) for c in space.option_counts)
    rows = [
        ("dataset", inputs.dataset),
        ("run", inputs.run),
        ("model space", f"{space.source}: {space.size} architectures ({counts} options per layer)"),
        (
            "search",
            "skipped: the final architecture was given (config final.architecture)"
            if history is None
            else f"{(config or {}).get('search', {}).get('controller', 'unknown')} controller, "
            + _budget(config, history),
        ),
    ]
    compute = None
    if inputs.benchmarks is not None:
        table = benchmark_table(inputs.benchmarks, inputs.dataset, inputs.run)
        if not table.empty:
            mine = table[table["scope"] == "run"]
            shared = table[table["scope"] == "dataset"]
            compute = {
                "cards": [
                    (H.fmt_seconds(mine["s"].sum()), f"wall time of the run's {len(mine)} jobs, summed", ""),
                    (H.fmt_seconds(mine["cpu_time"].sum()), "CPU time of the run's jobs", ""),
                    (H.fmt_seconds(shared["s"].sum()), f"wall time of the dataset's {len(shared)} data jobs (shared by runs)", ""),
                ],
                "by_rule": H.table(
                    compute_by_rule(table),
                    {"s": H.fmt_seconds, "cpu_time": H.fmt_seconds, "max_rss": lambda v: H.fmt_number(v, 0)},
                    headers={"s": "wall time", "cpu_time": "CPU time", "max_rss": "max RSS (MB)"},
                ),
            }  # fmt: skip
    return H.render(
        "run.html",
        rows=rows,
        benchmarks=inputs.benchmarks,
        compute=compute,
        config_text=inputs.config_text,
    )


def search_section(
    inputs: ReportInputs,
    space,
    history: pd.DataFrame | None,
    reference: pd.DataFrame | None,
    chosen_id: str | None,
    config: dict[str, Any] | None = None,
) -> Markup:
    """Rewards per step, the controller over the steps, validation loss against K with the
    Pareto front and where Lambda 0, 1, 2, 10 and ``final.lambda`` land; or why there is none."""
    if history is None:
        return H.render("search.html", searched=False)
    ok = history[history["status"] == "ok"]
    best = None
    if len(history):
        row = history.loc[history["reward"].astype(float).idxmax()]
        best = {
            "children": len(history),
            "steps": history["step"].nunique(),
            "failed": int((history["status"] != "ok").sum()),
            "reward": row["reward"],
            "step": int(row["step"]),
            "child": int(row["child"]),
            "layers": " → ".join(str(row[n]) for n in space.layer_names),
        }
    controller = None
    if inputs.controllers:
        from bionas.report.run import controller_trajectory

        trajectory = controller_trajectory(inputs.controllers, space)
        controller = {
            "name": trajectory.controller,
            "plot": plots.data_uri(
                plots.controller_plot(
                    trajectory.steps,
                    trajectory.entropy,
                    trajectory.probabilities,
                    space.layer_names,
                    [layer.option_names for layer in space.layers],
                )
            ),
        }
    loss_plot, landings = None, None
    if not (ok.empty or not np.isfinite(ok["knowledge"].astype(float)).any()):
        landings = _landings(history, space, config)
        loss_plot = plots.data_uri(plots.loss_knowledge_plot(history, chosen_id, landings))
    cols = [
        *space.layer_names,
        "step",
        "child",
        "status",
        "val_loss",
        "knowledge",
        "val_auroc",
        "reward",
        "cached",
    ]
    return H.render(
        "search.html",
        searched=True,
        best=best,
        reward_plot=plots.data_uri(plots.reward_plot(history, reference)),
        has_reference=reference is not None,
        controller=controller,
        loss_plot=loss_plot,
        landings=None if landings is None or landings.empty else H.table(
            landings.assign(front=landings["front"].map({True: "yes", False: "no"}))
        ),
        objective=((config or {}).get("search") or {}).get("objective", "reward"),
        chosen_missing=chosen_id is not None and not (history["id"] == chosen_id).any(),
        children=H.table(history[cols], {"cached": lambda v: "yes" if v else "no"}),
    )


def _landings(history: pd.DataFrame, space, config: dict[str, Any] | None) -> pd.DataFrame:
    """Each shown Lambda's best child (:func:`bionas.search.pareto.lambda_landings`), the
    final stage's own ``final.lambda`` marked in a column ``final``."""
    from bionas.search.pareto import SHOWN_LAMBDAS, lambda_landings

    search = (config or {}).get("search") or {}
    final = (config or {}).get("final") or {}
    chosen = final.get("lambda", search.get("lambda"))
    lambdas = sorted({*SHOWN_LAMBDAS, *([] if chosen is None else [float(chosen)])})
    landings = lambda_landings(history, space, lambdas, search.get("reward", "loss"))
    landings.insert(1, "final", ["yes" if lam == chosen else "" for lam in landings["lambda"]])
    return landings


def final_section(inputs: ReportInputs, space, summary: dict[str, Any]) -> Markup:
    """Architecture, test metrics per replicate and task, ROC and PR curves."""
    layers = summary.get("layers") or []
    rows = []
    for layer, option in space.resolve(layers):
        params = ", ".join(f"{k}={v}" for k, v in option.params.items() if v is not None)
        rows.append(
            {"layer": layer.name, "option": option.name, "type": option.type, "parameters": params}
        )
    arch = pd.DataFrame(rows, columns=["layer", "option", "type", "parameters"])
    metrics = _read_tsv(inputs.test_metrics, "bionas evaluate")
    metrics_table = H.table(metrics, row_class=lambda r: "sig" if bool(r.get("chosen")) else "")
    y_true, y_score, tasks = _read_predictions(inputs.predictions)
    # which trained model the final model is, and by what it was chosen
    kept = {
        key: summary.get(key)
        for key in (
            "params", "chosen_candidate", "chosen_replicate", "replicates", "chosen_by",
            "reward", "val_loss", "knowledge",
        )
    }  # fmt: skip
    kept["candidates"] = summary.get("candidates") or 1
    return H.render(
        "final.html",
        architecture=H.table(arch),
        summary=kept,
        metrics=metrics_table,
        curves=plots.data_uri(plots.roc_pr_plot(y_true, y_score, tasks)),
        one_class=[t for i, t in enumerate(tasks) if y_true[:, i].min() == y_true[:, i].max()],
    )


def _target_label(row: pd.Series | None) -> str:
    if row is None:
        return ""
    strand = ", reverse complement" if row["orientation"] == "-" else ""
    return f"{row['target_id']} {row['target_name']}{strand}"


def _filter_rows(
    inputs: ReportInputs, matches: pd.DataFrame, filters: pd.DataFrame, q_threshold: float
) -> list[dict[str, Any]]:
    """One entry per filter for the table of ``motifs.html``, sorted by q-value."""
    from bionas.motifs.compare import best_matches
    from bionas.motifs.io import read_meme
    from bionas.report.logos import logo_pair_png

    directory = Path(inputs.interpret_dir)
    pwms = {m.id: m.pwm for m in read_meme(directory / "filters.meme")}
    targets = {m.id: m.pwm for m in read_meme(directory / "best_targets.meme")}
    act = matches[matches["kind"] == "activation"]
    best = best_matches(act).set_index("query") if not act.empty else pd.DataFrame()
    order = filters.assign(_q=filters["activation_q_value"].fillna(2.0)).sort_values(
        ["_q", "filter"], kind="stable"
    )
    rows = []
    for _, f in order.iterrows():
        name = f["filter"]
        pwm = pwms[name]
        match = best.loc[name] if name in best.index else None
        if pd.isna(f["activation_start"]):
            png = logo_pair_png(pwm, query_label=f"{name} (uninformative)")
            span = "—"
        else:
            start, end = int(f["activation_start"]), int(f["activation_end"])
            target = None
            if match is not None and match["target_id"] in targets:
                target = targets[match["target_id"]]
            png = logo_pair_png(
                pwm[start:end],
                target,
                offset=0 if match is None else int(match["offset"]),
                orientation="+" if match is None else match["orientation"],
                query_label=f"{name} columns {start}-{end - 1}",
                target_label=_target_label(match),
            )
            span = f"{start}-{end - 1}"
        soft = None
        if not pd.isna(f.get("softmax_best_id")):
            soft = {
                "id": f["softmax_best_id"],
                "name": f["softmax_best_name"],
                "q": f["softmax_q_value"],
            }
        rows.append(
            {
                "name": name,
                "sig": match is not None and float(match["q_value"]) < q_threshold,
                "sites": int(f["activation_sites"]),
                "span": span,
                "bits": f["activation_bits"],
                "logo": H.img(plots.data_uri(png), f"logo of {name} and its best match", "logo"),
                "match": None if match is None else {
                    "target_id": match["target_id"],
                    "target_name": match["target_name"],
                    "orientation": match["orientation"],
                    "offset": int(match["offset"]),
                    "overlap": int(match["overlap"]),
                },
                "p": None if match is None else match["p_value"],
                "q": None if match is None else match["q_value"],
                "soft": soft,
            }
        )  # fmt: skip
    return rows


def _truth_table(
    truth_path: Path, matches: pd.DataFrame, priors: list[dict[str, str]], q: float,
    families: pd.DataFrame | None,
) -> Markup | str:
    """The planted motifs and the filters that found them (own matrix or family); "" when none."""
    from bionas.motifs.interpret import prior_keys, recovery_table
    from bionas.motifs.io import Motif

    truth = _read_tsv(truth_path, "bionas simulate")
    if truth.empty or "motif_id" not in truth.columns:
        return ""
    planted = truth.groupby(["motif_id", "motif_name"], sort=False).size()
    motifs = [Motif(str(i), str(n), np.full((1, 4), 0.25)) for i, n in planted.index]
    given = set().union(*(k.family for k in prior_keys(
        [Motif(p["id"], p["name"], np.full((1, 4), 0.25)) for p in priors], families)))
    tables = {
        kind: recovery_table(matches[matches["kind"] == kind], motifs, q, families=families)
        for kind in ("activation", "softmax")
    }
    rows = []
    for i, (key, count) in enumerate(planted.items()):
        keys = prior_keys([motifs[i]], families)[0]
        row = {"planted motif": f"{key[0]} {key[1]}", "instances": int(count),
               "given as prior": bool(keys.family & given)}  # fmt: skip
        for kind, table in tables.items():
            r = table.iloc[i]
            found = bool(r["recovered"])
            row[f"best filter ({kind})"] = (
                f"{r['filter']} → {r['target_id']} {r['target_name']}"
                + (" (family)" if r["match"] == "family" else "")
                if found else "none"
            )  # fmt: skip
            row[f"q ({kind})"] = float(r["q_value"]) if found else None
        rows.append(row)
    df = pd.DataFrame(rows)
    return H.table(
        df,
        {"q (activation)": H.fmt_p, "q (softmax)": H.fmt_p,
         "given as prior": lambda v: "yes" if v else "no"},
        row_class=lambda r: "sig" if (r["q (activation)"] or 1) < q else "",
    )  # fmt: skip


def _families_note(families: dict[str, Any] | None) -> str:
    """How the collection was grouped into families, in words."""
    if not families:
        return "every matrix is its own family"
    how = families.get("grouped_by", [])
    if how == ["similarity"]:
        return (f"{families.get('count')} families by motif similarity alone: the collection "
                "has no family annotation")  # fmt: skip
    return f"{families.get('count')} families from JASPAR's structural families and motif similarity"


def _filter_link(name: Any) -> Markup | str:
    """A link to the filter's row (and logo) in the table of every filter."""
    if pd.isna(name) or not str(name):
        return "—"
    return Markup('<a class="mono" href="#{0}">{1}</a>').format(f"filter-{name}", name)


def _agreement_column(table: pd.DataFrame, agreement: pd.DataFrame, what: str, key: str) -> list[str]:
    """``k/n`` replicates for each row of ``table`` (by kind and ``key``), from replicates.tsv."""
    sub = agreement[agreement["what"] == what]
    counts = {
        (k, str(i)): f"{int(r)}/{int(n)}"
        for k, i, r, n in sub[["kind", "id", "recovered_in", "replicates"]].itertuples(index=False)
    }
    return [counts.get((k, str(i)), "—") for k, i in zip(table["kind"], table[key], strict=True)]


def _recovery_table(recovery: pd.DataFrame, agreement: pd.DataFrame) -> Markup | None:
    """Prior recovery: own matrix or family, replicate agreement, a link to the filter."""
    if recovery.empty:
        return None
    rec = recovery.copy()
    rec["replicates"] = _agreement_column(rec, agreement, "prior", "prior_id")
    rec["recovered"] = rec["recovered"].map(
        lambda v: Markup(
            '<span class="yes">yes</span>' if str(v) == "True" else '<span class="no">no</span>'
        )
    )
    rec["match"] = rec["match"].map(
        {"own": "own matrix", "family": "family member"}
    ).fillna("—")
    rec["filter"] = rec["filter"].map(_filter_link)
    return H.table(
        rec[["kind", "prior_id", "prior_name", "recovered", "match", "replicates", "filter",
             "target_id", "target_name", "family_label", "own_rank", "q_value"]],
        {"q_value": H.fmt_p, "own_rank": H.fmt_int},
        raw=("recovered", "filter"),
        headers={"family_label": "family", "own_rank": "rank of own matrix"},
    )  # fmt: skip


def _found_table(found: pd.DataFrame, agreement: pd.DataFrame) -> Markup | None:
    """Families found, not given: one row per family with its replicate agreement."""
    if found.empty:
        return None
    df = found.copy()
    df["replicates"] = _agreement_column(df, agreement, "found", "family_id")
    df["filter"] = df["filter"].map(_filter_link)
    df["best match"] = df["target_id"] + " " + df["target_name"]
    return H.table(
        df[["kind", "family_label", "replicates", "filters", "filter", "best match", "q_value",
            "members_hit"]],
        {"q_value": H.fmt_p},
        raw=("filter",),
        headers={"family_label": "family", "members_hit": "member matrices hit"},
    )  # fmt: skip


def motifs_section(inputs: ReportInputs, interpret: dict[str, Any], test_auroc: Any) -> Markup:
    """Negative control, prior recovery, found-not-given, planted motifs and every filter's logo."""
    directory = Path(inputs.interpret_dir)
    producer = "bionas compare-motifs"
    matches = _read_tsv(directory / "matches.tsv", producer)
    filters = _read_tsv(directory / "filters.tsv", producer)
    recovery = _read_tsv(directory / "recovery.tsv", producer)
    found = _read_tsv(directory / "found_not_given.tsv", producer)
    q = float(interpret.get("q_threshold", 0.05))
    sig = interpret.get("significant_filters", {})
    control = interpret.get("control_significant_filters", {})
    shuffled = interpret.get("shuffled_significant_filters", {})
    flat = interpret.get("too_flat_filters", {})
    ctl_rows = pd.DataFrame(
        [
            {
                "PWMs": _KIND_LABEL[k],
                "trained model: filters with a significant best match": sig.get(k),
                "too flat to compare": flat.get(k),
                "random model (negative control)": control.get(k),
                "trained filters, columns shuffled (negative control)": shuffled.get(k),
            }
            for k in ("activation", "softmax")
        ]
    )
    agreement = _read_tsv(directory / "replicates.tsv", producer)
    recovery_table = _recovery_table(recovery, agreement)
    found_table = _found_table(found, agreement)
    truth = None
    if inputs.truth is not None:
        families = None
        if (directory / "families.tsv").exists():
            from bionas.motifs.families import read_families

            families = read_families(directory / "families.tsv")
        truth = _truth_table(inputs.truth, matches, interpret.get("priors", []), q, families)
    keys = (
        "n_filters", "filter_width", "test_positives", "activation_threshold", "temperature",
        "targets", "collection", "tax_group", "control_seed", "shuffles",
    )  # fmt: skip
    # the filter rows are built last: they read the MEME files, which may be missing
    rows = _filter_rows(inputs, matches, filters, q)
    return H.render(
        "motifs.html",
        i={key: interpret.get(key) for key in keys},
        q=q,
        test_auroc=test_auroc,
        control=H.table(ctl_rows),
        recovery=recovery_table,
        found=found_table,
        truth=truth,
        families=_families_note(interpret.get("families")),
        filters=rows,
    )


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name))


def _pattern_link(name: Any) -> Markup | str:
    """A link to the pattern's row (and logo) in the table of every pattern."""
    if pd.isna(name) or not str(name):
        return "—"
    return Markup('<a class="mono" href="#pattern-{0}">{1}</a>').format(_anchor(name), name)


def _pattern_rows(directory: Path, patterns: pd.DataFrame, matches: pd.DataFrame, q: float):
    """One entry per pattern for ``patterns.html``: logo above its best match, aligned."""
    from bionas.motifs.compare import best_matches
    from bionas.motifs.io import read_meme
    from bionas.report.logos import logo_pair_png

    pwms = {m.id: m.pwm for m in read_meme(directory / "patterns.meme")}
    targets = (
        {m.id: m.pwm for m in read_meme(directory / "best_targets.meme")}
        if (directory / "best_targets.meme").stat().st_size and not matches.empty
        and matches["p_value"].notna().any()
        else {}
    )  # fmt: skip
    best = best_matches(matches).set_index("query") if len(matches) else pd.DataFrame()
    rows = []
    for _, p in patterns.iterrows():
        name = f"{p['task']}/{p['pattern']}"
        pwm = pwms[name]
        match = best.loc[name] if name in best.index else None
        if match is None:
            png = logo_pair_png(pwm, query_label=f"{name} (uninformative)")
        else:
            start, end = int(match["query_start"]), int(match["query_end"])
            png = logo_pair_png(
                pwm[start:end], targets.get(match["target_id"]), offset=int(match["offset"]),
                orientation=match["orientation"], query_label=f"{name} columns {start}-{end - 1}",
                target_label=_target_label(match),
            )  # fmt: skip
        rows.append(
            {"name": name, "anchor": _anchor(name), "sign": int(p["sign"]),
             "seqlets": int(p["seqlets"]),
             "logo": H.img(plots.data_uri(png), f"logo of {name} and its best match", "logo"),
             "match": "—" if match is None else _target_label(match),
             "q": None if match is None else match["q_value"],
             "sig": match is not None and float(match["q_value"]) < q}
        )  # fmt: skip
    return rows


def patterns_section(inputs: ReportInputs) -> Markup:
    """TF-MoDISco patterns: recovery and found families by patterns, every pattern's logo."""
    if inputs.attribute_dir is None:
        return H.render("patterns.html", missing="TF-MoDISco was not run (interpret.modisco: false).")
    directory = Path(inputs.attribute_dir)
    producer = "bionas attribute"
    summary = _read_json(directory / "summary.json", producer)
    patterns = _read_tsv(directory / "patterns.tsv", producer)
    matches = _read_tsv(directory / "pattern_matches.tsv", producer)
    recovery = _read_tsv(directory / "pattern_recovery.tsv", producer)
    found = _read_tsv(directory / "pattern_found.tsv", producer)
    q = float(summary.get("q_threshold", 0.05))
    rec = None
    if not recovery.empty:
        rec = recovery.copy()
        rec["recovered"] = rec["recovered"].map(
            lambda v: Markup('<span class="yes">yes</span>' if str(v) == "True"
                             else '<span class="no">no</span>'))  # fmt: skip
        rec["match"] = rec["match"].map({"own": "own matrix", "family": "family member"}).fillna("—")
        rec["filter"] = rec["filter"].map(_pattern_link)
        rec = H.table(
            rec[["prior_id", "prior_name", "recovered", "match", "filter", "target_id",
                 "target_name", "family_label", "q_value"]],
            {"q_value": H.fmt_p}, raw=("recovered", "filter"),
            headers={"filter": "pattern", "family_label": "family"},
        )  # fmt: skip
    found_table = None
    if not found.empty:
        df = found.copy()
        df["filter"] = df["filter"].map(_pattern_link)
        df["best match"] = df["target_id"] + " " + df["target_name"]
        found_table = H.table(
            df[["family_label", "filters", "filter", "best match", "q_value", "members_hit"]],
            {"q_value": H.fmt_p}, raw=("filter",),
            headers={"family_label": "family", "filters": "patterns", "filter": "best pattern",
                     "members_hit": "member matrices hit"},
        )  # fmt: skip
    tasks = "; ".join(
        f"{t}: {v.get('windows')} windows, {v.get('patterns')} patterns ({v.get('status')})"
        for t, v in summary.get("tasks", {}).items()
    )
    return H.render(
        "patterns.html",
        missing=None,
        s=summary,
        tasks=tasks,
        recovery=rec,
        found=found_table,
        patterns=_pattern_rows(directory, patterns, matches, q) if len(patterns) else [],
    )


def files_section(inputs: ReportInputs) -> Markup:
    """Relative links to the run's tables, motif files and model."""
    page_dir = Path(inputs.out).parent
    directory = Path(inputs.interpret_dir)
    entries = []
    if inputs.history is not None:
        entries.append((inputs.history, "search history: one row per child"))
    entries += [
        (directory / "matches.tsv", "filter matches against the collection"),
        (directory / "filters.meme", "activation PWMs of the filters (MEME)"),
        (directory / "filters_softmax.meme", "softmax PWMs of the filters (MEME)"),
        (directory / "filters.tsv", "one row per filter"),
        (directory / "recovery.tsv", "prior recovery"),
        (directory / "found_not_given.tsv", "motif families found outside the priors"),
        (directory / "replicates.tsv", "agreement over the final replicates"),
        (directory / "families.tsv", "the motif collection's families"),
        (directory / "control_matches.tsv", "negative control matches"),
        *(
            [(Path(inputs.attribute_dir) / "patterns.tsv", "TF-MoDISco patterns"),
             (Path(inputs.attribute_dir) / "patterns.meme", "pattern PWMs (MEME)"),
             (Path(inputs.attribute_dir) / "pattern_recovery.tsv", "prior recovery by patterns")]
            if inputs.attribute_dir is not None else []
        ),
        (Path(inputs.out).with_name("model_card.json"), "the model card (JSON)"),
        (inputs.model, "the final model (Keras)"),
        (inputs.architecture, "the final architecture"),
        (inputs.test_metrics, "test metrics per replicate and task"),
        (inputs.summary, "summary of the final model"),
    ]
    links = [
        (H.relative_href(path, page_dir), Path(path).name, text)
        for path, text in entries
        if Path(path).exists()
    ]
    return H.render("files.html", entries=links)


# ---------------------------------------------------------------------------
# the page


def _overview(
    summary: dict[str, Any], interpret: dict[str, Any], patterns: dict[str, Any] | None
) -> Markup:
    """The headline cards: test metrics, the negative control, priors and families by replicates."""
    auroc, auprc = summary.get("test_auroc"), summary.get("test_auprc")
    sig = interpret.get("significant_filters", {})
    control = interpret.get("control_significant_filters", {})
    n_priors = len(interpret.get("priors", []))
    n_control = control.get("activation")
    shuffled = interpret.get("shuffled_significant_filters", {})
    n_filters = int(interpret.get("n_filters") or 0)
    flat = interpret.get("too_flat_filters", {})
    n_compared = n_filters - int(flat.get("activation") or 0)
    n_compared_soft = n_filters - int(flat.get("softmax") or 0)
    ctl_flat = interpret.get("control_too_flat_filters", {})
    ctl_compared = [n_filters - int(ctl_flat.get(k) or 0) for k in ("activation", "softmax")]
    reps = interpret.get("replicates") or {}
    n_reps = int(reps.get("n") or 1)
    priors_in = reps.get("priors", {}).get("activation", [])
    found_in = reps.get("found", {}).get("activation", [])
    strong = [p for p in priors_in if 2 * p["in"] > n_reps]
    found_strong = [f for f in found_in if 2 * f["in"] > n_reps]
    found_weak = len(found_in) - len(found_strong)

    def listed(items: list[dict[str, Any]]) -> str:
        shown = [f"{x['name']} {x['in']}/{n_reps}" for x in items[:5]]
        return ": " + ", ".join(shown) + (", ..." if len(items) > 5 else "") if items else ""

    return H.cards(
        [
            (H.fmt_number(auroc), "test AUROC (mean over tasks)", ""),
            (H.fmt_number(auprc), "test AUPRC (mean over tasks)", ""),
            (
                f"{n_control} / {control.get('softmax')}",
                "significant matches of a random model (negative control; activation / softmax "
                f"PWMs, of {ctl_compared[0]} / {ctl_compared[1]} filters compared, about 5% are "
                "expected by chance)",
                _control_class([n_control, control.get("softmax")], ctl_compared),
            ),
            (
                f"{shuffled.get('activation')} / {shuffled.get('softmax')}",
                "significant matches of the trained filters with their columns shuffled (second "
                f"negative control; of {n_compared} / {n_compared_soft} filters compared, about 5% "
                "are expected by chance)",
                "",
            ),
            (f"{len(strong)} / {n_priors}",
             f"prior motifs recovered in most of {n_reps} replicate{'s' if n_reps > 1 else ''} "
             f"(activation PWMs){listed(priors_in)}",
             "good" if n_priors and len(strong) == n_priors else ""),
            (str(len(found_strong)),
             f"motif famil{'y' if len(found_strong) == 1 else 'ies'} found, not given, in most "
             f"replicates (activation PWMs){listed(found_strong)}"
             + (f"; {found_weak} more in fewer" if found_weak else ""),
             ""),
            (f"{sig.get('activation')} / {interpret.get('n_filters')}",
             "filters with a significant best match (activation PWMs)", ""),
            *_pattern_cards(patterns, n_priors),
        ]
    )  # fmt: skip


def _control_class(hits: list[Any], compared: list[int]) -> str:
    """``good`` when a control matches nothing, ``bad`` when it matches more than chance
    would (over 10% of the filters compared, and more than one), else neutral."""
    if all(h == 0 for h in hits):
        return "good"
    if any(h is not None and h > max(1, 0.1 * c) for h, c in zip(hits, compared, strict=True)):
        return "bad"
    return ""


def _pattern_cards(patterns: dict[str, Any] | None, n_priors: int) -> list[tuple[str, str, str]]:
    """Headline cards of the TF-MoDISco patterns (none when they were not made)."""
    if patterns is None:
        return []
    recovered = patterns.get("recovered", [])
    found = [f["label"] for f in patterns.get("found_not_given", [])]
    return [
        (f"{len(recovered)} / {n_priors}",
         f"prior motifs recovered by TF-MoDISco patterns ({patterns.get('patterns')} patterns)",
         "good" if n_priors and len(recovered) == n_priors else ""),
        (str(len(found)),
         f"motif famil{'y' if len(found) == 1 else 'ies'} found by patterns, not given"
         + (f": {', '.join(found[:5])}" if found else ""), ""),
    ]  # fmt: skip


def build_model_card(inputs: ReportInputs) -> dict[str, Any]:
    """The run's model card (:func:`bionas.report.card.model_card`) from the report's inputs."""
    from bionas.report.card import model_card

    config = None
    if inputs.config_text:
        try:
            config = yaml.safe_load(inputs.config_text)
        except yaml.YAMLError:
            config = None
    patterns = (
        _read_json(Path(inputs.attribute_dir) / "summary.json", "bionas attribute")
        if inputs.attribute_dir is not None
        else None
    )
    return model_card(
        inputs.dataset,
        inputs.run,
        _read_json(inputs.summary, "bionas evaluate"),
        _read_json(Path(inputs.interpret_dir) / "summary.json", "bionas compare-motifs"),
        patterns,
        config if isinstance(config, dict) else None,
    )


def build_report(inputs: ReportInputs) -> str:
    """The whole report page as an HTML string (see the package docstring)."""
    from bionas.records.history import read_history
    from bionas.records.space import load_space

    started = time.monotonic()
    space = load_space(inputs.space)
    config = None
    if inputs.config_text:
        try:
            config = yaml.safe_load(inputs.config_text)
        except yaml.YAMLError as err:
            raise InputError(f"the configuration is not valid YAML: {err}") from None
        if not isinstance(config, dict):
            config = None
    summary = _read_json(inputs.summary, "bionas evaluate")
    interpret = _read_json(Path(inputs.interpret_dir) / "summary.json", "bionas compare-motifs")
    history = read_history(inputs.history, space) if inputs.history is not None else None
    reference = (
        read_history(inputs.reference_history, space)
        if inputs.reference_history is not None
        else None
    )
    chosen_id = summary.get("id")

    auroc = summary.get("test_auroc")
    patterns = (
        _read_json(Path(inputs.attribute_dir) / "summary.json", "bionas attribute")
        if inputs.attribute_dir is not None
        else None
    )
    overview = _overview(summary, interpret, patterns)
    sections = [
        overview,
        run_section(inputs, space, config, history),
        search_section(inputs, space, history, reference, chosen_id, config),
        final_section(inputs, space, summary),
        motifs_section(inputs, interpret, auroc),
        patterns_section(inputs),
        files_section(inputs),
    ]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = H.render(
        "body.html",
        sections=sections,
        version=__version__,
        stamp=stamp,
        seconds=time.monotonic() - started,
    )
    nav = [
        ("run", "Run"),
        ("search", "Search"),
        ("final", "Final model"),
        ("motifs", "Motifs"),
        ("patterns", "Patterns"),
        ("files", "Files"),
    ]
    return H.page(
        f"bionas report: {inputs.dataset} / {inputs.run}",
        f"dataset {inputs.dataset}, run {inputs.run}, {len(space.layers)}-layer model space of "
        f"{space.size} architectures",
        nav,
        body,
    )
