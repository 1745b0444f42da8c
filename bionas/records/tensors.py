"""One-hot tensors (``data/{train,val,test}.npz``): read, check and write.

Written by ``bionas encode``, read by every training and evaluation stage.
Keys: ``X`` uint8 ``(n, L, 4)``, ``y`` float32 ``(n, tasks)``, ``tasks``,
``regions`` (``chrom:start-end``) and ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from bionas.errors import InputError
from bionas.io import NPZ_ERRORS, file_sha256, read_npz_member, save_npz

_RERUN = "delete it and rerun `bionas encode`"


@dataclass(frozen=True)
class Tensors:
    """A validated ``.npz`` of one split.

    ``X``: (n, L, 4) uint8 one-hot (A, C, G, T); ``y``: (n, n_tasks) float32 of
    0/1; ``tasks``: n_tasks names; ``sha256``: checksum of the file's bytes.
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


def load_tensors(path: str | PathLike) -> Tensors:
    """Read and check one split written by ``bionas encode``.

    Raises
    ------
    InputError
        Naming the file and the key, when the file is missing or unreadable, a
        key is missing, or a dtype, shape or value is not what encode writes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("tensor file not found; run `bionas encode` to write it", path)
    try:
        sha = file_sha256(path)
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
                arrays[key] = read_npz_member(npz, key)
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
    X, y, tasks, regions = arrays["X"], arrays["y"], arrays["tasks"], arrays["regions"]

    def bad(key: str, message: str) -> InputError:
        return InputError(f"{message}; {_RERUN}", path, key=key)

    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[2] != 4:
        raise bad("X", f"expected a uint8 (n, L, 4) one-hot array, got {X.dtype} {X.shape}")
    n, length = X.shape[0], X.shape[1]
    if n < 1 or length < 1:
        raise bad("X", f"no sequences or zero length: shape {X.shape}")
    if X.max() > 1:
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
    return Tensors(path=path, X=X, y=y, tasks=names, sha256=sha)


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
    X: np.ndarray,
    y: np.ndarray,
    tasks: np.ndarray,
    regions: np.ndarray,
    kind: np.ndarray,
) -> None:
    """Write one split atomically (what :func:`load_tensors` reads).

    Parameters
    ----------
    X : (n, L, 4) uint8
    y : (n, tasks) float32
    tasks : (tasks,) str
    regions : (n,) str, ``chrom:start-end`` (``(-)`` appended for a reverse complement)
    kind : (n,) str, the window's kind in the windows table
    """
    save_npz(path, X=X, y=y, tasks=tasks, regions=regions, kind=kind)
