"""Atomic writes and the leftovers of writers killed with SIGKILL (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from bionas.io import remove_dead_temps, save_npz, temp_prefix, write_json, write_text
from bionas.search.cache import cache_store

#: A writer that stops in the middle of an atomic write and waits to be killed.
WRITER = textwrap.dedent(
    """
    import sys, time
    from bionas.io import atomic_open
    with atomic_open(sys.argv[1], "w") as handle:
        handle.write("half of it")
        handle.flush()
        print("writing", flush=True)
        time.sleep(120)
    """
)


def _start_writer(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "writing"
    return proc


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temporaries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.startswith("."))


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    path = tmp_path / "out.json"
    killed = _start_writer(path)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not path.exists()
    [left] = _temporaries(tmp_path)
    assert left.name.startswith(temp_prefix(path).replace(f"-{os.getpid()}.", f"-{killed.pid}."))
    assert left.read_text() == "half of it"

    live = _start_writer(path)
    try:
        [live_tmp] = set(_temporaries(tmp_path)) - {left}
        other_host = tmp_path / f".out.json.otherhost-{killed.pid}.abcdefgh.json"
        other_host.write_text("{}")
        write_json(path, {"done": True})
        assert json.loads(path.read_text()) == {"done": True}
        # The dead writer's temporary is gone; a live writer's and another host's are not.
        assert _temporaries(tmp_path) == sorted([live_tmp, other_host])
    finally:
        live.kill()
        live.wait()


def test_a_killed_writer_not_yet_reaped_counts_as_dead(tmp_path):
    """A SIGKILLed writer stays a zombie until its parent reaps it (for ever under an
    init that never reaps, as in some containers): its temporary must still go."""
    path = tmp_path / "out.json"
    killed = _start_writer(path)
    try:
        killed.send_signal(signal.SIGKILL)
        stat = Path(f"/proc/{killed.pid}/stat")
        for _ in range(200):  # until the kernel has made it a zombie
            if stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        else:
            pytest.fail("the killed writer never became a zombie")
        [left] = _temporaries(tmp_path)
        write_json(path, {"done": True})
        assert not left.exists()
        assert _temporaries(tmp_path) == []
    finally:
        killed.wait()


def test_only_the_temporaries_of_the_same_path_are_removed(tmp_path):
    dead = _dead_pid()
    host = temp_prefix(tmp_path / "x")[len(".x.") :].rsplit("-", 1)[0]
    mine = tmp_path / f".a.npz.{host}-{dead}.k2j4_x9q.npz"
    longer_name = tmp_path / f".a.npz.gz.{host}-{dead}.k2j4_x9q.npz"
    not_a_pid = tmp_path / f".a.npz.{host}-12ab.k2j4_x9q.npz"
    for p in (mine, longer_name, not_a_pid):
        p.write_bytes(b"partial")
    save_npz(tmp_path / "a.npz", X=np.arange(3))
    assert not mine.exists()
    assert longer_name.exists() and not_a_pid.exists()
    assert remove_dead_temps(tmp_path / "a.npz.gz") == [longer_name]
    with np.load(tmp_path / "a.npz") as npz:
        assert npz["X"].tolist() == [0, 1, 2]


def test_the_cache_removes_an_entry_left_half_stored_by_a_killed_job(tmp_path):
    key = "f" * 64
    final = tmp_path / key
    half = tmp_path / f"{temp_prefix(final)}abcd_123".replace(f"-{os.getpid()}.", f"-{_dead_pid()}.")
    half.mkdir()
    (half / "model.keras").write_bytes(b"PK partial")
    record = {"status": "failed", "cache_key": key}
    cache_store(tmp_path, key, record, None)
    assert not half.exists()
    assert json.loads((final / "train.json").read_text()) == record
    assert [p.name for p in tmp_path.iterdir()] == [key]


@pytest.mark.parametrize("content", ["", "text\n"])
def test_write_text_gives_the_permissions_of_a_plain_open(tmp_path, content):
    write_text(tmp_path / "plain.txt", content)
    with open(tmp_path / "reference.txt", "w") as handle:
        handle.write(content)
    mode = (tmp_path / "plain.txt").stat().st_mode
    assert mode == (tmp_path / "reference.txt").stat().st_mode
    assert (tmp_path / "plain.txt").read_text() == content
