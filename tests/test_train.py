"""Tests for bionas.search.train: tensor checks, training, reproducibility, records and cache."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers_child import BIG, GOOD, make_tensors, write_space, write_tensors

from bionas.errors import InputError
from bionas.records.tensors import check_pair, load_tensors
from bionas.records.tensors import write_tensors as write_encoded
from bionas.records.train_result import TrainSettings, json_safe
from bionas.search.cache import cache_key, cache_lookup, cache_store
from bionas.search.train import batches, configure_tensorflow, train_child

FAST = TrainSettings(epochs=3, batch_size=32, learning_rate=0.01)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    space = write_space(tmp / "space.yaml")
    train = load_tensors(write_tensors(tmp / "train.npz", n=240, seed=1))
    val = load_tensors(write_tensors(tmp / "val.npz", n=100, seed=2))
    return space, train, val


# -- tensors -----------------------------------------------------------------


def _save(path: Path, **changes):
    arrays = make_tensors(n=20)
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_load_tensors_reads_encode_output(tmp_path):
    t = load_tensors(write_tensors(tmp_path / "a.npz", n=30, n_tasks=2))
    assert t.X.shape == (30, 100, 4) and t.X.dtype == np.uint8
    assert t.y.shape == (30, 2) and t.tasks == ("task0", "task1")
    assert t.length == 100 and t.n_tasks == 2 and len(t.sha256) == 64


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"y": None}, "y", "missing array 'y'"),
        ({"regions": None}, "regions", "missing array"),
        ({"X": np.zeros((20, 100, 4), dtype=np.float32)}, "X", "uint8"),
        ({"X": np.zeros((20, 100, 5), dtype=np.uint8)}, "X", "uint8"),
        ({"X": np.full((20, 100, 4), 2, dtype=np.uint8)}, "X", "0 or 1"),
        ({"y": np.zeros((20, 1), dtype=np.float64)}, "y", "float32"),
        ({"y": np.zeros((19, 1), dtype=np.float32)}, "y", "n=20"),
        ({"y": np.full((20, 1), 0.5, dtype=np.float32)}, "y", "0 or 1"),
        ({"tasks": np.array(["a", "b"])}, "tasks", "1 task names"),
        ({"tasks": np.array([1])}, "tasks", "task names"),
        ({"regions": np.array(["x"])}, "regions", "20 region names"),
    ],
)
def test_bad_tensors_name_file_and_key(tmp_path, changes, key, message):
    path = _save(tmp_path / "bad.npz", **changes)
    with pytest.raises(InputError, match=message) as info:
        load_tensors(path)
    assert info.value.path == str(path) and info.value.key == key
    assert "rerun `bionas encode`" in str(info.value)


def test_unreadable_tensor_files(tmp_path):
    good = write_tensors(tmp_path / "good.npz", n=50)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "text.npz"
    text.write_text("not an archive\n")
    npy = tmp_path / "plain.npz"
    with open(npy, "wb") as handle:
        np.save(handle, np.zeros(3))
    for path in (cut, text, npy):
        with pytest.raises(InputError, match="rerun `bionas encode`") as info:
            load_tensors(path)
        assert info.value.path == str(path)
    with pytest.raises(InputError, match="not found"):
        load_tensors(tmp_path / "missing.npz")


def test_check_pair(tmp_path):
    a = load_tensors(write_tensors(tmp_path / "a.npz", n=10))
    check_pair(a, load_tensors(write_tensors(tmp_path / "b.npz", n=12, seed=5)))
    with pytest.raises(InputError, match="sequence length 80 differs") as info:
        check_pair(a, load_tensors(write_tensors(tmp_path / "c.npz", n=10, length=80)))
    assert info.value.key == "X"
    with pytest.raises(InputError, match="tasks") as info:
        check_pair(a, load_tensors(write_tensors(tmp_path / "d.npz", n=10, n_tasks=2)))
    assert info.value.key == "tasks"


# -- settings, records, cache --------------------------------------------------


def test_settings_are_checked():
    with pytest.raises(ValueError, match="learning_rate"):
        TrainSettings(learning_rate=math.inf)
    with pytest.raises(ValueError, match="epochs"):
        TrainSettings(epochs=0)


def test_cache_key_changes_with_every_setting():
    base = cache_key("arch", "t", "v", TrainSettings())
    assert base == cache_key("arch", "t", "v", TrainSettings())
    keys = {base, cache_key("other", "t", "v", TrainSettings())}
    keys.add(cache_key("arch", "t2", "v", TrainSettings()))
    keys.add(cache_key("arch", "t", "v2", TrainSettings()))
    for f in dataclasses.fields(TrainSettings):
        value = getattr(TrainSettings(), f.name)
        keys.add(
            cache_key(
                "arch", "t", "v", dataclasses.replace(TrainSettings(), **{f.name: value * 2 + 1})
            )
        )
    assert len(keys) == 4 + len(dataclasses.fields(TrainSettings))


def test_json_safe_turns_nan_into_null():
    obj = json_safe({"a": math.nan, "b": [1.0, math.inf, np.float32(2.5)], "c": {"d": -math.inf}})
    assert obj == {"a": None, "b": [1.0, None, 2.5], "c": {"d": None}}
    json.dumps(obj, allow_nan=False)


def test_cache_store_and_lookup(tmp_path):
    cache = tmp_path / "cache"
    model = tmp_path / "model.keras"
    model.write_bytes(b"weights")
    assert cache_lookup(cache, "k1") is None
    cache_store(cache, "k1", {"status": "ok", "cache_key": "k1"}, model)
    assert cache_lookup(cache, "k1") == {"status": "ok", "cache_key": "k1"}
    assert (cache / "k1" / "model.keras").read_bytes() == b"weights"
    cache_store(cache, "k1", {"status": "ok", "cache_key": "k1", "x": 1}, model)  # first one wins
    assert "x" not in cache_lookup(cache, "k1")
    cache_store(cache, "k2", {"status": "failed", "cache_key": "k2"}, None)
    assert cache_lookup(cache, "k2")["status"] == "failed"
    assert sorted(p.name for p in cache.iterdir()) == ["k1", "k2"]  # no temporary directories
    (cache / "k3").mkdir()
    (cache / "k3" / "train.json").write_text('{"status": "ok", "cache_key": "k3"}')
    assert cache_lookup(cache, "k3") is None  # ok without a model: incomplete
    (cache / "k4").mkdir()
    (cache / "k4" / "train.json").write_text('{"status": "ok", "cac')
    assert cache_lookup(cache, "k4") is None


# -- training ----------------------------------------------------------------


def test_too_many_params_fails_without_training(data):
    space, train, val = data
    result = train_child(space, BIG, train, val, dataclasses.replace(FAST, max_params=1000))
    assert result.status == "failed" and result.stop_reason == "params"
    assert "6617 parameters" in result.error and result.epochs == 0 and result.model is None


class _FakeModel:
    def __init__(self):
        self.stop_training = False
        self.step = 0

    def get_weights(self):
        return [self.step]


def test_monitor_early_stopping_and_best_epoch():
    _, keras = configure_tensorflow(1, 0)
    from bionas.search.train import _make_monitor

    monitor = _make_monitor(keras, patience=2, max_seconds=1e9, start=0.0)
    model = _FakeModel()
    monitor.set_model(model)
    for epoch, val_loss in enumerate([0.5, 0.4, 0.45, 0.46, 0.3]):
        model.step = epoch
        monitor.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
        if model.stop_training:
            break
    assert (monitor.epochs_run, monitor.best_epoch, monitor.best) == (4, 2, 0.4)
    assert monitor.best_weights == [1] and monitor.stop_reason == "early_stopping"

    monitor = _make_monitor(keras, patience=0, max_seconds=1e9, start=0.0)
    monitor.set_model(_FakeModel())
    for epoch in range(5):
        monitor.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0 + epoch})
    assert not monitor.model.stop_training and monitor.best_epoch == 1  # patience 0: never stops

    monitor = _make_monitor(keras, patience=5, max_seconds=1e9, start=0.0)
    monitor.set_model(_FakeModel())
    monitor.on_train_batch_end(3, {"loss": math.nan})
    assert monitor.model.stop_training and monitor.stop_reason == "nan" and "batch 4" in monitor.nan

    monitor = _make_monitor(keras, patience=5, max_seconds=0.001, start=0.0)
    monitor.set_model(_FakeModel())
    monitor.on_train_batch_end(0, {"loss": 0.5})
    assert monitor.model.stop_training and monitor.stop_reason == "time"


class _RestorableModel(_FakeModel):
    def set_weights(self, weights):
        self.step = weights[0]


def test_monitor_restores_the_best_epoch_whatever_ends_training():
    _, keras = configure_tensorflow(1, 0)
    from bionas.search.train import _make_monitor

    # ended by the epochs (patience never reached): the best epoch's weights come back
    monitor = _make_monitor(keras, patience=5, max_seconds=1e9, start=0.0)
    model = _RestorableModel()
    monitor.set_model(model)
    monitor.on_train_begin()
    assert monitor.best_epoch is None
    for epoch, val_loss in enumerate([0.5, 0.3, 0.4]):
        model.step = epoch
        monitor.on_epoch_begin(epoch)
        monitor.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
    monitor.on_train_end()
    assert not model.stop_training and monitor.stop_reason == "epochs"
    assert (monitor.best_epoch, monitor.best, model.step) == (2, 0.3, 1)
    assert isinstance(monitor.best, float) and monitor.val_loss == [0.5, 0.3, 0.4]

    # a non-finite validation loss is NaN, even in the first epoch, and keeps the weights
    monitor = _make_monitor(keras, patience=5, max_seconds=1e9, start=0.0)
    model = _RestorableModel()
    monitor.set_model(model)
    monitor.on_train_begin()
    model.step = 7
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": math.inf})
    monitor.on_train_end()
    assert model.stop_training and monitor.stop_reason == "nan" and "val_loss inf" in monitor.nan
    assert monitor.best_epoch is None and model.step == 7

    # the time cap wins over early stopping in the same epoch
    monitor = _make_monitor(keras, patience=1, max_seconds=0.001, start=0.0)
    monitor.set_model(_RestorableModel())
    monitor.on_train_begin()
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.5})
    monitor.on_epoch_end(1, {"loss": 1.0, "val_loss": 0.6})
    assert monitor.stopped_epoch == 1 and monitor.stop_reason == "time"


@pytest.mark.training
def test_training_restores_best_epoch_and_is_reproducible(data, caplog):
    space, train, val = data
    settings = dataclasses.replace(FAST, epochs=4, patience=0)
    with caplog.at_level("INFO", logger="bionas.search.train"):
        a = train_child(space, GOOD, train, val, settings)
    assert a.status == "ok" and a.epochs == 4 and a.stop_reason == "epochs"
    # one log line per epoch, as it ends: epoch, loss, val_loss, seconds
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == 4
    for i, line in enumerate(lines):
        loss, val_loss = a.history["loss"][i], a.history["val_loss"][i]
        assert line.startswith(f"epoch {i + 1}: loss {loss:.4f} val_loss {val_loss:.4f} (")
        assert line.endswith(" s)")
    assert a.val_loss == min(a.history["val_loss"])
    assert a.history["val_loss"][a.best_epoch - 1] == a.val_loss
    restored = a.model.evaluate(val.X, val.y, batch_size=settings.batch_size, verbose=0)
    assert restored == pytest.approx(a.val_loss, rel=1e-5)
    assert a.val_auroc > 0.8 and set(a.per_task) == {"task0"}
    b = train_child(space, GOOD, train, val, settings)
    assert b.history == a.history and b.val_auroc == a.val_auroc
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    c = train_child(space, GOOD, train, val, dataclasses.replace(settings, seed=2))
    assert c.history != a.history



def _mapped(tensors, path: Path):
    """``tensors`` rewritten the way encode writes them, loaded as a memory map."""
    with np.load(tensors.path) as npz:
        arrays = {k: npz[k] for k in ("X", "y", "tasks", "regions")}
    write_encoded(path, kind=np.array(["peak"] * len(arrays["X"])), **arrays)
    mapped = load_tensors(path)
    assert mapped.mapped and isinstance(mapped.X, np.memmap)
    return mapped


def test_batches_from_a_memory_map_equal_those_from_a_tensor(data, tmp_path):
    _, train, _ = data
    tf, _ = configure_tensorflow(1, 0)
    mapped = _mapped(train, tmp_path / "train.npz")
    for seed in (None, 7):
        pa = batches(tf, tf.convert_to_tensor(train.X), train.y, 32, seed=seed)
        pb = batches(tf, mapped.X, mapped.y, 32, seed=seed)
        for _ in range(2):  # a new order every epoch, the same for both
            a, b = list(pa), list(pb)
            assert len(a) == len(b) == math.ceil(len(train.X) / 32)
            for (xa, ya), (xb, yb) in zip(a, b, strict=True):
                assert xb.dtype == tf.float32 and xb.shape[1:] == (100, 4)
                np.testing.assert_array_equal(xa.numpy(), xb.numpy())
                np.testing.assert_array_equal(ya.numpy(), yb.numpy())


@pytest.mark.training
def test_training_from_a_memory_map_is_bit_identical(data, tmp_path):
    """A mapped X trains exactly as the same X in memory, and does so again."""
    space, train, val = data
    settings = dataclasses.replace(FAST, epochs=2, patience=0)
    mtrain, mval = _mapped(train, tmp_path / "train.npz"), _mapped(val, tmp_path / "val.npz")
    a = train_child(space, GOOD, train, val, settings)
    b = train_child(space, GOOD, mtrain, mval, settings)
    c = train_child(space, GOOD, mtrain, mval, settings)
    assert a.history == b.history == c.history and a.val_auroc == b.val_auroc
    for wa, wb, wc in zip(
        a.model.get_weights(), b.model.get_weights(), c.model.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(wb, wc)


_SUBPROCESS = """
import json, sys
sys.path.insert(0, {tests!r})
from helpers_child import GOOD
from bionas.records.space import load_space
from bionas.records.tensors import load_tensors
from bionas.records.train_result import TrainSettings
from bionas.search.train import train_child
space = load_space({space!r})
r = train_child(space, GOOD, load_tensors({train!r}), load_tensors({val!r}),
                TrainSettings(epochs=2, batch_size=32, learning_rate=0.01))
print(json.dumps({{"history": r.history, "kernel": r.model.get_weights()[0].tobytes().hex()}}))
"""


@pytest.mark.training
def test_training_is_reproducible_across_processes(data):
    """Two fresh processes (so both set their thread pools to 1) give identical bits."""
    space, train, val = data
    code = _SUBPROCESS.format(
        tests=str(Path(__file__).parent),
        space=space.source,
        train=str(train.path),
        val=str(val.path),
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1]
    assert len(outputs[0]["history"]["val_loss"]) == 2


@pytest.mark.training
def test_huge_learning_rate_fails_as_nan(data):
    space, train, val = data
    result = train_child(space, GOOD, train, val, dataclasses.replace(FAST, learning_rate=1e30))
    assert result.status == "failed" and result.stop_reason == "nan" and result.cacheable
    assert "cannot train" in result.error and result.model is None
