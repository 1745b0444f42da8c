"""Config blocks -> the flags of the commands the workflow's rules run.

Each function takes the validated config (or one block of it) and returns the
flags as one shell-quoted string; the rules only paste them into their
``shell:`` line. A new setting of an existing block is one line here, or none:
:func:`training_flags` passes every key of ``training`` that is a field of
:class:`bionas.records.train_result.TrainSettings`.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bionas.records.train_result import TrainSettings

#: TrainSettings fields that the job decides, not the config (``--threads {threads}``).
_JOB_SETTINGS = frozenset({"threads"})


def as_flags(values: Mapping[str, Any]) -> str:
    """``{"batch_size": 64, "one_strand": True}`` -> ``--batch-size 64 --one-strand``.

    True gives the bare flag; False and None leave it out; a list gives its
    items after the flag; every value is shell-quoted.
    """
    out = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            out.append(" ".join([flag, *(shlex.quote(str(v)) for v in value)]))
        else:
            out.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(out)


def _train_settings(training: Mapping[str, Any]) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(TrainSettings) if f.name not in _JOB_SETTINGS]
    return {name: training[name] for name in names if name in training}


def training_flags(
    training: Mapping[str, Any],
    fail_fatal: bool = False,
    fidelity: Mapping[str, Any] | None = None,
    rung: int = 0,
) -> str:
    """``bionas train-child`` flags of a search child from the ``training`` block; with
    ``search.fidelity``, rung 0's epochs and ``--keep-resume`` (a later rung continues from
    the child). ``rung`` >= 1: the flags of ``bionas continue-child`` (no ``--epochs``: the
    rung's promotion file holds them; ``--keep-resume`` unless it is the last rung)."""
    settings = _train_settings(training)
    keep = False
    if fidelity:
        ladder = list(fidelity["epochs"])
        settings["epochs"] = ladder[0]
        keep = rung < len(ladder) - 1
        if rung > 0:
            settings.pop("epochs")
    return as_flags({**settings, "keep_resume": keep, "fail_fatal": bool(fail_fatal)})


#: what the attempt after the last asks for: it only writes a failed child's record
RECORDING_RESOURCES = {"mem_mb": 1000, "runtime": 10, "gpus": 0}


def child_resource(training: Mapping[str, Any], key: str, attempt: int) -> int:
    """A training job's ``mem_mb``, ``runtime`` (minutes) or ``gpus`` on ``attempt``: the
    ``training`` block's value, times the attempt for time and memory (a job killed at its
    limits gets more on the retry); the attempt after the last (``training.attempts`` + 1),
    which does not train but records the child (:mod:`bionas.search.guard`), asks for
    :data:`RECORDING_RESOURCES` at most. A profile's ``set-resources`` overrides them."""
    value = int(training[key])
    if attempt > int(training["attempts"]):
        return min(value, RECORDING_RESOURCES[key])
    return value * attempt if key in ("mem_mb", "runtime") else value


def final_training_flags(
    training: Mapping[str, Any], final: Mapping[str, Any], replicate: int
) -> str:
    """Flags of one final replicate: ``final``'s epochs and patience, three times the
    wall-time cap, and the seed shifted by 1000 + the replicate."""
    settings = _train_settings(training)
    settings.update(
        epochs=final["epochs"],
        patience=final["patience"],
        max_seconds=training["max_seconds"] * 3,
        seed=training["seed"] + 1000 + int(replicate),
    )
    return as_flags(settings)


def scoring_flags(search: Mapping[str, Any], lam: float | None = None) -> str:
    """``bionas score-child`` flags (K and the reward) from the ``search`` block; ``lam``
    instead of ``search.lambda`` for the final replicates (``final.lambda``)."""
    return as_flags(
        {
            "lambda": search["lambda"] if lam is None else lam,
            "temperature": search["temperature"],
            "reward": search["reward"],
            "lambda_reg": search["lambda_reg"],
            "failure_reward": search["failure_reward"],
            "one_strand": not search["both_strands"],
        }
    )


def controller_flags(search: Mapping[str, Any]) -> str:
    """``bionas init-controller`` settings: the block of the chosen controller (``search.rl``)."""
    block = search.get(search["controller"])
    settings = dict(block) if isinstance(block, Mapping) else {}
    if search.get("objective") == "pareto" and search["controller"] in ("tpe", "nsga2"):
        settings["objectives"] = 2  # val_loss (or AUROC) and K
    # a boolean setting is a value (--multivariate false), not a switch
    return as_flags({k: str(v).lower() if isinstance(v, bool) else v for k, v in sorted(settings.items())})


def simulate_flags(simulate: Mapping[str, Any]) -> str:
    """``bionas simulate`` flags from a dataset's ``simulate`` block."""
    keys = ("seed", "chromosomes", "chrom_length", "gc", "sites", "motifs")
    return as_flags({k: simulate[k] for k in keys if k in simulate})


def split_flags(split: Mapping[str, Any]) -> str:
    """``bionas prepare`` chromosome-split flags (``--train-chroms ...``) from a dataset's ``split``."""
    return as_flags({f"{part}_chroms": split.get(part) or None for part in ("train", "val", "test")})


def peaks_flag(tasks: Iterable[str], paths: Iterable[str]) -> str:
    """``TASK=PATH ...`` for ``bionas prepare --peaks``."""
    return " ".join(shlex.quote(f"{t}={p}") for t, p in zip(tasks, paths, strict=True))


def priors_flags(priors: Mapping[str, Any], meme: str | None = None) -> str:
    """``bionas priors`` flags: the user's MEME file, or JASPAR queries and the release."""
    if "meme" in priors:
        return as_flags({"meme": meme})
    return as_flags({"jaspar": list(priors["jaspar"]), "release": priors["release"]})


def selection_flags(
    final: Mapping[str, Any], found: str | None, reward: str = "loss"
) -> str:
    """``bionas select-architecture`` flags: a given JSON, the controller's choice, or the best
    rewards at ``final.lambda`` (the search's ``reward`` kind)."""
    if "architecture" in final:
        return as_flags({"mode": "given", "architecture": final["architecture"]})
    if final["select"] == "controller":
        return as_flags({"mode": "controller", "state": found})
    return as_flags(
        {"mode": "best_reward", "top_k": final["top_k"], "history": found,
         "lambda": final["lambda"], "reward": reward}
    )


def selection_key(config: Mapping[str, Any]) -> str:
    """The settings the final selection depends on, as one string (a param of the rule, so
    changing any of them reruns the selection and what follows, never a child)."""
    final, search = config["final"], config["search"]
    keys = {k: final.get(k) for k in ("select", "top_k", "lambda")}
    return as_flags({**keys, "reward": search["reward"]})


def report_flags(
    history: Iterable[str],
    controllers: Iterable[str],
    truth: Iterable[str],
    attribute: Iterable[str] = (),
) -> str:
    """The optional inputs of ``bionas report``: search history, controller states, demo truth,
    and the folder of ``bionas attribute`` (from its ``summary.json``)."""
    folders = [str(Path(p).parent) for p in attribute]
    return as_flags(
        {
            "history": list(history) or None,
            "controllers": list(controllers) or None,
            "truth": list(truth) or None,
            "attribute_dir": folders[0] if folders else None,
        }
    )


def evaluate_flags(final: Mapping[str, Any]) -> str:
    """``bionas evaluate``: how the final stage chooses between its candidates."""
    return as_flags({"choose": final["choose"]})


def predict_flags(predict: Mapping[str, Any], tasks: Iterable[str]) -> str:
    """``bionas predict``: the regions file or the tiled range, and the task names."""
    where = {"regions": predict["regions"]} if "regions" in predict else {
        "tile": predict["tile"], "step": predict["step"]}
    return as_flags({**where, "tasks": list(tasks)})
