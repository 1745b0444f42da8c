"""``bionas attribute``: the final model's attributions, TF-MoDISco patterns and their matches.

Attributes every task's positive test windows (corrected saliency, see
:mod:`bionas.motifs.attribution`), runs modisco-lite on them and compares the
patterns with the motif collection as the filters are compared; the files
are listed in :mod:`bionas.motifs.modisco`.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from bionas.commands.argtypes import number, option, positive_int, required

log = logging.getLogger("bionas.attribute")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--model", "model.keras", "the final model (bionas evaluate)")
    required(parser, "--test", "test.npz", "test tensors; each task's positives are attributed")
    required(parser, "--priors", "priors.meme", "prior motifs (MEME)")
    required(parser, "--out-dir", "DIR", "output directory")
    option(parser, "--collection", str, "JASPAR2024",
           "JASPAR release (CORE collection, read offline) or a MEME file", metavar="RELEASE|FILE.meme")
    option(parser, "--tax-group", str, "vertebrates",
           "JASPAR taxonomic group, 'all' for every group; ignored for a MEME file")
    parser.add_argument("--families", metavar="families.tsv",
                        help="the collection's families (bionas motif-families); default: grouped here")
    option(parser, "--q-threshold", number(0, 1, low_open=True), 0.05,
           "q-value below which a match is significant")
    option(parser, "--max-seqlets", positive_int, 2000,
           "seqlets per sign TF-MoDISco clusters (its run time grows with them)")
    option(parser, "--leiden-runs", positive_int, 2, "Leiden clusterings of TF-MoDISco (best kept)")
    option(parser, "--threads", positive_int, 1, "threads")
    parser.add_argument("--cache-dir", metavar="DIR", help="compilation cache of the motif comparison "
                        "and of TF-MoDISco, shared by all jobs (default: $NUMBA_CACHE_DIR or "
                        "~/.cache/bionas/numba)")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.analysis import load_model, load_targets
    from bionas.motifs.compare import numba_cache_dir
    from bionas.motifs.families import collection_families, read_families
    from bionas.motifs.io import read_meme
    from bionas.records.tensors import load_tensors

    test = load_tensors(args.test)
    priors = read_meme(args.priors)
    collection = load_targets(args.collection, args.tax_group)
    families = (
        read_families(args.families, collection)
        if args.families
        else collection_families(args.collection, collection, cache_dir=args.cache_dir,
                                 n_jobs=args.threads)
    )  # fmt: skip
    # modisco-lite's numba kernels cache where memelite's do: set before either is imported
    cache = numba_cache_dir(args.cache_dir)
    os.environ["NUMBA_CACHE_DIR"] = str(cache)

    from bionas.motifs.modisco import attribute_and_discover, write_modisco
    from bionas.motifs.patterns import ModiscoSettings
    from bionas.search.train import configure_tensorflow

    configure_tensorflow(args.threads, seed=0)
    model = load_model(Path(args.model), test, args.test)
    settings = ModiscoSettings(max_seqlets=args.max_seqlets, n_leiden_runs=args.leiden_runs)
    found = attribute_and_discover(
        model, test, priors, collection, families, args.out_dir, settings=settings,
        q_threshold=args.q_threshold, cache_dir=args.cache_dir, threads=args.threads,
    )  # fmt: skip
    provenance = {
        "method": "corrected saliency (gradient of the logit minus its mean over bases) x input",
        "collection": str(args.collection),
        "tax_group": str(args.tax_group),
        "q_threshold": args.q_threshold,
        "max_seqlets": args.max_seqlets,
        "leiden_runs": args.leiden_runs,
        "priors": [{"id": m.id, "name": m.name} for m in priors],
    }
    summary = write_modisco(args.out_dir, found, provenance)
    log.info(
        "%d patterns (%s); recovered %s; found, not given %s; %s",
        summary["patterns"],
        ", ".join(f"{t}: {v['status']}" for t, v in summary["tasks"].items()),
        summary["recovered"],
        [f["label"] for f in summary["found_not_given"]],
        summary["seconds"],
    )
    return 0
