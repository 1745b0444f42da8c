"""Shared fixtures: tiny data files copied into ``tmp_path`` and an in-process CLI runner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    """The tiny genome (4 chromosomes, 6.2 kb), two peak files and a MEME file, in ``tmp_path``.

    chr1 2000 bp (lowercase 1200-1300), chr2 1500 bp (N run 1000-1100),
    chr3 1500 bp (N run 1400-1420), chr4 1200 bp.
    """
    out = {}
    for key, name in [
        ("fasta", "tiny.fa"),
        ("bed", "task_a.bed"),
        ("narrowpeak", "task_b.narrowPeak"),
        ("meme", "motifs.meme"),
    ]:
        out[key] = tmp_path / name
        shutil.copy(DATA / name, out[key])
    return out


@pytest.fixture
def cli(capsys):
    """Run ``bionas`` in-process: ``cli("prepare", ...) -> (status, stdout, stderr)``."""
    from bionas.cli import main

    def run(*argv: str | Path) -> tuple[int, str, str]:
        status = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run
