"""``bionas motif-families``: group a motif collection into families once, for every interpretation.

A JASPAR release is grouped by JASPAR's structural family annotation and
motif similarity together; a MEME file (no annotation) by similarity alone
(see :mod:`bionas.motifs.families`). The table has one row per matrix.
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import option, positive_int, required

log = logging.getLogger("bionas.motif_families")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--out", "families.tsv", "the family table")
    option(parser, "--collection", str, "JASPAR2024",
           "JASPAR release (CORE collection, read offline) or a MEME file", metavar="RELEASE|FILE.meme")
    option(parser, "--tax-group", str, "vertebrates",
           "JASPAR taxonomic group, 'all' for every group; ignored for a MEME file")
    option(parser, "--threads", positive_int, 1, "threads")
    parser.add_argument("--cache-dir", metavar="DIR", help="compilation cache of the motif comparison, "
                        "shared by all jobs (default: $NUMBA_CACHE_DIR or ~/.cache/bionas/numba)")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.analysis import load_targets, write_tsv
    from bionas.motifs.families import BY_SIMILARITY, collection_families

    collection = load_targets(args.collection, args.tax_group)
    families = collection_families(
        args.collection, collection, cache_dir=args.cache_dir, n_jobs=args.threads
    )
    write_tsv(args.out, families)
    by_similarity = int((families["grouped_by"] == BY_SIMILARITY).sum())
    log.info(
        "%d matrices of %s in %d families (largest %d); %d grouped by similarity alone%s",
        len(families),
        args.collection,
        families["family_id"].nunique(),
        int(families["family_size"].max()),
        by_similarity,
        " (the collection has no family annotation)" if by_similarity == len(families) else "",
    )
    return 0
