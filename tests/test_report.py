"""The report: curves, logo alignment and compute sums, then the page of a finished tiny run
(its sections, no external URL, links that resolve) and `snakemake --report`."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import ROOT, finished_tiny_run, load_case, snakemake

from bionas.motifs.pwm import reverse_complement
from bionas.report.curves import pareto_front, pr_curve, roc_curve, running_best
from bionas.report.html import cards, fmt_number, fmt_seconds, link, page, relative_href, table
from bionas.report.logos import align_match, logo_pair_png
from bionas.report.run import benchmark_table, compute_by_rule
from bionas.search.evaluation import auprc, auroc

RUN = "results/tiny/tiny"
#: The compilation cache every test session shares (see tests/test_compare.py).
CACHE = ROOT / ".numba_cache"


# ---------------------------------------------------------------------------
# pure parts


def test_roc_and_pr_curves_agree_with_the_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = np.round(y * 0.8 + rng.normal(size=300), 1)  # ties on purpose
    roc = roc_curve(y, s)
    assert roc.x[0] == 0 and roc.y[0] == 0 and roc.x[-1] == 1 and roc.y[-1] == 1
    assert np.all(np.diff(roc.x) >= 0) and np.all(np.diff(roc.y) >= 0)
    assert np.trapezoid(roc.y, roc.x) == pytest.approx(auroc(y, s))
    pr = pr_curve(y, s)
    assert pr.x[0] == 0 and pr.y[0] == 1 and pr.x[-1] == 1
    assert np.sum(np.diff(pr.x) * pr.y[1:]) == pytest.approx(auprc(y, s))
    flat = roc_curve([0, 1, 0, 1], [0.5] * 4)
    assert np.trapezoid(flat.y, flat.x) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        roc_curve([1, 1], [0.1, 0.2])


def test_pareto_front_and_running_best():
    x = [1.0, 2.0, 0.5, 3.0, np.nan, 0.5]
    y = [1.0, 0.5, 2.0, 0.4, 0.1, 2.0]
    assert pareto_front(x, y).tolist() == [2, 0, 1, 3]
    assert pareto_front([], []).tolist() == []
    best = running_best([np.nan, -3.0, -4.0, -1.0, np.nan, -2.0])
    assert np.isnan(best[0]) and best[1:].tolist() == [-3.0, -3.0, -1.0, -1.0, -1.0]


def _pwm(seed: int, width: int) -> np.ndarray:
    p = np.random.default_rng(seed).dirichlet(np.full(4, 0.3), size=width)
    return p


@pytest.mark.parametrize("orientation", ["+", "-"])
def test_align_match_puts_matching_columns_on_top_of_each_other(orientation):
    target = _pwm(1, 12)
    oriented = target if orientation == "+" else reverse_complement(target)
    query = oriented[3:9]  # query column j is target column j + 3 of the oriented target
    a = align_match(query, target, offset=3, orientation=orientation)
    rows = ~np.isnan(a.query).any(axis=1)
    np.testing.assert_allclose(a.target[rows], query)
    assert a.columns[0] == -3 and len(a.columns) == 12
    # a query that starts before the target (negative offset) widens the axis to the left
    b = align_match(
        oriented[:4], target[2:], offset=-2, orientation="+" if orientation == "+" else "-"
    )
    assert b.columns[0] == 0 and np.isnan(b.target[:2]).all()


def test_align_match_follows_the_comparison_on_both_strands():
    """The offset and orientation tomtom-lite reports put the right columns together."""
    from bionas.motifs.compare import compare_motifs, load_collection

    jaspar = load_collection("JASPAR2024")
    target = next(m for m in jaspar if m.id == "MA0139.2")
    for query, strand in [(target.pwm[2:12], "+"), (reverse_complement(target.pwm)[4:13], "-")]:
        row = compare_motifs([query], jaspar, top_k=1, cache_dir=CACHE).iloc[0]
        assert row["target_id"] == "MA0139.2" and row["orientation"] == strand
        a = align_match(query, target.pwm, int(row["offset"]), row["orientation"])
        rows = ~np.isnan(a.query).any(axis=1)
        np.testing.assert_allclose(a.target[rows], query)


def test_logo_pair_is_a_png():
    png = logo_pair_png(_pwm(2, 6), _pwm(3, 10), offset=2, orientation="-", query_label="q")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    alone = logo_pair_png(_pwm(2, 6))
    assert alone[:4] == b"\x89PNG"


def test_benchmarks_are_summed_per_run_and_rule(tmp_path):
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"

    def bench(rel: str, s: float, cpu: float) -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{s}\t0:00:01\t100\t1\t1\t1\t0\t0\t50\t{cpu}\n")

    bench("encode_sequences/demo.tsv", 2.0, 1.5)
    bench("train_child/demo/r1/step_001/child_00.tsv", 10.0, 9.0)
    bench("train_child/demo/r1/step_001/child_01.tsv", 12.0, 11.0)
    bench("evaluate_final/demo/r1.tsv", 3.0, 2.0)
    bench("evaluate_final/demo/r2.tsv", 99.0, 99.0)  # another run
    bench("evaluate_final/other.tsv", 99.0, 99.0)  # another dataset
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/demo.tsv").write_text("nothing here\n")
    table = benchmark_table(tmp_path, "demo", "r1")
    assert sorted(table["rule"]) == [
        "encode_sequences",
        "evaluate_final",
        "train_child",
        "train_child",
    ]
    assert table.loc[table["scope"] == "run", "s"].sum() == 25.0
    assert table.loc[table["scope"] == "run", "cpu_time"].sum() == 22.0
    by_rule = compute_by_rule(table).set_index("rule")
    assert by_rule.loc["train_child", "jobs"] == 2 and by_rule.loc["train_child", "s"] == 22.0
    assert by_rule.loc["encode_sequences", "scope"] == "dataset"
    assert benchmark_table(tmp_path / "missing", "demo", "r1").empty


def test_formatting_helpers(tmp_path):
    assert (
        fmt_number(3) == "3" and fmt_number(0.12345) == "0.123" and fmt_number(1e-7) == "1.00e-07"
    )
    assert fmt_number(float("nan")) == "NA" and fmt_number(None) == "NA"
    assert fmt_seconds(12.34) == "12.3 s" and fmt_seconds(125) == "2 min 05 s"
    assert fmt_seconds(3 * 3600 + 65) == "3 h 01 min"
    (tmp_path / "a b").mkdir()
    assert relative_href(tmp_path / "a b" / "x.tsv", tmp_path / "report") == "../a%20b/x.tsv"


def test_html_pieces_escape_text_and_keep_marked_html(tmp_path):
    from markupsafe import Markup

    df = pd.DataFrame(
        {"name": ["<b>&'\"", "y"], "n": [3, 0.5], "html": [Markup("<i>x</i>"), "<br>"]}
    )
    out = table(df, raw=("html",), row_class=lambda r: "sig" if r["n"] == 3 else "")
    assert out == (
        '<table><thead><tr><th>name</th><th>n</th><th>html</th></tr></thead><tbody>'
        '<tr class="sig"><td>&lt;b&gt;&amp;&#39;&#34;</td><td class="num">3.000</td>'
        "<td><i>x</i></td></tr>"
        '<tr><td>y</td><td class="num">0.500</td><td><br></td></tr></tbody></table>'
    )
    assert cards([("1", "<x>", "good")]) == (
        '<div class="cards"><div class="card good"><div class="value">1</div>'
        '<div class="label">&lt;x&gt;</div></div></div>'
    )
    (tmp_path / "a b").mkdir()
    assert link(tmp_path / "a b" / "x&y.tsv", tmp_path) == '<a href="a%20b/x%26y.tsv">x&amp;y.tsv</a>'
    doc = page("T <1>", "sub", [("run", "Run")], Markup("<p>body</p>"))
    assert doc.startswith("<!DOCTYPE html>\n") and doc.endswith("</html>\n")
    assert "<title>T &lt;1&gt;</title>" in doc and '<a href="#run">Run</a>' in doc
    assert "<main>\n<p>body</p>\n</main>" in doc
    # the style sheet is inline, from the template shipped with the package
    assert "<style>\n:root {" in doc and "ul.files li { margin: 2px 0; }\n</style>" in doc


# ---------------------------------------------------------------------------
# the page of a finished tiny run


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    return finished_tiny_run(tmp_path_factory)


class _Refs(HTMLParser):
    """Every src/href attribute and tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href"):
                self.refs.append((tag, name, value or ""))
            if name == "id":
                self.ids.append(value or "")


def _parse(path: Path) -> tuple[str, _Refs]:
    text = path.read_text(encoding="utf-8")
    parser = _Refs()
    parser.feed(text)
    return text, parser


@pytest.mark.workflow
def test_report_sections(finished):
    page = finished / RUN / "report/index.html"
    text, refs = _parse(page)
    assert set(refs.ids) >= {"run", "search", "final", "motifs", "patterns", "files"}
    for heading in (
        "The run", "The search", "Reward of every child", "The rl controller over the steps",
        "Validation loss against knowledge dissimilarity", "The final model", "Architecture",
        "ROC and precision-recall curves", "Negative controls", "Prior motifs recovered",
        "Found, not given", "Planted motifs (demo truth)", "Every filter", "Configuration",
        "Compute", "TF-MoDISco patterns", "Prior motifs recovered by patterns",
        "Found by patterns, not given", "columns shuffled (second negative control",
        "replicates (activation PWMs)",
    ):  # fmt: skip
        assert heading in text, heading
    summary = json.loads((finished / RUN / "final/summary.json").read_text())
    assert f"{summary['test_auroc']:.3f}" in text
    interpret = json.loads((finished / RUN / "interpret/summary.json").read_text())
    control = interpret["control_significant_filters"]
    assert f"{control['activation']} / {control['softmax']}" in text
    shuffled = interpret["shuffled_significant_filters"]
    assert f"{shuffled['activation']} / {shuffled['softmax']}" in text
    # the replicate agreement of every prior, as k/n (2 replicates in the tiny run)
    assert interpret["replicates"]["n"] == 2
    for prior in interpret["replicates"]["priors"]["activation"]:
        assert f"{prior['name']} {prior['in']}/2" in text
    assert "children_per_step: 2" in text  # the configuration, as YAML
    # one logo per filter and per pattern, plus the reward, controller, loss-vs-K and ROC/PR
    patterns = json.loads((finished / RUN / "attribute/summary.json").read_text())
    images = [v for tag, name, v in refs.refs if tag == "img"]
    assert len(images) == interpret["n_filters"] + patterns["patterns"] + 4
    for task, info in patterns["tasks"].items():
        assert f"{task}: {info['windows']} windows" in text
    assert "MA0139.2" in text and "tiny" in text
    # where each Lambda lands: the final stage's own (final.lambda = search.lambda) marked
    assert "Where other Lambdas would land" in text
    history = pd.read_csv(finished / RUN / "search/step_002/history.tsv", sep="\t")
    lam = load_case("tiny")["search"]["lambda"]
    best = history.loc[(-(history["val_loss"] + lam * history["knowledge"])).idxmax()]
    chosen = json.loads((finished / RUN / "final/candidates.json").read_text())[0]["layers"]
    assert chosen == [best[name] for name in ("conv1", "pool", "reduce")]


@pytest.mark.workflow
def test_report_has_no_external_resources(finished):
    text, refs = _parse(finished / RUN / "report/index.html")
    for tag, name, value in refs.refs:
        assert not re.match(r"^\s*(https?:|//|ftp:)", value, re.I), (tag, name, value[:80])
        if name == "src":
            assert value.startswith("data:image/png;base64,"), (tag, value[:80])
    assert "script" not in refs.tags and "link" not in refs.tags and "iframe" not in refs.tags
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    assert not re.search(r"@import", text)


@pytest.mark.workflow
def test_report_links_resolve(finished):
    page = finished / RUN / "report/index.html"
    _, refs = _parse(page)
    hrefs = [v for tag, name, v in refs.refs if name == "href"]
    anchors = [h for h in hrefs if h.startswith("#")]
    files = [h for h in hrefs if not h.startswith("#")]
    assert {a[1:] for a in anchors} <= set(refs.ids)
    names = {Path(unquote(h)).name for h in files}
    assert {"history.tsv", "matches.tsv", "filters.meme", "model.keras", "replicates.tsv",
            "families.tsv", "patterns.tsv", "pattern_recovery.tsv"} <= names  # fmt: skip
    for href in files:
        target = (page.parent / unquote(href)).resolve()
        assert target.is_file(), href
        assert finished.resolve() in target.parents


@pytest.mark.workflow
def test_report_without_a_search_says_so(finished, tmp_path, cli):
    run = finished / RUN
    out = tmp_path / "report" / "index.html"
    status, _, err = cli(
        "report", "--dataset", "tiny", "--run", "tiny",
        "--space", ROOT / ".test/tiny/model_space.yaml",
        "--architecture", run / "final/architecture.json", "--summary", run / "final/summary.json",
        "--test-metrics", run / "final/test_metrics.tsv",
        "--predictions", run / "final/test_predictions.npz", "--model", run / "final/model.keras",
        "--interpret-dir", run / "interpret", "--out", out,
    )  # fmt: skip
    assert status == 0, err
    text, refs = _parse(out)
    assert "This run did not search" in text and "Reward of every child" not in text
    assert "Compute" not in text and "Planted motifs" not in text
    assert "TF-MoDISco was not run" in text
    for href in (v for _, name, v in refs.refs if name == "href" and not v.startswith("#")):
        assert (out.parent / unquote(href)).is_file(), href
    # a missing interpretation is bad input, named
    status, _, err = cli(
        "report", "--dataset", "tiny", "--run", "tiny", "--space", ROOT / ".test/tiny/model_space.yaml",
        "--architecture", run / "final/architecture.json", "--summary", run / "final/summary.json",
        "--test-metrics", run / "final/test_metrics.tsv",
        "--predictions", run / "final/test_predictions.npz", "--model", run / "final/model.keras",
        "--interpret-dir", tmp_path / "nothing", "--out", tmp_path / "x.html",
    )  # fmt: skip
    assert status == 2 and "nothing" in err and not (tmp_path / "x.html").exists()


@pytest.mark.workflow
def test_report_with_a_reference_search(finished, tmp_path, cli):
    run = finished / RUN
    history = pd.read_csv(run / "search/step_002/history.tsv", sep="\t")
    reference = tmp_path / "random_history.tsv"
    history.assign(reward=history["reward"] - 0.1).to_csv(reference, sep="\t", index=False)
    out = tmp_path / "index.html"
    status, _, err = cli(
        "report", "--dataset", "tiny", "--run", "tiny", "--space", ROOT / ".test/tiny/model_space.yaml",
        "--architecture", run / "final/architecture.json", "--summary", run / "final/summary.json",
        "--test-metrics", run / "final/test_metrics.tsv",
        "--predictions", run / "final/test_predictions.npz", "--model", run / "final/model.keras",
        "--interpret-dir", run / "interpret", "--history", run / "search/step_002/history.tsv",
        "--reference-history", reference, "--out", out,
    )  # fmt: skip
    assert status == 0, err
    text = out.read_text()
    assert "Reward of every child" in text and "No random-search reference" not in text


@pytest.mark.workflow
def test_workflow_outputs_logs_and_snakemake_report(finished, tmp_path):
    for rule in ("interpret_filters", "attribute_final", "report"):
        assert (finished / f"logs/{rule}/tiny/tiny.log").exists()
        assert (finished / f"benchmarks/{rule}/tiny/tiny.tsv").exists()
    again = snakemake(finished, None, "--configfile", str(finished / "config.yaml"), "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    proc = snakemake(
        workdir, None, "--configfile", str(workdir / "config.yaml"), "--report", "report.zip"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with zipfile.ZipFile(workdir / "report.zip") as archive:
        names = archive.namelist()
    assert any(n.endswith("/index.html") for n in names)
    assert any(n.endswith("/matches.tsv") for n in names)
    assert any(n.endswith("report.html") for n in names)


@pytest.mark.workflow
def test_dry_run_without_search_reports_without_history(tmp_path):
    config = load_case("tiny")
    arch = tmp_path / "architecture.json"
    arch.write_text(json.dumps({"layers": ["conv_k8", "none", "gmax"]}))
    config["final"]["architecture"] = str(arch)
    proc = snakemake(tmp_path / "work", config, "--dry-run", "--printshellcmds", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert "rule report:" in text and "rule interpret_filters:" in text
    assert "update_controller" not in text
    report_cmd = text[text.index("rule report:") :]
    assert "bionas report" in report_cmd and "--history" not in report_cmd


@pytest.mark.workflow
def test_model_card(finished):
    card = json.loads((finished / RUN / "report/model_card.json").read_text())
    summary = json.loads((finished / RUN / "final/summary.json").read_text())
    interpret = json.loads((finished / RUN / "interpret/summary.json").read_text())
    assert set(card) == {"name", "model", "data", "evaluation", "interpretation", "provenance"}
    assert card["model"]["layers"] == summary["layers"]
    assert card["model"]["parameters"] == summary["params"]
    assert card["model"]["input"] == {"width_bp": 100, "one_hot": "ACGT"}
    assert card["model"]["tasks"] == ["bound"] and card["model"]["search"]["controller"] == "rl"
    assert card["evaluation"]["per_task"] == summary["test"]
    assert card["evaluation"]["mean_auroc"] == summary["test_auroc"]
    assert card["data"]["split"] == {"train": [], "val": ["chr3"], "test": ["chr4"]}
    assert card["interpretation"]["priors"] == interpret["priors"]
    controls = card["interpretation"]["negative_controls"]
    assert controls["random_model"] == interpret["control_significant_filters"]
    assert controls["shuffled_columns"] == interpret["shuffled_significant_filters"]
    priors_in = card["interpretation"]["priors_in_replicates"]
    assert [p["id"] for p in priors_in] == [p["id"] for p in interpret["priors"]]
    assert all(p["replicates"] == 2 for p in priors_in)
    assert card["interpretation"]["recovered_by_patterns"] is not None  # TF-MoDISco ran
