"""The model card: what the final model is, what it was trained and tested on, what it learned.

:func:`model_card` gathers, from the same files the report reads, one JSON
document a person or a model registry can keep beside ``final/model.keras``:

- ``model``: the architecture (layers, parameters, input width, tasks), how
  it was chosen (the search's controller, the replicate kept and why) and the
  training settings;
- ``data``: the dataset's genome, peak files, window width, negatives and the
  chromosome split (from the run's configuration);
- ``evaluation``: test AUROC/AUPRC per task on the held-out chromosomes;
- ``interpretation``: the priors, which were recovered by filters (and in
  how many replicates) and by TF-MoDISco patterns, the motif families found
  without being given, and both negative controls;
- ``provenance``: the bionas version (no time stamp: the same run gives the
  same card).

Missing pieces (a run without a search, TF-MoDISco turned off) are null, not
guessed.
"""

from __future__ import annotations

from typing import Any

from bionas import __version__


def _dataset_block(config: dict[str, Any] | None, dataset: str) -> dict[str, Any] | None:
    if not isinstance(config, dict):
        return None
    block = (config.get("datasets") or {}).get(dataset)
    if not isinstance(block, dict):
        return None
    keys = ("genome", "peaks", "simulate", "window", "negatives", "split", "chromosomes",
            "blacklist", "max_peaks", "chrom_names", "priors")  # fmt: skip
    return {k: block[k] for k in keys if k in block}


def _replicate_counts(interpret: dict[str, Any], what: str) -> list[dict[str, Any]]:
    reps = interpret.get("replicates") or {}
    return [
        {**item, "replicates": reps.get("n")}
        for item in (reps.get(what) or {}).get("activation", [])
    ]


def model_card(
    dataset: str,
    run: str,
    summary: dict[str, Any],
    interpret: dict[str, Any],
    patterns: dict[str, Any] | None,
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    """The model card of a finished run (see the module docstring).

    Parameters
    ----------
    dataset, run : str
    summary : dict
        ``final/summary.json`` (``bionas evaluate``).
    interpret : dict
        ``interpret/summary.json`` (``bionas compare-motifs``).
    patterns : dict or None
        ``attribute/summary.json`` (``bionas attribute``), when it ran.
    config : dict or None
        The run's configuration.
    """
    search = (config or {}).get("search") or {}
    data = _dataset_block(config, dataset)
    width = (data or {}).get("window")
    tests = summary.get("test") or {}
    return {
        "name": f"bionas {dataset}/{run}",
        "model": {
            "file": "final/model.keras",
            "layers": summary.get("layers"),
            "parameters": summary.get("params"),
            "input": None if width is None else {"width_bp": width, "one_hot": "ACGT"},
            "tasks": list(tests),
            "output": "one sigmoid per task: the probability that the window's centre lies in a peak",
            "chosen_by": summary.get("chosen_by"),
            "replicates": summary.get("replicates"),
            "kept_replicate_seed": summary.get("seed"),
            "validation_loss": summary.get("val_loss"),
            "knowledge_dissimilarity": summary.get("knowledge"),
            "reward": summary.get("reward"),
            "search": {
                "controller": search.get("controller"),
                "steps": search.get("steps"),
                "children_per_step": search.get("children_per_step"),
                "lambda": search.get("lambda"),
            } if search else None,
            "training": (config or {}).get("training"),
            "final_training": (config or {}).get("final"),
        },  # fmt: skip
        "data": data,
        "evaluation": {
            "split": "test chromosomes, never used to train or to choose",
            "per_task": tests,
            "mean_auroc": summary.get("test_auroc"),
            "mean_auprc": summary.get("test_auprc"),
        },
        "interpretation": {
            "collection": interpret.get("collection"),
            "tax_group": interpret.get("tax_group"),
            "q_threshold": interpret.get("q_threshold"),
            "priors": interpret.get("priors"),
            "recovered_by_filters": interpret.get("recovered_by", {}).get("activation"),
            "priors_in_replicates": _replicate_counts(interpret, "priors"),
            "found_not_given_in_replicates": _replicate_counts(interpret, "found"),
            "recovered_by_patterns": None if patterns is None else patterns.get("recovered_by"),
            "found_by_patterns": None if patterns is None else patterns.get("found_not_given"),
            "negative_controls": {
                "random_model": interpret.get("control_significant_filters"),
                "shuffled_columns": interpret.get("shuffled_significant_filters"),
                "filters": interpret.get("n_filters"),
                "too_flat_to_compare": interpret.get("too_flat_filters"),
            },
        },
        "provenance": {"bionas": __version__},
    }
