"""Subcommands of `ksef-edge`; one module per command group, each with `register(subparsers)`."""
