"""The project's own error for bad user input.

Every parser that reads a user's file raises :class:`InputError` with the file,
the line or key, and what was expected. The CLI turns it into one line on
stderr and exit status 2; anything else that escapes is a bug in bionas and
keeps its traceback. :class:`Terminated` is how SIGTERM stops a command, and
KeyboardInterrupt how SIGINT does; the record that one arrived is kept here, below
the writers and the training that check it.
"""

from __future__ import annotations

import contextlib
import signal
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
    """SIGTERM arrived (what a cluster scheduler or ``kill`` sends first): stop like on Ctrl-C."""


# Why a signal is never raised at an arbitrary point of a command
# ----------------------------------------------------------------
# The handler that :func:`bionas.commands.registry.run_command` installs for SIGINT and
# SIGTERM calls :func:`signal_arrived`, which records the signal and raises
# KeyboardInterrupt (SIGINT) or Terminated (SIGTERM) wherever the main thread is, except
# inside :func:`terminate_at_checks` and :func:`signals_deferred`. Raised inside TensorFlow
# it is not safe: TensorFlow's C++ calls back into Python (the ``isinstance`` checks of
# ``tf.nest``'s ``Flatten``, tensor properties, ``__len__`` in its op fast path), and an
# exception there is cleared (the command then runs to its end and exits 0), turned into
# a ``SystemError``, leaves TensorFlow half-built (a dataset iterator that never starts:
# the command hangs) or crashes it (SIGSEGV in ``TFE_Py_RecordGradient``).
# :func:`raise_if_terminated` raises it where nothing can lose it: after every training
# batch, before an output is renamed into place, and when the command ends.

_signal: int | None = None  # the first SIGINT or SIGTERM that arrived during the running command
_checks_only = 0  # depth of terminate_at_checks and signals_deferred blocks


def signal_arrived(signum: int) -> None:
    """The SIGINT and SIGTERM handler's work: record the signal; raise its exception
    (:func:`interruption`) but in :func:`terminate_at_checks` or :func:`signals_deferred`."""
    global _signal
    if _signal is None:
        _signal = signum
    if not _checks_only:
        raise interruption(_signal)


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception that stops a command on ``signum``: Terminated for SIGTERM, else
    KeyboardInterrupt (SIGINT)."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def forget_signal() -> None:
    """A new command starts (or one ended): no signal has arrived for it."""
    global _signal
    _signal = None


def raise_if_terminated() -> None:
    """Raise the exception of a SIGINT or SIGTERM that arrived, even when its first raise
    was lost."""
    if _signal is not None:
        raise interruption(_signal)


@contextlib.contextmanager
def terminate_at_checks() -> Iterator[None]:
    """Inside, a SIGINT or SIGTERM is only recorded; its exception comes from
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


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs; they take effect when it ends.

    Two layers: the signals are blocked in this thread (``pthread_sigmask``: enough
    for Python's own SIGINT handler in a process of one thread), and the handlers of
    :func:`~bionas.commands.registry.run_command` only record a signal inside the block
    (:func:`signal_arrived`). The second layer is what holds in a process with other
    threads (TensorFlow's pools, the warm worker's watcher): the kernel delivers the
    signal to a thread that does not block it, and Python then runs the handler in the
    main thread, inside the block.
    """
    global _checks_only
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    _checks_only += 1
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a blocked signal's handler records it
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
