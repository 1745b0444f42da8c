"""The windows table (``windows.tsv``) and the data summary: read and write.

Written by ``bionas prepare``, read by ``bionas encode``; one row per window
(chrom, start, end, split, kind, source, then one 0/1 column per task) under
a header line. Above the header, one line records the genome the windows were
made from::

    #genome {"file": "hg38.fa", "index_sha256": "...", "sequences": 195, "lengths": {"chr1": 248956422, ...}}

``index_sha256`` is :func:`genome_index_sha256` of the genome's sequence names
and lengths (its ``.fai``), ``sequences`` their number, and ``lengths`` the
lengths of the chromosomes that hold windows. ``bionas encode`` reads the
genome again with the windows and refuses one whose index differs, saying how
(a chromosome of another length, a missing name). A table without the line
(written before it existed, or by :func:`write_windows` without ``genome``)
is read without that check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bionas.errors import InputError, chrom_prefix_hint
from bionas.errors import shown as clipped
from bionas.io import name_problem
from bionas.records.values import is_int

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


def genome_index_sha256(sizes: Mapping[str, int]) -> str:
    """sha256 of a genome's index: its ``name<TAB>length`` lines, sorted by name.

    The order of the sequences in the FASTA does not matter, their names and
    lengths do: another assembly, or the same one with other contigs, differs.
    """
    lines = "".join(f"{name}\t{int(length)}\n" for name, length in sorted(sizes.items()))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GenomeOrigin:
    """The genome a windows table was made from (its ``#genome`` line).

    Attributes
    ----------
    file : str
        The genome file as given to ``bionas prepare``.
    index_sha256 : str
        :func:`genome_index_sha256` of its sequence names and lengths.
    sequences : int
        How many sequences it has.
    lengths : dict of str to int
        The length of every chromosome that holds windows, in genome order.
    """

    file: str
    index_sha256: str
    sequences: int
    lengths: dict[str, int]


def genome_origin(
    file: str | os.PathLike, sizes: Mapping[str, int], table: pd.DataFrame
) -> GenomeOrigin:
    """The :class:`GenomeOrigin` of the windows ``table`` cut from the genome ``file`` of ``sizes``.

    The chromosomes that hold windows include those a dinucleotide shuffle is
    read from (its ``source``).
    """
    used = set(table["chrom"].astype(str))
    shuffled = table["kind"] == "dinuc_shuffle"
    used.update(parse_source(source)[0] for source in table.loc[shuffled, "source"])
    lengths = {name: int(length) for name, length in sizes.items() if name in used}
    return GenomeOrigin(str(file), genome_index_sha256(sizes), len(sizes), lengths)


_ORIGIN_TAG = "#genome "


def write_windows(
    path: str | os.PathLike, table: pd.DataFrame, genome: GenomeOrigin | None = None
) -> None:
    """Write the windows table as TSV with a header, atomically.

    With ``genome`` the ``#genome`` line (see the module's docstring) comes first.
    """
    from bionas.io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        if genome is not None:
            record = {
                "file": genome.file,
                "index_sha256": genome.index_sha256,
                "sequences": genome.sequences,
                "lengths": genome.lengths,
            }
            handle.write(_ORIGIN_TAG + json.dumps(record) + "\n")
        table.to_csv(handle, sep="\t", index=False, lineterminator="\n")


def write_summary(path: str | os.PathLike, summary: pd.DataFrame) -> None:
    """Write the summary table as TSV, atomically."""
    write_windows(path, summary)


def _read_origin(path: Path, line: str) -> GenomeOrigin:
    """The :class:`GenomeOrigin` of a ``#genome`` line (line 1 of ``path``); InputError if malformed."""

    def fail(what: str) -> InputError:
        return InputError(
            f"the #genome line {what}; expected '#genome {{\"file\": ..., \"index_sha256\": ..., "
            '"sequences": ..., "lengths": {...}}\' before the header',
            path=path,
            line=1,
        )

    if not line.startswith(_ORIGIN_TAG):
        raise fail(f"is not one, found {clipped(line)}")
    try:
        record = json.loads(line[len(_ORIGIN_TAG) :])
    except (ValueError, RecursionError):
        raise fail("is not valid JSON") from None
    keys = ("file", "index_sha256", "sequences", "lengths")
    if not isinstance(record, dict) or sorted(record) != sorted(keys):
        raise fail(f"must hold exactly the keys {', '.join(keys)}")
    file, digest, count, lengths = (record[k] for k in keys)
    if not isinstance(file, str) or not file:
        raise fail("names no file")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise fail("has an index_sha256 that is not 64 hexadecimal digits")
    if not is_int(count) or count < 1:
        raise fail("has a sequences count that is not a positive integer")
    good = isinstance(lengths, dict) and lengths and len(lengths) <= count
    if not good or not all(is_int(n) and n > 0 for n in lengths.values()):
        raise fail("has lengths that are not chromosome -> positive integer")
    return GenomeOrigin(file, digest, count, dict(lengths))


def check_genome(
    origin: GenomeOrigin,
    sizes: Mapping[str, int],
    genome: str | os.PathLike | None = None,
    windows: str | os.PathLike | None = None,
) -> None:
    """Refuse a genome (its ``sizes``) other than the one the windows were made from.

    Raises
    ------
    InputError
        Naming ``genome`` (else ``windows``) when its :func:`genome_index_sha256` differs from
        the recorded one, and saying how: a chromosome that holds windows is
        missing or has another length, or the other sequences differ.
    """
    if genome_index_sha256(sizes) == origin.index_sha256:
        return
    here = f"{genome}" if genome is not None else "this genome"
    detail = None
    for chrom, length in origin.lengths.items():
        if chrom not in sizes:
            hint = chrom_prefix_hint([chrom], list(sizes))
            detail = f"that genome has {chrom}, {here} does not{hint}"
            break
        if sizes[chrom] != length:
            detail = f"{chrom} is {length} bp in that genome and {sizes[chrom]} bp in {here}"
            break
    if detail is None and len(sizes) != origin.sequences:
        detail = (
            f"the chromosomes that hold windows agree, but that genome has {origin.sequences} "
            f"sequences and {here} {len(sizes)}"
        )
    elif detail is None:
        detail = (
            "the chromosomes that hold windows agree, but the names or lengths of the other "
            f"sequences differ ({origin.sequences} sequences in both)"
        )
    made = f"the windows of {windows}" if windows is not None else "the windows"
    raise InputError(
        f"{made} were made from another genome ({origin.file}, index sha256 "
        f"{origin.index_sha256[:12]}...): {detail}; give that genome, or rerun `bionas prepare` "
        "with this one",
        path=genome if genome is not None else windows,
    )


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
    genome : GenomeOrigin or None
        The genome the windows were made from; None for a table without a
        ``#genome`` line.
    """

    table: pd.DataFrame
    tasks: list[str]
    width: int
    genome: GenomeOrigin | None = None


def _read_windows_text(path: Path, text: str, header: list[str], tasks: list[str], first: int):
    """Parse the ``text`` of windows table ``path`` (its header on line ``first``), raising
    InputError at its first malformed line."""
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
            line=int(found[1]) + first - 1 if found else None,
        ) from None
    line = np.arange(len(raw)) + first + 1
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


def read_windows(
    path: str | os.PathLike,
    sizes: dict[str, int] | None = None,
    genome: str | os.PathLike | None = None,
) -> WindowTable:
    """Read and check a windows table written by ``bionas prepare``.

    ``sizes`` are the sequence lengths of the genome the windows will be read
    from (the file ``genome``, named in messages): with them, a table that
    records another genome (its ``#genome`` line) is refused first
    (:func:`check_genome`), then every window must lie on its chromosome.

    Raises
    ------
    InputError
        Missing file, text that is not UTF-8, a malformed ``#genome`` line,
        wrong header, a bad row (named by line), windows of different widths,
        or (with ``sizes``) another genome or a window outside its chromosome;
        every message but the first and another genome's says to rerun prepare.
    """
    from bionas.io import read_text

    path = Path(path)
    if not path.is_file():
        raise InputError("windows table not found; run `bionas prepare` to write it", path=path)
    try:
        text = read_text(path, "windows table not found", "cannot read the windows table")
        origin, first = None, 1
        if text.startswith("#"):
            head, _, text = text.partition("\n")
            origin, first = _read_origin(path, head.rstrip("\r")), 2
    except InputError as err:
        raise _rerun(err) from None
    if sizes is not None and origin is not None:
        check_genome(origin, sizes, genome, path)
    try:
        table = _read_windows(path, text, first, sizes)
    except InputError as err:
        raise _rerun(err) from None
    table.genome = origin
    return table


def _rerun(err: InputError) -> InputError:
    return InputError(f"{err.message}; {_WINDOWS_RERUN}", err.path, line=err.line, key=err.key)


def _read_windows(path: Path, text: str, first: int, sizes: dict[str, int] | None) -> WindowTable:
    """Parse ``text``, the windows table of ``path`` from its header (on line ``first``) on."""
    head = text.split("\n", 1)[0].rstrip("\r")
    header = head.split("\t")
    if tuple(header[:6]) != WINDOW_COLUMNS or len(header) < 7:
        shown = " ".join(WINDOW_COLUMNS)
        raise InputError(
            f"expected header '{shown} <task> ...', found {head[:80]!r}", path=path, line=first
        )
    if len(set(header)) != len(header):
        raise InputError("repeated column names in the header", path=path, line=first)
    tasks = header[6:]
    if not all(task.strip() for task in tasks):
        raise InputError(f"an empty task name in the header {head[:80]!r}", path=path, line=first)
    for task in tasks:
        problem = task_name_problem(task)
        if problem:
            raise InputError(f"task name {clipped(task)} {problem}", path=path, line=first)
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
        line = np.arange(len(raw)) + first + 1
        start, end = raw["start"].to_numpy(), raw["end"].to_numpy()
        labels = raw[tasks].to_numpy(dtype=np.float64)
        typed = bool(np.isfinite(labels).all()) and len(raw) > 0 and list(raw.columns) == header
    except (ValueError, TypeError, OverflowError, pd.errors.ParserError):
        typed = False  # e.g. a coordinate beyond int64: the slow path names its line
    if not typed:  # slow path: parse as text and name the first bad line
        raw, line, start, end, labels = _read_windows_text(path, text, header, tasks, first)

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
