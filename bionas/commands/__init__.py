"""One module per ``bionas`` subcommand: ``add_arguments(parser)`` and ``run(args) -> int``."""
