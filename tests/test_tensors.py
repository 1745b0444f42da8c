"""Tests for bionas.records.tensors: the uncompressed .npz, its memory map, old files, damage."""

from __future__ import annotations

import json
import mmap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers_child import make_tensors

from bionas.errors import InputError
from bionas.io import file_sha256
from bionas.records.tensors import CHECKED_ROWS, StreamedX, load_tensors, write_tensors


def _write(path: Path, **kwargs) -> dict[str, np.ndarray]:
    arrays = make_tensors(**kwargs)
    arrays["kind"] = np.array(["peak"] * len(arrays["X"]))
    write_tensors(path, **arrays)
    return arrays


def _rss_anon_kib() -> int:
    """Private resident memory of this process (anonymous pages), KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    raise AssertionError("no RssAnon in /proc/self/status")


def test_mapped_load_equals_the_arrays_and_keeps_the_contract(tmp_path):
    path = tmp_path / "train.npz"
    arrays = _write(path, n=300, n_tasks=2)
    t = load_tensors(path)
    assert t.mapped and isinstance(t.X, np.memmap) and isinstance(t.X.base, mmap.mmap)
    assert not t.X.flags.writeable
    np.testing.assert_array_equal(t.X, arrays["X"])
    np.testing.assert_array_equal(t.y, arrays["y"])
    assert t.tasks == ("task0", "task1")
    # the file is still an ordinary .npz with the contract's keys and dtypes
    with np.load(path) as npz:
        assert npz.files == ["X", "y", "tasks", "regions", "kind"]
        assert npz["X"].dtype == np.uint8 and npz["X"].shape == (300, 100, 4)
        assert npz["y"].dtype == np.float32 and npz["tasks"].dtype.kind == "U"
        assert npz["regions"].dtype.kind == "U" and npz["kind"].dtype.kind == "U"
        np.testing.assert_array_equal(npz["regions"], arrays["regions"])
    with zipfile.ZipFile(path) as archive:
        assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    copy = load_tensors(path, mmap=False)
    assert not copy.mapped and copy.sha256 == t.sha256
    np.testing.assert_array_equal(copy.X, t.X)


@pytest.mark.parametrize("rows", [1, 7, 300])
def test_streamed_X_writes_the_same_file(tmp_path, rows):
    """X given in blocks of rows gives the bytes, digest and CRC-32s of X given whole."""
    arrays = _write(tmp_path / "whole.npz", n=300, n_tasks=2)
    X = arrays.pop("X")
    blocks = (X[i : i + rows] for i in range(0, len(X), rows))
    write_tensors(tmp_path / "streamed.npz", StreamedX(X.shape, blocks), **arrays)
    assert (tmp_path / "streamed.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    np.testing.assert_array_equal(load_tensors(tmp_path / "streamed.npz").X, X)


@pytest.mark.parametrize(
    "blocks, message",
    [
        (lambda X: [X[:10]], "hold 10 rows, X has 20"),
        (lambda X: [X, X[:1]], "hold 21 rows"),
        (lambda X: [X.astype(np.float32)], "a block of float32"),
        (lambda X: [X[:, :50]], r"a block of uint8 \(20, 50, 4\)"),
    ],
)
def test_streamed_X_that_does_not_add_up_writes_nothing(tmp_path, blocks, message):
    arrays = make_tensors(n=20, n_tasks=1)
    arrays["kind"] = np.array(["peak"] * 20)
    X = arrays.pop("X")
    with pytest.raises(ValueError, match=message):
        write_tensors(tmp_path / "t.npz", StreamedX(X.shape, blocks(X)), **arrays)
    assert list(tmp_path.iterdir()) == []


def test_old_compressed_file_loads_into_memory_and_says_so(tmp_path, caplog):
    arrays = make_tensors(n=50)
    path = tmp_path / "old.npz"
    np.savez_compressed(path, **arrays)
    with caplog.at_level("INFO", logger="bionas.records.tensors"):
        t = load_tensors(path)
    assert not t.mapped and type(t.X) is np.ndarray
    np.testing.assert_array_equal(t.X, arrays["X"])
    assert t.sha256 == file_sha256(path)  # the checksum old cache entries were keyed by
    assert any("compressed" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_checksum_is_stored_at_encode_and_follows_the_data(tmp_path):
    a, b, c = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
    _write(a, n=40, seed=1)
    _write(b, n=40, seed=1)
    arrays = _write(c, n=40, seed=2)
    sa, sb, sc = (load_tensors(p).sha256 for p in (a, b, c))
    assert sa == sb != sc
    with zipfile.ZipFile(a) as archive:
        assert json.loads(archive.comment)["sha256"] == sa
    # the same data written by another tool carries no digest: the file's bytes are hashed
    plain = tmp_path / "plain.npz"
    np.savez(plain, **arrays)
    assert load_tensors(plain).sha256 == file_sha256(plain)
    # a digest whose CRC-32s do not match the members (a member rewritten) is not trusted
    with zipfile.ZipFile(a) as archive:
        comment = archive.comment
    with zipfile.ZipFile(plain, "a") as archive:
        archive.comment = comment
    assert load_tensors(plain).sha256 == file_sha256(plain) != sa


def test_a_child_maps_instead_of_copying(tmp_path):
    path = tmp_path / "big.npz"
    X = np.zeros((20_000, 1000, 4), dtype=np.uint8)  # 80 MB
    X[:, :, 0] = 1
    write_tensors(
        path,
        X,
        np.zeros((len(X), 1), dtype=np.float32),
        np.array(["t"]),
        np.array([f"chr1:{i}-{i + 1000}" for i in range(len(X))]),
        np.array(["peak"] * len(X)),
    )
    del X
    before = _rss_anon_kib()
    t = load_tensors(path)
    grown = (_rss_anon_kib() - before) * 1024
    assert t.mapped
    assert grown < 0.1 * t.X.nbytes, f"private memory grew by {grown >> 20} MiB"


def test_bad_value_in_a_mapped_file_is_found(tmp_path):
    arrays = make_tensors(n=CHECKED_ROWS * 2, length=20)
    arrays["X"][-1, 0, 0] = 3  # the last row is always checked
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="0 or 1") as info:
        load_tensors(path)
    assert info.value.path == str(path) and info.value.key == "X"


def _x_offset(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return archive.getinfo("X.npy").header_offset


@pytest.mark.parametrize("damage", ["local header", "npy header", "untokenizable header", "cut"])
def test_damaged_file_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "train.npz"
    _write(path, n=60)
    data = bytearray(path.read_bytes())
    offset = _x_offset(path)
    if damage == "local header":  # its extra field's length points past the .npy header
        data[offset + 28 : offset + 30] = (0xFFF).to_bytes(2, "little")
    elif damage == "npy header":  # the header claims more rows than the member holds
        start = data.index(b"'shape': (60,", offset)
        data[start : start + 13] = b"'shape': (90,"
    elif damage == "untokenizable header":  # numpy's header parser raises tokenize.TokenError
        start = data.index(b"'descr'", offset)
        data[start : start + 7] = b'"""desc'
    else:
        data = data[: len(data) * 2 // 3]
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="rerun `bionas encode`") as info:
        load_tensors(path)
    assert info.value.path == str(path)
    if damage != "cut":  # the archive's directory is intact: the member is named
        assert info.value.key == "X"
    # nothing else was written beside it
    assert [p.name for p in tmp_path.iterdir()] == ["train.npz"]
