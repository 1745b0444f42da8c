"""Attribution scores of a trained model: corrected saliency and in-silico mutagenesis.

:func:`attributions` gives, for every window, position and base, how much the
model's logit depends on that base (hypothetical contributions, the input
TF-MoDISco wants) and how much the observed base contributed
(gradient x input). :func:`ism` measures the same thing by brute force, one
substitution at a time, and is the check that the gradients are faithful.

Both attribute the **logit** of one task, not the sigmoid probability: the
probability saturates near 0 and 1, where its gradient vanishes even for a
window full of motifs. The models of :mod:`bionas.search.builder` end in
``Dense(n_tasks, sigmoid)``; :func:`logit_function` computes that layer's
pre-activation from the layer below it with the layer's own kernel and bias,
so the logit is exactly ``log(p / (1 - p))`` of the model's output.

Arrays are channels last: windows ``(n, L, 4)``, bases A, C, G, T.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

#: Windows per gradient batch; memory stays bounded by about
#: ``batch_size * L * 4 * 4`` bytes of input and gradient plus the
#: model's activations for one batch.
BATCH_SIZE = 256


#: Traced functions per model, keyed by (kind, task, L): repeated calls on one model
#: reuse them instead of tracing again (TensorFlow warns about retracing). They read
#: the model's variables when called, so later weight changes are seen.
_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Attributions(NamedTuple):
    """Attribution scores of ``n`` windows.

    Attributes
    ----------
    hypothetical : (n, L, 4) float32
        Corrected saliency: the gradient of the logit with respect to the
        one-hot input, minus its mean over the 4 bases at each position. The
        score each base would have if it were the one observed; what
        TF-MoDISco calls ``hypothetical_contribs``.
    contrib : (n, L, 4) float32
        ``hypothetical * X``: non-zero only at the observed base (gradient x
        input); all zero at an ``N`` (all-zero) position.
    """

    hypothetical: np.ndarray
    contrib: np.ndarray


def _check_windows(X: Any) -> np.ndarray:
    """``X`` as float32 ``(n, L, 4)`` with 0/1 entries and at most one 1 per position."""
    arr = np.asarray(X)
    if arr.ndim != 3 or arr.shape[2] != 4 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"X must be one-hot windows of shape (n, L, 4) with n, L >= 1, got {arr.shape}"
        )
    arr = arr.astype(np.float32, copy=False)
    if not np.isin(arr, (0.0, 1.0)).all() or (arr.sum(axis=2) > 1).any():
        raise ValueError("X must be one-hot: entries 0 or 1, at most one 1 per position")
    return arr


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def _task_index(model: Any, task: int | None) -> int:
    n_out = int(model.output_shape[-1])
    if len(model.output_shape) != 2:
        raise ValueError(f"the model's output must be (batch, tasks), got {model.output_shape}")
    if task is None:
        if n_out != 1:
            raise ValueError(f"the model has {n_out} tasks: say which one with task=")
        return 0
    if isinstance(task, bool) or int(task) != task or not 0 <= task < n_out:
        raise ValueError(f"task must be an integer in [0, {n_out}), got {task!r}")
    return int(task)


def _activation_name(layer: Any) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def logit_function(model: Any, task: int | None = None) -> Callable[[Any], Any]:
    """A function ``(batch, L, 4) tensor -> (batch,) logits`` of one task.

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential; its last layer is a ``Dense`` with
        ``sigmoid`` activation (the builder's head) or with ``linear``
        activation (the model already outputs logits).
    task : int, optional
        Output column; may be omitted when the model has one output.

    Returns
    -------
    callable
        Takes a float32 tensor, returns a float32 tensor of shape ``(batch,)``:
        ``h @ kernel[:, task] + bias[task]`` where ``h`` is the input of the
        last layer, so that ``sigmoid(logit)`` is the model's output.

    Raises
    ------
    ValueError
        When the last layer is not such a ``Dense`` or ``task`` is out of range.
    """
    import keras
    import tensorflow as tf

    index = _task_index(model, task)
    head = model.layers[-1]
    name = _activation_name(head)
    if not isinstance(head, keras.layers.Dense) or name not in ("sigmoid", "linear"):
        raise ValueError(
            "attributions need a model whose last layer is Dense with sigmoid or linear "
            f"activation, got {type(head).__name__} with activation {name!r}"
        )
    # A new functional model over the same layers, not ``model`` itself, so that the
    # traced functions cached per model (_TRACED) hold no reference to their key.
    if name == "linear":
        whole = keras.Model(model.inputs, model.outputs)
        return lambda x: whole(x, training=False)[:, index]
    trunk = keras.Model(model.inputs, head.input)

    def logit(x: Any) -> Any:
        h = trunk(x, training=False)
        out = tf.linalg.matvec(h, tf.convert_to_tensor(head.kernel)[:, index])
        return out + tf.convert_to_tensor(head.bias)[index] if head.use_bias else out

    return logit


def attributions(
    model: Any, X: Any, *, task: int | None = None, batch_size: int = BATCH_SIZE
) -> Attributions:
    """Corrected saliency (hypothetical contributions) and gradient x input of one task's logit.

    Method: the gradient of the task's pre-sigmoid logit with respect to the
    one-hot input (saliency, Simonyan et al. 2014), with its mean over the 4
    bases subtracted at every position (the gradient correction of
    Majdandzic, Rajesh & Koo 2023, Genome Biology 24:109). The corrected
    gradient is the hypothetical contribution; contribution = hypothetical x
    one-hot (gradient x input).

    Why this is faithful for one-hot input: every valid input lies on the
    simplex ``sum_b x[j, b] = 1`` at each position, so the only changes the
    model can ever see are moves within that plane. The gradient's component
    along ``(1, 1, 1, 1)`` points off the simplex; the model's function there
    is unconstrained by training and that component is noise. Subtracting
    the mean projects the gradient onto the simplex's plane and removes it.
    What remains has two exact meanings: ``hyp[j, b] - hyp[j, ref]`` is the
    first-order (Taylor) estimate of the logit change when the observed base
    ``ref`` is replaced by ``b`` (the in-silico mutagenesis of :func:`ism`),
    and the contribution of the observed base, ``hyp[j, ref]``, equals minus
    the mean of those four estimates (``b = ref`` counting as 0): how much
    the logit would drop, on average, if the base were changed.

    Parameters
    ----------
    model : keras.Model
        See :func:`logit_function`; input ``(batch, L, 4)``.
    X : (n, L, 4) array-like
        One-hot windows (uint8 or float; ``N`` as an all-zero row).
    task : int, optional
        Output column; may be omitted when the model has one output.
    batch_size : int
        Windows per gradient computation; memory does not grow with ``n``
        beyond the two float32 ``(n, L, 4)`` results.

    Returns
    -------
    Attributions
        ``hypothetical`` and ``contrib``, each ``(n, L, 4)`` float32.
    """
    import tensorflow as tf

    X = _check_windows(X)
    batch_size = _check_batch_size(batch_size)
    corrected_gradient = _traced(model, task, X.shape[1], "gradient")
    hypothetical = np.empty(X.shape, dtype=np.float32)
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        hypothetical[start:stop] = corrected_gradient(tf.constant(X[start:stop])).numpy()
    return Attributions(hypothetical, hypothetical * X)


def predict_logits(
    model: Any, X: Any, *, task: int | None = None, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """The logit of one task for each window.

    Parameters
    ----------
    model : keras.Model
        See :func:`logit_function`.
    X : (n, L, 4) array-like
        One-hot windows.
    task : int, optional
        Output column; may be omitted when the model has one output.
    batch_size : int
        Windows per forward pass.

    Returns
    -------
    (n,) float32
    """
    X = _check_windows(X)
    fn = _traced(model, task, X.shape[1], "logit")
    return _logits(fn, X, _check_batch_size(batch_size))


def _traced(model: Any, task: int | None, length: int, kind: str) -> Callable[[Any], Any]:
    """The logit (``kind="logit"``) or its corrected gradient (``"gradient"``) as a
    ``tf.function`` of float32 batches ``(any, length, 4)``, made once per model."""
    import tensorflow as tf

    index = _task_index(model, task)
    try:
        cache = _TRACED.setdefault(model, {})
    except TypeError:  # not weak-referenceable: trace every time
        cache = {}
    key = (kind, index, int(length))
    if key in cache:
        return cache[key]
    logit = logit_function(model, index)
    spec = [tf.TensorSpec((None, length, 4), tf.float32)]

    def corrected_gradient(x: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = logit(x)
        grad = tape.gradient(out, x)
        return grad - tf.reduce_mean(grad, axis=-1, keepdims=True)

    fn = tf.function(logit if kind == "logit" else corrected_gradient, input_signature=spec)
    cache[key] = fn
    return fn


def _logits(fn: Callable[[Any], Any], X: np.ndarray, batch_size: int) -> np.ndarray:
    import tensorflow as tf

    out = np.empty(X.shape[0], dtype=np.float32)
    for start in range(0, X.shape[0], batch_size):
        stop = min(start + batch_size, X.shape[0])
        out[start:stop] = fn(tf.constant(X[start:stop])).numpy()
    return out


def ism(model: Any, X: Any, *, task: int | None = None, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """In-silico mutagenesis: the logit change of every single-base substitution.

    For each window, position ``j`` and base ``b``, the window with position
    ``j`` set to base ``b`` is scored and the logit of the unchanged window
    subtracted. ``n * L * 4`` forward passes (the 4 include the observed base,
    which gives 0): meant for checks on a few windows, not for whole splits.

    Parameters
    ----------
    model : keras.Model
        See :func:`logit_function`.
    X : (n, L, 4) array-like
        One-hot windows. At an ``N`` position every base is a substitution.
    task : int, optional
        Output column; may be omitted when the model has one output.
    batch_size : int
        Mutated windows per forward pass.

    Returns
    -------
    (n, L, 4) float32
        ``logit(mutant) - logit(X)``; 0 at the observed base.
    """
    X = _check_windows(X)
    batch_size = _check_batch_size(batch_size)
    n, length, _ = X.shape
    logit = _traced(model, task, length, "logit")
    reference = _logits(logit, X, batch_size)
    rows = np.repeat(np.arange(length), 4)
    bases = np.tile(np.arange(4), length)
    out = np.empty((n, length, 4), dtype=np.float32)
    for i in range(n):
        mutants = np.repeat(X[i : i + 1], length * 4, axis=0)
        mutants[np.arange(length * 4), rows, :] = 0.0
        mutants[np.arange(length * 4), rows, bases] = 1.0
        scores = _logits(logit, mutants, batch_size)
        out[i] = (scores - reference[i]).reshape(length, 4)
        observed = X[i].astype(bool)
        out[i][observed] = 0.0
    return out
