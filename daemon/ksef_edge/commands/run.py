"""`ksef-edge run --config FILE`: the daemon (systemd's main process)."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from ..config import ConfigError, load_config
from ..service import run_daemon, setup_logging
from ..store.retirement import EXIT_RETIRED, OutboxRetiredError

log = logging.getLogger("ksef_edge.run")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the invoicing daemon (local API, outbox, uplink)")
    p.add_argument("--config", required=True, metavar="FILE", help="device TOML, e.g. /etc/ksef-edge/device.toml")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    setup_logging(getattr(logging, args.log_level.upper()))
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"ksef-edge: config error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_daemon(config))
    except KeyboardInterrupt:
        return 130
    except OutboxRetiredError as exc:  # a distinct exit code: the unit does not restart on it
        print(f"ksef-edge: will not start: {exc}", file=sys.stderr)
        return EXIT_RETIRED
    except Exception as exc:  # one actionable line, not a traceback, for systemd's status
        log.debug("start-up failed", exc_info=True)
        print(f"ksef-edge: cannot start: {exc}", file=sys.stderr)
        return 1
