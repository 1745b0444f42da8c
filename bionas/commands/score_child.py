"""``bionas score-child``: knowledge dissimilarity K and reward of a trained child.

Reads ``train.json`` (from ``bionas train-child``) and the model beside it,
scores it (:func:`bionas.search.scoring.score_child`: filters -> PWMs by a
tempered softmax, K against the prior motifs, the reward) and writes
``metrics.json`` atomically (:mod:`bionas.records.metrics` has its format).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bionas.commands.argtypes import (
    finite_float,
    non_negative_float,
    option,
    positive_float,
    required,
)
from bionas.errors import InputError
from bionas.records.metrics import metrics_record, write_metrics
from bionas.records.space import load_space
from bionas.records.train_result import RERUN_TRAIN_CHILD, read_train_result

log = logging.getLogger("bionas.score_child")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    required(parser, "--space", "SPACE.yaml", "model-space YAML")
    required(parser, "--train-result", "DIR/train.json", "written by train-child")
    required(parser, "--priors", "priors.meme", "prior motifs (MEME)")
    required(parser, "--out", "DIR/metrics.json", "output")
    option(parser, "--lambda", non_negative_float, 0.0, "weight of K in the reward; 0 is plain search",
           dest="lam")
    option(parser, "--temperature", positive_float, 0.15, "softmax temperature filter -> PWM")
    option(parser, "--reward", str, "loss",
           "loss: -(val_loss + lambda K); auroc: val_auroc - lambda K", choices=("loss", "auroc"))
    parser.add_argument("--one-strand", action="store_true",
                        help="match filters on one strand only, as BioNAS did (default: both strands)")
    option(parser, "--lambda-reg", non_negative_float, 0.0, "added to K per first-layer filter")
    option(parser, "--failure-reward", finite_float, -10.0, "reward of a child that failed")


def run(args: argparse.Namespace) -> int:
    from bionas.motifs.io import read_meme
    from bionas.search.scoring import ScoringSettings, score_child

    space = load_space(args.space)
    path = Path(args.train_result)
    record = read_train_result(path)
    space.encode(record["layers"], path=path)
    if record["id"] != space.architecture_id(record["layers"]):
        raise InputError(
            "the architecture id does not match its layers in this model space "
            f"(the child was trained with another space); {RERUN_TRAIN_CHILD}",
            path,
            key="id",
        )
    priors = read_meme(args.priors)
    if not priors:
        raise InputError("no motifs in the prior file", args.priors)
    settings = ScoringSettings(
        lam=args.lam,
        temperature=args.temperature,
        reward=args.reward,
        both_strands=not args.one_strand,
        lambda_reg=args.lambda_reg,
        failure_reward=args.failure_reward,
    )
    score = score_child(record, path.parent, priors, settings)
    if score.status != "ok":
        log.warning("child failed (%s); reward %s", score.error, score.reward)
    write_metrics(args.out, metrics_record(record, score, settings))
    return 0
