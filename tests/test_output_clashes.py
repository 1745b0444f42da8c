"""An output that is an input, or two outputs that are one path: refused before any write.

Over every command with outputs, from its valid invocation in
``tests/test_fuzz_commands.py`` (``BASE``), on stand-in input files: the check
runs before the command reads them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
from pathlib import Path

import pytest
from test_fuzz_commands import BASE

from bionas.cli import main
from bionas.commands.registry import COMMANDS, OUTPUTS

WITH_OUTPUTS = sorted(c for c in COMMANDS if OUTPUTS.get(c))
#: commands that read no file (simulate reads JASPAR by name)
NO_FILE_INPUT = {"simulate"}
#: optional outputs to add so that every command with two outputs has them both
EXTRA = {"report": ["--model-card", "card.json"], "predict": ["--bigwig-dir", "bw"]}


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"bionas {command}")
    importlib.import_module(f"bionas.commands.{COMMANDS[command][0]}").add_arguments(parser)
    return parser


def _flags(command: str) -> dict[str, str]:
    """dest -> flag of the command's outputs."""
    actions = {a.dest: a for a in _parser(command)._actions}
    return {dest: actions[dest].option_strings[-1] for dest in OUTPUTS[command]}


def _invocation(command: str, tmp_path: Path) -> tuple[list[str], list[Path]]:
    """The base argv on stand-in inputs (empty files) and those inputs."""
    d, o = tmp_path / "in", tmp_path / "out"
    o.mkdir(parents=True)
    argv = [str(a) for a in BASE[command](d, o)]
    inputs = []
    for value in argv:
        path = Path(value.split("=", 1)[-1])
        if path.is_relative_to(d):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            inputs.append(path)
    return argv, inputs


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(Path(r, n).relative_to(folder)): (Path(r, n).lstat().st_size, Path(r, n).lstat().st_mtime_ns)
        for r, ds, fs in os.walk(folder)
        for n in ds + fs
    }


def _refused(argv: list[str], tmp_path: Path, capsys) -> str:
    before = _snapshot(tmp_path)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    [line] = err.splitlines()
    assert _snapshot(tmp_path) == before, "a refused run wrote"
    return line


def test_every_output_argument_is_in_the_table():
    assert set(OUTPUTS) == set(COMMANDS)
    for command in COMMANDS:
        dests = {a.dest for a in _parser(command)._actions}
        assert set(OUTPUTS[command]) <= dests, command
        named_like_outputs = {d for d in dests if re.fullmatch(r"out|out_\w+|\w+_out", d)}
        assert named_like_outputs <= set(OUTPUTS[command]), command


@pytest.mark.parametrize("command", [c for c in WITH_OUTPUTS if c not in NO_FILE_INPUT])
def test_an_output_that_is_an_input_is_refused_before_anything_is_written(command, tmp_path, capsys):
    argv, inputs = _invocation(command, tmp_path)
    assert inputs, argv
    flags = [flag for flag in _flags(command).values() if flag in argv]
    assert flags, argv
    for flag in flags:  # each output in turn
        changed = list(argv)
        changed[argv.index(flag) + 1] = str(inputs[-1])
        line = _refused(changed, tmp_path, capsys)
        assert line.startswith(f"bionas {command}: error: {inputs[-1]}: is both the output {flag} and --"), line


@pytest.mark.parametrize("command", [c for c in WITH_OUTPUTS if len(OUTPUTS[c]) > 1])
def test_two_outputs_that_are_one_path_are_refused_before_anything_is_written(command, tmp_path, capsys):
    argv, _ = _invocation(command, tmp_path)
    argv += [a if a.startswith("--") else str(tmp_path / "out" / a) for a in EXTRA.get(command, [])]
    flags = [f for f in _flags(command).values() if f in argv]
    assert len(flags) >= 2, argv
    first, second = flags[:2]
    changed = list(argv)
    # the same output spelled another way
    target = Path(argv[argv.index(first) + 1])
    changed[argv.index(second) + 1] = str(target.parent / "." / target.name)
    line = _refused(changed, tmp_path, capsys)
    assert line.startswith(f"bionas {command}: error: "), line
    assert line.endswith(f": is given as both {first} and {second}; each output needs a path of its own")
