"""The reward a search maximises, from a child's validation metrics and its K.

Two kinds:

- ``loss`` (BioNAS): ``R = -(val_loss + lam * K)``
- ``auroc``: ``R = val_auroc - lam * K``

``lam = 0`` is plain architecture search: K is then ignored and may be NaN
(for example when no prior motifs were given). A NaN or infinite metric that
the reward needs raises :class:`ValueError`; the caller treats the child as
failed and records its penalty reward instead.
"""

from __future__ import annotations

import math

#: Reward kinds accepted by :func:`compute_reward`.
KINDS = ("loss", "auroc")


def _finite(name: str, value: float | None) -> float:
    if value is None:
        raise ValueError(f"{name} is missing")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} is not finite ({x})")
    return x


def compute_reward(
    val_loss: float | None,
    knowledge: float | None,
    lam: float,
    kind: str = "loss",
    val_auroc: float | None = None,
) -> float:
    """Reward of one child; higher is better.

    Parameters
    ----------
    val_loss : float
        Validation loss (used by ``kind="loss"``; ignored by ``"auroc"``).
    knowledge : float
        Knowledge dissimilarity K (:func:`bionas.search.knowledge.knowledge_dissimilarity`);
        ignored when ``lam == 0``.
    lam : float
        Weight of the knowledge term, ``>= 0``.
    kind : {"loss", "auroc"}
        ``"loss"``: ``-(val_loss + lam * K)``; ``"auroc"``: ``val_auroc - lam * K``.
    val_auroc : float, optional
        Validation AUROC, required by ``kind="auroc"``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On an unknown ``kind``, a negative or non-finite ``lam``, or a missing,
        NaN or infinite metric that the reward needs (the caller's failure path).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown reward kind {kind!r}; expected one of {', '.join(KINDS)}")
    lam = _finite("lam", lam)
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    penalty = lam * _finite("knowledge", knowledge) if lam > 0 else 0.0
    if kind == "loss":
        return -(_finite("val_loss", val_loss) + penalty)
    return _finite("val_auroc", val_auroc) - penalty
