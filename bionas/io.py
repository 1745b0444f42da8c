"""Atomic writes, and the one reader of JSON intermediates.

Every output of a stage is written to a temporary name in the same directory
and renamed into place (rename is atomic on POSIX within one file system), so a
killed job never leaves a half-written file that a rerun would trust.
Temporary names carry the writer's host and PID (``.<name>.<host>-<pid>.<random>``):
a SIGKILLed writer cannot remove its own, so the next write of the same path
removes those whose writer is dead (:func:`remove_dead_temps`).
:func:`read_json` turns every way a JSON file can be unreadable into an
:class:`~bionas.errors.InputError` naming it.

A full disk, a read-only folder or a missing permission while an output is
written is an :class:`~bionas.errors.InputError` naming the output and the
cause (``no space left on device``); the temporary is removed.

Two runs that would write the same output at once are kept apart by
:func:`output_locks`: each output has an advisory lock beside it
(``.<name>.bionas-lock``) that the second run finds held and is refused.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import pickle
import re
import shutil
import socket
import tempfile
import time
import tokenize
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError, raise_if_terminated, signals_deferred


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched; so
    too when a SIGINT or SIGTERM arrived in the block, even if its exception was lost
    (:class:`~bionas.errors.Terminated`).
    ``suffix`` defaults to the suffix of ``path`` (libraries such as Keras and
    numpy look at it to pick a format).
    """
    path = Path(path)
    _output_folder(path)
    if suffix is None:
        suffix = "".join(path.suffixes) or ".tmp"
    remove_dead_temps(path)
    fd, tmp = _mkstemp(path, suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        raise_if_terminated()  # nothing is renamed into place after a SIGINT or SIGTERM
        if tmp.exists():
            # mkstemp creates 0600; give the file the permissions a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        raise _write_error(err, [path], path) from None
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_paths(paths: list[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths for several outputs that are committed as one set: all or none.

    On success every temporary is renamed to its path with SIGINT and SIGTERM
    held back (they arrive once the set is complete); on an exception, a
    signal included, every temporary is removed and no path is touched.
    """
    paths = [Path(p) for p in paths]
    with contextlib.ExitStack() as stack:
        with signals_deferred():  # a signal between creating a temporary and owning it would leak it
            temps = [Path(stack.enter_context(_temporary(p))) for p in paths]
        try:
            yield temps
            raise_if_terminated()
            with signals_deferred():
                for tmp, path in zip(temps, paths, strict=True):
                    os.chmod(tmp, 0o666 & ~_umask())
                    os.replace(tmp, path)
        except OSError as err:
            raise _write_error(err, paths, paths[0] if len(paths) == 1 else paths[0].parent) from None


@contextlib.contextmanager
def _temporary(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside ``path``, removed on exit unless it was renamed."""
    path = Path(path)
    _output_folder(path)
    remove_dead_temps(path)
    fd, tmp = _mkstemp(path, "".join(path.suffixes) or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        if Path(tmp).exists():
            Path(tmp).unlink()


def output_dir(path: str | os.PathLike) -> Path:
    """Make the output folder ``path`` (and its parents); InputError when it cannot be one."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot make the output folder: {reason(err)}", path) from None
    return path


def _output_folder(path: Path) -> None:
    """Make the folder of the output file ``path``; InputError when ``path`` cannot be one."""
    if path.name in ("", ".", "..") or path.is_dir():
        raise InputError("is a directory; expected the path of an output file", path)
    output_dir(path.parent)


def _mkstemp(path: Path, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp`` beside ``path``; InputError when the folder refuses it."""
    try:
        return tempfile.mkstemp(prefix=temp_prefix(path), suffix=suffix, dir=path.parent)
    except OSError as err:
        raise InputError(f"cannot write the output: {reason(err)}", shown_output(path)) from None


#: what a full disk, a read-only folder or a missing permission raise while an output is written
WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}
)


def reason(err: OSError) -> str:
    """The cause of ``err`` as a message continues it: ``no space left on device``."""
    text = err.strerror or str(err)
    return text[:1].lower() + text[1:]


def _write_error(err: OSError, outputs: list[Path], where: Path) -> Exception:
    """``err`` raised while writing ``outputs``: an InputError naming the output (``where`` when
    the error names no file) when it is a full disk, a read-only folder or a missing
    permission; else ``err`` itself. An error about another file keeps that file's name."""
    if err.errno not in WRITE_ERRNOS:
        return err
    where = shown_output(where)
    named = shown_output(err.filename) if err.filename else where
    if named == where or named in map(shown_output, outputs):
        return InputError(f"cannot write the output: {reason(err)}", named)
    return InputError(reason(err), named)


_HOST = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def temp_prefix(path: str | os.PathLike) -> str:
    """Start of the name of a temporary file (or directory) that becomes ``path``.

    ``.<name>.<host>-<pid>.``: hidden, and naming the writer, so that
    :func:`remove_dead_temps` can tell a killed writer's leftovers from the
    work of a live one.
    """
    return f".{Path(path).name}.{_HOST}-{os.getpid()}."


def shown_output(path: str | os.PathLike) -> Path:
    """``path`` with every temporary in it named by the output it becomes.

    ``out/.summary.json.<host>-<pid>.k2j4_x9q.json`` -> ``out/summary.json``
    (a temporary of a temporary too), so an error names the user's path.
    """
    parts = []
    for part in Path(path).parts:
        while (target := _target_name(part)) is not None:
            part = target
        parts.append(part)
    return Path(*parts) if parts else Path(path)


_TEMP_MARK = re.compile(rf"\.{re.escape(_HOST)}-\d+\.[a-z0-9_]{{8}}")


def _target_name(name: str) -> str | None:
    """The name a temporary of :func:`temp_prefix` becomes (None for any other name).

    A temporary is ``.`` + name + ``.<host>-<pid>.`` + 8 random characters + a
    suffix (the name's suffixes, one given suffix, or none for a folder). The
    name may itself be a temporary, whose marks then recur in the suffix.
    """
    if not name.startswith("."):
        return None
    for mark in _TEMP_MARK.finditer(name):
        head, tail = name[1 : mark.start()], name[mark.end() :]
        if head and (tail == "".join(Path(head).suffixes) or re.fullmatch(r"(\.[^.]+)?", tail)):
            return head
    return None


def remove_dead_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` left by writers on this host that are dead.

    A writer killed with SIGKILL leaves its temporary beside ``path`` (never
    under the final name), and, inside :func:`atomic_paths`, possibly the
    temporary of that temporary. Those of live processes and of other hosts (a
    shared file system) are kept. Returns the removed paths.
    """
    path = Path(path)
    # one leading dot, or more for the temporary of a temporary (a writer that
    # writes atomically into a member of an :func:`atomic_paths` set)
    pattern = re.compile(rf"\.+{re.escape(f'{path.name}.{_HOST}-')}(\d+)\.[a-z0-9_]+(\..*)?")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
        removed.append(Path(entry.path))
    return removed


#: the lock file of output ``x`` is ``.x`` + this, beside ``x``
LOCK_SUFFIX = ".bionas-lock"
#: errnos of a file system that has no flock (some network file systems)
_NO_FLOCK = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL})


@contextlib.contextmanager
def output_locks(paths: list[str | os.PathLike], wait: float = 0.0) -> Iterator[None]:
    """Hold the advisory lock of every output in ``paths`` while the block runs.

    Each output's lock is the file ``.<name>.bionas-lock`` beside it (beside a
    folder, not inside it), locked with ``flock`` and holding the holder's pid
    and host. A second run that would write the same output meanwhile is
    refused with an InputError naming the output and the holder, before it
    writes anything; runs writing other outputs, in the same folder too, never
    wait for each other. The kernel drops the lock of a process that ends, a
    killed one too, so a lock file left by a dead run is taken over. The lock
    files, and folders made only to hold them, are removed when the block ends.

    With ``wait`` (seconds), a held lock is waited for that long before the
    refusal: for files that several commands of one run write in turn (the
    run's leaderboard). A signal ends the wait at once.
    """
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(_output_lock(Path(path), wait))
        yield


def lock_file(path: str | os.PathLike) -> Path | None:
    """The lock file of the output ``path`` (None for a path that names no output: ``/``)."""
    path = Path(os.path.abspath(path))
    if path.name in ("", ".", ".."):
        return None
    # the folder as the file system sees it, so that two spellings of one output share a lock
    path = Path(os.path.realpath(path.parent)) / path.name
    name = path.name
    if len(os.fsencode(name)) > 200:  # the name plus ".", the suffix and a digest stay under 255 bytes
        name = name[:50] + hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return path.parent / f".{name}{LOCK_SUFFIX}"


class _LockHeld(InputError):
    """Another live run holds the lock of an output."""


@contextlib.contextmanager
def _output_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    lock = lock_file(path)
    if lock is None:
        yield
        return
    made: list[Path] = []  # folders made to hold the lock, innermost first
    folder = lock.parent
    while not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                # a signal between creating the lock and owning it would leak it
                with signals_deferred():
                    fd = _take_lock(lock, path)
                break
            except _LockHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)  # outside the deferral: a signal ends the wait here
        try:
            yield
        finally:
            with signals_deferred():
                with contextlib.suppress(OSError):
                    os.unlink(lock)  # still locked: a run waiting on this file sees it go
                os.close(fd)
    finally:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when the run left it empty


def _take_lock(lock: Path, path: Path) -> int:
    """Lock ``lock`` for the output ``path`` and write this process into it; return its fd."""
    for _ in range(100):
        output_dir(lock.parent)
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # its folder went between: another run's clean-up
            continue
        except OSError as err:
            raise InputError(f"cannot write the output: {reason(err)}", path) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _refused(path, holder, lock) from None
        except OSError as err:
            if err.errno not in _NO_FLOCK:
                os.close(fd)
                raise InputError(f"cannot lock the output: {reason(err)}", path) from None
            # no flock on this file system: the pid and host written in the file decide
            holder = _holder(fd, wait=False)
            if holder is not None and holder != (os.getpid(), _HOST) and _holder_alive(holder):
                os.close(fd)
                raise _refused(path, holder, lock) from None
        else:
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if not same:  # its holder removed it as we locked it: lock the file there now
                os.close(fd)
                continue
        with contextlib.suppress(OSError):  # a full disk: the lock holds without the name
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {_HOST}\n".encode(), 0)
        return fd
    raise InputError("cannot lock the output: its lock file keeps changing", path)


def _holder(fd: int, wait: bool = True) -> tuple[int, str] | None:
    """The ``(pid, host)`` written in a lock file (a holder writes it just after locking)."""
    for _ in range(20 if wait else 1):
        try:
            text = os.pread(fd, 300, 0).decode("utf-8", "replace").split()
        except OSError:
            return None
        if len(text) == 2 and text[0].isdigit():
            return int(text[0]), text[1]
        if wait:
            time.sleep(0.025)
    return None


def _holder_alive(holder: tuple[int, str]) -> bool:
    pid, host = holder
    return host != _HOST or pid_alive(pid)


def _refused(path: Path, holder: tuple[int, str] | None, lock: Path) -> InputError:
    who = "another process" if holder is None else f"pid {holder[0]} on host {holder[1]}"
    return _LockHeld(
        f"is being written by another bionas run ({who}, lock {lock.name}); "
        "wait for it to end, or write elsewhere",
        path,
    )


def pid_alive(pid: int, command: bytes | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (and can still write).

    A zombie (killed, not yet reaped by its parent: in a container whose init
    does not reap, it stays one for ever) cannot, and counts as dead. With
    ``command``, the process must also have it in its command line (a pid
    reused by another program counts as dead); where ``/proc`` cannot be read
    the process counts as alive.
    """
    if pid == os.getpid() and command is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or it just ended
        return True
    if stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]:
        return False
    if command is None:
        return True
    try:
        return command in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[Any]:
    """Open a temporary file for writing; it replaces ``path`` when closed without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:
        yield handle


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npz(path: str | os.PathLike, compresslevel: int = 1, **arrays: np.ndarray) -> None:
    """Save named arrays to a compressed ``.npz`` atomically (never ``arr_0``).

    The archive is an ordinary ``.npz`` (``np.load`` reads it) written with
    deflate level ``compresslevel``: level 1 is about ten times faster than
    numpy's default level on one-hot tensors for a file about 1.5x larger.
    """
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(
            tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel
        ) as archive:
            for name, array in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                    np.lib.format.write_array(handle, np.asanyarray(array), allow_pickle=False)


#: what numpy and zipfile raise on a damaged archive (RuntimeError and its
#: NotImplementedError: header flag bits saying "encrypted" or "patched data";
#: TypeError: a member that is not an .npy; tokenize.TokenError and SyntaxError: an
#: .npy header whose dictionary numpy's header parser cannot tokenize)
NPZ_ERRORS = (
    ValueError,
    OSError,
    EOFError,
    KeyError,
    RuntimeError,
    TypeError,
    zipfile.BadZipFile,
    zlib.error,
    pickle.UnpicklingError,
    tokenize.TokenError,
    SyntaxError,
)


def read_npz_member(npz: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    """Array ``key`` of an open ``.npz``, its header checked against the archive first.

    Raises ValueError when the member is not an ``.npy`` or its header claims
    more data than the archive holds (numpy would allocate it all first);
    anything else of :data:`NPZ_ERRORS` on other damage.
    """
    name = f"{key}.npy" if f"{key}.npy" in npz.zip.namelist() else key
    info = npz.zip.getinfo(name)
    with npz.zip.open(info) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            shape, dtype = None, None
    if shape is not None and not dtype.hasobject:
        needed = math.prod(shape) * dtype.itemsize
        if needed > info.file_size:
            raise ValueError(
                f"its header claims a {dtype} array of shape {shape} ({needed} bytes), "
                f"the archive holds {info.file_size} bytes"
            )
    array = npz[key]
    if not isinstance(array, np.ndarray):
        raise ValueError("not an .npy array")
    return array


def read_json(path: str | os.PathLike, missing: str, invalid: str, damaged: str) -> Any:
    """Parse a JSON file; InputError naming it when it is missing, unreadable or not JSON.

    Parameters
    ----------
    path : str or PathLike
    missing : str
        The message for a missing file (``"train result not found; run ..."``).
    invalid : str
        What a damaged file is not (``"not a valid train.json"``); the parser's
        complaint follows in parentheses.
    damaged : str
        What to do about a damaged file (``"delete it and rerun `bionas train-child`"``).

    A UTF-8 byte-order mark is skipped. Invalid UTF-8, a syntax error (its line
    is given), a number with more digits than Python converts and nesting deeper
    than the interpreter's recursion limit are all damage.
    """
    text = read_text(path, missing, invalid, then=damaged)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(
            f"{invalid} ({err.msg} at column {err.colno}); {damaged}", path, line=err.lineno
        ) from None
    except ValueError:  # int() refuses numbers of more than sys.get_int_max_str_digits() digits
        raise InputError(f"{invalid} (a number with too many digits); {damaged}", path) from None
    except RecursionError:
        raise InputError(f"{invalid} (nested too deeply); {damaged}", path) from None


_BOM = b"\xef\xbb\xbf"


def read_text(path: str | os.PathLike, missing: str, unreadable: str, then: str = "") -> str:
    """The UTF-8 text of ``path``, a byte-order mark skipped.

    Raises :class:`~bionas.errors.InputError` naming the file: ``missing`` when
    it does not exist; ``f"{unreadable} (reason); {then}"`` when it cannot be
    read or is not UTF-8 (then with the line of the first bad byte).
    """
    then = f"; {then}" if then else ""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(missing, path) from None
    except OSError as err:
        raise InputError(f"{unreadable} ({err.strerror or err}){then}", path) from None
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{unreadable} (not UTF-8 text: {err.reason} at byte "
            f"{err.start + len(data) - len(body)}){then}",
            path,
            line=body.count(b"\n", 0, err.start) + 1,
        ) from None


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: The rule for a name that becomes one path component of the results: a dataset
#: (``results/<dataset>/``), a run (``results/<dataset>/<run>/``) or a task
#: (``predict/bigwig/<task>.bw``). One regular expression for the config schema
#: (``^...$``), the workflow's wildcard constraints and :func:`name_problem`.
NAME_REGEX = r"(?![^/]*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}"

#: What :data:`NAME_REGEX` allows, in words.
NAME_RULE = (
    "may hold only ASCII letters, digits, '_', '.' and '-', must start with a letter, a digit or '_', "
    "must not hold '..', and is at most 100 characters long"
)

_NAME = re.compile(NAME_REGEX)


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be one path component of the results, or None when it can.

    The answer says what is wrong (a separator, a leading dot, ``..``,
    whitespace, a control character, ...) and then the rule
    (:data:`NAME_RULE`). A name is a ``str``: a YAML key such as ``2024`` reads
    as an integer and is refused, to be quoted.
    """
    if not isinstance(name, str):
        return f"is not a string but {type(name).__name__} {name!r} (quote it in YAML)"
    if _NAME.fullmatch(name):
        return None
    if not name:
        reason = "is empty"
    elif "/" in name or "\\" in name:
        reason = "holds a path separator"
    elif name.startswith("."):
        reason = "starts with '.'"
    elif name.startswith("-"):
        reason = "starts with '-'"
    elif ".." in name:
        reason = "holds '..'"
    elif any(c.isspace() or not c.isprintable() for c in name):
        reason = "holds whitespace or a control character"
    elif len(name) > 100:
        reason = f"is {len(name)} characters long"
    else:
        bad = next(c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-")))
        reason = f"holds {bad!r}"
    return f"{reason}; a name {NAME_RULE}"
