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


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{H.esc(anchor)}">\n<h2>{H.esc(title)}</h2>\n{body}\n</section>'


def _kv_table(rows: Sequence[tuple[str, str]], raw: bool = False) -> str:
    cells = "".join(
        f"<tr><th>{H.esc(k)}</th><td>{v if raw else H.esc(v)}</td></tr>" for k, v in rows
    )
    return f"<table><tbody>{cells}</tbody></table>"


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
) -> str:
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
    body = [_kv_table(rows)]
    if inputs.benchmarks is not None:
        table = benchmark_table(inputs.benchmarks, inputs.dataset, inputs.run)
        if table.empty:
            body.append('<p class="note">No benchmark files found under '
                        f"{H.esc(inputs.benchmarks)}.</p>")  # fmt: skip
        else:
            mine = table[table["scope"] == "run"]
            shared = table[table["scope"] == "dataset"]
            body.append("<h3>Compute</h3>")
            body.append(
                H.cards(
                    [
                        (H.fmt_seconds(mine["s"].sum()), f"wall time of the run's {len(mine)} jobs, summed", ""),
                        (H.fmt_seconds(mine["cpu_time"].sum()), "CPU time of the run's jobs", ""),
                        (H.fmt_seconds(shared["s"].sum()), f"wall time of the dataset's {len(shared)} data jobs (shared by runs)", ""),
                    ]
                )
            )  # fmt: skip
            body.append(
                '<p class="note">Sums over Snakemake benchmark files (columns <code>s</code> and '
                "<code>cpu_time</code>); jobs that ran in parallel count in full, so the sum of "
                "wall times exceeds the elapsed time. The report's own job is not included.</p>"
            )
            by_rule = compute_by_rule(table)
            body.append(
                "<details><summary>Compute per rule</summary>"
                + H.table(
                    by_rule,
                    {"s": H.fmt_seconds, "cpu_time": H.fmt_seconds, "max_rss": lambda v: H.fmt_number(v, 0)},
                    headers={"s": "wall time", "cpu_time": "CPU time", "max_rss": "max RSS (MB)"},
                )
                + "</details>"
            )  # fmt: skip
    if inputs.config_text:
        body.append("<h3>Configuration</h3>")
        body.append(
            f"<details><summary>config (YAML)</summary><pre>{H.esc(inputs.config_text)}</pre></details>"
        )
    return _section("run", "The run", "\n".join(body))


def search_section(
    inputs: ReportInputs,
    space,
    history: pd.DataFrame | None,
    reference: pd.DataFrame | None,
    chosen_id: str | None,
) -> str:
    """Rewards per step, the controller over the steps, validation loss against K; or why there is none."""
    if history is None:
        return _section(
            "search",
            "The search",
            '<p class="note">This run did not search: the final architecture was given in the '
            "configuration (<code>final.architecture</code>), so there is no search history and "
            "no controller to show.</p>",
        )
    body = []
    ok = history[history["status"] == "ok"]
    failed = int((history["status"] != "ok").sum())
    best = history.loc[history["reward"].astype(float).idxmax()] if len(history) else None
    if best is not None:
        layers = " → ".join(str(best[n]) for n in space.layer_names)
        body.append(
            f"<p>{len(history)} children in {history['step'].nunique()} steps, "
            f"{failed} failed. Best reward {H.fmt_number(best['reward'])} "
            f"(step {int(best['step'])}, child {int(best['child'])}): <code>{H.esc(layers)}</code>.</p>"
        )
    body.append("<h3>Reward of every child</h3>")
    body.append(H.img(plots.data_uri(plots.reward_plot(history, reference)), "reward per step"))
    if reference is None:
        body.append(
            '<p class="note">No random-search reference was given (<code>bionas report '
            "--reference-history</code> of a run with <code>controller: random</code>).</p>"
        )
    if inputs.controllers:
        from bionas.report.run import controller_trajectory

        trajectory = controller_trajectory(inputs.controllers, space)
        body.append(f"<h3>The {H.esc(trajectory.controller)} controller over the steps</h3>")
        body.append(
            H.img(
                plots.data_uri(
                    plots.controller_plot(
                        trajectory.steps,
                        trajectory.entropy,
                        trajectory.probabilities,
                        space.layer_names,
                        [layer.option_names for layer in space.layers],
                    )
                ),
                "controller entropy and option probabilities",
            )
        )
        body.append(
            '<p class="note">Entropy of the controller\'s option distributions summed over layers '
            "(nats), and each layer's option probabilities along the most likely path.</p>"
        )
    body.append("<h3>Validation loss against knowledge dissimilarity</h3>")
    if ok.empty or not np.isfinite(ok["knowledge"].astype(float)).any():
        body.append('<p class="note">No child trained successfully with a finite K.</p>')
    else:
        body.append(
            H.img(
                plots.data_uri(plots.loss_knowledge_plot(history, chosen_id)),
                "validation loss against K",
            )
        )
        if chosen_id is not None and not (history["id"] == chosen_id).any():
            body.append(
                '<p class="note">The final architecture is not among the trained children.</p>'
            )
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
    body.append(
        "<details><summary>Every child</summary>"
        + H.table(history[cols], {"cached": lambda v: "yes" if v else "no"})
        + "</details>"
    )
    return _section("search", "The search", "\n".join(body))


def _kept(summary: dict[str, Any]) -> str:
    """Which trained model the final model is, and by what it was chosen."""
    candidates = summary.get("candidates") or 1
    which = (
        f"candidate {H.esc(summary.get('chosen_candidate'))} of {H.esc(candidates)}, "
        if candidates > 1
        else ""
    )
    which += f"replicate {H.esc(summary.get('chosen_replicate'))} of {H.esc(summary.get('replicates'))} kept"
    if summary.get("chosen_by") == "reward":
        return (
            f"{which} (highest reward, {H.fmt_number(summary.get('reward'))}: validation loss "
            f"{H.fmt_number(summary.get('val_loss'))}, K {H.fmt_number(summary.get('knowledge'))})"
        )
    return f"{which} (lowest validation loss, {H.fmt_number(summary.get('val_loss'))})"


def final_section(inputs: ReportInputs, space, summary: dict[str, Any]) -> str:
    """Architecture, test metrics per replicate and task, ROC and PR curves."""
    layers = summary.get("layers") or []
    rows = []
    for layer, option in space.resolve(layers):
        params = ", ".join(f"{k}={v}" for k, v in option.params.items() if v is not None)
        rows.append(
            {"layer": layer.name, "option": option.name, "type": option.type, "parameters": params}
        )
    arch = pd.DataFrame(rows, columns=["layer", "option", "type", "parameters"])
    body = [
        "<h3>Architecture</h3>",
        H.table(arch),
        f"<p>{H.fmt_number(summary.get('params'))} weights; {_kept(summary)}; the test set "
        "never chose.</p>",
    ]
    metrics = _read_tsv(inputs.test_metrics, "bionas evaluate")
    body.append("<h3>Test metrics per replicate and task</h3>")
    body.append(H.table(metrics, row_class=lambda r: "sig" if bool(r.get("chosen")) else ""))
    y_true, y_score, tasks = _read_predictions(inputs.predictions)
    body.append("<h3>ROC and precision-recall curves of the kept replicate</h3>")
    body.append(
        H.img(plots.data_uri(plots.roc_pr_plot(y_true, y_score, tasks)), "ROC and PR curves")
    )
    one_class = [t for i, t in enumerate(tasks) if y_true[:, i].min() == y_true[:, i].max()]
    if one_class:
        body.append(
            f'<p class="note">No curve for {H.esc(", ".join(one_class))}: one class only in the test split.</p>'
        )
    return _section("final", "The final model", "\n".join(body))


def _target_label(row: pd.Series | None) -> str:
    if row is None:
        return ""
    strand = ", reverse complement" if row["orientation"] == "-" else ""
    return f"{row['target_id']} {row['target_name']}{strand}"


def _filter_rows(
    inputs: ReportInputs, matches: pd.DataFrame, filters: pd.DataFrame, q_threshold: float
) -> str:
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
        logo = H.img(plots.data_uri(png), f"logo of {name} and its best match", "logo")
        sig = match is not None and float(match["q_value"]) < q_threshold
        best_text = "—" if match is None else (
            f"{H.esc(match['target_id'])} {H.esc(match['target_name'])}<br>"
            f"<span class=\"mono\">{H.esc(match['orientation'])} offset {int(match['offset'])}, "
            f"overlap {int(match['overlap'])}</span>"
        )  # fmt: skip
        soft = "—"
        if not pd.isna(f.get("softmax_best_id")):
            soft = (
                f"{H.esc(f['softmax_best_id'])} {H.esc(f['softmax_best_name'])}<br>"
                f"q = {H.esc(H.fmt_p(f['softmax_q_value']))}"
            )
        rows.append(
            f'<tr class="{"sig" if sig else ""}"><td class="mono">{H.esc(name)}</td>'
            f'<td class="num">{int(f["activation_sites"])}</td><td class="num">{H.esc(span)}</td>'
            f'<td class="num">{H.fmt_number(f["activation_bits"], 2)}</td>'
            f"<td>{logo}</td><td>{best_text}</td>"
            f'<td class="num">{H.esc(H.fmt_p(None if match is None else match["p_value"]))}</td>'
            f'<td class="num">{H.esc(H.fmt_p(None if match is None else match["q_value"]))}</td>'
            f"<td>{soft}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "filter", "sites", "span", "bits", "logo (top: filter; bottom: best match, aligned)",
            "best match (activation)", "p", "q", "best match (softmax)",
        )
    )  # fmt: skip
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _truth_table(
    truth_path: Path, matches: pd.DataFrame, priors: list[dict[str, str]], q: float
) -> str:
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
    return (
        "<h3>Planted motifs (demo truth)</h3>"
        + H.table(
            df,
            {"q (activation)": H.fmt_p, "q (softmax)": H.fmt_p,
             "given as prior": lambda v: "yes" if v else "no"},
            row_class=lambda r: "sig" if (r["q (activation)"] or 1) < q else "",
        )
        + '<p class="note">A planted motif is found when it (any version, or the same TF) is '
        "some filter's best match; q below the threshold is highlighted.</p>"
    )  # fmt: skip


def motifs_section(inputs: ReportInputs, interpret: dict[str, Any], test_auroc: Any) -> str:
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
    body = [
        f"<p>{interpret.get('n_filters')} first-layer filters of width {interpret.get('filter_width')}, "
        f"each turned into a PWM from the {interpret.get('test_positives')} positive test windows "
        f"that activate it (activation threshold {interpret.get('activation_threshold')}, columns of "
        f"at least 1.0 bit compared) and from a softmax of its weights (temperature "
        f"{interpret.get('temperature')}, columns of at least 0.5 bit), compared with all "
        f"{interpret.get('targets')} matrices of {H.esc(interpret.get('collection'))} "
        f"({H.esc(interpret.get('tax_group'))}) by tomtom-lite on both strands; "
        f"significant means q &lt; {q}.</p>"
    ]
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
    body.append("<h3>Negative control</h3>")
    body.append(
        f"<p>The same pipeline on the filters of a randomly initialised model of the same "
        f"architecture (seed {H.esc(interpret.get('control_seed'))}), on the same sequences, next to "
        f"the final model's test AUROC of {H.fmt_number(test_auroc)}. A random filter with a "
        "significant match is a false positive of the pipeline; there should be none.</p>"
    )
    body.append(H.table(ctl_rows))
    body.append("<h3>Prior motifs recovered</h3>")
    if recovery.empty:
        body.append('<p class="note">No prior motifs.</p>')
    else:
        rec = recovery.copy()
        rec["recovered"] = rec["recovered"].map(
            lambda v: (
                '<span class="yes">yes</span>' if str(v) == "True" else '<span class="no">no</span>'
            )
        )
        body.append(
            H.table(
                rec[["kind", "prior_id", "prior_name", "recovered", "filter", "target_id", "target_name",
                     "orientation", "offset", "p_value", "q_value"]],
                {"p_value": H.fmt_p, "q_value": H.fmt_p, "offset": H.fmt_int},
                raw=("recovered",),
            )
        )  # fmt: skip
        body.append(
            '<p class="note">A prior is recovered when it (any version, or the same TF) is some '
            "filter's best match at q below the threshold.</p>"
        )
    body.append("<h3>Found, not given</h3>")
    if found.empty:
        body.append(
            '<p class="note">No filter has a significant best match outside the priors.</p>'
        )
    else:
        body.append(
            H.table(
                found[["kind", "query", "target_id", "target_name", "orientation", "offset",
                       "p_value", "q_value", "query_consensus", "target_consensus"]],
                {"p_value": H.fmt_p, "q_value": H.fmt_p, "offset": H.fmt_int},
                headers={"query": "filter"},
            )
        )  # fmt: skip
        body.append(
            '<p class="note">Filters whose significant best match is not a prior: motifs learned '
            "without being told, or false positives; weigh them against the negative control.</p>"
        )
    if inputs.truth is not None:
        body.append(_truth_table(inputs.truth, matches, interpret.get("priors", []), q))
    body.append("<h3>Every filter</h3>")
    body.append(
        '<p class="note">Activation PWMs, trimmed to the compared columns, above their best '
        "match in the orientation and offset of the alignment; sorted by q-value, significant "
        "rows shaded. Sites: test windows aligned into the PWM.</p>"
    )
    body.append(_filter_rows(inputs, matches, filters, q))
    return _section("motifs", "Motifs", "\n".join(body))


def files_section(inputs: ReportInputs) -> str:
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
    items = "".join(
        f"<li>{H.link(path, page_dir, Path(path).name)}: {H.esc(text)}</li>"
        for path, text in entries
        if Path(path).exists()
    )
    return _section("files", "Files", f'<ul class="files">{items}</ul>')


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
    body = "\n".join(sections) + (
        f'\n<p class="note">Written by bionas {H.esc(__version__)} on {stamp} in '
        f"{time.monotonic() - started:.1f} s.</p>"
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
