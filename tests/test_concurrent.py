"""Two runs writing the same output at once: the second is refused, naming the first.

Real processes: the first run is the real dispatcher (``run_command``) whose
command waits, once its outputs are locked, until the test lets it go on; the
second is ``python -m bionas`` as a user or Snakemake starts it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bionas.errors import InputError
from bionas.io import LOCK_SUFFIX, lock_file, output_locks, temp_prefix

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
#: this host, as a lock file names it
HOST = temp_prefix(Path("x"))[len(".x.") :].rsplit("-", 1)[0]

#: ``bionas ARGS`` whose command, once its outputs are locked, prints "running" and waits
#: for a line on stdin before it does its work.
HELD = textwrap.dedent(
    """
    import importlib, sys
    from bionas.commands.registry import COMMANDS, run_command
    module = importlib.import_module("bionas.commands." + COMMANDS[sys.argv[1]][0])
    real = module.run
    def held(args):
        print("running", flush=True)
        sys.stdin.readline()
        return real(args)
    module.run = held
    sys.exit(run_command(sys.argv[1:]))
    """
)


def _start_held(*args: str | Path, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD, *map(str, args)],
        cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout.readline().strip() == "running", proc.stderr.read()
    return proc


def _go_on(proc: subprocess.Popen) -> int:
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=300)
    return proc.returncode


def bionas(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bionas", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _simulate(out: Path) -> list[str | Path]:
    return ["simulate", "--out-dir", out, "--motifs", "MA0139", "--chromosomes", "2",
            "--chrom-length", "2000", "--sites", "5"]  # fmt: skip


def _dot_names(folder: Path) -> list[str]:
    return [n for _, ds, fs in os.walk(folder) for n in ds + fs if n.startswith(".")]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_run_writing_the_same_folder_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "sim"
    first = _start_held(*_simulate(out), cwd=tmp_path)
    try:
        second = bionas(*_simulate(out), cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        assert "Traceback" not in second.stderr
        [line] = second.stderr.splitlines()
        assert line.startswith(f"bionas simulate: error: {out}: is being written by another bionas run ")
        assert f"(pid {first.pid} on host " in line
        assert not out.exists()  # the first run has not written yet; the second wrote nothing
    finally:
        status = _go_on(first)
    assert status == 0, first.stderr.read()
    assert sorted(p.name for p in out.iterdir()) == [
        "genome.fa", "genome.fa.fai", "peaks.narrowPeak", "truth.tsv",
    ]  # fmt: skip
    assert _dot_names(tmp_path) == []  # no lock file left


def test_runs_writing_other_files_of_one_folder_do_not_wait_for_each_other(tmp_path):
    first = _start_held("priors", "--meme", DATA / "motifs.meme", "--out", tmp_path / "a.meme", cwd=tmp_path)
    try:
        second = bionas("priors", "--meme", DATA / "motifs.meme", "--out", tmp_path / "b.meme", cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert (tmp_path / "b.meme").exists()
        same = bionas("priors", "--meme", DATA / "motifs.meme", "--out", tmp_path / "a.meme", cwd=tmp_path)
        assert same.returncode == 2 and f"(pid {first.pid} on host " in same.stderr
    finally:
        assert _go_on(first) == 0
    assert (tmp_path / "a.meme").exists()
    assert _dot_names(tmp_path) == []


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "priors.meme"
    killed = _start_held("priors", "--meme", DATA / "motifs.meme", "--out", out, cwd=tmp_path)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    left = tmp_path / f".priors.meme{LOCK_SUFFIX}"
    assert left.read_text().split()[0] == str(killed.pid)
    done = bionas("priors", "--meme", DATA / "motifs.meme", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert not left.exists()


def test_a_refused_run_removes_nothing_of_the_holder_and_the_folders_it_made(tmp_path):
    out = tmp_path / "a" / "b" / "priors.meme"
    with output_locks([out]):
        lock = lock_file(out)
        assert lock.exists() and lock.parent == tmp_path / "a" / "b"
        done = bionas("priors", "--meme", DATA / "motifs.meme", "--out", out, cwd=tmp_path)
        assert done.returncode == 2
        assert f"(pid {os.getpid()} on host " in done.stderr
        assert lock.exists()
        assert not out.exists()
    assert not (tmp_path / "a").exists()  # made for the lock only: gone with it


def test_a_refused_command_that_made_folders_for_its_lock_removes_them(tmp_path):
    done = bionas("priors", "--meme", DATA / "missing.meme", "--out", tmp_path / "x" / "y.meme", cwd=tmp_path)
    assert done.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_two_spellings_of_one_output_share_its_lock(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with output_locks([tmp_path / "real" / "x.tsv"]):
        with pytest.raises(InputError, match="is being written by another bionas run"):
            with output_locks([tmp_path / "link" / "sub" / ".." / "x.tsv"]):
                pass
    with output_locks([tmp_path / "link" / "x.tsv"]):  # released: free again
        pass
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == []


def test_without_flock_the_pid_in_the_lock_file_decides(tmp_path, monkeypatch):
    """A file system without flock (some network ones): a live holder named in the file
    refuses the run, a dead one is taken over."""

    def no_flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "x.tsv"
    lock = lock_file(out)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(f"{live.pid} {HOST}\n")
        with pytest.raises(InputError, match=rf"\(pid {live.pid} on host "):
            with output_locks([out]):
                pass
        assert lock.read_text() == f"{live.pid} {HOST}\n"
    finally:
        live.kill()
        live.wait()
    lock.write_text(f"{_dead_pid()} {HOST}\n")
    with output_locks([out]):
        assert lock.read_text() == f"{os.getpid()} {HOST}\n"
    assert not lock.exists()
