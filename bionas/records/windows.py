"""The windows table (``windows.tsv``) and the data summary: read and write.

Written by ``bionas prepare``, read by ``bionas encode``; one row per window
(chrom, start, end, split, kind, source, then one 0/1 column per task).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.errors import InputError, chrom_prefix_hint
from bionas.errors import shown as clipped
from bionas.io import name_problem

if TYPE_CHECKING:
    pass



SPLITS = ("train", "val", "test")


KINDS = ("peak", "background", "dinuc_shuffle")


WINDOW_COLUMNS = ("chrom", "start", "end", "split", "kind", "source")

#: Column names a task would collide with: the windows table's, and the predictions
#: table's (``chrom start end region <task>...``).
RESERVED_TASK_NAMES = frozenset({*WINDOW_COLUMNS, "region"})


def task_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a task name, or None when it can.

    A task name is a column of the windows and predictions tables and a file
    name (``predict/bigwig/<task>.bw``), so it follows the rule of every name
    that becomes a path component (:func:`bionas.io.name_problem`: letters,
    digits, ``_``, ``.`` and ``-``, no leading ``.`` or ``-``, no ``..``) and
    must not be a column bionas writes itself (:data:`RESERVED_TASK_NAMES`).
    """
    problem = name_problem(name)
    if problem:
        return problem
    if name in RESERVED_TASK_NAMES:
        return (
            f"is a column bionas writes itself ({', '.join(sorted(RESERVED_TASK_NAMES))}); "
            "rename the task"
        )
    return None


def write_windows(path: str | os.PathLike, table: pd.DataFrame) -> None:
    """Write the windows table as TSV with a header, atomically."""
    from bionas.io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        table.to_csv(handle, sep="\t", index=False, lineterminator="\n")


def write_summary(path: str | os.PathLike, summary: pd.DataFrame) -> None:
    """Write the summary table as TSV, atomically."""
    write_windows(path, summary)


@dataclass
class WindowTable:
    """A windows table read back from disk.

    Attributes
    ----------
    table : pandas.DataFrame
        The columns of :data:`WINDOW_COLUMNS`, then one int column per task.
    tasks : list of str
    width : int
        The one window width.
    """

    table: pd.DataFrame
    tasks: list[str]
    width: int


def _read_windows_text(path: Path, text: str, header: list[str], tasks: list[str]):
    """Parse the ``text`` of windows table ``path``, raising InputError at its first malformed line."""
    try:
        raw = pd.read_csv(
            io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, na_filter=False,
            skip_blank_lines=False, engine="c",
        )  # fmt: skip
    except pd.errors.ParserError as err:
        found = re.search(r"line (\d+)", str(err))
        raise InputError(
            f"expected {len(header)} tab-separated columns: {err}",
            path=path,
            line=int(found[1]) if found else None,
        ) from None
    line = np.arange(len(raw)) + 2
    blank = (raw == "").all(axis=1).to_numpy()
    raw, line = raw[~blank].reset_index(drop=True), line[~blank]
    if len(raw) == 0:
        raise InputError("windows table has no rows", path=path)

    def fail(mask, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            raise InputError(message, path=path, line=int(line[int(np.flatnonzero(mask)[0])]))

    fail((raw[header] == "").any(axis=1), f"expected {len(header)} non-empty tab-separated columns")
    start = pd.to_numeric(raw["start"], errors="coerce").to_numpy(dtype=np.float64)
    end = pd.to_numeric(raw["end"], errors="coerce").to_numpy(dtype=np.float64)
    fail(~np.isfinite(start) | ~np.isfinite(end) | (start != np.round(start)) | (end != np.round(end)),
         "start and end must be integers")  # fmt: skip
    fail((np.abs(start) > _MAX_COORD) | (np.abs(end) > _MAX_COORD),
         f"start and end must lie within ±{_MAX_COORD} (2^62)")  # fmt: skip
    labels = raw[tasks].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    fail(~np.isfinite(labels).all(axis=1), "labels must be numbers")
    return raw, line, start.astype(np.int64), end.astype(np.int64), labels


_WINDOWS_RERUN = "delete it and rerun `bionas prepare`"


def read_windows(path: str | os.PathLike, sizes: dict[str, int] | None = None) -> WindowTable:
    """Read and check a windows table written by ``bionas prepare``.

    Raises
    ------
    InputError
        Missing file, text that is not UTF-8, wrong header, a bad row (named by
        line), windows of different widths, or (with ``sizes``) a window outside
        its chromosome; every message but the first says to rerun prepare.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("windows table not found; run `bionas prepare` to write it", path=path)
    try:
        return _read_windows(path, sizes)
    except InputError as err:
        raise InputError(
            f"{err.message}; {_WINDOWS_RERUN}", err.path, line=err.line, key=err.key
        ) from None


def _read_windows(path: Path, sizes: dict[str, int] | None) -> WindowTable:
    from bionas.io import read_text

    text = read_text(path, "windows table not found", "cannot read the windows table")
    first = text.split("\n", 1)[0].rstrip("\r")
    header = first.split("\t")
    if tuple(header[:6]) != WINDOW_COLUMNS or len(header) < 7:
        shown = " ".join(WINDOW_COLUMNS)
        raise InputError(
            f"expected header '{shown} <task> ...', found {first[:80]!r}", path=path, line=1
        )
    if len(set(header)) != len(header):
        raise InputError("repeated column names in the header", path=path, line=1)
    tasks = header[6:]
    if not all(task.strip() for task in tasks):
        raise InputError(f"an empty task name in the header {first[:80]!r}", path=path, line=1)
    for task in tasks:
        problem = task_name_problem(task)
        if problem:
            raise InputError(f"task name {clipped(task)} {problem}", path=path, line=1)
    types = {
        "chrom": str,
        "split": str,
        "kind": str,
        "source": str,
        "start": np.int64,
        "end": np.int64,
    }
    types.update({t: np.float64 for t in tasks})
    try:  # fast path: a well-formed table parses with its types in one C pass
        raw = pd.read_csv(
            io.StringIO(text),
            sep="\t",
            dtype=types,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
        line = np.arange(len(raw)) + 2
        start, end = raw["start"].to_numpy(), raw["end"].to_numpy()
        labels = raw[tasks].to_numpy(dtype=np.float64)
        typed = bool(np.isfinite(labels).all()) and len(raw) > 0 and list(raw.columns) == header
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError):
        typed = False  # e.g. a coordinate beyond int64: the slow path names its line
    if not typed:  # slow path: parse as text and name the first bad line
        raw, line, start, end, labels = _read_windows_text(path, text, header, tasks)

    def fail(mask, message) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            text = message(i) if callable(message) else message
            raise InputError(text, path=path, line=int(line[i]))

    start, end = start.astype(np.int64), end.astype(np.int64)
    fail(
        (start < 0) | (start >= end),
        lambda i: f"bad interval {clipped(raw['chrom'][i])}:{start[i]}-{end[i]}",
    )
    width = int(end[0] - start[0])
    fail(
        end - start != width,
        lambda i: f"all windows must be {width} bp wide, found {end[i] - start[i]}",
    )
    fail(
        ~raw["split"].isin(SPLITS),
        lambda i: f"split must be one of {', '.join(SPLITS)}, found {clipped(raw['split'][i])}",
    )
    fail(
        ~raw["kind"].isin(KINDS),
        lambda i: f"kind must be one of {', '.join(KINDS)}, found {clipped(raw['kind'][i])}",
    )
    dinuc = (raw["kind"] == "dinuc_shuffle").to_numpy()
    if dinuc.any():
        parts = raw["source"].str.extract(_SOURCE.pattern)
        fail(dinuc & parts["chrom"].isna().to_numpy(),
             lambda i: f"expected source chrom:start-end#seed, found {clipped(raw['source'][i])}")  # fmt: skip
        span = parts["end"].astype(float) - parts["start"].astype(float)
        fail(dinuc & (span.to_numpy() != width), "source width differs from the window width")
    if sizes is not None:
        known = raw["chrom"].isin(list(sizes)).to_numpy()
        fail(~known, lambda i: f"chromosome {clipped(raw['chrom'][i])} is not in the genome"
             f"{chrom_prefix_hint([raw['chrom'][i]], list(sizes))}")  # fmt: skip
        length = raw["chrom"].map(sizes).to_numpy(dtype=np.int64)
        fail(end > length, lambda i: f"window {raw['chrom'][i]}:{start[i]}-{end[i]} runs past the end of "
             f"{raw['chrom'][i]} ({length[i]} bp)")  # fmt: skip
    table = raw[list(WINDOW_COLUMNS)].copy()
    table["start"], table["end"] = start, end
    for j, task in enumerate(tasks):
        table[task] = labels[:, j]
    return WindowTable(table=table, tasks=tasks, width=width)


#: Largest coordinate a table may hold (stored as int64).
_MAX_COORD = 2**62

_SOURCE = re.compile(r"^(?P<chrom>\S+):(?P<start>\d+)-(?P<end>\d+)#(?P<seed>\d+)$")


def parse_source(source: str) -> tuple[str, int, int, int]:
    """``chrom:start-end#seed`` -> (chrom, start, end, seed); ValueError if malformed."""
    m = _SOURCE.match(source)
    if m is None:
        raise ValueError(f"expected chrom:start-end#seed, found {source!r}")
    return m["chrom"], int(m["start"]), int(m["end"]), int(m["seed"])
