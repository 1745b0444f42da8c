"""``bionas score-child``: knowledge dissimilarity K and reward of a trained child.

Reads ``train.json`` (from ``bionas train-child``) and the model beside it,
turns the first convolution's filters into PWMs (softmax with temperature),
computes K against the prior motifs and the reward, and writes
``metrics.json`` atomically (strict JSON: an undefined value is null).

A failed child, or one whose reward cannot be computed (a NaN metric the
reward needs, for example ``--reward auroc`` on a validation split with one
class), gets ``status: failed`` and the ``--failure-reward``.

The first-layer kernel is read from the ``.keras`` file's HDF5 weights, so
this command does not import TensorFlow (see
:func:`bionas.search.builder.read_first_conv_weights`).

``metrics.json``::

    {"status": "ok" | "failed", "error": null | str,
     "layers", "id", "step", "child",                      (from train.json)
     "val_loss", "val_auroc", "val_auprc",                 (from train.json)
     "knowledge": float | null, "knowledge_per_prior": {motif id: float} | null,
     "reward": float, "lambda": float, "lambda_reg": float, "reward_kind": "loss" | "auroc",
     "temperature": float, "both_strands": bool,
     "epochs", "seconds", "params", "cached"}              (from train.json)
"""

from __future__ import annotations

import argparse
import logging
import math
import zipfile
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import write_json
from bionas.records.space import load_space
from bionas.records.train_result import RERUN_TRAIN_CHILD as _RERUN
from bionas.records.train_result import json_safe, read_train_result

log = logging.getLogger("bionas.score_child")

def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", required=True, metavar="SPACE.yaml", help="model-space YAML")
    parser.add_argument(
        "--train-result", required=True, metavar="DIR/train.json", help="written by train-child"
    )
    parser.add_argument(
        "--priors", required=True, metavar="priors.meme", help="prior motifs (MEME)"
    )
    parser.add_argument("--out", required=True, metavar="DIR/metrics.json", help="output")
    parser.add_argument(
        "--lambda",
        dest="lam",
        type=_non_negative_float,
        default=0.0,
        help="weight of K in the reward; 0 is plain search (default: %(default)s)",
    )
    parser.add_argument(
        "--temperature",
        type=_positive_float,
        default=0.15,
        help="softmax temperature filter -> PWM (default: %(default)s)",
    )
    parser.add_argument(
        "--reward",
        choices=("loss", "auroc"),
        default="loss",
        help="loss: -(val_loss + lambda K); auroc: val_auroc - lambda K (default: %(default)s)",
    )
    parser.add_argument(
        "--one-strand",
        action="store_true",
        help="match filters on one strand only, as BioNAS did (default: both strands)",
    )
    parser.add_argument(
        "--lambda-reg",
        type=_non_negative_float,
        default=0.0,
        help="added to K per first-layer filter (default: %(default)s)",
    )
    parser.add_argument(
        "--failure-reward",
        type=_finite_float,
        default=-10.0,
        help="reward of a child that failed (default: %(default)s)",
    )


def _first_conv_kernel(model_path: Path) -> np.ndarray:
    """The first-convolution kernel (width, 4, n_filters) of a saved child model."""
    from bionas.search.builder import FIRST_CONV, read_first_conv_weights

    if not model_path.is_file():
        raise InputError(f"model file not found; {_RERUN}", model_path)
    try:
        return read_first_conv_weights(model_path)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(
            f"cannot load the model or its first convolution {FIRST_CONV!r} "
            f"({type(err).__name__}: {err}); {_RERUN}",
            model_path,
        ) from None


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.io import read_meme
    from bionas.motifs.pwm import filters_to_pwms
    from bionas.search.knowledge import knowledge_dissimilarity
    from bionas.search.reward import compute_reward

    space = load_space(args.space)
    path = Path(args.train_result)
    record = read_train_result(path)
    space.encode(record["layers"], path=path)
    if record["id"] != space.architecture_id(record["layers"]):
        raise InputError(
            "the architecture id does not match its layers in this model space "
            f"(the child was trained with another space); {_RERUN}",
            path,
            key="id",
        )
    priors = read_meme(args.priors)
    if not priors:
        raise InputError("no motifs in the prior file", args.priors)

    status, error = record["status"], record["error"]
    knowledge = None
    per_prior = None
    if status == "ok":
        kernel = _first_conv_kernel(path.parent / record["model"])
        if np.all(np.isfinite(kernel)):
            pwms = filters_to_pwms(kernel, args.temperature)
            result = knowledge_dissimilarity(
                pwms,
                [m.pwm for m in priors],
                both_strands=not args.one_strand,
                lambda_reg=args.lambda_reg,
            )
            knowledge = result.k
            per_prior = {m.id: float(v) for m, v in zip(priors, result.per_prior, strict=True)}
        else:
            status, error = "failed", "the first-layer filters hold NaN or infinite weights"
    reward = args.failure_reward
    if status == "ok":
        try:
            reward = compute_reward(
                record["val_loss"],
                knowledge,
                args.lam,
                kind=args.reward,
                val_auroc=record["val_auroc"],
            )
        except ValueError as err:
            status, error = "failed", f"no reward: {err}"
            reward = args.failure_reward
    if status != "ok":
        log.warning("child failed (%s); reward %s", error, reward)
    metrics = {
        "status": status,
        "error": error,
        "layers": record["layers"],
        "id": record["id"],
        "step": record["step"],
        "child": record["child"],
        "val_loss": record["val_loss"],
        "val_auroc": record["val_auroc"],
        "val_auprc": record["val_auprc"],
        "knowledge": knowledge,
        "knowledge_per_prior": per_prior,
        "reward": reward,
        "lambda": args.lam,
        "lambda_reg": args.lambda_reg,
        "reward_kind": args.reward,
        "temperature": args.temperature,
        "both_strands": not args.one_strand,
        "epochs": record["epochs"],
        "seconds": record["seconds"],
        "params": record["params"],
        "cached": record["cached"],
    }
    write_json(args.out, json_safe(metrics))
    return 0
