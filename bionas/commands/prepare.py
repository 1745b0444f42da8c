"""``bionas prepare``: windows around peak summits, negatives and a chromosome split."""

from __future__ import annotations

import argparse
import logging

from bionas.commands.argtypes import number, positive_int, seed
from bionas.data.genome import Genome
from bionas.data.negatives import NEGATIVE_METHODS
from bionas.data.peaks import CHROM_NAMES, read_peaks, with_chrom_names
from bionas.data.prepare import prepare
from bionas.errors import InputError
from bionas.records.windows import (
    genome_origin,
    task_name_problem,
    write_summary,
    write_windows,
)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genome", required=True, help="genome FASTA (plain or bgzip)")
    parser.add_argument(
        "--chromosomes",
        nargs="+",
        metavar="NAME|REGEX",
        help="sequences windows may come from: 'primary' (the default: no _random, _alt, chrUn, "
        "chrM, ...), 'all', one regular expression names must match in full, or several names",
    )
    parser.add_argument(
        "--blacklist",
        metavar="BLACKLIST.bed",
        help="regions no window may overlap (e.g. the ENCODE blacklist; BED, plain or gzip)",
    )
    parser.add_argument(
        "--chrom-names",
        choices=CHROM_NAMES,
        default="detect",
        help="rename the chromosomes of the peak and blacklist files to the genome's style: "
        "ucsc (chr1, chrM), ensembl (1, MT), as_is; detect (the default) renames nothing and "
        "names the setting that would fit when the names do not match",
    )
    parser.add_argument(
        "--max-peaks",
        type=positive_int,
        metavar="N",
        help="windows come from the strongest N peaks of each task (signalValue, else score); "
        "default: every peak",
    )
    parser.add_argument(
        "--peaks",
        nargs="+",
        required=True,
        metavar="TASK=PATH",
        help="one peak file (BED3, BED6, narrowPeak, broadPeak or BED12; plain or gzip) per task",
    )
    parser.add_argument(
        "--window", type=int, default=200, help="window width in bp (default: %(default)s)"
    )
    parser.add_argument(
        "--negatives",
        choices=NEGATIVE_METHODS,
        default="shuffle",
        help="how negatives are made (default: %(default)s)",
    )
    parser.add_argument(
        "--negative-ratio",
        type=number(0, 100),
        default=1.0,
        help="negatives per positive window, 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "--val-chroms", nargs="+", required=True, metavar="CHROM", help="validation chromosomes"
    )
    parser.add_argument(
        "--test-chroms", nargs="+", required=True, metavar="CHROM", help="test chromosomes"
    )
    parser.add_argument(
        "--train-chroms",
        nargs="+",
        default=None,
        metavar="CHROM",
        help="training chromosomes (default: all others)",
    )
    parser.add_argument("--seed", type=seed, default=1, help="random seed (default: %(default)s)")
    parser.add_argument("--out", required=True, help="output windows table (TSV)")
    parser.add_argument("--summary", required=True, help="output summary table (TSV)")


def parse_task_paths(items: list[str]) -> dict[str, str]:
    """``["TASK=PATH", ...]`` -> ``{task: path}``; InputError on a bad or repeated task."""
    tasks: dict[str, str] = {}
    for item in items:
        task, sep, path = item.partition("=")
        if not sep or not task or not path:
            raise InputError(f"--peaks expects TASK=PATH, found {item!r}")
        problem = task_name_problem(task)
        if problem:
            raise InputError(f"task name {task!r} {problem}", key="--peaks")
        if task in tasks:
            raise InputError(f"task {task!r} is given twice in --peaks")
        tasks[task] = path
    return tasks


def run(args: argparse.Namespace) -> int:
    tasks = parse_task_paths(args.peaks)
    with Genome(args.genome) as genome:
        style = args.chrom_names
        peaks = [with_chrom_names(read_peaks(path, task), style) for task, path in tasks.items()]
        blacklist = None
        if args.blacklist is not None:
            listed = read_peaks(args.blacklist, "blacklist", what="blacklist")
            blacklist = with_chrom_names(listed, style).intervals
        result = prepare(
            genome,
            peaks,
            width=args.window,
            negatives=args.negatives,
            ratio=args.negative_ratio,
            val_chroms=args.val_chroms,
            test_chroms=args.test_chroms,
            train_chroms=args.train_chroms,
            seed=args.seed,
            blacklist=blacklist,
            chromosomes=args.chromosomes,
            max_peaks=args.max_peaks,
        )
        # encode reads the genome again with these windows: record which genome it was
        origin = genome_origin(args.genome, genome.sizes, result.table)
    write_windows(args.out, result.table, genome=origin)
    write_summary(args.summary, result.summary)
    log.info("wrote %s (%d windows) and %s", args.out, len(result.table), args.summary)
    return 0
