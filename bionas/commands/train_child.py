"""``bionas train-child``: train one child architecture on the tensors.

Writes ``OUT_DIR/model.keras`` and then, last, ``OUT_DIR/train.json`` (both
atomically; a failed child has no model). A child that cannot train (too many
parameters, NaN loss, out of memory) is recorded with ``status: failed`` and
exit status 0 so the search goes on; with ``--fail-fatal`` it exits 1 instead
and writes nothing. Bad input files exit 2 and leave nothing behind.

With ``--cache-dir``, a result of the same architecture, tensors (by content)
and settings is copied from the cache instead of training (``cached: true``);
that path does not import TensorFlow. Failed children are cached too, except
out-of-memory failures (they depend on the machine).

``train.json`` (strict JSON; an undefined number is null)::

    {"status": "ok" | "failed", "error": null | str,
     "stop_reason": "epochs" | "early_stopping" | "time" | "nan" | "params" | "memory",
     "layers": [option names], "id": str, "step": int | null, "child": int | null,
     "val_loss": float (best epoch), "val_auroc": float, "val_auprc": float (means over tasks),
     "per_task": {task: {"auroc", "auprc", "note": null | why undefined}},
     "epochs": int (run), "best_epoch": int (1-based),
     "seconds": float (build, training, evaluation; not imports),
     "params": int, "cached": bool, "cache_key": str,
     "model": "model.keras" | null (relative to train.json), "seed": int,
     "settings": {epochs, patience, batch_size, learning_rate, max_seconds,
                  max_params, seed, threads},
     "history": {"loss": [per epoch], "val_loss": [per epoch]}}

A failed child has null metrics, ``best_epoch`` and ``model``.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
from pathlib import Path

from bionas.io import atomic_path, write_json
from bionas.records.architecture import read_architecture
from bionas.records.space import load_space
from bionas.records.tensors import check_pair, load_tensors
from bionas.records.train_result import MODEL_FILE, RESULT_FILE, TrainSettings, child_record
from bionas.search.cache import cache_key, cache_lookup, cache_store
from bionas.search.train import train_child

log = logging.getLogger("bionas.train_child")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainSettings()
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--architecture",
        required=True,
        metavar="ARCH.json",
        help="one architecture record {step, child, layers, id}, or a JSON list of them "
        "(a step's proposals.json; pick one with --index)",
    )
    parser.add_argument(
        "--index",
        type=_non_negative_int,
        metavar="K",
        help="which record of a list to train (0-based)",
    )
    parser.add_argument("--train", required=True, metavar="train.npz", help="training tensors")
    parser.add_argument("--val", required=True, metavar="val.npz", help="validation tensors")
    parser.add_argument(
        "--out-dir",
        required=True,
        metavar="DIR",
        help=f"writes DIR/{MODEL_FILE} and DIR/{RESULT_FILE}",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="C",
        help="reuse and store results keyed by architecture, tensor contents and settings",
    )
    parser.add_argument(
        "--epochs",
        type=_positive_int,
        default=d.epochs,
        help="at most this many epochs (default: %(default)s)",
    )
    parser.add_argument(
        "--patience",
        type=_non_negative_int,
        default=d.patience,
        help="stop after this many epochs without a lower val loss; 0: never (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=_positive_int, default=d.batch_size, help="(default: %(default)s)"
    )
    parser.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=d.learning_rate,
        help="Adam learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=_positive_float,
        default=d.max_seconds,
        help="stop training after this much wall time (default: %(default)s)",
    )
    parser.add_argument(
        "--max-params",
        type=_positive_int,
        default=d.max_params,
        help="a child with more weights fails without training (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=d.seed, help="random seed (default: %(default)s)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=d.threads,
        help="TensorFlow intra- and inter-op threads (default: %(default)s)",
    )
    parser.add_argument(
        "--fail-fatal",
        action="store_true",
        help="a child that cannot train exits 1 instead of writing status: failed",
    )


def _remove_stale(out_dir: Path) -> None:
    # train.json first: it marks a finished child, so it must never outlive its model.
    for name in (RESULT_FILE, MODEL_FILE):
        target = out_dir / name
        if target.is_file() or target.is_symlink():
            target.unlink()


def run(args: argparse.Namespace) -> int:
    settings = TrainSettings(
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_seconds=args.max_seconds,
        max_params=args.max_params,
        seed=args.seed,
        threads=args.threads,
    )
    train = load_tensors(args.train)
    val = load_tensors(args.val)
    check_pair(train, val)
    space = load_space(args.space, window=train.length)
    arch = read_architecture(args.architecture, space, index=args.index)
    key = cache_key(arch["id"], train.sha256, val.sha256, settings)
    out_dir = Path(args.out_dir)
    _remove_stale(out_dir)

    record = cache_lookup(args.cache_dir, key) if args.cache_dir else None
    if record is not None:
        log.info("cache hit %s for %s", key[:12], " ".join(arch["layers"]))
        record = {**record, **{k: arch[k] for k in ("step", "child")}, "cached": True}
        if record["status"] == "ok":
            with atomic_path(out_dir / MODEL_FILE) as tmp:
                shutil.copyfile(Path(args.cache_dir) / key / MODEL_FILE, tmp)
    else:
        log.info("training %s (%s)", " ".join(arch["layers"]), arch["id"][:12])
        result = train_child(space, arch["layers"], train, val, settings)
        if result.status == "ok":
            with atomic_path(out_dir / MODEL_FILE) as tmp:
                result.model.save(tmp)
        record = child_record(arch, result, settings, key)
        if args.cache_dir and result.cacheable:
            cache_store(
                args.cache_dir,
                key,
                record,
                out_dir / MODEL_FILE if result.status == "ok" else None,
            )
    if record["status"] != "ok":
        if args.fail_fatal:
            print(f"bionas train-child: child failed: {record['error']}", file=sys.stderr)
            return 1
        log.warning("child failed: %s", record["error"])
    else:
        log.info(
            "val_loss %.4f, val_auroc %s, %d epochs (best %s), %.1f s%s",
            record["val_loss"],
            record["val_auroc"],
            record["epochs"],
            record["best_epoch"],
            record["seconds"],
            " (cached)" if record["cached"] else "",
        )
    write_json(out_dir / RESULT_FILE, record)
    return 0
