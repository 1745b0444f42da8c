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
    ``config_text`` the run's configuration as YAML; ``benchmarks`` the
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
) -> Markup:
    """Rewards per step, the controller over the steps, validation loss against K; or why there is none."""
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
    loss_plot = None
    if not (ok.empty or not np.isfinite(ok["knowledge"].astype(float)).any()):
        loss_plot = plots.data_uri(plots.loss_knowledge_plot(history, chosen_id))
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
        chosen_missing=chosen_id is not None and not (history["id"] == chosen_id).any(),
        children=H.table(history[cols], {"cached": lambda v: "yes" if v else "no"}),
    )


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
    truth_path: Path, matches: pd.DataFrame, priors: list[dict[str, str]], q: float
) -> Markup | str:
    """The planted motifs and the filters that found them; "" when the truth has none."""
    from bionas.motifs.compare import best_matches, id_base

    truth = _read_tsv(truth_path, "bionas simulate")
    if truth.empty or "motif_id" not in truth.columns:
        return ""
    prior_ids = {id_base(p["id"]) for p in priors}
    prior_names = {str(p["name"]).casefold() for p in priors}
    rows = []
    for (motif_id, motif_name), group in truth.groupby(["motif_id", "motif_name"], sort=False):
        row = {"planted motif": f"{motif_id} {motif_name}", "instances": len(group)}
        row["given as prior"] = (
            id_base(motif_id) in prior_ids or str(motif_name).casefold() in prior_names
        )
        for kind in ("activation", "softmax"):
            top = best_matches(matches[matches["kind"] == kind])
            hit = top[
                top["target_id"].map(id_base).eq(id_base(motif_id))
                | top["target_name"].str.casefold().eq(str(motif_name).casefold())
            ]
            if hit.empty:
                row[f"best filter ({kind})"] = "none"
                row[f"q ({kind})"] = None
            else:
                h = hit.sort_values(["q_value", "p_value"]).iloc[0]
                row[f"best filter ({kind})"] = f"{h['query']} → {h['target_id']}"
                row[f"q ({kind})"] = float(h["q_value"])
        rows.append(row)
    df = pd.DataFrame(rows)
    return H.table(
        df,
        {"q (activation)": H.fmt_p, "q (softmax)": H.fmt_p,
         "given as prior": lambda v: "yes" if v else "no"},
        row_class=lambda r: "sig" if (r["q (activation)"] or 1) < q else "",
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
    ctl_rows = pd.DataFrame(
        [
            {
                "PWMs": _KIND_LABEL[k],
                "trained model: filters with a significant best match": sig.get(k),
                "random model (negative control)": control.get(k),
            }
            for k in ("activation", "softmax")
        ]
    )
    recovery_table = None
    if not recovery.empty:
        rec = recovery.copy()
        rec["recovered"] = rec["recovered"].map(
            lambda v: Markup(
                '<span class="yes">yes</span>' if str(v) == "True" else '<span class="no">no</span>'
            )
        )
        recovery_table = H.table(
            rec[["kind", "prior_id", "prior_name", "recovered", "filter", "target_id", "target_name",
                 "orientation", "offset", "p_value", "q_value"]],
            {"p_value": H.fmt_p, "q_value": H.fmt_p, "offset": H.fmt_int},
            raw=("recovered",),
        )  # fmt: skip
    found_table = None
    if not found.empty:
        found_table = H.table(
            found[["kind", "query", "target_id", "target_name", "orientation", "offset",
                   "p_value", "q_value", "query_consensus", "target_consensus"]],
            {"p_value": H.fmt_p, "q_value": H.fmt_p, "offset": H.fmt_int},
            headers={"query": "filter"},
        )  # fmt: skip
    truth = None
    if inputs.truth is not None:
        truth = _truth_table(inputs.truth, matches, interpret.get("priors", []), q)
    keys = (
        "n_filters", "filter_width", "test_positives", "activation_threshold", "temperature",
        "targets", "collection", "tax_group", "control_seed",
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
        filters=rows,
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
        (directory / "found_not_given.tsv", "significant matches outside the priors"),
        (directory / "control_matches.tsv", "negative control matches"),
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

    auroc, auprc = summary.get("test_auroc"), summary.get("test_auprc")
    sig = interpret.get("significant_filters", {})
    control = interpret.get("control_significant_filters", {})
    recovered = interpret.get("recovered", {}).get("activation", [])
    n_priors = len(interpret.get("priors", []))
    found = interpret.get("found_not_given", {}).get("activation", [])
    n_control = control.get("activation")
    overview = H.cards(
        [
            (H.fmt_number(auroc), "test AUROC (mean over tasks)", ""),
            (H.fmt_number(auprc), "test AUPRC (mean over tasks)", ""),
            (
                f"{n_control} / {control.get('softmax')}",
                "significant matches of a random model (negative control; activation / softmax PWMs)",
                "good" if n_control == 0 and control.get("softmax") == 0 else "bad",
            ),
            (f"{len(recovered)} / {n_priors}", "prior motifs recovered (activation PWMs)",
             "good" if n_priors and len(recovered) == n_priors else ""),
            (str(len(found)),
             f"motif{'' if len(found) == 1 else 's'} found, not given (activation PWMs)"
             + (f": {', '.join(found[:5])}{', ...' if len(found) > 5 else ''}" if found else ""),
             ""),
            (f"{sig.get('activation')} / {interpret.get('n_filters')}",
             "filters with a significant best match (activation PWMs)", ""),
        ]
    )  # fmt: skip
    sections = [
        overview,
        run_section(inputs, space, config, history),
        search_section(inputs, space, history, reference, chosen_id),
        final_section(inputs, space, summary),
        motifs_section(inputs, interpret, auroc),
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
        ("files", "Files"),
    ]
    return H.page(
        f"bionas report: {inputs.dataset} / {inputs.run}",
        f"dataset {inputs.dataset}, run {inputs.run}, {len(space.layers)}-layer model space of "
        f"{space.size} architectures",
        nav,
        body,
    )
