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

from bionas.commands.argtypes import (
    non_negative_int,
    number,
    option,
    positive_float,
    positive_int,
    required,
)

log = logging.getLogger("bionas.compare_motifs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--space", "SPACE.yaml", "model-space YAML")
    required(parser, "--model", "model.keras", "the final model (bionas evaluate)")
    required(parser, "--architecture", "architecture.json", "its architecture (for the control)")
    required(parser, "--test", "test.npz", "test tensors; positives give the activation PWMs")
    required(parser, "--priors", "priors.meme", "prior motifs (MEME)")
    required(parser, "--out-dir", "DIR", "output directory")
    option(parser, "--collection", str, "JASPAR2024",
           "JASPAR release (CORE collection, read offline) or a MEME file", metavar="RELEASE|FILE.meme")
    option(parser, "--tax-group", str, "vertebrates",
           "JASPAR taxonomic group, 'all' for every group; ignored for a MEME file")
    option(parser, "--temperature", positive_float, 0.15, "softmax temperature weights -> PWM")
    option(parser, "--activation-threshold", number(0, 1, low_open=True, high_open=True), 0.5,
           "a window joins a filter's activation PWM above this fraction of its largest activation")
    option(parser, "--q-threshold", number(0, 1, low_open=True), 0.05,
           "q-value below which a match is significant")
    option(parser, "--top-k", positive_int, 10, "best targets kept per filter in the match tables")
    option(parser, "--control-seed", non_negative_int, 0, "seed of the randomly initialised control")
    option(parser, "--threads", positive_int, 1, "threads")
    parser.add_argument("--families", metavar="families.tsv",
                        help="the collection's families (bionas motif-families); default: grouped here")
    parser.add_argument("--replicates", nargs="+", default=[], metavar="train.json",
                        help="train.json of the final replicates; those of the final architecture "
                        "are interpreted too, for the agreement table")
    parser.add_argument("--cache-dir", metavar="DIR", help="compilation cache of the motif comparison, "
                        "shared by all jobs (default: $NUMBA_CACHE_DIR or ~/.cache/bionas/numba)")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.analysis import (
        AnalysisSettings,
        analyse_filters,
        load_model,
        load_targets,
        positive_windows,
        write_analysis,
    )
    from bionas.motifs.families import collection_families, read_families
    from bionas.motifs.io import read_meme
    from bionas.records.architecture import read_architecture
    from bionas.records.space import load_space
    from bionas.records.tensors import load_tensors

    space = load_space(args.space)
    arch = read_architecture(args.architecture, space)
    test = load_tensors(args.test)
    positives = positive_windows(test, args.test)
    priors = read_meme(args.priors)
    collection = load_targets(args.collection, args.tax_group)
    log.info("%d target motifs in %s (%s)", len(collection), args.collection, args.tax_group)
    replicates = _replicates(args.replicates, arch["id"])
    if args.families:
        families = read_families(args.families, collection)
    else:
        families = collection_families(
            args.collection, collection, cache_dir=args.cache_dir, n_jobs=args.threads
        )

    from bionas.search.builder import build_model
    from bionas.search.train import configure_tensorflow

    configure_tensorflow(args.threads, seed=args.control_seed)
    model = load_model(Path(args.model), test, args.test)
    control = build_model(space, arch["layers"], test.length, test.n_tasks, seed=args.control_seed)
    settings = AnalysisSettings(**{f: getattr(args, f) for f in AnalysisSettings.__dataclass_fields__})
    models = [(seed, load_model(path, test, args.test)) for seed, path in replicates]
    analysis = analyse_filters(
        model, control, positives, priors, collection, settings, args.model,
        families=families, replicates=models,
    )  # fmt: skip
    provenance = {
        "test_positives": int(positives.shape[0]),
        "collection": str(args.collection),
        "tax_group": str(args.tax_group),
        "control_seed": args.control_seed,
        "families": {
            "source": args.families or "grouped by compare-motifs",
            "count": int(families["family_id"].nunique()),
            "grouped_by": sorted(set(families["grouped_by"])),
        },
        "replicate_seeds": [seed for seed, _ in replicates],
    }
    summary = write_analysis(
        args.out_dir, analysis, arch["layers"], priors, collection, settings, provenance
    )
    log.info(
        "significant filters %s; control %s; recovered %s; found, not given %s",
        summary["significant_filters"],
        summary["control_significant_filters"],
        summary["recovered"],
        {k: [f["label"] for f in v] for k, v in summary["found_not_given"].items()},
    )
    return 0


def _replicates(paths: list[str], architecture_id: str) -> list[tuple[int, Path]]:
    """(seed, model path) of every trained replicate of the final architecture, by seed."""
    from bionas.records.train_result import read_train_result

    out = []
    for path in paths:
        record = read_train_result(path)
        if record["id"] == architecture_id and record["status"] == "ok":
            out.append((int(record["seed"]), Path(path).parent / record["model"]))
        elif record["id"] == architecture_id:
            log.warning("replicate %s failed (%s); not interpreted", path, record["status"])
    return sorted(out)
