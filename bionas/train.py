"""Train one child architecture: tensors in, trained model and metrics out.

Training is Adam on binary cross-entropy with the training set reshuffled
every epoch, validation loss after every epoch, early stopping after
``patience`` epochs without a lower validation loss (0: never), and the best
epoch's weights restored at the end. Caps: ``epochs`` and ``max_seconds`` of
wall time (checked after every batch). Metrics of the restored model on the
validation set: loss (the best epoch's), AUROC and AUPRC per task and their
mean over tasks (:mod:`bionas.metrics`).

A child that cannot train is a result, not an error (``status: failed``):

* more weights than ``max_params`` (counted from shapes before anything is
  built, see :func:`bionas.builder.count_params`);
* a non-finite training or validation loss, or non-finite predictions;
* out of memory while building or training (``tf.errors.ResourceExhaustedError``,
  ``MemoryError``).

Every other exception propagates: a shape error (``ValueError``) or another
TensorFlow runtime error (for example an op without a deterministic kernel on
some GPU) would hit every child alike, so it is a bug or a broken environment
and must stop the search instead of being recorded as a penalised child.

Reproducibility. :func:`configure_tensorflow` sets TensorFlow's intra- and
inter-op thread pools to ``threads``, seeds Python, numpy and TensorFlow with
``keras.utils.set_random_seed(seed)`` (again at the start of every
:func:`train_child`, which also fixes the per-epoch shuffling) and enables
``tf.config.experimental.enable_op_determinism()``; the initial weights and
dropout masks are seeded from ``seed`` as well. On CPU, with the same tensors,
settings, seed, thread count and TensorFlow/Keras versions:

* two trainings in one process give bit-identical histories, metrics and
  weights (``tests/test_train.py``);
* so do two trainings in separate processes (tested with two fresh
  processes), which is what makes the result cache sound;
* a different thread count changes the last bits (measured: 1 thread vs
  TensorFlow's automatic pool differ in the 7th significant digit of the
  first epoch's loss), so ``threads`` is part of the cache key; another CPU
  model (other SIMD kernels) may change them too;
* a run cut short by ``max_seconds`` depends on the machine's speed and is
  not reproducible.

TensorFlow uses a GPU when it sees one (nothing here requires it); results
then depend on the GPU kernels, and an op without a deterministic GPU kernel
raises, which stops the run. Thread pools can only be set before TensorFlow
starts its runtime: in a process where it already has (another stage ran
first in the same interpreter), the existing pools are kept and a warning is
logged.

The :class:`ChildResult` -> ``train.json`` record and the result cache (a
directory of ``KEY/{model.keras,train.json}`` entries written atomically) are
here too; :mod:`bionas.commands.train_child` wires them to the command line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from bionas import __version__
from bionas.builder import build_model, count_params
from bionas.errors import InputError, shown
from bionas.io import NPZ_ERRORS, read_json, read_npz_member, remove_dead_temps, temp_prefix
from bionas.metrics import evaluate
from bionas.space import ModelSpace

log = logging.getLogger(__name__)

#: Name of the model file in a child's output directory and a cache entry.
MODEL_FILE = "model.keras"
#: Name of the result record in a child's output directory and a cache entry.
RESULT_FILE = "train.json"
#: Bumped when the training procedure changes in a way that changes results.
CACHE_FORMAT = 2

_RERUN = "delete it and rerun `bionas encode`"


# ---------------------------------------------------------------------------
# settings


@dataclass(frozen=True)
class TrainSettings:
    """Every setting that can change a trained child (all of them enter the cache key)."""

    epochs: int = 30
    patience: int = 5
    batch_size: int = 64
    learning_rate: float = 3e-3
    max_seconds: float = 600.0
    max_params: int = 2_000_000
    seed: int = 1
    threads: int = 1

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "patience": self.patience >= 0,
            "batch_size": self.batch_size >= 1,
            "learning_rate": math.isfinite(self.learning_rate) and self.learning_rate > 0,
            "max_seconds": self.max_seconds > 0,
            "max_params": self.max_params >= 1,
            "threads": self.threads >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid training setting(s): {', '.join(bad)} in {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# tensors


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


def file_sha256(path: str | PathLike) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


# ---------------------------------------------------------------------------
# TensorFlow


def configure_tensorflow(threads: int, seed: int):
    """Set thread pools, op determinism and all random seeds; return ``(tf, keras)``.

    See the module docstring for what this makes reproducible.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    pools = (
        (
            "intra-op",
            tf.config.threading.get_intra_op_parallelism_threads,
            tf.config.threading.set_intra_op_parallelism_threads,
        ),
        (
            "inter-op",
            tf.config.threading.get_inter_op_parallelism_threads,
            tf.config.threading.set_inter_op_parallelism_threads,
        ),
    )
    for what, get, set_ in pools:
        if get() != threads:
            try:
                set_(threads)
            except RuntimeError:
                log.warning(
                    "TensorFlow is already running with %s threads=%s (0: automatic); "
                    "cannot change it to %d in this process",
                    what,
                    get(),
                    threads,
                )
    for gpu in tf.config.list_physical_devices("GPU"):
        try:  # several children may share one GPU
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    return tf, keras


def batches(tf, X, y, batch_size: int, seed: int | None = None):
    """A ``tf.data`` pipeline of float32 batches of ``X`` (and ``y``), shuffled when ``seed`` is set.

    ``X`` and ``y`` are numpy arrays or tensors (``y`` may be None); a tensor
    is used as it is, so one converted array can feed several pipelines.

    The indices are shuffled (a new order every epoch, the same orders for
    the same seed) and each batch is gathered from the arrays, cast to
    float32, on one private thread without autotuning or prefetching. Keras'
    own pipeline for numpy arrays maps batches on a parallel, autotuned
    pool; a job then wakes a second thread for every batch and sleeps while
    the handoff waits for a core, which made two trainings side by side on 2
    cores 20% slower each (``bench/parallel.py``). With this pipeline a
    training keeps to one core, so parallel jobs do not slow each other.
    """
    n = len(X)
    X = tf.convert_to_tensor(X)
    y = None if y is None else tf.convert_to_tensor(y)
    index = tf.data.Dataset.range(n)
    if seed is not None:
        index = index.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    def gather(i):
        x = tf.cast(tf.gather(X, i), tf.float32)
        return x if y is None else (x, tf.gather(y, i))

    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    options.deterministic = True
    return index.batch(batch_size).map(gather).with_options(options)


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _make_monitor(keras, patience: int, max_seconds: float, start: float):
    """A callback for early stopping, best-weights restore, the time cap and NaN detection."""

    class Monitor(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.epochs_run = 0
            self.best = math.inf
            self.best_epoch: int | None = None
            self.best_weights = None
            self.wait = 0
            self.nan: str | None = None
            self.stop_reason = "epochs"
            self.loss: list[float] = []
            self.val_loss: list[float] = []

        def _stop(self, reason: str) -> None:
            self.stop_reason = reason
            self.model.stop_training = True

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.nan is not None:
                return
            loss = (logs or {}).get("loss")
            if loss is not None and not _finite(loss):
                self.nan = (
                    f"training loss became {float(loss)} in epoch {self.epoch + 1}, "
                    f"batch {batch + 1}"
                )
                self._stop("nan")
            elif time.monotonic() - start > max_seconds:
                self._stop("time")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.epochs_run = epoch + 1
            loss = float(logs.get("loss", math.nan))
            val_loss = float(logs.get("val_loss", math.nan))
            self.loss.append(loss)
            self.val_loss.append(val_loss)
            if self.nan is not None:
                return
            if not (_finite(loss) and _finite(val_loss)):
                self.nan = f"non-finite loss in epoch {epoch + 1}: loss {loss}, val_loss {val_loss}"
                self._stop("nan")
                return
            if val_loss < self.best:
                self.best = val_loss
                self.best_epoch = epoch + 1
                self.best_weights = self.model.get_weights()
                self.wait = 0
            else:
                self.wait += 1
                if patience and self.wait >= patience:
                    self._stop("early_stopping")
            if time.monotonic() - start > max_seconds:
                self._stop("time")

    return Monitor()


# ---------------------------------------------------------------------------
# training


@dataclass
class ChildResult:
    """What training one child gave; ``model`` is the trained Keras model (None if failed).

    ``stop_reason``: ``epochs`` (ran them all), ``early_stopping``, ``time``
    (max_seconds), ``nan``, ``params`` or ``memory``. ``per_task`` maps a task
    to ``{"auroc", "auprc", "note"}`` (note: why a value is NaN).
    """

    status: str
    error: str | None
    stop_reason: str
    params: int
    seconds: float
    epochs: int = 0
    best_epoch: int | None = None
    val_loss: float = math.nan
    val_auroc: float = math.nan
    val_auprc: float = math.nan
    per_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "val_loss": []})
    model: Any = None

    @property
    def cacheable(self) -> bool:
        """Out-of-memory depends on the machine, so such failures are not cached."""
        return self.stop_reason != "memory"


def train_child(
    space: ModelSpace,
    layer_names: list[str] | tuple[str, ...],
    train: Tensors,
    val: Tensors,
    settings: TrainSettings,
) -> ChildResult:
    """Build and train one architecture; see the module docstring for the procedure.

    Parameters
    ----------
    space : ModelSpace
        Loaded with ``window=train.length`` (so every architecture builds).
    layer_names : sequence of str
        One option name per layer.
    train, val : Tensors
        Checked with :func:`check_pair`.
    settings : TrainSettings

    Returns
    -------
    ChildResult
        ``status`` ``"ok"`` with the trained model, or ``"failed"`` with
        ``error`` when the child cannot train.
    """
    start = time.monotonic()
    params = count_params(space, layer_names, train.length, train.n_tasks)
    if params > settings.max_params:
        return ChildResult(
            status="failed",
            error=f"the model has {params} parameters, more than --max-params {settings.max_params}",
            stop_reason="params",
            params=params,
            seconds=time.monotonic() - start,
        )
    tf, keras = configure_tensorflow(settings.threads, settings.seed)
    start = time.monotonic()
    monitor = _make_monitor(keras, settings.patience, settings.max_seconds, start)
    try:
        model = build_model(space, layer_names, train.length, train.n_tasks, seed=settings.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
            loss="binary_crossentropy",
        )
        val_X = tf.convert_to_tensor(val.X)  # one copy for the epochs' validation and the scores
        model.fit(
            batches(tf, train.X, train.y, settings.batch_size, seed=settings.seed),
            validation_data=batches(tf, val_X, val.y, settings.batch_size),
            epochs=settings.epochs,
            shuffle=False,  # the pipeline shuffles
            verbose=0,
            callbacks=[monitor],
        )
        scores = None
        if monitor.nan is None:
            if monitor.best_weights is not None:
                model.set_weights(monitor.best_weights)
            scores = model.predict(
                batches(tf, val_X, None, max(settings.batch_size, 512)), verbose=0
            )
    except (tf.errors.ResourceExhaustedError, MemoryError) as err:
        message = getattr(err, "message", None) or str(err) or type(err).__name__
        return ChildResult(
            status="failed",
            error=f"out of memory: {message.strip().splitlines()[0]}",
            stop_reason="memory",
            params=params,
            seconds=time.monotonic() - start,
            epochs=monitor.epochs_run,
            history={"loss": monitor.loss, "val_loss": monitor.val_loss},
        )
    history = {"loss": monitor.loss, "val_loss": monitor.val_loss}
    if monitor.nan is None and not np.all(np.isfinite(scores)):
        monitor.nan = "non-finite predictions on the validation set"
    if monitor.nan is not None:
        return ChildResult(
            status="failed",
            error=f"the child cannot train: {monitor.nan}",
            stop_reason="nan",
            params=params,
            seconds=time.monotonic() - start,
            epochs=monitor.epochs_run,
            history=history,
        )
    scores = np.asarray(scores, dtype=np.float64)
    evaluation = evaluate(val.y, scores, val.tasks)
    for task, m in evaluation.per_task.items():
        if m.note:
            log.warning("task %s: AUROC/AUPRC undefined: %s (%s)", task, m.note, val.path)
    return ChildResult(
        status="ok",
        error=None,
        stop_reason=monitor.stop_reason,
        params=params,
        seconds=time.monotonic() - start,
        epochs=monitor.epochs_run,
        best_epoch=monitor.best_epoch,
        val_loss=monitor.best,
        val_auroc=evaluation.mean_auroc,
        val_auprc=evaluation.mean_auprc,
        per_task={
            task: {"auroc": m.auroc, "auprc": m.auprc, "note": m.note}
            for task, m in evaluation.per_task.items()
        },
        history=history,
        model=model,
    )


# ---------------------------------------------------------------------------
# records and cache


def json_safe(obj: Any) -> Any:
    """Replace NaN and infinities (also inside lists and dicts) by None, numpy scalars by Python."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def child_record(
    architecture: dict[str, Any],
    result: ChildResult,
    settings: TrainSettings,
    cache_key: str,
) -> dict[str, Any]:
    """The ``train.json`` record of a child (strict JSON: NaN written as null)."""
    ok = result.status == "ok"
    return json_safe(
        {
            "status": result.status,
            "error": result.error,
            "stop_reason": result.stop_reason,
            "layers": list(architecture["layers"]),
            "id": architecture["id"],
            "step": architecture.get("step"),
            "child": architecture.get("child"),
            "val_loss": result.val_loss if ok else None,
            "val_auroc": result.val_auroc if ok else None,
            "val_auprc": result.val_auprc if ok else None,
            "per_task": result.per_task if ok else {},
            "epochs": result.epochs,
            "best_epoch": result.best_epoch if ok else None,
            "seconds": round(result.seconds, 3),
            "params": result.params,
            "cached": False,
            "cache_key": cache_key,
            "model": MODEL_FILE if ok else None,
            "seed": settings.seed,
            "settings": settings.to_dict(),
            "history": result.history,
        }
    )


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(
    architecture_id: str, train_sha256: str, val_sha256: str, settings: TrainSettings
) -> str:
    """sha256 of the architecture id, both tensor checksums, every setting and the versions."""
    payload = {
        "format": CACHE_FORMAT,
        "bionas": __version__,
        "keras": _package_version("keras"),
        "architecture": architecture_id,
        "train": train_sha256,
        "val": val_sha256,
        "settings": settings.to_dict(),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def cache_lookup(cache_dir: str | PathLike, key: str) -> dict[str, Any] | None:
    """The cached record of ``key``, or None on a miss.

    An entry is complete when its ``train.json`` parses, carries ``key`` and,
    for an ``ok`` child, ``model.keras`` exists beside it.
    """
    entry = Path(cache_dir) / key
    try:
        record = json.loads((entry / RESULT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        log.warning("ignoring an unreadable cache entry %s (%s)", entry, err)
        return None
    if not isinstance(record, dict) or record.get("cache_key") != key:
        log.warning("ignoring a cache entry that does not carry its key: %s", entry)
        return None
    if record.get("status") == "ok" and not (entry / MODEL_FILE).is_file():
        log.warning("ignoring a cache entry without %s: %s", MODEL_FILE, entry)
        return None
    return record


def cache_store(
    cache_dir: str | PathLike, key: str, record: dict[str, Any], model_path: Path | None
) -> None:
    """Add an entry: written in a temporary directory, then renamed to ``cache_dir/key``.

    If another job stored the same key first, its entry is kept. Temporary
    directories of this key left by killed jobs (dead PIDs of this host) are
    removed first.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    remove_dead_temps(final)  # left by a job killed while storing this key
    if final.exists():
        return
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(final), dir=cache_dir))
    try:
        if model_path is not None:
            shutil.copyfile(model_path, tmp / MODEL_FILE)
        (tmp / RESULT_FILE).write_text(
            json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
        )
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


# ---------------------------------------------------------------------------
# reading train.json back

RERUN_TRAIN_CHILD = "delete it and rerun `bionas train-child`"

#: Keys every train.json has (written by bionas.train.child_record).
TRAIN_KEYS = (
    "status",
    "error",
    "layers",
    "id",
    "step",
    "child",
    "val_loss",
    "val_auroc",
    "val_auprc",
    "epochs",
    "seconds",
    "params",
    "cached",
    "model",
)


def _train_number(v: Any, low: float | None = None, high: float | None = None) -> bool:
    """A finite JSON number (not a bool) within ``[low, high]``."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        x = float(v)
    except OverflowError:  # an int beyond float's range
        return False
    return math.isfinite(x) and (low is None or x >= low) and (high is None or x <= high)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _file_name(v: Any) -> bool:
    """A plain file name (the model beside train.json), nothing that leads elsewhere."""
    return (
        isinstance(v, str)
        and v not in ("", ".", "..")
        and not any(c in v for c in "/\\")
        and v.isprintable()
    )


#: key of train.json -> (check, what it must be); what child_record writes
_TRAIN_CHECKS: dict[str, tuple[Any, str]] = {
    "status": (lambda v: v in ("ok", "failed"), "'ok' or 'failed'"),
    "error": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "layers": (
        lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
        "a list of option names",
    ),
    "id": (lambda v: isinstance(v, str), "a string"),
    "step": (lambda v: v is None or _count(v), "an integer >= 0 or null"),
    "child": (lambda v: v is None or _count(v), "an integer >= 0 or null"),
    "val_loss": (lambda v: v is None or _train_number(v), "a finite number or null"),
    "val_auroc": (lambda v: v is None or _train_number(v, 0, 1), "a number in [0, 1] or null"),
    "val_auprc": (lambda v: v is None or _train_number(v, 0, 1), "a number in [0, 1] or null"),
    "epochs": (_count, "an integer >= 0"),
    "seconds": (lambda v: _train_number(v, 0), "a finite number >= 0"),
    "params": (_count, "an integer >= 0"),
    "cached": (lambda v: isinstance(v, bool), "true or false"),
    "model": (lambda v: v is None or _file_name(v), "a file name beside train.json or null"),
}


def read_train_result(path: str | Path) -> dict[str, Any]:
    """Read and check a ``train.json`` (see :func:`child_record`).

    Raises :class:`InputError` naming the file, and the key, when it is
    missing, not JSON, lacks a key or holds a value child_record would not
    write (an ``ok`` child needs a finite ``val_loss`` and a ``model``).
    """
    path = Path(path)
    record = read_json(
        path,
        missing="train result not found; run `bionas train-child` to write it",
        invalid="not a valid train.json",
        damaged=RERUN_TRAIN_CHILD,
    )
    if not isinstance(record, dict):
        raise InputError(f"expected a JSON object; {RERUN_TRAIN_CHILD}", path)
    for key in TRAIN_KEYS:
        if key not in record:
            raise InputError(f"missing key {key!r}; {RERUN_TRAIN_CHILD}", path, key=key)
        check, expected = _TRAIN_CHECKS[key]
        if not check(record[key]):
            raise InputError(
                f"{key!r} must be {expected}, got {shown(record[key])}; {RERUN_TRAIN_CHILD}",
                path,
                key=key,
            )
    if record["status"] == "ok":
        if record["model"] is None:
            raise InputError(f"an ok child needs a model file; {RERUN_TRAIN_CHILD}", path, key="model")
        if record["val_loss"] is None:
            raise InputError(
                f"an ok child needs a finite val_loss; {RERUN_TRAIN_CHILD}", path, key="val_loss"
            )
    return record

