"""Property-based tests of the readers of intermediate files.

The files between stages (an architecture JSON and a step's proposals.json,
train.json, metrics.json, a controller state, the windows table and the .npz
tensors) are written by bionas, but a killed job, a full disk, a hand edit or
a stale file from another run can leave them damaged. Every reader must then
raise :class:`InputError` naming the file (and the key, where there is one)
and saying what to delete or rerun; a file it accepts must hold what its
writer could have written. Any other exception is a bug in bionas.

Each JSON reader is checked against an oracle: ``*_problems(obj)`` lists the
keys that break the file's contract, so a file with one key changed must be
accepted exactly when the oracle finds nothing, and otherwise rejected with
one of the keys the oracle names.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_fuzz_parsers import (
    FASTA_RECORDS,
    FUZZ,
    NASTY_VALUES,
    SCALE,
    SPACE,
    VARIANTS,
    WHOLE_FILES,
    damaged,
    fasta_text,
    mutated,
    variant,
    written,
)

from bionas.data.genome import Genome
from bionas.errors import InputError
from bionas.io import save_npz
from bionas.records.architecture import make_architecture, read_architecture
from bionas.records.metrics import METRICS_KEYS, read_metrics
from bionas.records.tensors import load_tensors
from bionas.records.train_result import TRAIN_KEYS, read_train_result
from bionas.records.windows import (
    KINDS,
    SPLITS,
    WINDOW_COLUMNS,
    genome_index_sha256,
    read_windows,
)
from bionas.search.strategies import get_controller, load_controller

FEW = settings(FUZZ, max_examples=40 * SCALE)
ARCHS = list(SPACE.architectures())


# --------------------------------------------------------------------------
# shared pieces


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v) -> bool:
    if not _number(v):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float's range
        return False


def _count(v) -> bool:
    return _int(v) and v >= 0


def _in_space(layers) -> bool:
    if not isinstance(layers, list) or not all(isinstance(n, str) for n in layers):
        return False
    return tuple(layers) in set(ARCHS)


#: values a hand edit, a bug or another version could leave under a JSON key
JSON_VALUES = st.one_of(
    NASTY_VALUES,
    st.sampled_from(
        [
            10**400,
            -(10**400),
            1e308,
            -1e-320,
            -0.0,
            -1,
            2**63,
            2**64 + 1,
            "ok",
            "failed",
            "model.keras",
            "../model.keras",
            "/etc/hostname",
            "a\x00b",
            "model.keras\n",
            "é中",
            "\ufeff",
            [],
            {},
            [None],
            [[]],
            [{}],
            ["ca"],
            ["gmax", "ca"],
            ["ca", "gmax", "gmax"],
            *[list(a) for a in ARCHS],
            *[SPACE.architecture_id(a) for a in ARCHS],
        ]
    ),
)


@st.composite
def one_key_changed(draw, base: dict) -> tuple[dict, str]:
    """``base`` with one key replaced by another value or deleted, and that key."""
    obj = dict(base)
    key = draw(st.sampled_from(sorted(obj)))
    if draw(st.integers(0, 5)) == 0:
        del obj[key]
    else:
        obj[key] = draw(JSON_VALUES)
    return obj, key


@st.composite
def json_bytes(draw, obj) -> bytes:
    """``obj`` as JSON text in some layout and encoding (NaN and Infinity allowed)."""
    text = json.dumps(
        obj,
        indent=draw(st.sampled_from([None, 1, 2])),
        ensure_ascii=draw(st.booleans()),
        allow_nan=True,
    )
    return variant(text + "\n", draw(st.sampled_from(VARIANTS)))


#: text edits that only JSON numbers and nesting can make
JSON_TRAPS = [
    b"1" * 5000,  # more digits than Python converts to int
    b"-" + b"9" * 4301,
    b"1e999999",
    b"[" * 100_000,
    b"{\"a\":" * 50_000,
    b"NaN",
    b"-Infinity",
    b"\\ud800",
    b'"\\u0000"',
]


@st.composite
def damaged_json(draw, clean: st.SearchStrategy[bytes]) -> bytes:
    """Byte-level damage (see :func:`damaged`) or a JSON trap spliced in."""
    if draw(st.booleans()):
        return draw(damaged(clean))
    data = bytearray(draw(clean))
    pos = draw(st.integers(0, len(data)))
    trap = draw(st.sampled_from(JSON_TRAPS))
    if draw(st.booleans()):
        return bytes(trap)
    data[pos:pos] = trap
    return bytes(data)


def check_error(err: InputError, path: Path, hint: str | None = "delete") -> None:
    """The error names the file and says what to do (``hint``)."""
    assert err.path == str(path), (err.path, path)
    text = str(err)
    assert str(path) in text
    if hint is not None:
        assert hint in text, text
    assert "\n" not in err.message or len(err.message) < 2000


def read_or_error(read, path: Path, hint: str | None = "delete"):
    try:
        return read(path)
    except InputError as err:
        check_error(err, path, hint)
        return err


# --------------------------------------------------------------------------
# architecture JSON and a step's proposals.json (bionas.records.architecture.read_architecture)


def arch_problems(obj) -> set:
    """Keys that break an architecture record's contract (``None``: not a record)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("layers"), list):
        return {None, "layers"}
    bad = set()
    if not _in_space(obj["layers"]):
        bad |= {"layers", *SPACE.layer_names}
    for key in ("step", "child"):
        if obj.get(key) is not None and not _count(obj[key]):
            bad.add(key)
    if not bad and obj.get("id") not in (None, SPACE.architecture_id(obj["layers"])):
        bad.add("id")
    return bad


def check_arch(result: dict, obj: dict) -> None:
    assert set(result) == {"step", "child", "layers", "id"}
    assert result["layers"] == obj["layers"]
    assert result["id"] == SPACE.architecture_id(obj["layers"])
    assert (result["step"], result["child"]) == (obj.get("step"), obj.get("child"))


ARCH_RECORD = st.builds(
    make_architecture,
    st.just(SPACE),
    st.sampled_from(ARCHS),
    st.none() | st.integers(0, 10**4),
    st.none() | st.integers(0, 99),
)


@FEW
@given(obj=ARCH_RECORD, data=st.data())
def test_architecture_reads_the_same_in_every_layout(obj, data):
    with written(data.draw(json_bytes(obj)), "architecture.json") as path:
        check_arch(read_architecture(path, SPACE), obj)


@FUZZ
@given(change=ARCH_RECORD.flatmap(one_key_changed), data=st.data())
@example(change=({"layers": ["ca", "gmax"], "step": -1}, "step"), data=None)
def test_architecture_with_a_key_changed_is_read_or_rejected_by_that_key(change, data):
    obj, key = change
    blob = json.dumps(obj, allow_nan=True).encode() if data is None else data.draw(json_bytes(obj))
    problems = arch_problems(obj)
    with written(blob, "architecture.json") as path:
        result = read_or_error(lambda p: read_architecture(p, SPACE), path)
    if problems:
        assert isinstance(result, InputError), (obj, result)
        assert result.key in problems, (result.key, problems, str(result))
    else:
        assert not isinstance(result, InputError), (obj, str(result))
        check_arch(result, obj)


PROPOSALS = st.lists(ARCH_RECORD, min_size=1, max_size=5)


@FUZZ
@given(
    proposals=PROPOSALS,
    data=st.data(),
)
def test_damaged_proposals_are_read_or_rejected(proposals, data):
    clean = json.dumps([dict(p, child=i) for i, p in enumerate(proposals)], indent=2).encode()
    blob = data.draw(damaged_json(st.just(clean)))
    index = data.draw(st.integers(0, len(proposals) - 1))
    with written(blob, "proposals.json") as path:
        result = read_or_error(lambda p: read_architecture(p, SPACE, index=index), path, hint=None)
        if isinstance(result, InputError):
            if "--index" not in result.message:
                assert "delete" in result.message, str(result)
            return
    obj = json.loads(blob.decode("utf-8-sig"))
    record = obj[index] if isinstance(obj, list) else obj
    assert not arch_problems(record)
    check_arch(result, record)


# --------------------------------------------------------------------------
# train.json (bionas.records.train_result.read_train_result)


def _model_name(v) -> bool:
    """A file name beside train.json (what child_record writes), nothing that leaves it."""
    return (
        isinstance(v, str)
        and v not in ("", ".", "..")
        and not any(c in v for c in "/\\\x00")
        and v.isprintable()
    )


TRAIN_CONTRACT = {
    "status": lambda v: v in ("ok", "failed"),
    "error": lambda v: v is None or isinstance(v, str),
    "layers": lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
    "id": lambda v: isinstance(v, str),
    "step": lambda v: v is None or _count(v),
    "child": lambda v: v is None or _count(v),
    "val_loss": lambda v: v is None or _finite(v),
    "val_auroc": lambda v: v is None or (_finite(v) and 0 <= v <= 1),
    "val_auprc": lambda v: v is None or (_finite(v) and 0 <= v <= 1),
    "epochs": _count,
    "seconds": lambda v: _finite(v) and v >= 0,
    "params": _count,
    "cached": lambda v: isinstance(v, bool),
    "model": lambda v: v is None or _model_name(v),
}


def test_the_train_contract_covers_every_key():
    assert set(TRAIN_CONTRACT) == set(TRAIN_KEYS)


def train_problems(obj) -> set:
    if not isinstance(obj, dict):
        return {None}
    bad = {k for k, ok in TRAIN_CONTRACT.items() if k not in obj or not ok(obj[k])}
    if obj.get("status") == "ok":
        if "val_loss" not in bad and not _finite(obj["val_loss"]):
            bad.add("val_loss")
        if "model" not in bad and obj["model"] is None:
            bad.add("model")
    return bad


@st.composite
def train_record(draw) -> dict:
    """A train.json as bionas.records.train_result.child_record writes it (the keys readers need and more)."""
    layers = draw(st.sampled_from(ARCHS))
    ok = draw(st.booleans())
    unit = st.none() | st.floats(0, 1)
    record = {
        "status": "ok" if ok else "failed",
        "error": None if ok else draw(st.text(max_size=30)),
        "stop_reason": "epochs" if ok else "nan",
        "layers": list(layers),
        "id": SPACE.architecture_id(layers),
        "step": draw(st.none() | st.integers(0, 50)),
        "child": draw(st.none() | st.integers(0, 50)),
        "val_loss": draw(st.floats(0, 1e6)) if ok else None,
        "val_auroc": draw(unit) if ok else None,
        "val_auprc": draw(unit) if ok else None,
        "per_task": {},
        "epochs": draw(st.integers(0, 1000)),
        "best_epoch": None,
        "seconds": draw(st.floats(0, 1e5)),
        "params": draw(st.integers(0, 10**7)),
        "cached": draw(st.booleans()),
        "cache_key": "0" * 64,
        "model": "model.keras" if ok else None,
        "seed": 1,
        "settings": {},
        "history": {"loss": [0.5], "val_loss": [0.6]},
    }
    return record


def check_train(result: dict) -> None:
    assert not train_problems(result), train_problems(result)


@FEW
@given(obj=train_record(), data=st.data())
def test_train_json_reads_the_same_in_every_layout(obj, data):
    with written(data.draw(json_bytes(obj)), "train.json") as path:
        assert read_train_result(path) == obj


@FUZZ
@given(change=train_record().flatmap(one_key_changed), data=st.data())
@example(change=({"status": "failed"} | {"val_loss": 10**400}, "val_loss"), data=None)
def test_train_json_with_a_key_changed_is_read_or_rejected_by_that_key(change, data):
    obj, key = change
    blob = json.dumps(obj, allow_nan=True).encode() if data is None else data.draw(json_bytes(obj))
    problems = train_problems(obj)
    with written(blob, "train.json") as path:
        result = read_or_error(read_train_result, path)
    if problems:
        assert isinstance(result, InputError), (obj, problems)
        assert result.key in problems, (result.key, problems, str(result))
    else:
        assert not isinstance(result, InputError), (obj, str(result))
        check_train(result)


@FUZZ
@given(blob=damaged_json(train_record().map(lambda r: json.dumps(r, indent=2).encode())))
def test_damaged_train_json_is_read_or_rejected(blob):
    with written(blob, "train.json") as path:
        result = read_or_error(read_train_result, path)
    if not isinstance(result, InputError):
        check_train(result)


# --------------------------------------------------------------------------
# metrics.json (bionas.records.metrics.read_metrics: update-controller, history)


METRICS_CONTRACT = {
    "status": lambda v: v in ("ok", "failed"),
    "layers": lambda v: isinstance(v, list) and all(isinstance(n, str) for n in v),
    "id": lambda v: isinstance(v, str),
    "step": _count,
    "child": _count,
    "val_loss": lambda v: v is None or _number(v) and not _huge(v),
    "val_auroc": lambda v: v is None or _number(v) and not _huge(v),
    "val_auprc": lambda v: v is None or _number(v) and not _huge(v),
    "knowledge": lambda v: v is None or _number(v) and not _huge(v),
    "reward": _finite,
    "epochs": lambda v: v is None or _count(v),
    "seconds": lambda v: v is None or _number(v) and not _huge(v),
    "cached": lambda v: isinstance(v, bool),
}


def _huge(v) -> bool:
    """An int that does not fit a float (the reader turns metrics into floats)."""
    try:
        float(v)
    except OverflowError:
        return True
    return False


def test_the_metrics_contract_covers_every_key():
    assert set(METRICS_CONTRACT) == set(METRICS_KEYS)


def metrics_problems(obj) -> set:
    if not isinstance(obj, dict):
        return {None}
    bad = {k for k, ok in METRICS_CONTRACT.items() if k not in obj or not ok(obj[k])}
    if "layers" not in bad and not _in_space(obj["layers"]):
        bad |= {"layers", *SPACE.layer_names}
    if not bad & {"layers", "id"} and obj["id"] != SPACE.architecture_id(obj["layers"]):
        bad.add("id")
    return bad


@st.composite
def metrics_record(draw) -> dict:
    """A metrics.json as ``bionas score-child`` writes it."""
    layers = draw(st.sampled_from(ARCHS))
    ok = draw(st.booleans())
    value = st.floats(0, 1e3)
    return {
        "status": "ok" if ok else "failed",
        "error": None if ok else "the child cannot train",
        "layers": list(layers),
        "id": SPACE.architecture_id(layers),
        "step": draw(st.integers(0, 50)),
        "child": draw(st.integers(0, 50)),
        "val_loss": draw(value) if ok else None,
        "val_auroc": draw(st.floats(0, 1)) if ok else None,
        "val_auprc": draw(st.floats(0, 1)) if ok else None,
        "knowledge": draw(value) if ok else None,
        "knowledge_per_prior": None,
        "reward": draw(st.floats(-1e3, 1e3)),
        "lambda": 1.0,
        "lambda_reg": 0.0,
        "reward_kind": "loss",
        "temperature": 0.15,
        "both_strands": True,
        "epochs": draw(st.none() | st.integers(0, 100)),
        "seconds": draw(st.none() | value),
        "params": 10,
        "cached": draw(st.booleans()),
    }


def check_metrics(result: dict, obj: dict | None = None) -> None:
    assert result["status"] in ("ok", "failed")
    assert result["layers"] in set(ARCHS)
    assert result["id"] == SPACE.architecture_id(result["layers"])
    assert _count(result["step"]) and _count(result["child"])
    assert math.isfinite(result["reward"]) and isinstance(result["reward"], float)
    for key in ("val_loss", "val_auroc", "val_auprc", "knowledge", "seconds"):
        assert isinstance(result[key], float)
        if obj is not None:
            expected = math.nan if obj[key] is None else float(obj[key])
            assert result[key] == expected or (math.isnan(expected) and math.isnan(result[key]))


@FEW
@given(obj=metrics_record(), data=st.data())
def test_metrics_json_reads_the_same_in_every_layout(obj, data):
    with written(data.draw(json_bytes(obj)), "metrics.json") as path:
        result = read_metrics(path, SPACE)
    check_metrics(result, obj)
    assert result["layers"] == tuple(obj["layers"]) and result["cached"] == obj["cached"]


@FUZZ
@given(change=metrics_record().flatmap(one_key_changed), data=st.data())
@example(change=({"reward": 10**400}, "reward"), data=None)
def test_metrics_json_with_a_key_changed_is_read_or_rejected_by_that_key(change, data):
    obj, key = change
    blob = json.dumps(obj, allow_nan=True).encode() if data is None else data.draw(json_bytes(obj))
    problems = metrics_problems(obj)
    with written(blob, "metrics.json") as path:
        result = read_or_error(lambda p: read_metrics(p, SPACE), path)
    if problems:
        assert isinstance(result, InputError), (obj, problems)
        assert result.key in problems, (result.key, problems, str(result))
    else:
        assert not isinstance(result, InputError), (obj, str(result))
        check_metrics(result, obj)


@FUZZ
@given(blob=damaged_json(metrics_record().map(lambda r: json.dumps(r, indent=2).encode())))
def test_damaged_metrics_json_is_read_or_rejected(blob):
    with written(blob, "metrics.json") as path:
        result = read_or_error(lambda p: read_metrics(p, SPACE), path)
    if not isinstance(result, InputError):
        check_metrics(result)


@pytest.mark.parametrize(
    "read, name",
    [
        (lambda p: read_architecture(p, SPACE), "architecture.json"),
        (read_train_result, "train.json"),
        (lambda p: read_metrics(p, SPACE), "metrics.json"),
        (load_tensors, "train.npz"),
        (read_windows, "windows.tsv"),
    ],
)
def test_missing_files_and_directories_are_input_errors(read, name, tmp_path):
    for path in (tmp_path / name, tmp_path):
        with pytest.raises(InputError) as info:
            read(path)
        assert info.value.path == str(path)


# --------------------------------------------------------------------------
# .npz tensors (bionas.records.tensors.load_tensors: train-child, evaluate, compare-motifs)

ENCODE = "delete it and rerun `bionas encode`"


@st.composite
def tensor_arrays(draw) -> dict[str, np.ndarray]:
    """What ``bionas encode`` writes: X (n, L, 4) uint8, y (n, tasks) float32, names."""
    n, length, n_tasks = draw(st.integers(1, 5)), draw(st.integers(1, 7)), draw(st.integers(1, 3))
    codes = draw(hnp.arrays(np.int8, (n, length), elements=st.integers(-1, 3)))
    X = np.zeros((n, length, 4), np.uint8)
    X[codes >= 0, codes[codes >= 0]] = 1
    y = draw(hnp.arrays(np.float32, (n, n_tasks), elements=st.sampled_from([0.0, 1.0])))
    names = draw(
        st.lists(st.text(min_size=1, max_size=4), min_size=n_tasks, max_size=n_tasks, unique=True)
    )
    return {
        "X": X,
        "y": y,
        "tasks": np.array(names, dtype=str),
        "regions": np.array([f"chr1:{i * length}-{(i + 1) * length}" for i in range(n)]),
        "kind": np.array(["peak"] * n),
    }


def tensor_problems(arrays: dict) -> set:
    """Keys whose arrays break the tensor contract (what load_tensors documents)."""
    bad = {key for key in ("X", "y", "tasks", "regions") if key not in arrays}
    if bad:
        return bad
    X, y, tasks, regions = (arrays[k] for k in ("X", "y", "tasks", "regions"))
    if X.dtype != np.uint8 or X.ndim != 3 or X.shape[2] != 4 or 0 in X.shape or X.max() > 1:
        return {"X"}
    n = X.shape[0]
    if y.dtype != np.float32 or y.ndim != 2 or y.shape[0] != n or y.shape[1] < 1:
        return {"y"}
    if not np.all((y == 0) | (y == 1)):
        return {"y"}
    if tasks.dtype.kind not in "US" or tasks.shape != (y.shape[1],):
        bad.add("tasks")
    else:
        try:
            names = [t.decode() if isinstance(t, bytes) else t for t in tasks.tolist()]
        except UnicodeDecodeError:
            names = None
        if names is None or len(set(names)) != len(names):
            bad.add("tasks")
    if regions.dtype.kind not in "US" or regions.shape != (n,):
        bad.add("regions")
    return bad


#: one array replaced by a wrong one: (key, how)
ARRAY_EDITS = [
    ("X", lambda a: a["X"].astype(np.float32)),
    ("X", lambda a: a["X"].astype(bool)),
    ("X", lambda a: a["X"] * 2),
    ("X", lambda a: a["X"][..., :3]),
    ("X", lambda a: a["X"][:, :, 0]),
    ("X", lambda a: a["X"][:0]),
    ("X", lambda a: a["X"][:, :0]),
    ("X", lambda a: np.uint8(1)),
    ("X", lambda a: a["X"].transpose(0, 2, 1)),
    ("y", lambda a: a["y"].astype(np.float64)),
    ("y", lambda a: a["y"].astype(np.int64)),
    ("y", lambda a: np.where(a["y"] == 1, np.float32("nan"), a["y"])),
    ("y", lambda a: a["y"] + np.float32(0.5)),
    ("y", lambda a: np.concatenate([a["y"], a["y"]])),
    ("y", lambda a: a["y"][:, 0]),
    ("y", lambda a: a["y"][:, :0]),
    ("tasks", lambda a: np.arange(len(a["tasks"]))),
    ("tasks", lambda a: np.array([a["tasks"][0]] * len(a["tasks"]))),
    ("tasks", lambda a: np.array([b"\xff\xfe"] * len(a["tasks"]))),
    ("tasks", lambda a: np.array([t.encode() for t in a["tasks"]])),
    ("tasks", lambda a: np.concatenate([a["tasks"], ["extra"]])),
    ("tasks", lambda a: a["tasks"][None]),
    ("tasks", lambda a: np.array(a["tasks"][0])),
    ("regions", lambda a: np.zeros(len(a["regions"]))),
    ("regions", lambda a: a["regions"][:-1]),
    ("regions", lambda a: a["regions"][:, None]),
    ("regions", lambda a: np.array([r.encode() for r in a["regions"]])),
]


@st.composite
def edited_arrays(draw) -> dict[str, np.ndarray]:
    arrays = draw(tensor_arrays())
    edited = set()
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["edit", "edit", "edit", "delete", "add"]))
        if op == "edit":
            key, edit = draw(st.sampled_from(ARRAY_EDITS))
            if key in arrays and key not in edited:  # each edit expects the array encode wrote
                arrays[key] = edit(arrays)
                edited.add(key)
        elif op == "delete":
            del arrays[draw(st.sampled_from(sorted(arrays)))]
        else:
            arrays[draw(st.sampled_from(["arr_0", "x", "Y", "extra"]))] = np.zeros(2)
    return arrays


def npz_bytes(arrays: dict, how: str) -> bytes:
    """``arrays`` as an .npz written by bionas (save_npz) or by numpy (stored or deflated)."""
    out = io.BytesIO()
    if how == "bionas":
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "t.npz"
            save_npz(path, **arrays)
            return path.read_bytes()
    (np.savez if how == "numpy" else np.savez_compressed)(out, **arrays)
    return out.getvalue()


WRITERS = st.sampled_from(["bionas", "numpy", "numpy-deflate"])


def check_tensors(result, arrays: dict) -> None:
    np.testing.assert_array_equal(result.X, arrays["X"])
    np.testing.assert_array_equal(result.y, arrays["y"])
    assert result.X.dtype == np.uint8 and result.y.dtype == np.float32
    names = [t.decode() if isinstance(t, bytes) else t for t in arrays["tasks"].tolist()]
    assert list(result.tasks) == names


@FEW
@given(arrays=tensor_arrays(), how=WRITERS)
def test_tensors_read_back_from_every_writer(arrays, how):
    with written(npz_bytes(arrays, how), "train.npz") as path:
        result = load_tensors(path)
    check_tensors(result, arrays)
    assert result.length == arrays["X"].shape[1] and result.n_tasks == arrays["y"].shape[1]


#: a valid set of arrays for examples
SMALL = {"X": np.eye(4, dtype=np.uint8)[None, [0, 3]], "y": np.ones((1, 1), np.float32),
         "tasks": np.array(["t"]), "regions": np.array(["chr1:0-2"])}  # fmt: skip


@FUZZ
@given(arrays=edited_arrays())
@example(arrays={**SMALL, "tasks": np.array([b"\xff\xfe"])})  # UnicodeDecodeError escaped
@example(arrays={**SMALL, "regions": np.zeros(1)})  # accepted numbers as region names
def test_tensors_with_a_wrong_array_are_read_or_rejected_by_that_key(arrays):
    problems = tensor_problems(arrays)
    with written(npz_bytes(arrays, "numpy"), "train.npz") as path:
        result = read_or_error(load_tensors, path, hint=ENCODE)
    if problems:
        assert isinstance(result, InputError), problems
        assert result.key in problems, (result.key, problems, str(result))
    else:
        assert not isinstance(result, InputError), str(result)
        check_tensors(result, arrays)


@st.composite
def damaged_npz(draw) -> bytes:
    """A valid .npz cut, overwritten, extended or replaced by something else."""
    data = bytearray(npz_bytes(draw(tensor_arrays()), draw(WRITERS)))
    op = draw(st.sampled_from(["half", "truncate", "overwrite", "insert", "append", "whole"]))
    pos = draw(st.integers(0, len(data)))
    if op == "half":
        del data[len(data) // 2 :]
    elif op == "truncate":
        del data[pos:]
    elif op == "overwrite":
        token = draw(st.binary(min_size=1, max_size=8))
        data[pos : pos + len(token)] = token
    elif op == "insert":
        data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
    elif op == "append":
        data += draw(st.sampled_from([b"\x00", b"PK\x05\x06", b"junk" * 100]))
    else:
        return draw(st.sampled_from([*WHOLE_FILES, b"PK\x03\x04", b"PK\x05\x06" + b"\x00" * 18,
                                     NPY_FILE, b"\x93NUMPY\x01\x00"]))  # fmt: skip
    return bytes(data)


def _npy_bytes(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


NPY_FILE = _npy_bytes(np.zeros((2, 3, 4), np.uint8))


def _forged_npz(member: str, header: dict, data: bytes, file_size: int | None = None) -> bytes:
    """An .npz whose member holds ``header`` and ``data`` (the header may lie about the size)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        with archive.open(member, "w") as handle:
            np.lib.format.write_array_header_1_0(handle, header)
            handle.write(data)
    return out.getvalue()


HUGE = {"descr": "|u1", "fortran_order": False, "shape": (2**40, 100, 4)}


def _flagged_npz(bit: int) -> bytes:
    """A small .npz with general-purpose flag ``bit`` set in its central directory."""
    data = bytearray(npz_bytes(SMALL, "numpy"))
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        data[pos + 8] |= 1 << bit
        pos = data.find(b"PK\x01\x02", pos + 4)
    return bytes(data)


@FUZZ
@given(blob=damaged_npz())
@example(blob=_forged_npz("X.npy", HUGE, b"\x00" * 64))  # MemoryError escaped
@example(blob=_forged_npz("X", HUGE, b""))  # a member that is not an .npy
@example(blob=_flagged_npz(0))  # RuntimeError: "encrypted, password required"
@example(blob=_flagged_npz(5))  # NotImplementedError: "compressed patched data"
def test_damaged_npz_is_read_or_rejected(blob):
    with written(blob, "train.npz") as path:
        result = read_or_error(load_tensors, path, hint=ENCODE)
    if not isinstance(result, InputError):
        arrays = {"X": result.X, "y": result.y, "tasks": np.array(result.tasks), "regions": np.array(["r"] * len(result.X))}
        assert not tensor_problems(arrays)


# --------------------------------------------------------------------------
# the windows table (bionas.records.windows.read_windows: encode)

SIZES = {"chr1": 5000, "chr2": 3000, "chrX": 800}


@st.composite
def windows_table(draw) -> tuple[str, list]:
    width = draw(st.integers(1, 300))
    tasks = draw(st.lists(st.sampled_from(["bound", "A", "B_2", "t.x"]), min_size=1, max_size=3,
                          unique=True))  # fmt: skip
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        chrom = draw(st.sampled_from(sorted(SIZES)))
        start = draw(st.integers(0, SIZES[chrom] - width))
        kind = draw(st.sampled_from(KINDS))
        source = "."
        if kind == "dinuc_shuffle":
            s = draw(st.integers(0, SIZES[chrom] - width))
            source = f"{chrom}:{s}-{s + width}#{draw(st.integers(0, 10**6))}"
        labels = [draw(st.sampled_from([0, 1])) for _ in tasks]
        rows.append((chrom, start, start + width, draw(st.sampled_from(SPLITS)), kind, source,
                     *labels))  # fmt: skip
    header = "\t".join([*WINDOW_COLUMNS, *tasks])
    text = header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows)
    if draw(st.booleans()):  # the #genome line prepare writes first (older tables lack it)
        used = {chrom for chrom, *_ in rows}
        lengths = {chrom: SIZES[chrom] for chrom in sorted(used)}
        record = {"file": "genome.fa", "index_sha256": genome_index_sha256(SIZES),
                  "sequences": len(SIZES), "lengths": lengths}  # fmt: skip
        text = "#genome " + json.dumps(record) + "\n" + text
    return text, rows


@FEW
@given(table=windows_table(), kind=st.sampled_from(VARIANTS))
def test_windows_tables_read_the_same_in_every_encoding(table, kind):
    text, rows = table
    with written(variant(text, kind), "windows.tsv") as path:
        result = read_windows(path, sizes=SIZES)
    got = result.table
    assert len(got) == len(rows)
    assert got["chrom"].tolist() == [r[0] for r in rows]
    assert got["start"].tolist() == [r[1] for r in rows]
    assert result.width == rows[0][2] - rows[0][1]
    assert got[result.tasks].to_numpy().tolist() == [list(r[6:]) for r in rows]


@FUZZ
@given(blob=damaged(windows_table().map(lambda t: t[0].encode())))
@example(blob=b"chrom\tstart\tend\tsplit\tkind\tsource\tbound\nchr1\t0\t10\ttrain\tpeak\t.\t\xff\n")
@example(blob=b"chrom\tstart\tend\tsplit\tkind\tsource\t\xff\n")  # UnicodeDecodeError
@example(blob=b"chrom\tstart\tend\tsplit\tkind\tsource\t")  # KeyError: an empty task name
@example(blob=b"chrom\tstart\tend\tsplit\tkind\tsource\tA\nchr1\t0\t1\ttrain\tpeak\t.\t0\n"
         b"chr1\t999999999999999999999990\t1\ttrain\tpeak\t.\t0\n")  # OverflowError: beyond int64
@example(blob=b"chrom\tstart\tend\tsplit\tkind\tsource\tA\nchr1\t-999999999999999999990\t1\ttrain\tpeak\t.\t0\n")
@example(blob=b"#genome {\"file\": \"g.fa\", \"index_sha256\": \"" + b"0" * 64 + b"\", \"sequences\": 3, "
         b"\"lengths\": {\"chr1\": 5000}}\nchrom\tstart\tend\tsplit\tkind\tsource\tA\n"
         b"chr1\t0\t1\ttrain\tpeak\t.\t0\n")  # another genome's index
@example(blob=b"#genome [1]\nchrom\tstart\tend\tsplit\tkind\tsource\tA\n")
def test_damaged_windows_tables_are_read_or_rejected(blob):
    with written(blob, "windows.tsv") as path:
        try:
            result = read_windows(path, sizes=SIZES)
        except InputError as err:
            check_error(err, path, hint="rerun `bionas prepare`")
            if err.line is not None:
                assert 1 <= err.line <= len(blob.splitlines()) + 1
            return
    got = result.table
    assert len(got) >= 1 and result.tasks
    assert ((got["start"] >= 0) & (got["end"] - got["start"] == result.width)).all()
    assert got["split"].isin(SPLITS).all() and got["kind"].isin(KINDS).all()
    assert (got["end"] <= got["chrom"].map(SIZES)).all()
    labels = got[result.tasks].to_numpy(dtype=float)
    assert np.isfinite(labels).all()


# --------------------------------------------------------------------------
# controller state (bionas.search.strategies.load_controller: propose, update-controller,
# select-architecture)
#
# STATE_REGRESSIONS lists the inputs that once crashed the loader or were used
# (a checksum fixed after an edit lets every check past the first).

CONTROLLER_SETTINGS = {
    "random": {}, "grid": {}, "rl": {"lstm_units": 4, "embedding_dim": 3},
    "evolution": {"population": 2, "tournament": 2}, "tpe": {"n_startup": 1},
    "gp": {"n_startup": 2},
}


@cache
def saved_states() -> dict[str, dict[str, bytes]]:
    """``{controller: {file name: bytes}}`` of a state after one update, for each controller."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in CONTROLLER_SETTINGS.items():
            controller = get_controller(name, SPACE, **extra)
            state = controller.init_state(seed=3)
            state = controller.update(state, [(ARCHS[0], -0.5), (ARCHS[1], -0.25)])
            directory = Path(tmp) / name
            controller.save_state(state, directory)
            out[name] = {p.name: p.read_bytes() for p in directory.iterdir()}
    return out


def with_checksum(obj: dict) -> dict:
    """``obj`` with the checksum a writer computes (an edit that also fixes it)."""
    body = {k: v for k, v in obj.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return {**body, "checksum": hashlib.sha256(text.encode()).hexdigest()}


def state_files(name: str, edit=None, weights: bytes | None = None, forge: bool = False) -> dict:
    """The saved state of ``name`` with ``edit(obj)`` applied to state.json (checksum fixed)
    and ``weights`` as weights.npz (``forge``: its sha256 in state.json updated too)."""
    files = dict(saved_states()[name])
    obj = json.loads(files["state.json"])
    if weights is not None:
        files["weights.npz"] = weights
        if forge:
            obj["arrays"]["sha256"] = hashlib.sha256(weights).hexdigest()
    if edit is not None or forge:
        if edit is not None:
            edit(obj)
        files["state.json"] = json.dumps(with_checksum(obj), allow_nan=True).encode()
    return files


@contextlib.contextmanager
def state_dir(files: dict[str, bytes]):
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "step_001"
        directory.mkdir()
        for name, data in files.items():
            (directory / name).write_bytes(data)
        yield directory


def load_or_error(directory: Path):
    """load_controller, or the InputError after checking it names a file of the state."""
    try:
        return load_controller(directory, SPACE)
    except InputError as err:
        assert err.path in (str(directory / "state.json"), str(directory / "weights.npz")), err.path
        assert f"delete {directory}" in str(err), str(err)
        return err


def check_usable(loaded, obj: dict) -> None:
    """A state that loads belongs to its controller, has finite weights and can propose."""
    controller, state = loaded
    assert controller.name == obj["controller"] == state.controller
    assert (state.seed, state.step, state.n_seen) == (obj["seed"], obj["step"], obj["n_seen"])
    if state.arrays:
        with np.load(io.BytesIO(saved_states()[controller.name]["weights.npz"])) as saved:
            dtypes = {key: saved[key].dtype for key in saved.files}
        for key, array in state.arrays.items():
            assert array.dtype == dtypes[key] and np.isfinite(array).all(), key
    n = 2 if controller.name != "grid" else min(2, controller.remaining(state))
    for arch in controller.propose(state, n, state.step + 1):
        SPACE.encode(arch)
    SPACE.encode(controller.most_likely(state))


NAMES = st.sampled_from(sorted(CONTROLLER_SETTINGS))


@FEW
@given(name=NAMES, data=st.data())
def test_damaged_state_json_is_refused_or_unchanged(name, data):
    files = dict(saved_states()[name])
    files["state.json"] = data.draw(damaged_json(st.just(files["state.json"])))
    with state_dir(files) as directory:
        result = load_or_error(directory)
    if not isinstance(result, InputError):  # only whitespace changed
        with state_dir(saved_states()[name]) as directory:
            _, expected = load_controller(directory, SPACE)
        _, state = result
        assert (state.step, state.seed, state.best, state.extra) == (
            expected.step, expected.seed, expected.best, expected.extra
        )  # fmt: skip
        for key, array in expected.arrays.items():
            np.testing.assert_array_equal(state.arrays[key], array)


@st.composite
def edited_state(draw) -> tuple[str, dict]:
    """A controller and its state.json, edited (the checksum is recomputed in the test)."""
    name = draw(NAMES)
    obj = json.loads(saved_states()[name]["state.json"])
    if draw(st.booleans()):
        return name, draw(one_key_changed(obj))[0]
    return name, draw(mutated(obj))


@FUZZ
@given(edit=edited_state())
def test_edited_state_json_with_a_fixed_checksum_is_refused_or_usable(edit):
    name, obj = edit
    files = state_files(name, edit=lambda o: (o.clear(), o.update(obj)))
    with state_dir(files) as directory:
        result = load_or_error(directory)
        if not isinstance(result, InputError):
            check_usable(result, obj)


@FUZZ
@given(blob=damaged_npz() | edited_arrays().map(lambda a: npz_bytes(a, "numpy")), forge=st.booleans())
def test_damaged_weights_are_refused_or_usable(blob, forge):
    files = state_files("rl", weights=blob, forge=forge)
    with state_dir(files) as directory:
        result = load_or_error(directory)
        if not isinstance(result, InputError):
            check_usable(result, json.loads(files["state.json"]))


def _set(*keys_value):
    *keys, value = keys_value

    def edit(obj):
        for key in keys[:-1]:
            obj = obj[key]
        obj[keys[-1]] = value

    return edit


def _weights(change) -> bytes:
    arrays = dict(np.load(io.BytesIO(saved_states()["rl"]["weights.npz"])))
    return npz_bytes({k: change(v) for k, v in arrays.items()}, "numpy")


def _rl_weights() -> bytes:
    return saved_states()["rl"]["weights.npz"]


#: (what, files) that the state loader once crashed on or used; each must now be refused
STATE_REGRESSIONS = [
    # reachable by damage alone: json.loads raises other than JSONDecodeError
    ("a 5000-digit number in state.json: ValueError", lambda: {**state_files("random"), "state.json": b"1" * 5000}),
    ("state.json nested 100000 deep: RecursionError", lambda: {**state_files("random"), "state.json": b"[" * 100_000}),
    # an edit that also fixes the checksum (or a writer with another bug)
    ("best.reward = 10**400: OverflowError in _is_number", lambda: state_files("random", _set("best", "reward", 10**400))),
    ("settings.learning_rate = 10**400: OverflowError", lambda: state_files("rl", _set("settings", "learning_rate", 10**400))),
    ("extra.baseline = 10**400: OverflowError in rl._check_loaded", lambda: state_files("rl", _set("extra", "baseline", 10**400))),
    ("arrays.file = null: TypeError", lambda: state_files("rl", _set("arrays", "file", None))),
    ("arrays.names holds a list: TypeError", lambda: state_files("rl", _set("arrays", "names", [[]]))),
    ("weights.npz empty, sha256 fixed: EOFError", lambda: state_files("rl", weights=b"", forge=True)),
    ("weights.npz an .npy, sha256 fixed: TypeError", lambda: state_files("rl", weights=NPY_FILE, forge=True)),
    ("weights.npz cut in half, sha256 fixed: BadZipFile", lambda: state_files("rl", weights=_rl_weights()[:3000], forge=True)),
    ("weights.npz header claims 400 TiB, sha256 fixed: MemoryError", lambda: state_files("rl", weights=_forged_npz("policy_000.npy", HUGE, b"\0" * 64), forge=True)),
    ("weights all NaN, sha256 fixed: loaded, proposes garbage", lambda: state_files("rl", weights=_weights(lambda a: np.full_like(a, np.nan) if a.dtype.kind == "f" else a), forge=True)),
    ("weights int64, sha256 fixed: loaded", lambda: state_files("rl", weights=_weights(lambda a: a.astype(np.int64)), forge=True)),
]  # fmt: skip


@pytest.mark.parametrize("make", [m for _, m in STATE_REGRESSIONS], ids=[w for w, _ in STATE_REGRESSIONS])
def test_state_loader_regressions_are_refused(make):
    files = make()
    with state_dir(files) as directory:
        result = load_or_error(directory)
    assert isinstance(result, InputError), "a damaged or forged state was loaded"



# --------------------------------------------------------------------------
# the FASTA index (bionas.data.genome.Genome trusts a .fai newer than its FASTA)


def open_with_index(records, width: int, kind: str, index) -> InputError | None:
    """Index a FASTA of ``records``, replace its .fai by ``index(clean .fai bytes)``, reopen.

    The .fai is made newer than the FASTA, so Genome trusts it: it must be
    refused (InputError naming it) or describe the FASTA exactly.
    """
    with written(variant(fasta_text(records, width), kind), "g.fa") as path:
        with Genome(path):  # writes g.fa.fai
            pass
        fai = Path(f"{path}.fai")
        fai.write_bytes(index(fai.read_bytes()))
        later = path.stat().st_mtime + 10
        os.utime(fai, (later, later))
        try:
            genome = Genome(path)
        except InputError as err:
            check_error(err, fai, hint="delete it")
            return err
        with genome:
            assert genome.sizes == {name: len(seq) for name, seq, _ in records}
            for name, seq, _ in records:
                assert genome.fetch(name, 0, len(seq)) == seq.upper()
                assert genome.chrom_codes(name).tobytes().decode() == seq.upper()


@FUZZ
@given(
    fasta=st.tuples(FASTA_RECORDS, st.integers(1, 70), st.sampled_from(VARIANTS)),
    data=st.data(),
)
def test_damaged_fasta_index_is_refused_or_matches(fasta, data):
    open_with_index(*fasta, index=lambda clean: data.draw(damaged(st.just(clean))))


@pytest.mark.parametrize(
    "fai",
    [
        b"s1\t80\t4\t4\t5\n",  # the index of another FASTA (cp -p): read past the end
        b"s1\t8\t4\t2\t3\n",  # wrong line length: fetched the line breaks as bases
        b"s1\t8\t5\t4\t5\n",  # offset one byte off
        b"s2\t8\t4\t4\t5\n",  # another sequence's name
        b"s1\t8\t4\t0\t1\n",  # ZeroDivisionError
        b"s\xff\t8\t4\t4\t5\n",  # UnicodeDecodeError
        b"s1\t8\t4\t4\t5\ns1\t8\t4\t4\t5\n",
        b"s1\t" + b"9" * 5000 + b"\t4\t4\t5\n",
        b"",  # an empty index: a genome without sequences
    ],
)
def test_stale_or_damaged_fasta_indexes_are_refused(fai):
    err = open_with_index([("s1", "ACGTACGT", "")], 4, "plain", index=lambda _: fai)
    assert isinstance(err, InputError)


@pytest.mark.parametrize("keep", [slice(0, 1), slice(1, 2)], ids=["last left out", "first left out"])
@pytest.mark.parametrize("bases", ["", "ACGTA"], ids=["empty sequences", "5 bases each"])
def test_a_fasta_index_that_leaves_out_a_sequence_is_refused(keep, bases):
    """A truncated .fai (or one of a shorter FASTA) would silently drop sequences."""
    records = [("s0", bases, ""), ("s9", bases, "")]

    def drop(clean: bytes) -> bytes:
        return b"".join(clean.splitlines(keepends=True)[keep])

    assert isinstance(open_with_index(records, 4, "plain", index=drop), InputError)
