"""A full disk, a read-only folder, a missing permission: one line, no traceback, no leftovers.

The full disk and the read-only folder are real: a small tmpfs mounted for the
test (this needs root, as in CI; elsewhere those tests are skipped). The
missing permission is a folder of mode 0555 (as root, the command runs without
the capability that lets root write there, through ``setpriv``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def bionas(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m bionas ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "bionas", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _mount(folder: Path, options: str) -> None:
    if shutil.which("mount") is None:
        pytest.skip("no mount command here to make a small file system")
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root): {done.stderr.strip()}")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB file system at ``tmp_path/disk``."""
    disk = tmp_path / "disk"
    _mount(disk, "size=64k")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def _dot_names(folder: Path) -> list[str]:
    return [n for _, ds, fs in os.walk(folder) for n in ds + fs if n.startswith(".")]


def _one_error_line(done: subprocess.CompletedProcess, command: str) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if " INFO " not in line]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"bionas {command}: error: "), done.stderr
    return lines[0]


def test_a_full_disk_is_one_line_naming_the_output_and_leaves_no_temporary(small_disk, tmp_path):
    done = bionas(
        "simulate", "--out-dir", small_disk / "sim", "--motifs", "MA0139", "--chromosomes", "2",
        "--chrom-length", "60000", "--sites", "5", cwd=tmp_path,
    )  # fmt: skip
    line = _one_error_line(done, "simulate")
    assert f"{small_disk / 'sim' / 'genome.fa'}: " in line
    assert line.endswith("no space left on device"), line
    assert _dot_names(small_disk) == []
    assert [p for p in (small_disk / "sim").iterdir()] == []


def test_a_disk_that_fills_in_the_middle_of_a_set_of_outputs_leaves_none(small_disk, tmp_path):
    """encode writes train, val and test as one set: the disk fills after the first."""
    windows, summary = tmp_path / "windows.tsv", tmp_path / "summary.tsv"
    done = bionas(
        "prepare", "--genome", DATA / "tiny.fa", "--peaks", f"a={DATA / 'task_a.bed'}",
        "--val-chroms", "chr3", "--test-chroms", "chr4", "--window", "100",
        "--out", windows, "--summary", summary, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (small_disk / "filler").write_bytes(b"x" * 56 * 1024)
    out = small_disk / "enc"
    done = bionas("encode", "--genome", DATA / "tiny.fa", "--windows", windows, "--out-dir", out, cwd=tmp_path)
    line = _one_error_line(done, "encode")
    assert line.endswith("cannot write the output: no space left on device"), line
    assert f"{out}{os.sep}" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["enc", "filler"]
    assert list(out.iterdir()) == []


def test_a_read_only_folder_is_one_line_naming_the_output(tmp_path):
    disk = tmp_path / "ro"
    _mount(disk, "size=64k,ro")
    try:
        done = bionas("priors", "--meme", DATA / "motifs.meme", "--out", disk / "priors.meme", cwd=tmp_path)
        line = _one_error_line(done, "priors")
        assert line == (
            f"bionas priors: error: {disk / 'priors.meme'}: cannot write the output: read-only file system"
        )
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_folder_without_write_permission_is_one_line_naming_the_output(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: drop the capability that lets it
        if shutil.which("setpriv") is None:
            pytest.skip("as root, a denied write needs setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "bionas", "priors", "--meme", str(DATA / "motifs.meme"),
             "--out", str(locked / "priors.meme")],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        line = _one_error_line(done, "priors")
        assert line == (
            f"bionas priors: error: {locked / 'priors.meme'}: cannot write the output: permission denied"
        )
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_an_error_names_the_output_and_not_its_temporary(tmp_path):
    from bionas.io import atomic_path, atomic_paths, shown_output

    out = tmp_path / "sub" / "summary.json"
    with atomic_paths([out]) as [tmp], atomic_path(tmp) as inner:
        assert inner.name != tmp.name != out.name
        assert shown_output(inner) == shown_output(tmp) == out
    assert shown_output(tmp_path / "plain.json") == tmp_path / "plain.json"
