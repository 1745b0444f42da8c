"""The ``bionas`` command line: one subcommand per workflow stage.

The subcommands and their dispatcher are in :mod:`bionas.commands.registry`;
this module is the program's entry point (``[project.scripts]``).
"""

from __future__ import annotations

import logging
import os
import sys

from bionas.commands.registry import COMMANDS, build_parser, command_name, run_command

__all__ = ["COMMANDS", "build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the ``bionas`` CLI; return the exit status (0 ok, 2 bad input).

    Called as the program (``argv`` None) after a stage that imported
    TensorFlow, the process ends with ``os._exit`` once every output is closed
    and renamed: TensorFlow's interpreter shutdown costs 1.5-2 s per job and
    a search runs hundreds of jobs. With ``$BIONAS_WORKER`` set, the commands
    that import TensorFlow run in that warm worker instead (:mod:`bionas.worker`).
    """
    status = None
    if argv is None and os.environ.get("BIONAS_WORKER"):
        from bionas import worker

        if command_name(sys.argv[1:]) in worker.COMMANDS:
            status = worker.run_remote(sys.argv[1:])
    if status is None:
        status = run_command(argv)
    if argv is None and "tensorflow" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(status)
    return status
