"""The project's own error for bad user input.

Every parser that reads a user's file raises :class:`InputError` with the file,
the line or key, and what was expected. The CLI turns it into one line on
stderr and exit status 2; anything else that escapes is a bug in bionas and
keeps its traceback. :class:`Terminated` is how SIGTERM stops a command; the record
that one arrived is kept here, below the writers and the training that check it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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
    """SIGTERM arrived (what a cluster scheduler or ``kill`` sends first): stop like on Ctrl-C.

    The SIGTERM handler of :func:`bionas.commands.registry.run_command` calls
    :func:`sigterm_arrived`, which records the signal and raises this wherever the main
    thread is, except inside :func:`terminate_at_checks`. Raised inside TensorFlow it is
    not safe: TensorFlow's C++ calls back into Python (the ``isinstance`` checks of
    ``tf.nest``'s ``Flatten``, tensor properties, ``__len__`` in its op fast path), and an
    exception there is cleared (the command then runs to its end and exits 0), turned
    into a ``SystemError``, leaves TensorFlow half-built (a dataset iterator that never
    starts: the command hangs) or crashes it (SIGSEGV in ``TFE_Py_RecordGradient``).
    :func:`raise_if_terminated` raises it where nothing can lose it: after every training
    batch, before an output is renamed into place, and when the command ends.
    """


_sigterm = False  # a SIGTERM arrived during the running command
_checks_only = 0  # depth of terminate_at_checks blocks


def sigterm_arrived() -> None:
    """The SIGTERM handler's work: record it; raise :class:`Terminated` but in
    :func:`terminate_at_checks`."""
    global _sigterm
    _sigterm = True
    if not _checks_only:
        raise Terminated()


def forget_sigterm() -> None:
    """A new command starts (or one ended): no SIGTERM has arrived for it."""
    global _sigterm
    _sigterm = False


def raise_if_terminated() -> None:
    """Raise :class:`Terminated` if a SIGTERM arrived, even when its first raise was lost."""
    if _sigterm:
        raise Terminated()


@contextlib.contextmanager
def terminate_at_checks() -> Iterator[None]:
    """Inside, a SIGTERM is only recorded; :class:`Terminated` comes from
    :func:`raise_if_terminated` (the block's own checks) or when the block ends.

    For TensorFlow code, where an exception raised at an arbitrary point is lost,
    hangs or crashes the process; the block must check often (a training: every batch).
    """
    global _checks_only
    _checks_only += 1
    try:
        yield
    finally:
        _checks_only -= 1
    raise_if_terminated()


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
