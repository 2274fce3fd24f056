"""One module per ``chime-tap`` subcommand: ``add_arguments(parser)`` and ``run(args) -> int``."""
