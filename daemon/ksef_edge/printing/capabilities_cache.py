"""Where python-escpos caches its parsed printer database (`ESCPOS_CAPABILITIES_PICKLE_DIR`).

python-escpos parses its 1 MB capabilities file with pure-Python YAML on import (~0.1 s on x86, seconds on
a Pi) unless a pickle of it sits in that directory; without the variable it uses a fresh `mkdtemp()` per
process, so every start parses again (docs/benchmarks.md). The systemd unit points it at the service's
cache directory; when it is unset, the directory systemd gave the service (`CacheDirectory=`) is used.
This must run before `escpos.capabilities` is imported: `ksef_edge.printing` calls it on import.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _default(environ: MutableMapping[str, str]) -> Path | None:
    """The service's own cache directory when systemd made one (first of CACHE_DIRECTORY's entries)."""
    cache = environ.get("CACHE_DIRECTORY", "").split(":")[0]
    return Path(cache) if cache else None


def configure(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Make `ESCPOS_CAPABILITIES_PICKLE_DIR` a usable directory; returns it (None: python-escpos' default).

    A configured directory that does not exist yet is created (python-escpos would fail to import
    otherwise, and with it all printing); one that cannot be created or written is dropped with a
    warning, so printing works, only slower to start.
    """
    if "escpos.capabilities" in sys.modules:  # too late for this process: already loaded
        value = environ.get(ENV)
        return Path(value) if value else None
    value = environ.get(ENV)
    chosen = Path(value) if value else _default(environ)
    if chosen is None:
        return None
    try:
        chosen.mkdir(mode=0o700, parents=True, exist_ok=True)
        usable = os.access(chosen, os.W_OK | os.X_OK)
    except OSError as exc:
        usable, why = False, str(exc)
    else:
        why = "not writable"
    if not usable:
        log.warning("%s=%s cannot be used (%s); python-escpos will parse its printer database at every start",
                    ENV, chosen, why)
        environ.pop(ENV, None)
        return None
    environ[ENV] = str(chosen)
    return chosen


__all__ = ["ENV", "configure"]
