"""The final model in formats other tools read: a TensorFlow SavedModel and ONNX.

:func:`export_model` writes, into one folder:

``saved_model/``
    A TensorFlow SavedModel (Keras ``model.export(format="tf_saved_model")``):
    ``tf.saved_model.load(path).serve(x)`` or TF Serving, no Keras needed.
``model.onnx``
    ONNX (Keras ``model.export(format="onnx")``, through tf2onnx): ONNX
    Runtime, or any ONNX tool.
``export.json``
    The input (name, shape ``(batch, width, 4)``, one-hot ACGT float32) and
    output (one sigmoid per task) of both, and how far each format's
    predictions are from Keras's on the check windows (largest absolute
    difference; the export is refused above :data:`TOLERANCE`).

The folder is written under a temporary name and renamed when complete, so a
killed export leaves no half-written folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bionas.errors import InputError

#: Largest absolute difference from Keras's predictions an exported format may show.
TOLERANCE = 1e-5


def _onnx_predict(path: Path, X: np.ndarray) -> tuple[np.ndarray, str]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: X})[0]), name


def _saved_model_predict(path: Path, X: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept alive: its variables back the function
    return np.asarray(loaded.serve(tf.constant(X)))


def export_model(model: Any, out_dir: str | os.PathLike, check: np.ndarray) -> dict[str, Any]:
    """Write the SavedModel, the ONNX file and ``export.json`` (module docstring) into ``out_dir``.

    Parameters
    ----------
    model : keras.Model
        The model (its input ``(None, width, 4)``).
    out_dir : path
        Replaced as a whole when it exists.
    check : (n, width, 4) array
        Windows both formats must predict as Keras does (within :data:`TOLERANCE`).

    Returns
    -------
    dict
        What ``export.json`` holds.

    Raises
    ------
    InputError
        A format predicts differently from Keras (nothing is written).
    """
    from bionas.io import output_dir, remove_dead_temps, temp_prefix

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; expected the export folder", out)
    output_dir(out.parent)
    X = np.ascontiguousarray(check, dtype=np.float32)
    expected = np.asarray(model.predict(X, verbose=0))
    remove_dead_temps(out)  # left by an export killed with SIGKILL
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), dir=out.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's numpy checks
            model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
            model.export(str(tmp / "model.onnx"), format="onnx", verbose=False)
        onnx, onnx_input = _onnx_predict(tmp / "model.onnx", X)
        saved = _saved_model_predict(tmp / "saved_model", X)
        diffs = {
            "onnx": float(np.abs(onnx - expected).max()),
            "saved_model": float(np.abs(saved - expected).max()),
        }
        worst = max(diffs, key=diffs.get)
        if diffs[worst] > TOLERANCE:
            raise InputError(
                f"the {worst} export predicts up to {diffs[worst]:.2g} away from the Keras model "
                f"(allowed {TOLERANCE:g}); not written",
                out,
            )
        record = {
            "input": {
                "shape": [None, int(X.shape[1]), 4],
                "dtype": "float32",
                "encoding": "one-hot, columns A, C, G, T",
                "onnx_name": onnx_input,
            },
            "output": {"shape": [None, int(expected.shape[1])], "meaning": "sigmoid per task"},
            "check_windows": int(X.shape[0]),
            "max_abs_difference": diffs,
            "tolerance": TOLERANCE,
            "files": {"saved_model": "saved_model/", "onnx": "model.onnx"},
        }
        from bionas.io import write_json

        write_json(tmp / "export.json", record)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return record
