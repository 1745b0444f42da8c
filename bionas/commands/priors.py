"""``bionas priors``: prior motifs from JASPAR IDs or names, or a checked MEME file."""

from __future__ import annotations

import argparse
import logging

from bionas.motifs.io import read_meme, write_meme
from bionas.motifs.jaspar import DEFAULT_RELEASE, fetch_jaspar

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--jaspar",
        nargs="+",
        metavar="QUERY",
        help="JASPAR matrix IDs (MA0139.2, MA0139) or TF names (CTCF)",
    )
    source.add_argument(
        "--meme", metavar="FILE", help="a MEME minimal-format file to check and rewrite"
    )
    parser.add_argument(
        "--release", default=DEFAULT_RELEASE, help="JASPAR release (default: %(default)s)"
    )
    parser.add_argument("--out", required=True, help="output MEME file")


def run(args: argparse.Namespace) -> int:
    motifs = (
        fetch_jaspar(args.jaspar, release=args.release) if args.jaspar else read_meme(args.meme)
    )
    write_meme(args.out, motifs)
    log.info(
        "wrote %d motif(s) to %s: %s",
        len(motifs),
        args.out,
        ", ".join(f"{m.id} {m.name}" for m in motifs),
    )
    return 0
