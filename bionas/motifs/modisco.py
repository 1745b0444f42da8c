"""The final model read through attributions and TF-MoDISco, judged like its filters.

For each task, the test windows positive for that task are attributed
(:func:`bionas.motifs.attribution.attributions`: gradient of the task's logit
with the per-position mean over bases removed, the hypothetical
contributions TF-MoDISco reads), modisco-lite groups the high-attribution
stretches (seqlets) into patterns (:func:`bionas.motifs.patterns.find_patterns`),
and every pattern's PWM (base frequencies of its seqlets, trimmed as
``modisco report`` trims) is compared with the motif collection by the same
calibrated comparison as the filters, at 1.0 bit like the activation PWMs
(frequency matrices both). Priors are recovered and families found exactly
as for filters (:func:`bionas.motifs.interpret.recovery_table`,
:func:`bionas.motifs.interpret.found_not_given`), with patterns in place of
filters.

Outputs in the output folder (each written atomically; ``summary.json`` last):

``tasks/<task>/ohe.npz``, ``tasks/<task>/hypothetical.npz``
    One-hot windows and hypothetical contributions, ``arr_0`` of shape
    ``(n, 4, L)``: the files ``modisco motifs -s ohe.npz -a hypothetical.npz``
    reads, to rerun TF-MoDISco with other settings.
``tasks/<task>/modisco.h5``, ``.meme``, ``.tsv``
    modisco-lite's own result (``modisco report -i modisco.h5`` reads it), the
    pattern PWMs and a summary (:func:`bionas.motifs.patterns.write_patterns`).
``patterns.tsv``
    One row per pattern of every task: task, pattern, sign, seqlets, width,
    consensus, its best match and q-value.
``patterns.meme``
    Every pattern's PWM, id ``<task>/<pattern>``.
``pattern_matches.tsv``
    The comparison table (:data:`bionas.motifs.compare.MATCH_COLUMNS`) with a
    leading ``kind`` column (``modisco``), ``query`` = ``<task>/<pattern>``.
``pattern_recovery.tsv``, ``pattern_found.tsv``
    Prior recovery and families found, not given, by patterns.
``best_targets.meme``
    The collection's matrices that are some pattern's best match, for the
    report's logos.
``pattern_cwms.npz``
    Each pattern's contribution weight matrix (key ``<task>/<pattern>``) for
    the report's logos.
``summary.json``
    Settings, per task the windows attributed, modisco's status and pattern
    count, recovered priors, families found, and timings.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bionas.io import atomic_paths, output_dir, save_npz, write_json
from bionas.motifs.analysis import write_tsv

#: The ``kind`` of pattern rows in the shared tables.
KIND = "modisco"

#: Columns of ``patterns.tsv``.
PATTERN_COLUMNS = [
    "task", "pattern", "sign", "seqlets", "width", "consensus", "best_id", "best_name",
    "orientation", "p_value", "q_value",
]  # fmt: skip


@dataclass(frozen=True)
class ModiscoRun:
    """What :func:`attribute_and_discover` found for every task."""

    patterns: pd.DataFrame
    matches: pd.DataFrame
    recovery: pd.DataFrame
    found: pd.DataFrame
    motifs: list[Any]
    targets: list[Any]
    cwms: dict[str, np.ndarray]
    tasks: dict[str, dict[str, Any]]
    seconds: dict[str, float]


def _task_windows(test: Any, task: int) -> np.ndarray:
    return test.X[test.y[:, task] == 1]


def attribute_and_discover(
    model: Any,
    test: Any,
    priors: Sequence[Any],
    collection: Sequence[Any],
    families: pd.DataFrame | None,
    out_dir: str | Path,
    *,
    settings: Any,
    q_threshold: float,
    cache_dir: str | None,
    threads: int,
) -> ModiscoRun:
    """Attribute, run TF-MoDISco and compare its patterns, task by task.

    Per-task files (module docstring) are written into ``out_dir/tasks/<task>``
    as they are made; the tables are returned for :func:`write_modisco`.
    """
    from bionas.motifs.attribution import attributions
    from bionas.motifs.compare import ACTIVATION_MIN_BITS, best_matches, compare_motifs
    from bionas.motifs.interpret import found_not_given, recovery_table
    from bionas.motifs.patterns import find_patterns, pattern_motifs, write_patterns

    seconds = {"attribution": 0.0, "modisco": 0.0, "compare": 0.0}
    motifs, cwms, rows, tasks = [], {}, [], {}
    for t, task in enumerate(test.tasks):
        x = _task_windows(test, t)
        folder = output_dir(Path(out_dir) / "tasks" / task)
        info: dict[str, Any] = {"windows": int(x.shape[0]), "patterns": 0}
        tasks[task] = info
        if x.shape[0] == 0:
            info["status"] = "no positive test windows"
            continue
        started = time.monotonic()
        att = attributions(model, x, task=t)
        with atomic_paths([folder / "ohe.npz", folder / "hypothetical.npz"]) as (ohe, hyp):
            with open(ohe, "wb") as fh:
                np.savez_compressed(fh, arr_0=np.transpose(x, (0, 2, 1)).astype(np.int8))
            with open(hyp, "wb") as fh:
                np.savez_compressed(fh, arr_0=np.transpose(att.hypothetical, (0, 2, 1)))
        seconds["attribution"] += time.monotonic() - started
        started = time.monotonic()
        result = find_patterns(x, att.hypothetical, settings)
        write_patterns(folder, result)
        seconds["modisco"] += time.monotonic() - started
        info["status"] = result.status
        info["patterns"] = len(result.patterns)
        for motif, pattern in zip(
            pattern_motifs(result.patterns, prefix=f"{task}/"), result.patterns, strict=True
        ):
            motifs.append(motif)
            cwms[motif.id] = pattern.cwm
            rows.append(
                {"task": task, "pattern": pattern.name, "sign": pattern.sign,
                 "seqlets": pattern.seqlets, "width": pattern.width,
                 "consensus": pattern.consensus, "query": motif.id}
            )  # fmt: skip
    started = time.monotonic()
    if motifs:
        matches = compare_motifs(
            [m.pwm for m in motifs], collection, query_names=[m.id for m in motifs],
            min_bits=ACTIVATION_MIN_BITS, top_k=10, cache_dir=cache_dir, n_jobs=threads,
        )  # fmt: skip
    else:
        from bionas.motifs.compare import MATCH_COLUMNS

        matches = pd.DataFrame(columns=MATCH_COLUMNS)
    matches.insert(0, "kind", KIND)
    seconds["compare"] = time.monotonic() - started
    table = pd.DataFrame(rows, columns=[*PATTERN_COLUMNS[:6], "query"])
    best = best_matches(matches).set_index("query") if len(matches) else pd.DataFrame()
    for col, src in (("best_id", "target_id"), ("best_name", "target_name"),
                     ("orientation", "orientation"), ("p_value", "p_value"),
                     ("q_value", "q_value")):  # fmt: skip
        table[col] = [best[src].get(q) if src in best else None for q in table["query"]]
    recovery = recovery_table(matches, priors, q_threshold, families=families)
    recovery.insert(0, "kind", KIND)
    found = found_not_given(matches, priors, q_threshold, families=families)
    found.insert(0, "kind", KIND)
    return ModiscoRun(
        patterns=table.drop(columns="query").reindex(columns=PATTERN_COLUMNS),
        matches=matches,
        recovery=recovery,
        found=found,
        motifs=motifs,
        targets=[m for m in collection if m.id in set(table["best_id"].dropna())],
        cwms=cwms,
        tasks=tasks,
        seconds={k: round(v, 2) for k, v in seconds.items()},
    )


def write_modisco(out_dir: str | Path, run: ModiscoRun, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the shared tables, the pattern PWMs and CWMs, and ``summary.json`` (last)."""
    from bionas.motifs.io import write_meme

    out = output_dir(out_dir)
    write_tsv(out / "patterns.tsv", run.patterns)
    write_meme(out / "patterns.meme", run.motifs)
    write_meme(out / "best_targets.meme", run.targets)
    write_tsv(out / "pattern_matches.tsv", run.matches)
    write_tsv(out / "pattern_recovery.tsv", run.recovery)
    write_tsv(out / "pattern_found.tsv", run.found)
    save_npz(out / "pattern_cwms.npz", **{k: v.astype(np.float32) for k, v in run.cwms.items()})
    recovered = run.recovery[run.recovery["recovered"]]
    summary = {
        **provenance,
        "tasks": run.tasks,
        "patterns": len(run.patterns),
        "recovered": recovered["prior_id"].tolist(),
        "recovered_by": dict(zip(recovered["prior_id"], recovered["match"], strict=True)),
        "found_not_given": [
            {"family_id": f, "label": lab, "best": f"{t} {n}"}
            for f, lab, t, n in run.found[
                ["family_id", "family_label", "target_id", "target_name"]
            ].itertuples(index=False)
        ],
        "seconds": run.seconds,
    }
    write_json(out / "summary.json", summary)
    return summary
