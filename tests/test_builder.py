"""Tests for bionas.search.builder: every option type builds, names and weight counts are stable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_child import BIG, GOOD, write_space

from bionas.io import atomic_path
from bionas.records.space import PARAMS, load_space, parse_space
from bionas.search.builder import (
    FIRST_CONV,
    HEAD,
    INPUT,
    MODEL_NAME,
    build_model,
    count_params,
    first_conv_layer,
    first_conv_weights,
    plan,
    read_first_conv_weights,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return write_space(tmp_path_factory.mktemp("builder") / "space.yaml")


def test_space_covers_every_option_type(space):
    types = {o.type for layer in space.layers for o in layer.options}
    assert types == set(PARAMS)


def test_every_architecture_builds_with_matching_param_count(space):
    for names in space.architectures():
        model = build_model(space, names, input_length=100, n_tasks=3, seed=0)
        assert model.name == MODEL_NAME
        assert tuple(model.output.shape) == (None, 3)
        assert model.count_params() == count_params(space, names, 100, 3), names
        assert first_conv_weights(model).shape == (
            (10, 4, 16) if names[0] == "conv_k10_f16" else (6, 4, 8)
        )
        expected_names = [INPUT] + [p.name for p in plan(space, names, 100, 3)]
        assert [layer.name for layer in model.layers] == expected_names


def test_layer_names_and_shapes(space):
    planned = plan(space, BIG, 100, 2)
    assert [p.name for p in planned] == [FIRST_CONV, "l2_reduce", "l3_extra", HEAD]
    assert [p.shape for p in planned] == [(100, 8), (800,), (8,), (2,)]
    assert [p.params for p in planned] == [6 * 4 * 8 + 8, 0, 800 * 8 + 8, 8 * 2 + 2]


def test_options_map_to_keras_parameters(space):
    model = build_model(space, ("conv_k6_same", "avg3s2", "gavg", "bn"), 100, 1)
    conv = first_conv_layer(model)
    assert conv.kernel_size == (6,) and conv.dilation_rate == (2,) and conv.padding == "same"
    pool = model.get_layer("l1_pool")
    assert pool.pool_size == (3,) and pool.strides == (2,)
    assert tuple(pool.output.shape) == (None, 49, 8)
    dense = build_model(space, ("conv_k10_f16", "none", "gmax", "dense_8"), 100, 1)
    assert dense.get_layer("l3_extra").activation.__name__ == "tanh"
    assert dense.get_layer(HEAD).activation.__name__ == "sigmoid"


def test_seed_fixes_initial_weights(space):
    a = build_model(space, GOOD, 100, 1, seed=7)
    b = build_model(space, GOOD, 100, 1, seed=7)
    c = build_model(space, GOOD, 100, 1, seed=8)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(first_conv_weights(a), first_conv_weights(c))


def test_uint8_input_is_accepted(space):
    model = build_model(space, GOOD, 100, 1, seed=0)
    x = np.zeros((2, 100, 4), dtype=np.uint8)
    x[:, :, 0] = 1
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out, model.predict(x.astype(np.float32), verbose=0))


def test_too_short_input_is_a_value_error(space):
    with pytest.raises(ValueError, match="no sequence positions"):
        count_params(space, GOOD, 5, 1)


def test_default_space_param_counts():
    space = load_space(REPO / "config" / "model_space.yaml", window=200)
    counts = {names: count_params(space, names, 200, 1) for names in space.architectures()}
    assert len(counts) == space.size
    # conv 14 x 4 x 32 + 32, global max pool, dense 16, head
    assert counts[("conv_k14_f32", "none", "gmax", "drop_0.2", "dense_16")] == (
        14 * 4 * 32 + 32 + 32 * 16 + 16 + 16 + 1
    )
    for names in list(counts)[::43]:  # a spread of them, built for real
        assert build_model(space, names, 200, 1).count_params() == counts[names]


def test_read_first_conv_weights_from_file(tmp_path, monkeypatch):
    """Two convolutions with kernels of one shape: the file reader must pick conv1."""
    space = parse_space(
        {
            "layers": [
                {
                    "name": "a",
                    "options": [{"name": "c", "type": "conv1d", "filters": 4, "kernel_size": 5}],
                },
                {
                    "name": "b",
                    "options": [{"name": "c2", "type": "conv1d", "filters": 4, "kernel_size": 5}],
                },
                {"name": "r", "options": [{"name": "g", "type": "global_max_pool"}]},
            ]
        }
    )
    model = build_model(space, ("c", "c2", "g"), 50, 1, seed=3)
    path = tmp_path / "m.keras"
    with atomic_path(path) as tmp:
        model.save(tmp)
    expected = first_conv_weights(model)
    assert not np.array_equal(expected, model.get_layer("l1_b").get_weights()[0])
    np.testing.assert_array_equal(read_first_conv_weights(path), expected)
    # without TensorFlow in a fresh process
    code = (
        "import sys; from bionas.search.builder import read_first_conv_weights; "
        f"k = read_first_conv_weights({str(path)!r}); "
        "assert 'tensorflow' not in sys.modules; print(k.sum())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) == pytest.approx(float(expected.sum()), rel=1e-6)
    # the Keras fallback gives the same kernel
    import bionas.search.builder

    monkeypatch.setattr(bionas.search.builder, "_kernel_from_h5", lambda p: None)
    np.testing.assert_array_equal(read_first_conv_weights(path), expected)
