"""Architecture -> Keras model.

A child model is::

    Input "onehot" (L, 4) float32
      -> one Keras layer per chosen option (identity options add nothing)
      -> Dense(n_tasks, sigmoid) "head"

Layer 0 of a space is always a ``conv1d`` on the one-hot input; its Keras
layer is named :data:`FIRST_CONV` (``"conv1"``) whatever the space calls it,
and :func:`first_conv_weights` reads its kernel. The other Keras layers are
named ``l<i>_<space layer name>`` (``i`` the 0-based layer index), so names are
stable for a given space and architecture. The input may be fed as uint8
one-hot; Keras casts it to float32.

:func:`count_params` computes the number of weights from the shapes alone,
without importing TensorFlow, so a parameter limit is checked before anything
is built; it equals ``build_model(...).count_params()`` (trainable and
non-trainable weights, batch-norm moving statistics included).

Keras is imported inside the functions that need it, so importing this module
stays cheap; :func:`read_first_conv_weights` reads the kernel from a saved
``.keras`` file without TensorFlow when it can.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bionas.records.space import ModelSpace, Option

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Keras name of the first convolution (the layer the knowledge term reads).
FIRST_CONV = "conv1"
#: Keras name of the output layer.
HEAD = "head"
#: Keras name of the input.
INPUT = "onehot"
#: Keras name of every child model.
MODEL_NAME = "bionas_child"


@dataclass(frozen=True)
class PlannedLayer:
    """One Keras layer of a child: its name, option, output shape and weight count.

    ``shape`` is ``(length, channels)`` for a sequence or ``(units,)`` once flat.
    """

    name: str
    option: Option | None  # None for the head
    shape: tuple[int, ...]
    params: int


def _keras_name(index: int, layer_name: str) -> str:
    if index == 0:
        return FIRST_CONV
    return f"l{index}_" + re.sub(r"[^A-Za-z0-9_.-]", "_", layer_name)


def plan(
    space: ModelSpace, layer_names: Sequence[str], input_length: int, n_tasks: int
) -> list[PlannedLayer]:
    """The Keras layers a child will have, with shapes and weight counts, without Keras.

    Parameters
    ----------
    space : ModelSpace
    layer_names : sequence of str
        One option name per layer of ``space``.
    input_length : int
        L, the sequence length in bp.
    n_tasks : int
        Number of sigmoid outputs.

    Returns
    -------
    list of PlannedLayer
        In order, identity options left out, the head last.

    Raises
    ------
    InputError
        If an option name is not in the space.
    ValueError
        If the architecture leaves no sequence positions or never becomes flat
        (a space loaded with ``window=input_length`` rules both out).
    """
    if input_length < 1 or n_tasks < 1:
        raise ValueError(f"need input_length >= 1 and n_tasks >= 1, got {input_length}, {n_tasks}")
    shape: tuple[int, ...] = (input_length, 4)
    out: list[PlannedLayer] = []
    for index, (layer, option) in enumerate(space.resolve(layer_names)):
        p = option.params
        kind = option.type
        params = 0
        if kind == "identity":
            continue
        if kind in (
            "conv1d",
            "maxpool1d",
            "avgpool1d",
            "flatten",
            "global_max_pool",
            "global_avg_pool",
        ):
            if len(shape) != 2:
                raise ValueError(
                    f"{option.name!r} ({kind}) needs a sequence input, got shape {shape}"
                )
        length, channels = (shape[0], shape[1]) if len(shape) == 2 else (None, shape[0])
        if kind == "conv1d":
            if p["padding"] == "same":
                new_length = length
            else:
                new_length = length - p["dilation"] * (p["kernel_size"] - 1)
            params = p["kernel_size"] * channels * p["filters"] + p["filters"]
            shape = (new_length, p["filters"])
        elif kind in ("maxpool1d", "avgpool1d"):
            new_length = (length - p["size"]) // p["stride"] + 1 if length >= p["size"] else 0
            shape = (new_length, channels)
        elif kind == "flatten":
            shape = (length * channels,)
        elif kind in ("global_max_pool", "global_avg_pool"):
            shape = (channels,)
        elif kind == "dense":
            params = channels * p["units"] + p["units"]
            shape = (*shape[:-1], p["units"])
        elif kind == "batch_norm":
            params = 4 * channels  # gamma, beta, moving mean, moving variance
        elif kind == "dropout":
            pass
        else:  # pragma: no cover - space.PARAMS and this list must agree
            raise ValueError(f"no builder for option type {kind!r}")
        if len(shape) == 2 and shape[0] < 1:
            raise ValueError(
                f"the architecture {' -> '.join(layer_names)} leaves no sequence positions "
                f"for an input of {input_length} bp at {option.name!r}"
            )
        out.append(PlannedLayer(_keras_name(index, layer.name), option, shape, params))
    if len(shape) != 1:
        raise ValueError(
            f"the architecture {' -> '.join(layer_names)} never reduces the sequence axis"
        )
    out.append(PlannedLayer(HEAD, None, (n_tasks,), shape[0] * n_tasks + n_tasks))
    return out


def count_params(
    space: ModelSpace, layer_names: Sequence[str], input_length: int, n_tasks: int
) -> int:
    """Number of weights of the child model, computed from shapes (no TensorFlow).

    Equals ``build_model(space, layer_names, input_length, n_tasks).count_params()``.
    """
    return sum(layer.params for layer in plan(space, layer_names, input_length, n_tasks))


def _keras_layer(planned: PlannedLayer, seed: int | None, index: int):
    import keras

    option = planned.option
    p = option.params
    name = planned.name
    layer_seed = None if seed is None else int(seed) * 1000 + index

    def glorot():
        return keras.initializers.GlorotUniform(seed=layer_seed)

    kind = option.type
    if kind == "conv1d":
        return keras.layers.Conv1D(
            filters=p["filters"],
            kernel_size=p["kernel_size"],
            activation=p["activation"],
            dilation_rate=p["dilation"],
            padding=p["padding"],
            kernel_initializer=glorot(),
            name=name,
        )
    if kind == "maxpool1d":
        return keras.layers.MaxPooling1D(pool_size=p["size"], strides=p["stride"], name=name)
    if kind == "avgpool1d":
        return keras.layers.AveragePooling1D(pool_size=p["size"], strides=p["stride"], name=name)
    if kind == "flatten":
        return keras.layers.Flatten(name=name)
    if kind == "global_max_pool":
        return keras.layers.GlobalMaxPooling1D(name=name)
    if kind == "global_avg_pool":
        return keras.layers.GlobalAveragePooling1D(name=name)
    if kind == "dense":
        return keras.layers.Dense(
            p["units"], activation=p["activation"], kernel_initializer=glorot(), name=name
        )
    if kind == "dropout":
        return keras.layers.Dropout(p["rate"], seed=layer_seed, name=name)
    if kind == "batch_norm":
        return keras.layers.BatchNormalization(name=name)
    raise ValueError(f"no builder for option type {kind!r}")  # pragma: no cover


def build_model(
    space: ModelSpace,
    layer_names: Sequence[str],
    input_length: int,
    n_tasks: int,
    seed: int | None = None,
) -> keras.Model:
    """Build (not compile) the Keras model of one architecture.

    Parameters
    ----------
    space : ModelSpace
    layer_names : sequence of str
        One option name per layer of ``space``.
    input_length : int
        L; the model takes ``(batch, L, 4)`` one-hot (float32, or uint8 cast by Keras).
    n_tasks : int
        Sigmoid outputs of the head, one per task.
    seed : int, optional
        Seeds every kernel initializer and dropout layer, so the initial
        weights do not depend on the global random state. Without it they come
        from Keras' global seed (``keras.utils.set_random_seed``).

    Returns
    -------
    keras.Model
        Named :data:`MODEL_NAME`; output ``(batch, n_tasks)`` probabilities.
    """
    import keras

    layers = plan(space, layer_names, input_length, n_tasks)
    inputs = keras.Input(shape=(input_length, 4), dtype="float32", name=INPUT)
    x = inputs
    for index, planned in enumerate(layers[:-1]):
        x = _keras_layer(planned, seed, index)(x)
    head_seed = None if seed is None else int(seed) * 1000 + len(layers)
    outputs = keras.layers.Dense(
        n_tasks,
        activation="sigmoid",
        kernel_initializer=keras.initializers.GlorotUniform(seed=head_seed),
        name=HEAD,
    )(x)
    return keras.Model(inputs, outputs, name=MODEL_NAME)


def first_conv_layer(model: keras.Model):
    """The first convolution of a child model (the layer named :data:`FIRST_CONV`)."""
    return model.get_layer(FIRST_CONV)


def first_conv_weights(model: keras.Model) -> np.ndarray:
    """Kernel of the first convolution.

    Returns
    -------
    (width, 4, n_filters) float32 array
        Channels in A, C, G, T order (the one-hot order).
    """
    kernel = np.asarray(first_conv_layer(model).get_weights()[0], dtype=np.float32)
    if kernel.ndim != 3 or kernel.shape[1] != 4:
        raise ValueError(f"expected a (width, 4, n_filters) kernel, got shape {kernel.shape}")
    return kernel


def _kernel_from_h5(path: str | os.PathLike) -> np.ndarray | None:
    """The first-convolution kernel straight from a ``.keras`` zip, or None if not found.

    Keras 3 stores a layer's variables in ``model.weights.h5`` under
    ``layers/<key>/vars/<i>`` and the layer's name in the ``vars`` group's
    ``name`` attribute; the kernel is variable 0.
    """
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py ships with Keras
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read("model.weights.h5")
        with h5py.File(io.BytesIO(data), "r") as h5:
            matches = [
                group
                for group in h5["layers"].values()
                if "vars" in group and group["vars"].attrs.get("name") == FIRST_CONV
            ]
            if len(matches) != 1 or "0" not in matches[0]["vars"]:
                return None
            kernel = np.asarray(matches[0]["vars"]["0"], dtype=np.float32)
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None
    if kernel.ndim != 3 or kernel.shape[1] != 4:
        return None
    return kernel


def read_first_conv_weights(path: str | os.PathLike) -> np.ndarray:
    """Kernel of the first convolution of a saved child model (``.keras``).

    Read from the file's HDF5 weights without importing TensorFlow; if that
    layout is not found, the model is loaded with Keras (whose errors on an
    unreadable file propagate: ``ValueError``, ``OSError``, ``zipfile.BadZipFile``...).

    Returns
    -------
    (width, 4, n_filters) float32 array
    """
    kernel = _kernel_from_h5(path)
    if kernel is not None:
        return kernel
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return first_conv_weights(keras.saving.load_model(path, compile=False))
