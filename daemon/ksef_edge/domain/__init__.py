"""Pure domain core: no I/O, no clocks, no network. Everything here is a function of its inputs."""
