"""Arguments and device loading shared by the `ksef-edge` commands (each command is a module of `commands/`)."""
