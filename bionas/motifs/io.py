"""Motifs as position probability matrices: JASPAR, MEME files, basic measures.

A motif's ``pwm`` is a ``(width, 4)`` float64 array of probabilities, columns
A, C, G, T, rows summing to 1. JASPAR matrices come from pyjaspar's offline
SQLite releases (no network). MEME files are read and written in the MEME
minimal format, so motifs travel to Tomtom, TF-MoDISco or a genome browser.

The MEME reader and writer are ours, not memelite's (``memelite.io``
``read_meme``/``write_meme``, 0.5.0): memelite's reader fails with
``AttributeError: 'NoneType' object has no attribute 'group'`` on a matrix
header without ``w=`` (valid MEME, and half of what the fuzz tests feed),
keeps the last of two motifs with one ID, returns nothing for a motif without
a matrix, accepts rows summing to 1.1 and names no line in its errors; its
writer prints full-precision floats and ``nsites= 1`` non-atomically, which
would change every MEME file a run writes. (It reads 900 motifs in 37 ms
against our 132 ms; a file is read once per job.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import atomic_open
from bionas.motifs.pwm import ALPHABET, check_pwm

ROW_TOLERANCE = 1e-2  # |row sum - 1| accepted (and renormalised) in MEME files


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass
class Motif:
    """A motif: identifier, name and probability matrix.

    Attributes
    ----------
    id : str
        Identifier without whitespace (for JASPAR the matrix ID, ``MA0139.2``).
    name : str
        Human-readable name (for JASPAR the TF name, ``CTCF``).
    pwm : numpy.ndarray
        ``(width, 4)`` float64, columns A, C, G, T, rows sum to 1.
    """

    id: str
    name: str
    pwm: np.ndarray

    @property
    def width(self) -> int:
        return int(self.pwm.shape[0])


def _parse_numbers(fields: list[str]) -> list[float] | None:
    if not fields or not all(_NUMBER.match(f) for f in fields):
        return None
    return [float(f) for f in fields]


def read_meme(path: str | os.PathLike) -> list[Motif]:
    """Read motifs from a MEME minimal-format file.

    Tolerates a byte-order mark, CRLF line ends, blank lines, ``URL`` lines,
    ``strands`` and background-frequency lines. Rows of each
    ``letter-probability matrix`` are renormalised when they sum to 1 within
    ``1e-2``.

    Returns
    -------
    list of Motif
        In file order; ``pwm`` is ``(width, 4)`` float64.

    Raises
    ------
    InputError
        Missing or empty file, no motifs, an alphabet other than ACGT, a row
        that is not 4 non-negative numbers summing to ~1, a width that
        disagrees with ``w=``, or a duplicated motif ID (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("MEME file not found", path=path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not a text MEME file", path=path) from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise InputError("empty MEME file", path=path)
    motifs: list[Motif] = []
    seen: dict[str, int] = {}
    saw_version = False
    i = 0
    n = len(lines)
    while i < n:
        number = i + 1
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        key = line.split()[0]
        if line.startswith("MEME version"):
            saw_version = True
        elif line.startswith("ALPHABET"):
            value = (
                line.split("=", 1)[1].strip() if "=" in line else line[len("ALPHABET") :].strip()
            )
            if value.upper() != ALPHABET:
                raise InputError(
                    f"alphabet must be ACGT (DNA), found {value!r}", path=path, line=number
                )
        elif line.startswith("Background letter frequencies"):
            # frequencies follow on the next non-blank lines until a blank line
            while i < n and lines[i].strip() and not lines[i].strip().startswith("MOTIF"):
                i += 1
        elif key == "MOTIF":
            if not saw_version:
                raise InputError(
                    "not a MEME file: expected a 'MEME version' line before the first MOTIF",
                    path=path,
                    line=number,
                )
            parts = line.split()
            if len(parts) < 2:
                raise InputError("MOTIF line without an identifier", path=path, line=number)
            motif_id = parts[1]
            name = parts[2] if len(parts) > 2 else motif_id
            if motif_id in seen:
                raise InputError(
                    f"duplicated motif ID {motif_id!r} (first at line {seen[motif_id]})",
                    path=path,
                    line=number,
                )
            seen[motif_id] = number
            pwm, i = _read_matrix(lines, i, path, motif_id, number)
            motifs.append(Motif(motif_id, name, pwm))
        elif not saw_version and not motifs:
            raise InputError(
                f"not a MEME file: expected 'MEME version 4' first, found {line[:40]!r}",
                path=path,
                line=number,
            )
        # other lines (strands:, URL, log-odds matrices, comments) are skipped
    if not motifs:
        raise InputError(
            "no motifs: expected 'MOTIF id name' followed by a letter-probability matrix", path=path
        )
    return motifs


def _read_matrix(
    lines: list[str], i: int, path: Path, motif_id: str, motif_line: int
) -> tuple[np.ndarray, int]:
    """Find the letter-probability matrix of the motif starting at line index ``i``."""
    n = len(lines)
    while i < n:
        line = lines[i].strip()
        if line.startswith("MOTIF"):
            break
        if line.startswith("letter-probability matrix"):
            header_line = i + 1
            attrs = dict(re.findall(r"(\w+)\s*=\s*(\S+)", line))
            if "alength" in attrs and attrs["alength"] != "4":
                raise InputError(
                    f"alength must be 4, found {attrs['alength']}", path=path, line=header_line
                )
            i += 1
            rows = []
            while i < n:
                fields = lines[i].split()
                values = _parse_numbers(fields)
                if values is None:
                    if fields and _NUMBER.match(fields[0]):
                        raise InputError(
                            f"matrix row of motif {motif_id!r}: expected 4 numbers, found {lines[i].strip()[:60]!r}",
                            path=path,
                            line=i + 1,
                        )
                    if not fields:  # a blank line ends the matrix once rows began
                        if rows:
                            break
                        i += 1
                        continue
                    break
                number = i + 1
                if len(values) != 4:
                    raise InputError(
                        f"matrix row of motif {motif_id!r}: expected 4 numbers, found {len(values)}",
                        path=path,
                        line=number,
                    )
                if any(v < 0 for v in values):
                    raise InputError(
                        f"matrix row of motif {motif_id!r}: probabilities must not be negative",
                        path=path,
                        line=number,
                    )
                total = sum(values)
                if abs(total - 1.0) > ROW_TOLERANCE:
                    raise InputError(
                        f"matrix row of motif {motif_id!r} sums to {total:.4g}, expected 1 (within {ROW_TOLERANCE})",
                        path=path,
                        line=number,
                    )
                rows.append([v / total for v in values])
                i += 1
            if not rows:
                raise InputError(
                    f"motif {motif_id!r} has an empty matrix", path=path, line=header_line
                )
            if "w" in attrs:
                try:
                    w = int(attrs["w"])
                except ValueError:
                    raise InputError(
                        f"w= must be an integer, found {attrs['w']!r}", path=path, line=header_line
                    ) from None
                if w != len(rows):
                    raise InputError(
                        f"motif {motif_id!r}: w= {w} but the matrix has {len(rows)} rows",
                        path=path,
                        line=header_line,
                    )
            return np.asarray(rows, dtype=np.float64), i
        i += 1
    raise InputError(
        f"motif {motif_id!r} has no letter-probability matrix", path=path, line=motif_line
    )


def write_meme(path: str | os.PathLike, motifs: Sequence[Motif]) -> None:
    """Write motifs as a MEME minimal-format file (version 4, ACGT), atomically.

    Names are written with whitespace replaced by ``_``. The file is readable by
    the MEME suite (Tomtom) and by :func:`read_meme`.
    """
    seen: set[str] = set()
    blocks = []
    for m in motifs:
        if not m.id or any(c.isspace() for c in m.id):
            raise ValueError(f"motif ID must be non-empty without whitespace, got {m.id!r}")
        if m.id in seen:
            raise ValueError(f"duplicated motif ID {m.id!r}")
        seen.add(m.id)
        pwm = check_pwm(m.pwm, m.id)
        name = re.sub(r"\s+", "_", m.name.strip()) or m.id
        rows = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in pwm)
        blocks.append(
            f"MOTIF {m.id} {name}\n"
            f"letter-probability matrix: alength= 4 w= {pwm.shape[0]} nsites= 20 E= 0\n{rows}\n"
        )
    head = "MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\nBackground letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n"
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(head + "\n".join(blocks))
