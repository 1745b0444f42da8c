"""What the report reads from a finished run: compute used, controller trajectories.

Compute comes from Snakemake's benchmark files (columns ``s``, the job's wall
time in seconds, and ``cpu_time``): ``<benchmarks>/<rule>/<dataset>/<run>.tsv``
and ``<benchmarks>/<rule>/<dataset>/<run>/.../*.tsv`` belong to the run,
``<benchmarks>/<rule>/<dataset>.tsv`` to the data stage that every run of the
dataset shares.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

BENCHMARK_COLUMNS = ["rule", "scope", "file", "s", "cpu_time", "max_rss"]


def _read_benchmark(path: Path) -> dict[str, float] | None:
    try:
        df = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        log.warning("skipping unreadable benchmark file %s (%s)", path, err)
        return None
    if "s" not in df.columns or df.empty:
        log.warning("skipping benchmark file %s: no 's' column or no rows", path)
        return None

    def total(col: str, how: str = "sum") -> float:
        if col not in df.columns:
            return float("nan")
        values = pd.to_numeric(df[col], errors="coerce")
        return float(values.max() if how == "max" else values.sum(min_count=1))

    return {"s": total("s"), "cpu_time": total("cpu_time"), "max_rss": total("max_rss", "max")}


def benchmark_table(benchmarks: str | PathLike, dataset: str, run: str) -> pd.DataFrame:
    """Every benchmark file of a run and of its dataset's shared stages, one row each.

    Columns :data:`BENCHMARK_COLUMNS`: ``scope`` is ``run`` or ``dataset``;
    ``s`` and ``cpu_time`` are seconds summed over the file's rows (repeats),
    ``max_rss`` MB. A missing directory gives an empty table.
    """
    root = Path(benchmarks)
    rows = []
    if root.is_dir():
        for rule_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            files = [(rule_dir / dataset / f"{run}.tsv", "run")]
            files += [(p, "run") for p in sorted((rule_dir / dataset / run).rglob("*.tsv"))]
            files.append((rule_dir / f"{dataset}.tsv", "dataset"))
            for path, scope in files:
                if not path.is_file():
                    continue
                values = _read_benchmark(path)
                if values is not None:
                    rows.append(
                        {"rule": rule_dir.name, "scope": scope, "file": str(path), **values}
                    )
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)


def compute_by_rule(table: pd.DataFrame) -> pd.DataFrame:
    """Jobs, summed wall and CPU seconds and the largest RSS per rule and scope."""
    if table.empty:
        return pd.DataFrame(columns=["scope", "rule", "jobs", "s", "cpu_time", "max_rss"])
    out = (
        table.groupby(["scope", "rule"], sort=False)
        .agg(
            jobs=("file", "size"),
            s=("s", "sum"),
            cpu_time=("cpu_time", "sum"),
            max_rss=("max_rss", "max"),
        )
        .reset_index()
    )
    scope_order = {"dataset": 0, "run": 1}
    return out.sort_values(
        ["scope", "s"], key=lambda c: c.map(scope_order) if c.name == "scope" else -c
    ).reset_index(drop=True)


@dataclass(frozen=True)
class Trajectory:
    """The controller over the steps of a search.

    ``steps``: the step of each state (0 = initial); ``entropy``: nats, summed
    over layers; ``probabilities[s][l]``: option probabilities of layer ``l``
    at ``steps[s]`` (along the most likely path); ``controller``: its name.
    """

    controller: str
    steps: list[int]
    entropy: list[float]
    probabilities: list[list[np.ndarray]]


def controller_trajectory(directories: Sequence[str | PathLike], space) -> Trajectory:
    """Load every saved controller state (in order of their steps) and read its choices."""
    from bionas.search.strategies import load_controller

    states = []
    for directory in directories:
        controller, state = load_controller(directory, space)
        states.append((state.step, controller, state))
    states.sort(key=lambda item: item[0])
    name = states[0][1].name if states else ""
    return Trajectory(
        controller=name,
        steps=[int(s) for s, _, _ in states],
        entropy=[float(c.entropy(st)) for _, c, st in states],
        probabilities=[
            [np.asarray(p, dtype=float) for p in c.layer_probabilities(st)] for _, c, st in states
        ],
    )
