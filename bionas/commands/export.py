"""``bionas export``: the final model as a TensorFlow SavedModel and as ONNX, checked.

Both formats must predict what the Keras model predicts on the first
``--check`` test windows (within 1e-5); see :mod:`bionas.search.export`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bionas.commands.argtypes import positive_int, required

log = logging.getLogger("bionas.export")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--model", "model.keras", "the model (a run's final/model.keras)")
    required(parser, "--test", "test.npz", "test tensors; their first windows check the exports")
    required(parser, "--out-dir", "DIR", "output folder: saved_model/, model.onnx, export.json")
    parser.add_argument("--check", type=positive_int, default=256,
                        help="test windows both formats must predict as Keras does (default 256)")
    parser.add_argument("--threads", type=positive_int, default=1, help="TensorFlow threads")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.analysis import load_model
    from bionas.records.tensors import load_tensors
    from bionas.search.export import export_model
    from bionas.search.train import configure_tensorflow

    test = load_tensors(args.test)
    configure_tensorflow(args.threads, seed=0)
    model = load_model(Path(args.model), test, args.test)
    record = export_model(model, args.out_dir, test.X[: args.check])
    log.info("wrote %s: SavedModel and ONNX, largest difference from Keras %s",
             args.out_dir, record["max_abs_difference"])
    return 0
