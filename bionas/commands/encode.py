"""``bionas encode``: windows -> one-hot tensors, one ``.npz`` per split."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from bionas.data.encode import split_rows
from bionas.data.genome import Genome
from bionas.io import atomic_paths
from bionas.records.tensors import StreamedX, write_tensors
from bionas.records.windows import SPLITS, read_windows

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--genome",
        required=True,
        help="genome FASTA (plain or bgzip), the one given to prepare: a genome whose sequence "
        "names or lengths differ from those the windows table records is refused",
    )
    parser.add_argument("--windows", required=True, help="windows table written by bionas prepare")
    parser.add_argument(
        "--out-dir", required=True, help="directory for train.npz, val.npz, test.npz"
    )
    parser.add_argument(
        "--revcomp-train",
        action="store_true",
        help="append reverse-complement copies of the training windows (regions end in '(-)')",
    )


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    paths = [out_dir / f"{split}.npz" for split in SPLITS]
    with Genome(args.genome) as genome:
        # refuses a genome other than the one prepare made the windows from
        windows = read_windows(args.windows, sizes=genome.sizes, genome=args.genome)
        tasks = np.array(windows.tasks, dtype=str)
        # the three splits are one set: an interrupted run leaves none of them new
        with atomic_paths(paths) as temps:
            _encode_splits(genome, windows, tasks, paths, temps, args.revcomp_train)
    return 0


def _encode_splits(genome, windows, tasks, paths, temps, revcomp: bool) -> None:
    """Encode every split into its temporary of the set."""
    for split, path, tmp in zip(SPLITS, paths, temps, strict=True):
        rows = split_rows(genome, windows, split, revcomp=revcomp and split == "train")
        X = StreamedX(rows.shape, rows.blocks())  # one-hot rows go to the file as they are made
        write_tensors(tmp, X, rows.y, tasks, rows.regions, rows.kind)
        log.info("encoded %s: X %s, %d positive labels", path, rows.shape, int(rows.y.sum()))
