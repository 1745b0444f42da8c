"""``bionas predict``: score new regions (or a tiled range) with a found model.

One window of the model's width per region of ``--regions`` (BED3/BED6/
narrowPeak/broadPeak/BED12, plain or gzip; centred on the summit or midpoint),
or every ``--step`` bp over ``--tile CHROM:START-END``; windows are fetched,
one-hot encoded and predicted in batches, so memory stays constant. Writes a
TSV: ``chrom start end region`` and one score column per task
(:mod:`bionas.search.predict`), and with ``--bigwig-dir`` one bigWig per task.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bionas.commands.argtypes import positive_int, required
from bionas.errors import InputError

log = logging.getLogger("bionas.predict")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--model", "model.keras", "the model (a run's final/model.keras)")
    required(parser, "--genome", "genome.fa", "genome FASTA (plain or bgzip)")
    required(parser, "--out", "predictions.tsv", "output table")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--regions", metavar="REGIONS.bed", help="regions to score, one window each")
    where.add_argument("--tile", metavar="CHROM:START-END", help="a range to tile with windows")
    parser.add_argument("--step", type=positive_int, default=50, help="tiling step in bp (default 50)")
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="score column names (default task_0 ...)")
    parser.add_argument("--batch-size", type=positive_int, default=1024, help="windows per batch (default 1024)")
    parser.add_argument("--threads", type=positive_int, default=1, help="TensorFlow threads (default 1)")
    parser.add_argument("--bigwig-dir", metavar="DIR",
                        help="also write one bigWig per task (<task>.bw) into DIR, for a genome browser")


def run(args: argparse.Namespace) -> int:
    from bionas.data.genome import Genome
    from bionas.motifs.analysis import load_model
    from bionas.search.predict import region_windows, tile_windows, write_predictions
    from bionas.search.train import configure_tensorflow

    configure_tensorflow(args.threads, seed=0)
    model = load_model(Path(args.model))
    width = model.input_shape[1]
    n_tasks = int(model.output_shape[-1])
    tasks = args.tasks or [f"task_{i}" for i in range(n_tasks)]
    if len(tasks) != n_tasks:
        raise InputError(f"the model predicts {n_tasks} task(s), --tasks names {len(tasks)}", args.model)
    with Genome(args.genome) as genome:
        if args.regions is not None:
            windows = region_windows(args.regions, width, genome.sizes)
        else:
            windows = tile_windows(args.tile, args.step, width, genome.sizes)
        n = write_predictions(args.out, model, genome, windows, tasks, args.batch_size)
        sizes = dict(genome.sizes)
    log.info("wrote %d windows of %d bp, %d task(s), to %s", n, width, n_tasks, args.out)
    if args.bigwig_dir:
        from bionas.search.predict import write_bigwigs

        step = args.step if args.tile is not None else None
        files = write_bigwigs(args.out, sizes, args.bigwig_dir, step)
        log.info("wrote %s", ", ".join(str(f) for f in files))
    return 0
