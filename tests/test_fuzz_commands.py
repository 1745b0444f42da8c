"""A property over every subcommand's flags: nasty values end in 0 or one error line.

Every subcommand of :data:`bionas.commands.registry.COMMANDS` has a valid base
invocation in :data:`BASE` (a command without one fails
:func:`test_every_command_has_a_base_invocation`), built on small inputs made
once per module by the commands themselves (``prepare``, ``encode``,
``train-child`` for one epoch on 60 windows, ``score-child``, ...). Hypothesis
then changes ONE thing: a flag's value (any flag of the command's parser, given
or not) becomes a nasty value, a required flag is dropped, a list flag gets no
value, or an unknown flag is added. The nasty values are

- numbers: 0, -0, 1, -1, 2**31, 2**62..2**64, -2**63, 10**30, 10**400, 1e308,
  1e-320, nan, inf, -inf, 1_0, 0x10, 1.5, and random integers and floats;
- strings: empty, blanks, unicode (é, 中, U+2028, RTL), a NUL-free control
  character, a newline in the middle, a leading dash, a 5000-character name,
  paths with ``..``, spaces and newlines;
- files: a missing file, a directory, an empty file, binary junk, gzip junk,
  and every other input of the chain (a FASTA for a YAML, a model for a
  table, ...), copied into the run's sandbox first.

Property: the exit status is 0 or 2 (argparse's 2 arrives as SystemExit);
stderr has no traceback; a non-zero status comes with one line
``bionas <cmd>: error: ...`` (or argparse's ``usage:`` + ``bionas <cmd>:
error:``); nothing is written into the module's inputs, into the repository
or beside them, and no temporary file (a name starting with '.') is left in
the run's sandbox. Each example runs in a fresh sandbox and with its cwd
three levels inside it, so relative nasty paths (``../x``) stay inside.

Numbers between 2**31 and 2**62 are left out on purpose: a valid huge budget
(``--epochs``, ``--n``, ``--chrom-length``) is a real job that takes hours or
all the memory, not a fault. An example that runs over :data:`TIMEOUT`
seconds fails.

Cases per CI run: the sum of :data:`EXAMPLES` (``pytest --collect-only``
shows one test per command; ``BIONAS_FUZZ_SCALE=N`` multiplies them): 422
examples plus 23 base invocations, 445 runs of ``bionas``; the file takes
30-80 s on 2 cores (``BIONAS_FUZZ_SCALE=3``: about 5 minutes). Left out to stay in that time: ``attribute`` runs
TF-MoDISco on 40 windows (it finds no seqlets, so its clustering is not
fuzzed), ``compare-motifs``, ``attribute`` and ``motif-families`` compare
against a two-motif MEME file rather than JASPAR, and ``simulate`` plants one
motif in two 2-kb chromosomes.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib
import itertools
import json
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from helpers_child import setup_inputs, write_tensors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bionas.cli import main
from bionas.commands.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
#: The compilation cache every test session shares (see tests/test_compare.py).
CACHE = ROOT / ".numba_cache"
SCALE = max(1, int(os.environ.get("BIONAS_FUZZ_SCALE", "1")))
#: seconds one example may run
TIMEOUT = 60

# ---------------------------------------------------------------------------
# inputs made once per module, by the commands themselves


def _ok(*argv) -> None:
    status = main([str(a) for a in argv])
    assert status == 0, argv


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every input file of every command, in one folder (read only to the examples)."""
    from bionas.search.builder import build_model

    d = tmp_path_factory.mktemp("fuzz_inputs")
    for name in ("tiny.fa", "tiny.fa.fai", "task_a.bed", "task_b.narrowPeak", "motifs.meme"):
        shutil.copy(DATA / name, d / name)
    with open(d / "tiny.fa", "rb") as src, gzip.open(d / "tiny.fa.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    _ok("prepare", "--genome", d / "tiny.fa", "--peaks", f"a={d / 'task_a.bed'}",
        f"b={d / 'task_b.narrowPeak'}", "--val-chroms", "chr3", "--test-chroms", "chr4",
        "--window", "100", "--out", d / "windows.tsv", "--summary", d / "summary.tsv")  # fmt: skip
    space = setup_inputs(d)  # space.yaml, arch.json (step 1, child 0), priors.meme
    write_tensors(d / "train.npz", n=60, seed=1)
    write_tensors(d / "val.npz", n=40, seed=2)
    write_tensors(d / "test.npz", n=40, seed=3)
    layers = json.loads((d / "arch.json").read_text())["layers"]
    build_model(space, layers, 100, 1, seed=5).save(d / "model.keras")
    child = d / "child"
    _ok("train-child", "--space", d / "space.yaml", "--architecture", d / "arch.json",
        "--train", d / "train.npz", "--val", d / "val.npz", "--out-dir", child,
        "--epochs", "1", "--batch-size", "32")  # fmt: skip
    _ok("score-child", "--space", d / "space.yaml", "--train-result", child / "train.json",
        "--priors", d / "priors.meme", "--out", child / "metrics.json")  # fmt: skip
    kept = d / "halving" / "step_001" / "child_00"  # successive halving: a first rung
    _ok("train-child", "--space", d / "space.yaml", "--architecture", d / "arch.json",
        "--train", d / "train.npz", "--val", d / "val.npz", "--out-dir", kept,
        "--epochs", "1", "--batch-size", "32", "--learning-rate", "0.01", "--keep-resume")  # fmt: skip
    _ok("score-child", "--space", d / "space.yaml", "--train-result", kept / "train.json",
        "--priors", d / "priors.meme", "--out", kept / "metrics.json")  # fmt: skip
    _ok(*BASE["promote"](d, d / "halving" / "step_001" / "rung_1"))
    _ok("init-controller", "--space", d / "space.yaml", "--controller", "rl", "--out", d / "state0")
    run = d / "run"
    step = run / "search" / "step_001"
    _ok("update-controller", "--space", d / "space.yaml", "--state", d / "state0",
        "--metrics", child / "metrics.json", "--out", step / "controller",
        "--history-out", step / "history.tsv", "--steps", "2")  # fmt: skip
    _ok("select-architecture", "--space", d / "space.yaml", "--history", step / "history.tsv",
        "--out", d / "candidates.json")  # fmt: skip
    fchild = d / "final_child"  # a final model's train.json and metrics.json (step null)
    _ok("train-child", "--space", d / "space.yaml", "--architecture", d / "candidates.json",
        "--index", "0", "--train", d / "train.npz", "--val", d / "val.npz", "--out-dir", fchild,
        "--epochs", "1", "--batch-size", "32")  # fmt: skip
    _ok("score-child", "--space", d / "space.yaml", "--train-result", fchild / "train.json",
        "--priors", d / "priors.meme", "--out", fchild / "metrics.json")  # fmt: skip
    final = run / "final"
    _ok("evaluate", "--results", fchild / "train.json", "--metrics", fchild / "metrics.json",
        "--space", d / "space.yaml", "--test", d / "test.npz",
        "--out-metrics", final / "test_metrics.tsv", "--out-model", final / "model.keras",
        "--out-predictions", final / "predictions.npz", "--out-summary", final / "summary.json",
        "--out-architecture", final / "architecture.json")  # fmt: skip
    _ok("motif-families", "--collection", d / "priors.meme", "--cache-dir", CACHE,
        "--out", d / "families.tsv")  # fmt: skip
    _ok(*BASE["compare-motifs"](d, final / "interpret"))
    _ok("predict", "--model", d / "model.keras", "--genome", d / "tiny.fa",
        "--tile", "chr1:0-600", "--step", "100", "--out", d / "predictions.tsv")  # fmt: skip
    # a results table of every architecture (replay)
    rows = ["\t".join([*space.layer_names, "val_loss", "knowledge", "replicate"])]
    for i, layers in enumerate(itertools.product(*(lay.option_names for lay in space.layers))):
        rows.append("\t".join([*layers, f"{0.5 + i / 1000:.3f}", f"{(i % 7) / 10:.1f}", "0"]))
    (d / "table.tsv").write_text("\n".join(rows) + "\n")
    # the inputs the nasty values choose from ("another format")
    (d / "empty.txt").write_bytes(b"")
    (d / "junk.bin").write_bytes(bytes(range(256)) * 4)
    (d / "junk.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(40)))
    return d


def _files(d: Path) -> dict[str, Path]:
    step = d / "run" / "search" / "step_001"
    final = d / "run" / "final"
    return {
        "fasta": d / "tiny.fa", "fasta.gz": d / "tiny.fa.gz", "bed": d / "task_a.bed",
        "narrowpeak": d / "task_b.narrowPeak", "meme": d / "priors.meme",
        "windows": d / "windows.tsv", "space": d / "space.yaml", "arch": d / "arch.json",
        "train": d / "train.npz", "val": d / "val.npz", "test": d / "test.npz",
        "model": d / "model.keras", "train.json": d / "child" / "train.json",
        "metrics": d / "child" / "metrics.json", "state": d / "state0",
        "final.json": d / "final_child" / "train.json", "candidates": d / "candidates.json",
        "history": step / "history.tsv", "table": d / "table.tsv", "summary": final / "summary.json",
        "test_metrics": final / "test_metrics.tsv", "predictions": final / "predictions.npz",
        "families": d / "families.tsv", "interpret": final / "interpret",
        "predictions.tsv": d / "predictions.tsv",
        "empty": d / "empty.txt", "junk": d / "junk.bin", "junk.gz": d / "junk.gz",
    }  # fmt: skip


# ---------------------------------------------------------------------------
# one valid invocation per command: BASE[cmd](inputs, out) -> argv

BASE = {
    "simulate": lambda d, o: [
        "simulate", "--out-dir", o / "sim", "--motifs", "MA0139", "--chromosomes", "2",
        "--chrom-length", "2000", "--sites", "5", "--seed", "1", "--gc", "0.4",
    ],
    "decompress-genome": lambda d, o: [
        "decompress-genome", "--genome", d / "tiny.fa.gz", "--out", o / "genome.fa",
    ],
    "prepare": lambda d, o: [
        "prepare", "--genome", d / "tiny.fa", "--peaks", f"a={d / 'task_a.bed'}",
        f"b={d / 'task_b.narrowPeak'}", "--val-chroms", "chr3", "--test-chroms", "chr4",
        "--window", "100", "--negative-ratio", "1", "--seed", "1", "--max-peaks", "5",
        "--out", o / "windows.tsv", "--summary", o / "summary.tsv",
    ],
    "encode": lambda d, o: [
        "encode", "--genome", d / "tiny.fa", "--windows", d / "windows.tsv", "--out-dir", o / "enc",
    ],
    "priors": lambda d, o: ["priors", "--meme", d / "motifs.meme", "--out", o / "priors.meme"],
    "init-controller": lambda d, o: [
        "init-controller", "--space", d / "space.yaml", "--controller", "rl", "--seed", "3",
        "--out", o / "state",
    ],
    "propose": lambda d, o: [
        "propose", "--space", d / "space.yaml", "--state", d / "state0", "--n", "3",
        "--step", "1", "--out", o / "proposals.json",
    ],
    "train-child": lambda d, o: [
        "train-child", "--space", d / "space.yaml", "--architecture", d / "arch.json",
        "--train", d / "train.npz", "--val", d / "val.npz", "--out-dir", o / "child",
        "--epochs", "1", "--batch-size", "32", "--learning-rate", "0.01",
    ],
    "promote": lambda d, o: [
        "promote", "--space", d / "space.yaml", "--rung", "1", "--n", "1", "--epochs", "2",
        "--metrics", d / "halving" / "step_001" / "child_00" / "metrics.json",
        "--out", o / "promoted.json",
    ],
    "continue-child": lambda d, o: [
        "continue-child", "--promoted", d / "halving" / "step_001" / "rung_1" / "promoted.json",
        "--slot", "0", "--train", d / "train.npz", "--val", d / "val.npz", "--out-dir", o / "slot",
        "--batch-size", "32", "--learning-rate", "0.01",
    ],
    "score-child": lambda d, o: [
        "score-child", "--space", d / "space.yaml", "--train-result", d / "child" / "train.json",
        "--priors", d / "priors.meme", "--out", o / "metrics.json", "--lambda", "1",
    ],
    "update-controller": lambda d, o: [
        "update-controller", "--space", d / "space.yaml", "--state", d / "state0",
        "--metrics", d / "child" / "metrics.json", "--out", o / "state1",
        "--history-out", o / "history.tsv", "--steps", "2",
    ],
    "select-architecture": lambda d, o: [
        "select-architecture", "--space", d / "space.yaml", "--mode", "best_reward",
        "--history", d / "run" / "search" / "step_001" / "history.tsv", "--top-k", "1",
        "--out", o / "candidates.json",
    ],
    "evaluate": lambda d, o: [
        "evaluate", "--results", d / "final_child" / "train.json", "--metrics",
        d / "final_child" / "metrics.json", "--space", d / "space.yaml", "--test", d / "test.npz",
        "--out-metrics", o / "test_metrics.tsv", "--out-model", o / "model.keras",
        "--out-predictions", o / "predictions.npz", "--out-summary", o / "summary.json",
        "--out-architecture", o / "architecture.json",
    ],
    "replay": lambda d, o: [
        "replay", "--space", d / "space.yaml",
        "--table", d / "table.tsv", "--controller", "random",
        "--budget", "4", "--lambda", "0.5", "--batch", "2", "--replicates", "1",
    ],
    "motif-families": lambda d, o: [
        "motif-families", "--collection", d / "priors.meme", "--cache-dir", CACHE,
        "--out", o / "families.tsv",
    ],
    "compare-motifs": lambda d, o: [
        "compare-motifs", "--space", d / "space.yaml", "--model", d / "model.keras",
        "--architecture", d / "arch.json", "--test", d / "val.npz", "--priors", d / "priors.meme",
        "--collection", d / "priors.meme", "--cache-dir", CACHE, "--top-k", "2",
        "--out-dir", o,
    ],
    "attribute": lambda d, o: [
        "attribute", "--model", d / "model.keras", "--test", d / "test.npz",
        "--priors", d / "priors.meme", "--collection", d / "priors.meme",
        "--families", d / "families.tsv", "--cache-dir", CACHE, "--max-seqlets", "50",
        "--leiden-runs", "1", "--out-dir", o / "attribute",
    ],
    "report": lambda d, o: [
        "report", "--dataset", "tiny", "--run", "fuzz", "--space", d / "space.yaml",
        "--architecture", d / "run" / "final" / "architecture.json",
        "--summary", d / "run" / "final" / "summary.json",
        "--test-metrics", d / "run" / "final" / "test_metrics.tsv",
        "--predictions", d / "run" / "final" / "predictions.npz",
        "--model", d / "run" / "final" / "model.keras",
        "--interpret-dir", d / "run" / "final" / "interpret",
        "--history", d / "run" / "search" / "step_001" / "history.tsv",
        "--controllers", d / "state0", "--config-text", "seed: 1",
        "--out", o / "report" / "index.html",
    ],
    "status": lambda d, o: ["status", d / "run", "--json"],
    "predict": lambda d, o: [
        "predict", "--model", d / "model.keras", "--genome", d / "tiny.fa",
        "--regions", d / "task_a.bed", "--batch-size", "8", "--out", o / "predictions.tsv",
    ],
    "bigwig": lambda d, o: [
        "bigwig", "--predictions", d / "predictions.tsv", "--genome", d / "tiny.fa",
        "--step", "100", "--out-dir", o / "bw",
    ],
    "export": lambda d, o: [
        "export", "--model", d / "model.keras", "--test", d / "test.npz", "--check", "8",
        "--out-dir", o / "export",
    ],
}  # fmt: skip

#: examples per command (each is one run of the command in-process)
EXAMPLES = {
    "simulate": 20, "decompress-genome": 25, "prepare": 30, "encode": 20, "priors": 20,
    "init-controller": 25, "propose": 25, "train-child": 20, "score-child": 20,
    "promote": 20, "continue-child": 10,
    "update-controller": 25, "select-architecture": 20, "evaluate": 15, "replay": 25,
    "motif-families": 15, "compare-motifs": 10, "attribute": 10, "report": 8,
    "status": 15, "predict": 20, "bigwig": 20, "export": 4,
}  # fmt: skip


def test_the_counts_in_the_docs_are_the_examples():
    """The module docstring and the README's fault table state how many runs CI makes."""
    runs, commands = sum(EXAMPLES.values()), len(BASE)
    assert f"{runs}\nexamples plus {commands} base invocations, {runs + commands} runs" in __doc__
    readme = (ROOT / "README.md").read_text()
    assert f"each of the {commands} subcommands | {runs} + {commands} |" in readme


def test_every_command_has_a_base_invocation():
    missing = sorted(set(COMMANDS) - set(BASE))
    assert not missing, f"add a valid invocation to BASE and EXAMPLES for {missing}"
    assert set(EXAMPLES) == set(BASE)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_base_invocation_runs(command, inputs, capsys):
    if command not in BASE:
        pytest.fail(f"no base invocation for {command!r} in BASE")
    with sandbox(inputs) as (box, out):
        argv = [str(a) for a in BASE[command](inputs, out)]
        status = main(argv)
        err = capsys.readouterr().err
        assert status == 0, err[-3000:]


# ---------------------------------------------------------------------------
# sandboxes and snapshots


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            st_ = path.lstat()
            out[str(path.relative_to(folder))] = (st_.st_size, st_.st_mtime_ns)
    return out


@contextlib.contextmanager
def sandbox(inputs: Path):
    """A fresh folder ``box`` with ``box/out`` and the cwd at ``box/a/b/cwd``."""
    box = Path(tempfile.mkdtemp(prefix="fuzz_", dir=inputs.parent))
    cwd = box / "a" / "b" / "cwd"
    cwd.mkdir(parents=True)
    (box / "out").mkdir()
    before = os.getcwd()
    os.chdir(cwd)
    try:
        yield box, box / "out"
    finally:
        os.chdir(before)
        shutil.rmtree(box, ignore_errors=True)


# ---------------------------------------------------------------------------
# nasty values (``@{key}`` stands for a file made in the example's sandbox)

NUMBERS = st.one_of(
    st.sampled_from([
        "0", "-0", "1", "-1", "2", "0.0", "-0.0", "1.5", "-1.5", "0.5", "1e-320", "1e308",
        "-1e308", "1e309", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1_0", "0x10",
        "1e3", " 1", "1 ", "+1", "٣", str(2**31), str(2**62), str(2**63 - 1), str(2**63),
        str(2**64), str(-(2**63)), str(-(2**64)), str(10**30), "1" + "0" * 400,
    ]),
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)  # fmt: skip
STRINGS = st.one_of(
    st.sampled_from([
        "", " ", "\t", "é", "中文", "\u2028", "\u202e", "a\nb", "x\r\n", "\x01", "\x7f", "-",
        "--", "-x", "x" * 5000, "../x", "../../x", "a b/c d", "a\nb/x", "./", ".", "..", "/",
        "~", "$HOME", "%(default)s", "%s", "{}", "*", "=", "a=b", "a=", "=b", "chr1",
        "chr1:0-300", "chr1:300-0", "chr1:-5-100", "chr9:0-300", "chr1:0-99999999999999999999",
        "chr1:1_0-300", "MA0139", "CTCF", "JASPAR1999", "rl", "all", "primary", "[", "(",
        "\U0001f600",
    ]),
    st.text(max_size=8).filter(lambda s: "\x00" not in s and not s.startswith(".")),
)  # fmt: skip
FILE_KEYS = [
    "fasta", "fasta.gz", "bed", "narrowpeak", "meme", "windows", "space", "arch", "train",
    "val", "test", "model", "train.json", "metrics", "state", "history", "table", "summary",
    "test_metrics", "predictions", "families", "interpret", "final.json", "candidates",
    "empty", "junk", "junk.gz",
]  # fmt: skip
FILES = st.one_of(
    st.sampled_from(FILE_KEYS).map(lambda k: f"@{{{k}}}"),
    st.sampled_from([
        "@{box}/missing.txt", "@{box}/no/such/dir/x.tsv", "@{box}/adir", "@{box}/adir/",
        "@{box}/out/../out/x y.tsv", "@{box}/é 中/x", "@{box}/a\nb.tsv", "@{box}/junk.bin/x",
    ]),
)  # fmt: skip
TASKS = st.sampled_from(["a", "", "é", "a b", "a\tb", "chrom", "../t", "a/b", "x" * 300])
VALUES = st.one_of(
    NUMBERS, STRINGS, FILES,
    st.builds(lambda t, f: f"{t}={f}", TASKS, FILES | STRINGS),
)  # fmt: skip
PLACEHOLDER = re.compile(r"@\{([\w.]+)\}")


def materialize(value: str, box: Path, inputs: Path) -> str:
    """``value`` with every ``@{key}`` replaced by a path in ``box`` (copies of the inputs)."""
    files = _files(inputs)

    def sub(match: re.Match) -> str:
        key = match.group(1)
        if key not in files and key != "box":
            return match.group(0)
        if key == "box":
            (box / "adir").mkdir(exist_ok=True)
            (box / "junk.bin").write_bytes(b"\xff\x00junk")
            return str(box)
        src = files[key]
        dst = box / "files" / key / src.name
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        return str(dst)

    return PLACEHOLDER.sub(sub, value)


# ---------------------------------------------------------------------------
# one change to a base invocation


def command_parser(command: str) -> argparse.ArgumentParser:
    module = importlib.import_module(f"bionas.commands.{COMMANDS[command][0]}")
    parser = argparse.ArgumentParser(prog=f"bionas {command}")
    module.add_arguments(parser)
    return parser


def segments(argv: list[str]) -> list[tuple[str | None, list[str]]]:
    """``[cmd, pos, --a, 1, --b]`` -> ``[(None, [pos]), ("--a", ["1"]), ("--b", [])]``."""
    out: list[tuple[str | None, list[str]]] = [(None, [])]
    for token in argv[1:]:
        if token.startswith("--"):
            out.append((token, []))
        else:
            out[-1][1].append(token)
    return out


@st.composite
def changes(draw, command: str):
    """One change: ("set", flag, values, joined) / ("drop", flag) / ("unknown", value) / ..."""
    actions = [a for a in command_parser(command)._actions if not isinstance(a, argparse._HelpAction)]
    valued = [a for a in actions if a.nargs != 0]
    switches = [a.option_strings[-1] for a in actions if a.nargs == 0]
    kind = draw(st.sampled_from(["set"] * 6 + ["drop", "unknown", "empty", "switch"]))
    if kind == "switch" and switches:
        return ("switch", draw(st.sampled_from(switches)))
    if kind == "drop":
        return ("drop", draw(st.integers(0, 50)))
    if kind == "unknown":
        return ("unknown", draw(VALUES))
    action = draw(st.sampled_from(valued))
    flag = action.option_strings[-1] if action.option_strings else None
    many = action.nargs in ("+", "*")
    if kind == "empty" and many:
        return ("set", flag, [], False)
    if action.choices is not None and draw(st.booleans()):  # a valid choice, for coverage
        values = [draw(st.sampled_from(list(action.choices)))]
    elif action.type is not None and action.type is not str:
        values = draw(st.lists(NUMBERS | VALUES, min_size=1, max_size=2 if many else 1))
    else:
        values = draw(st.lists(VALUES, min_size=1, max_size=2 if many else 1))
    joined = flag is not None and not many and draw(st.booleans())
    return ("set", flag, values, joined)


def apply(command: str, base: list[str], change: tuple) -> list[str]:
    parts = segments(base)
    if change[0] == "set":
        _, flag, values, joined = change
        parts = [p for p in parts if p[0] != flag] if flag else [(None, values)] + parts[1:]
        if flag:
            parts.append((f"{flag}={values[0]}", []) if joined else (flag, values))
    elif change[0] == "drop":
        i = change[1] % len(parts)
        parts = [(None, []), *parts[1:]] if i == 0 else parts[:i] + parts[i + 1 :]
    elif change[0] == "unknown":
        parts.append(("--no-such-flag", [change[1]]))
    elif change[0] == "switch":
        parts.append((change[1], []))
    argv = [command]
    for flag, values in parts:
        argv += ([flag] if flag else []) + values
    return argv


# ---------------------------------------------------------------------------
# the property


class _Timeout(BaseException):
    """An example ran over TIMEOUT seconds (not an Exception: bionas may catch those)."""


def _alarm(signum, frame):
    raise _Timeout()


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def check_outcome(command: str, argv: list[str], status, err: str) -> None:
    assert "Traceback" not in err, err[-3000:]
    if status == 0:
        return
    lines = [line for line in err.splitlines() if line.strip() and not LOG_LINE.match(line)]
    prefix = f"bionas {command}: error:"
    if status == 1 and command == "train-child" and "--fail-fatal" in argv:
        assert len(lines) == 1 and lines[0].startswith("bionas train-child: child failed:"), err
        return
    assert status == 2, (status, err[-3000:])
    assert lines, "no error line"
    if lines[0].startswith(f"usage: bionas {command}"):  # argparse: usage lines, then the error
        assert lines[-1].startswith(prefix), err[-3000:]
    else:
        assert len(lines) == 1, err[-3000:]
        assert lines[0].startswith(prefix), err[-3000:]


def _files_in(folder: Path) -> set[str]:
    return {str(Path(r, f).relative_to(folder)) for r, _, fs in os.walk(folder) for f in fs}


def _dot_names(folder: Path) -> list[str]:
    return [str(Path(r, n)) for r, ds, fs in os.walk(folder) for n in ds + fs if n.startswith(".")]


def _guard_exit(status: int) -> None:
    raise SystemExit(status)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_nasty_flag_values_exit_0_or_one_error_line(command, inputs, capsys, monkeypatch):
    if command not in BASE:
        pytest.fail(f"no base invocation for {command!r} in BASE: add one (and to EXAMPLES)")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(CACHE))
    # train-child's --job-seconds / --job-memory-mb end the process they run in: here, an
    # exit (in the guard's thread it just ends the thread; the guard stops with the command)
    monkeypatch.setattr("bionas.search.guard._exit", _guard_exit)
    frozen = snapshot(inputs)
    repo = {p: set(os.listdir(p)) for p in (ROOT, ROOT / "tests")}

    @settings(
        max_examples=EXAMPLES[command] * SCALE, derandomize=True, deadline=None, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(change=changes(command))
    def prop(change):
        with sandbox(inputs) as (box, out):
            base = [str(a) for a in BASE[command](inputs, out)]
            argv = [materialize(a, box, inputs) for a in apply(command, base, change)]
            before = _files_in(box)
            capsys.readouterr()
            previous = signal.signal(signal.SIGALRM, _alarm)
            signal.alarm(TIMEOUT)
            try:
                status = main(argv)
            except SystemExit as exit_:
                status = exit_.code
            except _Timeout:
                pytest.fail(f"ran over {TIMEOUT} s: {argv}")
            finally:
                signal.alarm(0)
                signal.signal(signal.SIGALRM, previous)
            err = capsys.readouterr().err
            check_outcome(command, argv, status, err)
            assert not _dot_names(box), f"temporary files left: {_dot_names(box)}"
            if status != 0:
                assert _files_in(box) == before, f"a refused run wrote {_files_in(box) - before}"
        assert snapshot(inputs) == frozen, "the inputs changed"
        for path, names in repo.items():
            assert set(os.listdir(path)) <= names | {"__pycache__", ".hypothesis"}, f"wrote into {path}"

    prop()
