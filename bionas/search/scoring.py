"""Scoring a trained child: knowledge dissimilarity K of its first-layer filters and its reward.

The scoring policy of the search lives here, apart from the command that
calls it (``bionas score-child``) and the record it writes
(:mod:`bionas.records.metrics`): a failed child, a child whose filters hold
NaN, or one whose reward cannot be computed (a NaN metric the reward needs,
for example ``auroc`` on a validation split with one class) is scored
``failed`` with the failure reward; the search goes on.

The first-layer kernel is read from the ``.keras`` file's HDF5 weights, so
scoring does not import TensorFlow
(:func:`bionas.search.builder.read_first_conv_weights`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError
from bionas.records.train_result import RERUN_TRAIN_CHILD


@dataclass(frozen=True)
class ScoringSettings:
    """How K and the reward are computed (every value is recorded in ``metrics.json``).

    Attributes
    ----------
    lam : float
        Weight of K in the reward (``lambda``); 0 is plain search.
    temperature : float
        Softmax temperature of filter -> PWM.
    reward : {"loss", "auroc"}
        ``-(val_loss + lam K)`` or ``val_auroc - lam K``.
    both_strands : bool
        Match filters on both strands (BioNAS used one).
    lambda_reg : float
        Added to K per first-layer filter.
    failure_reward : float
        Reward of a child that failed.
    """

    lam: float = 0.0
    temperature: float = 0.15
    reward: str = "loss"
    both_strands: bool = True
    lambda_reg: float = 0.0
    failure_reward: float = -10.0


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one child."""

    status: str
    error: str | None
    knowledge: float | None
    per_prior: dict[str, float] | None
    reward: float


def first_conv_kernel(model_path: Path) -> np.ndarray:
    """The first-convolution kernel ``(width, 4, n_filters)`` of a saved child model.

    Raises InputError naming the model file when it is missing or unreadable.
    """
    from bionas.search.builder import FIRST_CONV, read_first_conv_weights

    if not model_path.is_file():
        raise InputError(f"model file not found; {RERUN_TRAIN_CHILD}", model_path)
    try:
        return read_first_conv_weights(model_path)
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise InputError(
            f"cannot load the model or its first convolution {FIRST_CONV!r} "
            f"({type(err).__name__}: {err}); {RERUN_TRAIN_CHILD}",
            model_path,
        ) from None


def score_child(
    record: Mapping[str, Any],
    model_dir: Path,
    priors: Sequence[Any],
    settings: ScoringSettings,
) -> Score:
    """K and reward of the child described by ``record`` (a checked ``train.json``).

    Parameters
    ----------
    record : mapping
        The child's train result (:func:`bionas.records.train_result.read_train_result`).
    model_dir : Path
        The directory ``record["model"]`` is relative to.
    priors : sequence of Motif
        Prior motifs, each with ``id`` and ``pwm`` ``(width, 4)``.
    settings : ScoringSettings
    """
    from bionas.motifs.pwm import filters_to_pwms
    from bionas.search.knowledge import knowledge_dissimilarity
    from bionas.search.reward import compute_reward

    status, error = record["status"], record["error"]
    knowledge = None
    per_prior = None
    if status == "ok":
        kernel = first_conv_kernel(model_dir / record["model"])
        if np.all(np.isfinite(kernel)):
            pwms = filters_to_pwms(kernel, settings.temperature)
            result = knowledge_dissimilarity(
                pwms,
                [m.pwm for m in priors],
                both_strands=settings.both_strands,
                lambda_reg=settings.lambda_reg,
            )
            knowledge = result.k
            per_prior = {m.id: float(v) for m, v in zip(priors, result.per_prior, strict=True)}
        else:
            status, error = "failed", "the first-layer filters hold NaN or infinite weights"
    reward = settings.failure_reward
    if status == "ok":
        try:
            reward = compute_reward(
                record["val_loss"],
                knowledge,
                settings.lam,
                kind=settings.reward,
                val_auroc=record["val_auroc"],
            )
        except ValueError as err:
            status, error = "failed", f"no reward: {err}"
            reward = settings.failure_reward
    return Score(status, error, knowledge, per_prior, reward)
