"""The table of ``bionas`` subcommands and the in-process dispatcher.

Each subcommand lives in ``bionas/commands/<name>.py`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
when their subcommand runs, so ``bionas --help`` and the data stages never pay
for importing TensorFlow. :mod:`bionas.cli` (the program) and
:mod:`bionas.worker` (the warm worker's forked jobs) both dispatch here.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from bionas import __version__
from bionas.errors import (
    InputError,
    Terminated,
    forget_signal,
    raise_if_terminated,
    shown,
    signal_arrived,
)
from bionas.io import WRITE_ERRNOS, lock_file, output_locks, reason, shown_output

# subcommand -> (module under bionas.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("simulate", "write the demo genome, peaks and truth table with planted JASPAR motifs"),
    "decompress-genome": (
        "decompress_genome",
        "a plain copy of a gzip-compressed FASTA (a bgzip one is read as it is)",
    ),
    "prepare": ("prepare", "windows around peak summits, negatives and a chromosome split"),
    "encode": ("encode", "windows -> one-hot tensors, one .npz per split"),
    "priors": ("priors", "prior motifs from JASPAR IDs or names, or a checked MEME file"),
    "init-controller": ("init_controller", "write the first state of a search controller"),
    "propose": ("propose", "controller state -> N architectures as JSON"),
    "train-child": ("train_child", "train one child architecture on the tensors"),
    "promote": ("promote", "the children of a rung that continue to the next (successive halving)"),
    "continue-child": ("continue_child", "continue a promoted child's training to its next rung"),
    "score-child": ("score_child", "knowledge dissimilarity and reward of a trained child"),
    "update-controller": ("update_controller", "controller state + a step's metrics -> new state"),
    "select-architecture": (
        "select_architecture",
        "pick the final architecture from a search, a controller or a JSON file",
    ),
    "evaluate": ("evaluate", "test the final model's replicates on the held-out chromosomes"),
    "replay": ("replay", "run a search against a table of recorded results, no training"),
    "motif-families": (
        "motif_families",
        "group a motif collection into families (JASPAR annotation and similarity)",
    ),
    "compare-motifs": (
        "compare_motifs",
        "the final model's filters as PWMs against JASPAR, prior recovery, negative control",
    ),
    "attribute": (
        "attribute",
        "attributions of the final model, TF-MoDISco patterns and their motif matches",
    ),
    "report": ("report", "one self-contained HTML page about a finished run"),
    "status": ("status", "where a run stands: steps, children, best so far, time left"),
    "predict": ("predict", "score new regions or a tiled range with a found model"),
    "export": ("export", "the final model as a TensorFlow SavedModel and as ONNX, checked"),
    "bigwig": ("bigwig", "one bigWig per task from the predictions table of bionas predict"),
}


#: subcommand -> the dests of its arguments that name outputs (a file or a folder), which
#: the command locks before it writes (bionas.io.output_locks). A cache folder shared by
#: concurrent jobs (--cache-dir) is no output: its entries are written atomically, each once.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "simulate": ("out_dir",),
    "decompress-genome": ("out",),
    "prepare": ("out", "summary"),
    "encode": ("out_dir",),
    "priors": ("out",),
    "init-controller": ("out",),
    "propose": ("out",),
    "train-child": ("out_dir",),
    "promote": ("out",),
    "continue-child": ("out_dir",),
    "score-child": ("out",),
    "update-controller": ("out", "history_out"),
    "select-architecture": ("out",),
    "evaluate": ("out_metrics", "out_model", "out_predictions", "out_summary", "out_architecture"),
    "replay": (),
    "motif-families": ("out",),
    "compare-motifs": ("out_dir",),
    "attribute": ("out_dir",),
    "report": ("out", "model_card"),
    "status": (),
    "predict": ("out", "bigwig_dir"),
    "bigwig": ("out_dir",),
    "export": ("out_dir",),
}


def output_paths(command: str, args: argparse.Namespace) -> list[str]:
    """The outputs the parsed ``args`` of ``command`` name, in the order of :data:`OUTPUTS`."""
    return [getattr(args, dest) for dest in OUTPUTS.get(command, ()) if getattr(args, dest, None) is not None]


def refuse_clashes(command: str, parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """InputError when an output of ``command`` is another of its outputs or any other of its
    arguments' files or folders (an input: writing it would destroy what the run reads).

    Two outputs clash when they are one path (spelled alike or not); an output
    and another argument when both exist and are one file or folder (a value
    ``NAME=PATH`` is read as its path too). Checked before anything is written.
    """
    flags = {a.dest: (a.option_strings or [a.dest])[-1] for a in parser._actions}
    outputs = [(dest, getattr(args, dest)) for dest in OUTPUTS.get(command, ()) if getattr(args, dest, None) is not None]
    seen: dict[Path, str] = {}
    for dest, value in outputs:
        key = lock_file(value)
        if key is None:
            continue
        if key in seen:
            raise InputError(
                f"is given as both {flags[seen[key]]} and {flags[dest]}; each output needs a path "
                "of its own",
                value,
            )
        seen[key] = dest
    for dest, value in outputs:
        if not _exists(value):
            continue
        for other, given in vars(args).items():
            if other == dest:
                continue
            for candidate in _path_values(given):
                if _exists(candidate) and _same(candidate, value):
                    raise InputError(
                        f"is both the output {flags[dest]} and {flags.get(other, other)}; writing it "
                        "would overwrite what the run reads: write the output to another path",
                        value,
                    )


def _path_values(value) -> list[str]:
    """The paths an argument's value may name: itself, the PATH of ``NAME=PATH``, each item of a
    list."""
    if isinstance(value, (list, tuple)):
        return [p for item in value for p in _path_values(item)]
    if not isinstance(value, (str, os.PathLike)):
        return []
    text = os.fspath(value)
    return [text, text.split("=", 1)[1]] if "=" in text else [text]


def _exists(path) -> bool:
    try:
        return os.path.exists(path)
    except (OSError, ValueError):
        return False


def _same(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


class _Parser(argparse.ArgumentParser):
    """argparse, with the user's line breaks escaped in its error line (``unrecognized
    arguments: a\\nb``), so the error stays one line."""

    def error(self, message: str):
        super().error(one_line(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bionas",
        description="Neural architecture search for genomic sequence data, "
        "scored on prediction and on agreement with known motifs.",
    )
    parser.add_argument("--version", action="version", version=f"bionas {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text, add_help=False)
    return parser


def _load(module: str):
    return importlib.import_module(f"bionas.commands.{module}")


def command_name(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def run_command(argv: list[str] | None) -> int:
    """Parse ``argv`` (global options, a subcommand and its flags) and run it in this process.

    Returns the exit status: 0 ok, 2 bad input, 130 interrupted (SIGINT), 143
    terminated (SIGTERM). Either signal ends the command with one line on
    stderr; outputs are written atomically, so none is left half-written.
    The command's outputs (:data:`OUTPUTS`) are locked while it runs: another
    run writing one of them meanwhile is refused (exit 2) before it writes. In
    a training, SIGTERM takes effect after the current batch; a SIGTERM whose
    exception was lost on its way up (see :class:`~bionas.errors.Terminated`)
    still ends the command with 143, and nothing is renamed into place after it.
    """
    # TensorFlow's C++ start-up chatter (oneDNN notes, graph attribute warnings)
    # is noise in every job log; real errors still surface as Python exceptions.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    # Parse only the global options and the subcommand name first, then let the
    # subcommand's own parser (built after a lazy import) read the rest.
    name = command_name(argv)
    if name not in COMMANDS:
        args = top.parse_args(argv)
        top.print_help()
        return 0 if args.command is None and not argv else 2
    index = argv.index(name)
    global_args, rest = argv[:index], argv[index + 1 :]
    gargs = top.parse_args([*global_args])
    module_name, help_text = COMMANDS[name]
    module = _load(module_name)
    parser = _Parser(prog=f"bionas {name}", description=help_text)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if gargs.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    forget_signal()
    previous = _on_signals(_interrupt)
    try:
        refuse_clashes(name, parser, args)
        # two runs writing one output at once would mix their files: the second is refused
        with output_locks(output_paths(name, args)):
            try:
                status = int(module.run(args) or 0)
            except Exception:
                raise_if_terminated()  # a Terminated that C code turned into another error
                raise
            raise_if_terminated()  # one that something swallowed: the command went on
            return status
    except InputError as err:
        print(f"bionas {name}: error: {one_line(str(err))}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        missing = (err.name or "").split(".")[0]
        if missing not in ("tensorflow", "keras"):
            raise
        print(
            f"bionas {name}: error: {missing} is not installed in this environment; install "
            "bionas with TensorFlow: pip install 'bionas[cpu]' (or 'bionas[gpu]' on a GPU node; "
            "from a checkout: pip install '.[cpu]')",
            file=sys.stderr,
        )
        return 2
    except OSError as err:
        message = _os_error(err)
        if message is None:
            raise
        print(f"bionas {name}: error: {one_line(message)}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"bionas {name}: interrupted (SIGTERM); no output was left half-written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"bionas {name}: interrupted; no output was left half-written", file=sys.stderr)
        return 130
    finally:
        _on_signals(previous)
        forget_signal()


def _os_error(err: OSError) -> str | None:
    """The error line of an OSError that is the system's fault, not bionas': a path name too
    long, a full disk, a read-only folder, a missing permission (None for any other)."""
    if err.errno == errno.ENAMETOOLONG:
        # a user's path of more than 255 bytes a name: refused by the OS wherever it is opened
        return f"{shown(err.filename)}: file name too long"
    if err.errno not in WRITE_ERRNOS:
        return None
    if err.filename is None:
        return f"cannot write an output: {reason(err)}"
    return f"{shown_output(err.filename)}: {reason(err)}"


#: characters str.splitlines() breaks a line at
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped (``\\n``, ``\\u2028``): a path or value given by the
    user may hold one, and an error stays one line on stderr."""
    return "".join(repr(c)[1:-1] if c in _LINE_BREAKS else c for c in text)


def _interrupt(signum, frame) -> None:
    signal_arrived(signum)  # raises, or leaves it to the next check (see bionas.errors)


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_signals(handler):
    """Install ``handler`` for SIGINT and SIGTERM; return the handlers before, by signal
    (None off the main thread). ``handler`` may be such a return value."""
    if handler is None:
        return None
    handlers = handler if isinstance(handler, dict) else dict.fromkeys(_SIGNALS, handler)
    try:
        # a handler installed from C reads as None: there is nothing to put back
        return {s: signal.signal(s, handlers[s]) for s in _SIGNALS if handlers[s] is not None}
    except ValueError:  # not the main thread: leave signals alone
        return None
