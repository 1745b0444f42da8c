"""bionas export: the SavedModel and the ONNX file predict what the Keras model predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers_child import GOOD, write_space, write_tensors

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from bionas.search.builder import build_model

    tmp = tmp_path_factory.mktemp("export")
    space = write_space(tmp / "space.yaml")
    build_model(space, GOOD, input_length=100, n_tasks=2, seed=3).save(tmp / "model.keras")
    write_tensors(tmp / "test.npz", n=80, length=100, n_tasks=2)
    return tmp


def test_both_formats_predict_what_keras_predicts(inputs, tmp_path, cli):
    import keras
    import onnxruntime as ort
    import tensorflow as tf

    out = tmp_path / "export"
    status, _, err = cli("export", "--model", inputs / "model.keras", "--test",
                         inputs / "test.npz", "--out-dir", out, "--check", "50")  # fmt: skip
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx", "saved_model"]
    record = json.loads((out / "export.json").read_text())
    assert record["input"]["shape"] == [None, 100, 4] and record["output"]["shape"] == [None, 2]
    assert record["check_windows"] == 50
    assert max(record["max_abs_difference"].values()) <= 1e-5
    # check it here too, on windows the export never saw
    X = np.load(inputs / "test.npz")["X"][50:].astype(np.float32)
    expected = keras.saving.load_model(inputs / "model.keras", compile=False).predict(X, verbose=0)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx = session.run(None, {record["input"]["onnx_name"]: X})[0]
    np.testing.assert_allclose(onnx, expected, atol=1e-5)
    loaded = tf.saved_model.load(str(out / "saved_model"))
    saved = loaded.serve(tf.constant(X)).numpy()
    np.testing.assert_allclose(saved, expected, atol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    # a second export replaces the folder as a whole
    status, _, err = cli("export", "--model", inputs / "model.keras", "--test",
                         inputs / "test.npz", "--out-dir", out)  # fmt: skip
    assert status == 0, err
    assert json.loads((out / "export.json").read_text())["check_windows"] == 80


def test_bad_input_names_the_file_and_writes_nothing(inputs, tmp_path, cli):
    out = tmp_path / "export"
    status, _, err = cli("export", "--model", tmp_path / "missing.keras", "--test",
                         inputs / "test.npz", "--out-dir", out)  # fmt: skip
    assert status == 2 and "missing.keras" in err
    short = tmp_path / "short.npz"
    write_tensors(short, n=10, length=60, n_tasks=2)
    status, _, err = cli("export", "--model", inputs / "model.keras", "--test", short,
                         "--out-dir", out)  # fmt: skip
    assert status == 2 and "short.npz" in err
    assert not out.exists() and not list(tmp_path.glob(".export*"))
