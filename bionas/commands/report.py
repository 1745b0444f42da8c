"""``bionas report``: one self-contained HTML page about a finished run.

Sections: the run (dataset, model space, budget, compute summed from the
Snakemake benchmark files, the configuration), the search (rewards per step
with the running best and an optional random-search reference, controller
entropy and option probabilities, validation loss against K with the Pareto
front and the chosen architecture), the final model (architecture, test
AUROC/AUPRC, ROC and PR curves), the motifs (every filter's logo beside its
best match, prior recovery, motifs found without being given, and the
negative control next to the AUROC) and links to the run's files.

Without ``--history`` the page says the run did not search. Images are
embedded as PNG data URIs and the style sheet is inline: the page needs no
network. Links to the run's files are relative to the page, so keep it in
``results/<dataset>/<run>/report/`` (or move the run's directory as a whole).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bionas.commands.argtypes import required
from bionas.errors import InputError
from bionas.io import write_text

log = logging.getLogger("bionas.report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (shown)")
    parser.add_argument("--run", required=True, help="run name (shown)")
    required(parser, "--space", "SPACE.yaml", "model-space YAML")
    required(parser, "--architecture", "architecture.json", "final architecture")
    required(parser, "--summary", "summary.json", "from bionas evaluate")
    required(parser, "--test-metrics", "test_metrics.tsv", "from bionas evaluate")
    required(parser, "--predictions", "test_predictions.npz", "from bionas evaluate (y_true, y_score, tasks)")
    required(parser, "--model", "model.keras", "the final model (linked)")
    required(parser, "--interpret-dir", "DIR", "output of bionas compare-motifs")
    required(parser, "--out", "index.html", "output page")
    parser.add_argument("--model-card", metavar="model_card.json",
                        help="also write the model card (JSON) here; the page links it when it "
                        "sits beside the page")
    parser.add_argument("--history", metavar="history.tsv", help="the search's last history (omit: no search)")
    parser.add_argument("--controllers", nargs="+", default=[], metavar="DIR",
                        help="controller states of steps 0..S (entropy and option probabilities)")
    parser.add_argument("--reference-history", metavar="history.tsv",
                        help="history of a random search in the same model space, drawn for comparison")
    parser.add_argument("--truth", metavar="truth.tsv", help="planted motifs of a simulated dataset")
    parser.add_argument("--attribute-dir", metavar="DIR",
                        help="output of bionas attribute (TF-MoDISco patterns); omit: no such section")
    config = parser.add_mutually_exclusive_group()
    config.add_argument("--config", metavar="CONFIG.yaml", help="configuration file to show")
    config.add_argument("--config-text", metavar="YAML", help="configuration to show, as YAML text")
    parser.add_argument("--benchmarks", metavar="DIR",
                        help="Snakemake benchmark directory; its files give the compute used")


def _path(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def run(args: argparse.Namespace) -> int:
    from bionas.io import write_json
    from bionas.report import ReportInputs, build_model_card, build_report

    started = time.monotonic()
    config_text = args.config_text
    if args.config is not None:
        try:
            config_text = Path(args.config).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError("configuration file not found", args.config) from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read the configuration: {err}", args.config) from None
    interpret_dir = Path(args.interpret_dir)
    if not (interpret_dir / "summary.json").is_file():
        raise InputError(
            "no summary.json: run `bionas compare-motifs --out-dir` into this directory first",
            interpret_dir,
        )
    inputs = ReportInputs(
        dataset=args.dataset,
        run=args.run,
        space=Path(args.space),
        architecture=Path(args.architecture),
        summary=Path(args.summary),
        test_metrics=Path(args.test_metrics),
        predictions=Path(args.predictions),
        model=Path(args.model),
        interpret_dir=interpret_dir,
        out=Path(args.out),
        history=_path(args.history),
        controllers=[Path(c) for c in args.controllers],
        reference_history=_path(args.reference_history),
        truth=_path(args.truth),
        attribute_dir=_path(args.attribute_dir),
        config_text=config_text,
        benchmarks=_path(args.benchmarks),
    )
    if args.model_card:
        write_json(args.model_card, build_model_card(inputs))
    text = build_report(inputs)
    write_text(args.out, text)
    log.info(
        "wrote %s (%.0f kB) in %.1f s",
        args.out,
        len(text.encode()) / 1024,
        time.monotonic() - started,
    )
    return 0
