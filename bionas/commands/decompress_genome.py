"""``bionas decompress-genome``: a plain copy of a gzip-compressed FASTA (UCSC's ``hg38.fa.gz``).

A plain gzip file cannot be read by position, so windows cannot be fetched
from it; the workflow makes this copy once per dataset
(``results/<dataset>/genome/genome.fa``) when the configured genome is plain
gzip. A bgzip-compressed genome is read as it is.
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import required

log = logging.getLogger("bionas.decompress_genome")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--genome", "genome.fa.gz", "gzip-compressed FASTA")
    required(parser, "--out", "genome.fa", "the plain copy")


def run(args: argparse.Namespace) -> int:
    from bionas.data.genome import decompress_fasta

    size = decompress_fasta(args.genome, args.out)
    log.info("wrote %s (%.1f MB) from %s", args.out, size / 1e6, args.genome)
    return 0
