"""``bionas bigwig``: one bigWig per task from a predictions table of ``bionas predict``.

Each window's score covers the whole window, or its central ``--step`` bp for
a tiled range; overlaps are resolved left to right
(:func:`bionas.search.predict.bigwig_intervals`). The genome gives the
chromosome lengths of the bigWig header.
"""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import positive_int, required

log = logging.getLogger("bionas.bigwig")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--predictions", "predictions.tsv", "the table of bionas predict")
    required(parser, "--genome", "genome.fa", "the genome the predictions were made on")
    required(parser, "--out-dir", "DIR", "output folder: <task>.bw")
    parser.add_argument("--step", type=positive_int, metavar="BP",
                        help="the tiling step when the predictions tile a range (each score then "
                        "covers the window's central STEP bp)")


def run(args: argparse.Namespace) -> int:
    from bionas.data.genome import Genome
    from bionas.search.predict import write_bigwigs

    with Genome(args.genome) as genome:
        sizes = dict(genome.sizes)
    files = write_bigwigs(args.predictions, sizes, args.out_dir, args.step)
    log.info("wrote %s", ", ".join(str(f) for f in files))
    return 0
