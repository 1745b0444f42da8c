"""``bionas status``: where a run stands, read from its files (during or after a run).

Prints steps and children done, failures, the best child so far, mean child
and step times and the search time left (see :mod:`bionas.search.progress`).
Works on a cluster too: it reads only the results folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bionas.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="results/DATASET/RUN", help="the run's results folder")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from bionas.search.progress import run_progress, status_lines

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InputError("no such run folder (expected results/<dataset>/<run>)", run_dir)
    if not (run_dir / "search").is_dir() and not (run_dir / "final").is_dir():
        raise InputError(
            "not a run folder: it has neither search/ nor final/ (expected results/<dataset>/<run>)",
            run_dir,
        )
    progress = run_progress(run_dir)
    if args.json:
        print(json.dumps(progress, indent=1))
    else:
        print("\n".join(status_lines(run_dir, progress)))
    return 0
