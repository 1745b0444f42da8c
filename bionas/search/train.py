"""Train one child architecture: tensors in, trained model and metrics out.

Training is Adam on binary cross-entropy with the training set reshuffled
every epoch, validation loss after every epoch, early stopping after
``patience`` epochs without a lower validation loss (0: never), and the best
epoch's weights restored at the end. Caps: ``epochs`` and ``max_seconds`` of
wall time (checked after every batch). Metrics of the restored model on the
validation set: loss (the best epoch's), AUROC and AUPRC per task and their
mean over tasks (:mod:`bionas.search.evaluation`).

A child that cannot train is a result, not an error (``status: failed``):

* more weights than ``max_params`` (counted from shapes before anything is
  built, see :func:`bionas.search.builder.count_params`);
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

Early stopping and the restore of the best epoch's weights are Keras's
``EarlyStopping(restore_best_weights=True)`` (it restores at the end of
training whatever stopped it), subclassed in :func:`_make_monitor` for what
Keras lacks: the wall-time cap, ``patience`` 0 meaning never, a NaN check with
the epoch and batch in its message (``TerminateOnNaN`` checks only the batch
loss and only prints), the loss lists and ``stop_reason``. Measured against
the hand-written callback it replaced: weights, losses, ``val_loss``,
``best_epoch`` and ``stop_reason`` bit-identical on eight trainings (ended by
epochs, by patience with an earlier best epoch, by NaN and by the time cap);
its bookkeeping costs 60 us an epoch instead of 2.5 us.

The :class:`ChildResult` -> ``train.json`` record and the result cache (a
directory of ``KEY/{model.keras,train.json}`` entries written atomically) are
here too; :mod:`bionas.commands.train_child` wires them to the command line.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bionas.errors import raise_if_terminated, terminate_at_checks
from bionas.records.space import ModelSpace
from bionas.records.tensors import Tensors
from bionas.records.train_result import ChildResult, TrainSettings
from bionas.search.builder import build_model, count_params
from bionas.search.evaluation import evaluate

log = logging.getLogger(__name__)


def configure_tensorflow(threads: int, seed: int):
    """Set thread pools, op determinism and all random seeds; return ``(tf, keras)``.

    See the module docstring for what this makes reproducible.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    # on a GPU build, jobs that share a GPU (snakemake --resources gpu=N) take memory
    # as they need it instead of all of it at start
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):  # already initialised in this process
            pass

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

    ``X`` and ``y`` are numpy arrays (a memory map included) or tensors (``y``
    may be None); a tensor is used as it is, so one converted array can feed
    several pipelines.

    The indices are shuffled (a new order every epoch, the same orders for
    the same seed) and each batch is gathered from the arrays, cast to
    float32, on one private thread without autotuning or prefetching. Keras'
    own pipeline for numpy arrays maps batches on a parallel, autotuned
    pool; a job then wakes a second thread for every batch and sleeps while
    the handoff waits for a core, which made two trainings side by side on 2
    cores 20% slower each (``bench/parallel.py``). With this pipeline a
    training keeps to one core, so parallel jobs do not slow each other.

    A numpy ``X`` is never copied into TensorFlow: each batch's rows are
    taken from it by numpy (``tf.numpy_function``), so a memory-mapped ``X``
    (:func:`~bionas.records.tensors.load_tensors`) stays in the page cache,
    shared by every job that maps the file. The batches are the same values
    in the same order as gathering from a tensor.
    """
    n = len(X)
    y = None if y is None else tf.convert_to_tensor(y)
    index = tf.data.Dataset.range(n)
    if seed is not None:
        index = index.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    if tf.is_tensor(X):

        def take(i):
            return tf.cast(tf.gather(X, i), tf.float32)

    else:
        shape = (None, *X.shape[1:])

        def rows(i: np.ndarray) -> np.ndarray:
            return X[i].astype(np.float32)

        def take(i):
            x = tf.numpy_function(rows, [i], tf.float32, stateful=False)
            x.set_shape(shape)
            return x

    def gather(i):
        x = take(i)
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


def _stop_reason(nan: bool, time_up: bool, early: bool) -> str:
    """What ended a training: the first of NaN, the time cap, patience, else the epochs."""
    if nan:
        return "nan"
    if time_up:
        return "time"
    return "early_stopping" if early else "epochs"


@dataclass(frozen=True)
class Resume:
    """Where a continued training starts (successive halving, :func:`continue_child`): the
    epochs done, the best validation loss so far, its 1-based epoch and weights, and the
    per-epoch losses so far."""

    epochs: int
    best: float
    best_epoch: int
    best_weights: list
    loss: list[float]
    val_loss: list[float]


def _make_monitor(keras, patience: int, max_seconds: float, start: float, resume: Resume | None = None):
    """A callback for early stopping, best-weights restore, the time cap and NaN detection.

    Keras's ``EarlyStopping(monitor="val_loss", mode="min", min_delta=0,
    restore_best_weights=True)`` does the early stopping and the restore (at
    the end of training, whatever stopped it: epochs, patience or the time
    cap); the subclass adds what Keras has no callback for: the wall-time cap
    (checked after every batch), NaN detection with a message naming the epoch
    and batch (of the training loss after every batch, of both losses after
    every epoch), the per-epoch losses (also logged, one line per epoch:
    epoch, loss, val_loss, seconds), ``stop_reason``, and ``patience`` 0
    meaning never stop. ``best_epoch`` counts from 1 (Keras's from 0) and is
    None before the first epoch ends; ``best`` is the best validation loss.
    Keras compares losses in float32 (``ops.less``), which is exact for the
    float32 losses Keras logs; restoring after a run that was not stopped by
    patience needs a Keras from after November 2023 (keras-team/keras#18822;
    the pinned keras>=3.3 has it).
    """

    class Monitor(keras.callbacks.EarlyStopping):
        def __init__(self) -> None:
            super().__init__(
                monitor="val_loss",
                mode="min",
                min_delta=0,
                patience=patience if patience > 0 else math.inf,
                restore_best_weights=True,
            )
            self.epoch = 0
            self.epochs_run = 0
            self.best = math.inf
            self._best_epoch0: int | None = None
            self.nan: str | None = None
            self.time_up = False
            self.loss: list[float] = []
            self.val_loss: list[float] = []
            self.last_weights: list | None = None

        # Keras keeps a 0-based ``best_epoch`` (0 before any epoch); ours is 1-based.
        @property
        def best_epoch(self) -> int | None:
            return None if self._best_epoch0 is None else self._best_epoch0 + 1

        @best_epoch.setter
        def best_epoch(self, epoch: int) -> None:
            self._best_epoch0 = epoch if self.best_weights is not None else None

        @property
        def stop_reason(self) -> str:
            return _stop_reason(self.nan is not None, self.time_up, self.stopped_epoch > 0)

        def _check_time(self) -> None:
            if time.monotonic() - start > max_seconds:
                self.time_up = True
                self.model.stop_training = True

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            self.best = math.inf
            if resume is not None:
                self.epochs_run = resume.epochs
                self.best = resume.best
                self.best_weights = resume.best_weights
                self.best_epoch = resume.best_epoch - 1
                self.wait = resume.epochs - resume.best_epoch
                self.loss = list(resume.loss)
                self.val_loss = list(resume.val_loss)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self._epoch_start = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            raise_if_terminated()  # a SIGINT or SIGTERM during the training (see train_child)
            if self.nan is not None:
                return
            loss = (logs or {}).get("loss")
            if loss is not None and not _finite(loss):
                self.nan = (
                    f"training loss became {float(loss)} in epoch {self.epoch + 1}, "
                    f"batch {batch + 1}"
                )
                self.model.stop_training = True
            else:
                self._check_time()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.epochs_run = epoch + 1
            loss = float(logs.get("loss", math.nan))
            val_loss = float(logs.get("val_loss", math.nan))
            self.loss.append(loss)
            self.val_loss.append(val_loss)
            # one line per epoch in the job's log, flushed by the handler as it goes
            log.info(
                "epoch %d: loss %.4f val_loss %.4f (%.1f s)",
                epoch + 1, loss, val_loss,
                time.monotonic() - getattr(self, "_epoch_start", start),
            )  # fmt: skip
            if self.nan is not None:
                return
            if not (_finite(loss) and _finite(val_loss)):
                self.nan = f"non-finite loss in epoch {epoch + 1}: loss {loss}, val_loss {val_loss}"
                self.model.stop_training = True
                return
            super().on_epoch_end(epoch, logs)
            self.best = float(self.best)
            self._check_time()

        def on_train_end(self, logs=None):
            self.last_weights = self.model.get_weights()
            if self.nan is None:  # a child that cannot train keeps its last weights
                super().on_train_end(logs)

    return Monitor()


@terminate_at_checks()  # a SIGINT or SIGTERM meanwhile takes effect after the current batch
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

    A SIGINT or SIGTERM meanwhile ends it (KeyboardInterrupt,
    :class:`~bionas.errors.Terminated`) after the current batch, or when it
    returns, never from inside TensorFlow.
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

    def build():
        model = build_model(space, layer_names, train.length, train.n_tasks, seed=settings.seed)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=settings.learning_rate),
            loss="binary_crossentropy",
        )
        return model

    return _fit(tf, keras, build, train, val, settings, params, start)


def _shuffle_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of a training that starts at ``epoch`` (0: the training seed, so
    a child's first rung shuffles as a plain training does)."""
    if epoch == 0:
        return seed
    digest = hashlib.sha256(f"bionas-shuffle:{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@terminate_at_checks()
def continue_child(
    model_path: str | os.PathLike,
    resume_path: str | os.PathLike,
    previous: dict[str, Any],
    train: Tensors,
    val: Tensors,
    settings: TrainSettings,
) -> ChildResult:
    """Continue a child's training (successive halving) up to ``settings.epochs`` in all.

    ``resume_path`` holds the weights and Adam state of the child's last
    epoch, ``model_path`` its best epoch's weights, ``previous`` its
    ``train.json``. Training resumes at epoch ``previous["epochs"] + 1``
    (Keras's ``initial_epoch``) with the optimizer state as it was; early
    stopping carries on from the best loss, best epoch and epochs without
    improvement so far, and the best epoch of the whole training is restored
    at the end. The epochs are reshuffled from a seed of (seed, first epoch),
    so a continued training is reproducible but does not repeat the shuffles
    of an uninterrupted one bit for bit.
    """
    tf, keras = configure_tensorflow(settings.threads, settings.seed)
    start = time.monotonic()
    best = keras.models.load_model(model_path, compile=False)
    history = previous.get("history") or {}
    resume = Resume(
        epochs=int(previous["epochs"]),
        best=float(previous["val_loss"]),
        best_epoch=int(previous["best_epoch"]),
        best_weights=best.get_weights(),
        loss=list(history.get("loss") or []),
        val_loss=list(history.get("val_loss") or []),
    )
    del best

    def build():
        return keras.models.load_model(resume_path)  # compiled, with the optimizer's state

    return _fit(tf, keras, build, train, val, settings, int(previous["params"]), start, resume)


def _fit(tf, keras, build, train, val, settings, params, start, resume: Resume | None = None) -> ChildResult:
    """Build (``build()``), train to ``settings.epochs`` and evaluate; the ChildResult."""
    monitor = _make_monitor(keras, settings.patience, settings.max_seconds, start, resume)
    first = resume.epochs if resume is not None else 0
    try:
        model = build()
        val_X = val.X  # a memory map stays shared: batches() takes rows from it
        model.fit(
            batches(tf, train.X, train.y, settings.batch_size, seed=_shuffle_seed(settings.seed, first)),
            validation_data=batches(tf, val_X, val.y, settings.batch_size),
            initial_epoch=first,
            epochs=settings.epochs,
            shuffle=False,  # the pipeline shuffles
            verbose=0,
            callbacks=[monitor],
        )
        scores = None
        if monitor.nan is None:  # the best epoch's weights are back (EarlyStopping)
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
        last_weights=monitor.last_weights,
    )
