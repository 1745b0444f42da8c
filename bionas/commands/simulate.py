"""``bionas simulate``: the demo genome, peaks and truth table with planted JASPAR motifs."""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import seed
from bionas.data import simulate as sim
from bionas.motifs.jaspar import DEFAULT_RELEASE, fetch_jaspar

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out-dir",
        required=True,
        help="directory for genome.fa(.fai), peaks.narrowPeak, truth.tsv",
    )
    parser.add_argument("--seed", type=seed, default=1, help="random seed (default: 1)")
    parser.add_argument(
        "--motifs",
        nargs="+",
        default=list(sim.DEFAULT_MOTIFS),
        metavar="QUERY",
        help="JASPAR matrix IDs or TF names to plant (default: %(default)s)",
    )
    parser.add_argument(
        "--release", default=DEFAULT_RELEASE, help="JASPAR release (default: %(default)s)"
    )
    parser.add_argument(
        "--chromosomes",
        type=int,
        default=sim.DEFAULT_CHROMOSOMES,
        help="number of chromosomes (default: %(default)s)",
    )
    parser.add_argument(
        "--chrom-length",
        type=int,
        default=sim.DEFAULT_CHROM_LENGTH,
        help="bp per chromosome (default: %(default)s)",
    )
    parser.add_argument(
        "--sites",
        type=int,
        default=None,
        help=f"planted sites in all (default: one per {sim.SITE_DENSITY} bp, 5000 for the default genome)",
    )
    parser.add_argument(
        "--gc",
        type=float,
        default=sim.DEFAULT_GC,
        help="background GC fraction (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    motifs = fetch_jaspar(args.motifs, release=args.release)
    result = sim.simulate(
        motifs,
        n_chromosomes=args.chromosomes,
        chrom_length=args.chrom_length,
        n_sites=args.sites,
        gc=args.gc,
        seed=args.seed,
    )
    paths = sim.write_simulation(result, args.out_dir)
    log.info(
        "wrote %s: %d chromosomes, %d sites (%s)",
        paths["genome"],
        len(result.sequences),
        len(result.peaks),
        ", ".join(f"{m.id} {m.name}" for m in motifs),
    )
    return 0
