"""One-hot tensors (``data/{train,val,test}.npz``): read, check and write.

Written by ``bionas encode``, read by every training and evaluation stage.
Keys: ``X`` uint8 ``(n, L, 4)``, ``y`` float32 ``(n, tasks)``, ``tasks``,
``regions`` (``chrom:start-end``) and ``kind``.

Layout: one ``.npz`` per split, its members stored uncompressed
(``ZIP_STORED``), so that ``np.load`` reads it as before and the bytes of
``X`` lie contiguous in the file. :func:`load_tensors` memory-maps ``X`` at
their offset (read-only) instead of reading it: the training jobs on one node
then share one copy of the data through the page cache, a job starts without
reading the whole array, and its private memory does not grow with the data.
Why not separate ``.npy`` files beside the ``.npz``: the ``.npz`` stays the one
file of the data contract (a user's ``np.load`` sees the same keys and dtypes,
Snakemake tracks one output per split), and the copy on disk would double the
space. The price is disk: the compressed files were about 6x smaller (the
demo's ``train.npz``: 1.0 MB compressed, 6.1 MB stored); 200,000 windows of
1 kb take 800 MB.

``bionas encode`` streams ``X`` into its member block by block
(:class:`StreamedX`), so the whole array is never in memory; the file is the
same, byte for byte, as one written from the array.

``write_tensors`` also stores, in the archive's comment, a sha256 of the
members' bytes and their CRC-32s. ``Tensors.sha256`` (the data's identity in
the result cache) is that digest when the CRC-32s still match the archive's
directory, found without reading the data; for any other ``.npz`` (written
before, or rewritten by another tool) it is the sha256 of the file's bytes.

Older files (compressed members) still load: ``X`` is then read into memory,
and a log line says so. The one-hot check (values 0 or 1) reads a compressed
``X`` whole; a mapped ``X`` is checked on 1,024 rows spread over the array,
so a job does not read 800 MB to start (encode writes only 0 and 1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import NPZ_ERRORS, atomic_path, file_sha256, read_npz_member

log = logging.getLogger(__name__)

_RERUN = "delete it and rerun `bionas encode`"

#: the ``format`` of the archive comment :func:`write_tensors` writes
FORMAT = "bionas-tensors/1"

#: rows of a mapped ``X`` whose values :func:`load_tensors` checks
CHECKED_ROWS = 1024


@dataclass(frozen=True)
class Tensors:
    """A validated ``.npz`` of one split.

    ``X``: (n, L, 4) uint8 one-hot (A, C, G, T), a read-only ``np.memmap`` of
    the file when its members are stored uncompressed; ``y``: (n, n_tasks)
    float32 of 0/1; ``tasks``: n_tasks names; ``sha256``: the data's checksum
    (see the module docstring).
    """

    path: Path
    X: np.ndarray
    y: np.ndarray
    tasks: tuple[str, ...]
    sha256: str

    @property
    def length(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_tasks(self) -> int:
        return int(self.y.shape[1])

    @property
    def mapped(self) -> bool:
        """Whether ``X`` is a memory map of the file (not a private copy)."""
        return isinstance(self.X, np.memmap)


def load_tensors(path: str | PathLike, mmap: bool = True) -> Tensors:
    """Read and check one split written by ``bionas encode``.

    ``X`` is memory-mapped when its member is stored uncompressed and ``mmap``
    is true; otherwise it is read into memory.

    Raises
    ------
    InputError
        Naming the file and the key, when the file is missing or unreadable, a
        key is missing, or a dtype, shape or value is not what encode writes.
    """
    path = Path(path)
    arrays, sha = _read_arrays(path, mmap)
    X, y, tasks, regions = arrays["X"], arrays["y"], arrays["tasks"], arrays["regions"]

    def bad(key: str, message: str) -> InputError:
        return InputError(f"{message}; {_RERUN}", path, key=key)

    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[2] != 4:
        raise bad("X", f"expected a uint8 (n, L, 4) one-hot array, got {X.dtype} {X.shape}")
    n, length = X.shape[0], X.shape[1]
    if n < 1 or length < 1:
        raise bad("X", f"no sequences or zero length: shape {X.shape}")
    if _one_hot_sample(X).max() > 1:
        raise bad("X", "one-hot values must be 0 or 1")
    if y.dtype != np.float32 or y.ndim != 2 or y.shape[0] != n or y.shape[1] < 1:
        raise bad("y", f"expected a float32 (n={n}, tasks) array, got {y.dtype} {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise bad("y", "labels must be 0 or 1")
    if tasks.dtype.kind not in "US" or tasks.shape != (y.shape[1],):
        raise bad("tasks", f"expected {y.shape[1]} task names, got {tasks.dtype} {tasks.shape}")
    if regions.dtype.kind not in "US" or regions.shape != (n,):
        raise bad("regions", f"expected {n} region names, got {regions.dtype} {regions.shape}")
    try:
        names = tuple(t.decode() if isinstance(t, bytes) else str(t) for t in tasks.tolist())
    except UnicodeDecodeError as err:
        raise bad("tasks", f"task names must be UTF-8 text ({err})") from None
    if len(set(names)) != len(names):
        raise bad("tasks", f"task names repeat: {', '.join(names)}")
    if sha is None:
        try:
            sha = file_sha256(path)
        except OSError as err:
            raise InputError(f"cannot read the file ({err}); {_RERUN}", path) from None
    return Tensors(path=path, X=X, y=y, tasks=names, sha256=sha)


def _read_arrays(path: Path, mmap: bool) -> tuple[dict[str, np.ndarray], str | None]:
    """The contract's arrays of ``path`` (``X`` mapped when it can be) and its stored digest."""
    if not path.is_file():
        raise InputError("tensor file not found; run `bionas encode` to write it", path)
    try:
        npz = np.load(path, allow_pickle=False)
    except NPZ_ERRORS as err:
        raise InputError(f"not a readable .npz ({err}); {_RERUN}", path) from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise InputError(f"not an .npz archive of named arrays; {_RERUN}", path)
    arrays: dict[str, np.ndarray] = {}
    with npz:
        for key in ("X", "y", "tasks", "regions"):
            if key not in npz.files:
                raise InputError(
                    f"missing array {key!r} (has: {', '.join(npz.files) or 'none'}); {_RERUN}",
                    path,
                    key=key,
                )
            try:
                info = npz.zip.getinfo(f"{key}.npy" if f"{key}.npy" in npz.zip.namelist() else key)
                if key == "X" and mmap and info.compress_type == zipfile.ZIP_STORED:
                    arrays[key] = _map_member(path, info)
                else:
                    arrays[key] = read_npz_member(npz, key)
                    if key == "X" and info.compress_type != zipfile.ZIP_STORED:
                        log.info(
                            "%s: X is compressed, read into memory (%d MiB) instead of mapped; "
                            "rerun `bionas encode` to write a file that jobs share",
                            path,
                            arrays[key].nbytes >> 20,
                        )
            except NPZ_ERRORS as err:
                raise InputError(
                    f"cannot read the array ({err}); {_RERUN}", path, key=key
                ) from None
            except MemoryError as err:
                raise InputError(
                    f"the array does not fit in memory ({err}); if the file is damaged, {_RERUN}",
                    path,
                    key=key,
                ) from None
        sha = _stored_sha256(npz.zip)
    return arrays, sha


def _one_hot_sample(X: np.ndarray) -> np.ndarray:
    """``X`` itself when in memory; :data:`CHECKED_ROWS` rows spread over it when mapped."""
    if not isinstance(X, np.memmap) or len(X) <= CHECKED_ROWS:
        return X
    return X[np.linspace(0, len(X) - 1, CHECKED_ROWS).astype(np.int64)]


_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature ... file name length, extra field length


def _map_member(path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """A read-only memory map of the uncompressed ``.npy`` member ``info`` of ``path``.

    Raises ValueError when the member's local header or ``.npy`` header is
    damaged, or the array it declares is not exactly the member's bytes.
    """
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        raw = handle.read(_LOCAL_HEADER.size)
        if len(raw) != _LOCAL_HEADER.size:
            raise ValueError(f"member {info.filename} is cut off")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(raw)
        if signature != b"PK\x03\x04":
            raise ValueError(f"member {info.filename} has no local header")
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        handle.seek(start)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"member {info.filename}: unsupported .npy version {version}")
        offset = handle.tell()
    if dtype.hasobject:
        raise ValueError(f"member {info.filename} holds Python objects")
    nbytes = math.prod(shape) * dtype.itemsize
    if offset - start + nbytes != info.file_size:
        raise ValueError(
            f"its header claims a {dtype} array of shape {shape} ({nbytes} bytes), "
            f"the archive holds {info.file_size - (offset - start)} bytes"
        )
    if offset + nbytes > os.path.getsize(path):
        raise ValueError(f"member {info.filename} is cut off")
    if nbytes == 0:
        return np.empty(shape, dtype=dtype)
    order = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def _stored_sha256(archive: zipfile.ZipFile) -> str | None:
    """The digest :func:`write_tensors` stored, if its CRC-32s match the archive's members."""
    try:
        meta = json.loads(archive.comment.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    crcs = {info.filename: info.CRC for info in archive.infolist()}
    sha = meta.get("sha256")
    if meta.get("crc32") != crcs or not isinstance(sha, str) or len(sha) != 64:
        return None
    return sha


class _Hashing:
    """A write-only file that updates a digest with what passes through it."""

    def __init__(self, handle, digest) -> None:
        self.handle, self.digest = handle, digest

    def write(self, data) -> int:
        self.digest.update(data)
        return self.handle.write(data)


def check_pair(train: Tensors, val: Tensors) -> None:
    """Training and validation tensors must share the length L and the tasks."""
    if train.length != val.length:
        raise InputError(
            f"sequence length {val.length} differs from {train.length} in {train.path}; "
            "both splits must come from one `bionas encode` run",
            val.path,
            key="X",
        )
    if train.tasks != val.tasks:
        raise InputError(
            f"tasks {list(val.tasks)} differ from {list(train.tasks)} in {train.path}; "
            "both splits must come from one `bionas encode` run",
            val.path,
            key="tasks",
        )


def write_tensors(
    path: str | PathLike,
    X: np.ndarray | StreamedX,
    y: np.ndarray,
    tasks: np.ndarray,
    regions: np.ndarray,
    kind: np.ndarray,
) -> None:
    """Write one split atomically (what :func:`load_tensors` reads), members uncompressed.

    Parameters
    ----------
    X : (n, L, 4) uint8, or a :class:`StreamedX` whose blocks are written as they come
        (the file is the same byte for byte; X is never whole in memory)
    y : (n, tasks) float32
    tasks : (tasks,) str
    regions : (n,) str, ``chrom:start-end`` (``(-)`` appended for a reverse complement)
    kind : (n,) str, the window's kind in the windows table
    """
    arrays = {"X": X, "y": y, "tasks": tasks, "regions": regions, "kind": kind}
    digest = hashlib.sha256()
    with atomic_path(path, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in arrays.items():
                digest.update(f"{name}.npy\0".encode())
                with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                    if isinstance(array, StreamedX):
                        array.write(_Hashing(handle, digest))
                    else:
                        np.lib.format.write_array(
                            _Hashing(handle, digest), np.asanyarray(array), allow_pickle=False
                        )
            crcs = {info.filename: info.CRC for info in archive.infolist()}
            archive.comment = json.dumps(
                {"format": FORMAT, "sha256": digest.hexdigest(), "crc32": crcs},
                separators=(",", ":"),
            ).encode()


@dataclass(frozen=True)
class StreamedX:
    """A uint8 ``X`` of ``shape`` that arrives in blocks of rows, for :func:`write_tensors`.

    ``blocks`` yields C-contiguous uint8 arrays of ``shape[1:]`` rows, in
    order, ``shape[0]`` rows in all. Written as ``np.save`` would write the
    whole array (a version 1.0 ``.npy`` header, then the bytes), so the file
    does not depend on how the rows were cut into blocks.
    """

    shape: tuple[int, ...]
    blocks: Iterable[np.ndarray]

    def write(self, handle) -> None:
        """Write the ``.npy`` bytes to ``handle``; ValueError if the blocks do not add up."""
        shape = tuple(int(n) for n in self.shape)
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_1_0(handle, header)
        rows = 0
        for block in self.blocks:
            if block.dtype != np.uint8 or block.shape[1:] != shape[1:]:
                raise ValueError(f"a block of {block.dtype} {block.shape} for X of shape {shape}")
            handle.write(np.ascontiguousarray(block).reshape(-1).data)
            rows += len(block)
        if rows != shape[0]:
            raise ValueError(f"the blocks hold {rows} rows, X has {shape[0]}")
