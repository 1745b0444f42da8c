"""``bionas compare-motifs``: the final model's first-layer filters against a motif collection.

Loads the final model, builds a randomly initialised model of the same
architecture as the negative control, and runs
:func:`bionas.motifs.analysis.analyse_filters` on the test positives; the
files it writes and what each holds are listed in :mod:`bionas.motifs.analysis`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bionas.commands.argtypes import non_negative_int, number, positive_float, positive_int
from bionas.errors import InputError

log = logging.getLogger("bionas.compare_motifs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--model", required=True, metavar="model.keras", help="the final model (bionas evaluate)"
    )
    parser.add_argument(
        "--architecture",
        required=True,
        metavar="architecture.json",
        help="its architecture (for the randomly initialised control model)",
    )
    parser.add_argument(
        "--test",
        required=True,
        metavar="test.npz",
        help="test tensors; positives give the activation PWMs",
    )
    parser.add_argument(
        "--priors", required=True, metavar="priors.meme", help="prior motifs (MEME)"
    )
    parser.add_argument(
        "--collection",
        default="JASPAR2024",
        metavar="RELEASE|FILE.meme",
        help="JASPAR release (CORE collection, read offline) or a MEME file (default: %(default)s)",
    )
    parser.add_argument(
        "--tax-group",
        default="vertebrates",
        help="JASPAR taxonomic group, 'all' for every group; ignored for a MEME file "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=positive_float,
        default=0.15,
        help="softmax temperature weights -> PWM (default: %(default)s)",
    )
    parser.add_argument(
        "--activation-threshold",
        type=number(0, 1, low_open=True, high_open=True),
        default=0.5,
        help="a window joins a filter's activation PWM above this fraction of the filter's "
        "largest activation (default: %(default)s)",
    )
    parser.add_argument(
        "--q-threshold",
        type=number(0, 1, low_open=True),
        default=0.05,
        help="q-value below which a match is significant (default: %(default)s)",
    )
    parser.add_argument(
        "--top-k",
        type=positive_int,
        default=10,
        help="best targets kept per filter in the match tables (default: %(default)s)",
    )
    parser.add_argument(
        "--control-seed",
        type=non_negative_int,
        default=0,
        help="seed of the randomly initialised control model (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="compilation cache of the motif comparison, shared by all jobs "
        "(default: $NUMBA_CACHE_DIR or ~/.cache/bionas/numba)",
    )
    parser.add_argument(
        "--threads", type=positive_int, default=1, help="threads (default: %(default)s)"
    )
    parser.add_argument("--out-dir", required=True, metavar="DIR", help="output directory")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.analysis import (
        AnalysisSettings,
        analyse_filters,
        load_model,
        load_targets,
        write_analysis,
    )
    from bionas.motifs.io import read_meme
    from bionas.records.architecture import read_architecture
    from bionas.records.space import load_space
    from bionas.records.tensors import load_tensors

    space = load_space(args.space)
    arch = read_architecture(args.architecture, space)
    test = load_tensors(args.test)
    positives = test.X[(test.y == 1).any(axis=1)]
    if positives.shape[0] == 0:
        raise InputError(
            "the test split has no positive window to compute activation PWMs", args.test, key="y"
        )
    priors = read_meme(args.priors)
    collection = load_targets(args.collection, args.tax_group)
    log.info("%d target motifs in %s (%s)", len(collection), args.collection, args.tax_group)

    from bionas.search.builder import build_model
    from bionas.search.train import configure_tensorflow

    configure_tensorflow(args.threads, seed=args.control_seed)
    model = load_model(Path(args.model))
    if tuple(model.input_shape[1:]) != tuple(test.X.shape[1:]):
        raise InputError(
            f"the model reads inputs of shape {tuple(model.input_shape[1:])}, the test tensors "
            f"hold {tuple(test.X.shape[1:])}",
            args.test,
            key="X",
        )
    control = build_model(space, arch["layers"], test.length, test.n_tasks, seed=args.control_seed)
    settings = AnalysisSettings(
        temperature=args.temperature,
        activation_threshold=args.activation_threshold,
        q_threshold=args.q_threshold,
        top_k=args.top_k,
        cache_dir=args.cache_dir,
        threads=args.threads,
    )
    analysis = analyse_filters(model, control, positives, priors, collection, settings, args.model)
    provenance = {
        "test_positives": int(positives.shape[0]),
        "collection": str(args.collection),
        "tax_group": str(args.tax_group),
        "control_seed": args.control_seed,
    }
    summary = write_analysis(
        args.out_dir, analysis, arch["layers"], priors, collection, settings, provenance
    )
    log.info(
        "significant filters %s; control %s; recovered %s; found, not given %s",
        summary["significant_filters"],
        summary["control_significant_filters"],
        summary["recovered"],
        summary["found_not_given"],
    )
    return 0
