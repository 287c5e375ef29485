"""The demos: `python -m ksef_demo` (what `scripts/demo` runs) and `python -m ksef_demo.offline OUTDIR`.

Kept out of the product package `ksef_edge`: they drive a daemon and a simulator from outside,
through the same commands and HTTP API a shop's till and its installer use.
"""
