"""The project's own error for bad user input.

Every parser that reads a user's file raises :class:`InputError` with the file,
the line or key, and what was expected. The CLI turns it into one line on
stderr and exit status 2; anything else that escapes is a bug in bionas and
keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike


class InputError(Exception):
    """Bad user input: names the file, the line or key, and what was expected.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    path : str or PathLike, optional
        The file the problem is in.
    line : int, optional
        1-based line number in ``path``.
    key : str, optional
        Config or table key (for example ``datasets.demo.window``).
    """

    def __init__(
        self,
        message: str,
        path: str | PathLike | None = None,
        line: int | None = None,
        key: str | None = None,
    ):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path
            if self.line is not None:
                where += f":{self.line}"
        if self.key is not None:
            where = f"{where} [{self.key}]" if where else f"[{self.key}]"
        return f"{where}: {self.message}" if where else self.message


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (what a cluster scheduler or ``kill`` sends first): stop like on Ctrl-C."""


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters.

    A user's value can be a whole line or file; an int of more digits than
    ``repr`` converts is named instead of shown.
    """
    try:
        text = repr(value)
    except ValueError:
        return "a huge integer"
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-1]} ({len(str(value))} characters)"


def chrom_prefix_hint(missing: Sequence[str], known: Sequence[str]) -> str:
    """A hint for a message about unknown chromosomes when a 'chr' prefix explains them (else "")."""
    known = set(known)
    flipped = [m[3:] if m.startswith("chr") else "chr" + m for m in missing]
    if any(f in known for f in flipped):
        example = next((m, f) for m, f in zip(missing, flipped, strict=True) if f in known)
        how = "without" if example[0].startswith("chr") else "with"
        return (
            f"; the genome names them {how} a 'chr' prefix ({example[0]!r} -> {example[1]!r}): "
            "that naming mismatch is the likely cause"
        )
    return ""
