"""`ksef-sim` command line: start the local KSeF 2.0 simulator."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from .config import SimConfig
from .environment import ENVIRONMENT_VARIABLE, ENVIRONMENTS
from .faults import FaultInjector, FaultRule
from .system_warning import warning


def parse_args(argv: list[str] | None = None) -> tuple[SimConfig, str]:
    p = argparse.ArgumentParser(prog="ksef-sim", description="Local KSeF 2.0 simulator (API under /v2).")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="listen port (default 8700)")
    p.add_argument("--state", type=Path, help="directory to persist state in (default: in memory)")
    p.add_argument("--token", action="append", default=[], metavar="NIP=TOKEN",
                   help="accept KSeF token TOKEN for context NIP (repeatable)")
    p.add_argument("--rate-limits", default="prod", metavar="off|prod|FILE",
                   help="KSeF production limits (default), none, or a JSON file {group: {perSecond,...}}")
    p.add_argument("--fault", action="append", default=[], metavar="RULE",
                   help="fault rule 'PATH_GLOB=KIND[:PROB[:COUNT]]' or a JSON file of rules (repeatable)")
    p.add_argument("--processing-delay", type=float, default=0.05, metavar="SECONDS",
                   help="time an invoice takes from 100 to its final status (default 0.05)")
    p.add_argument("--access-ttl", type=float, default=900.0, metavar="SECONDS")
    p.add_argument("--refresh-ttl", type=float, default=7 * 86400.0, metavar="SECONDS")
    p.add_argument("--seed", type=int, help="random seed for probabilistic faults")
    p.add_argument("--environment", choices=("sim", *ENVIRONMENTS),
                   default=os.environ.get(ENVIRONMENT_VARIABLE) or "sim",
                   help="KSeF environment to play: UPO receiver name and XAdES-signed UPOs as in test (TE),"
                        f" demo (TR) or prod; sim = PRD name, unsigned UPO (default: ${ENVIRONMENT_VARIABLE} or sim)")
    p.add_argument("--system-warning", action="append", default=[], metavar="CODE=MESSAGE",
                   help="send X-System-Warning '[CODE]: MESSAGE' on every /v2 response (repeatable)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.environment not in ("sim", *ENVIRONMENTS):
        p.error(f"${ENVIRONMENT_VARIABLE}={args.environment!r}: expected sim, {', '.join(ENVIRONMENTS)}")
    tokens = {}
    for item in args.token:
        nip, sep, token = item.partition("=")
        if not sep or not (nip.isdigit() and len(nip) == 10) or not token:
            p.error(f"--token {item.split('=')[0]}=...: expected NIP=TOKEN with a 10-digit NIP")
        tokens[token] = nip
    faults: list[FaultRule] = []
    for item in args.fault:
        try:
            path = Path(item)
            faults += FaultInjector.load_file(path) if item.endswith(".json") and path.is_file() \
                else [FaultRule.parse(item)]
        except ValueError as exc:
            p.error(f"--fault: {exc}")
    if args.rate_limits not in ("off", "prod") and not Path(args.rate_limits).is_file():
        p.error(f"--rate-limits {args.rate_limits!r}: expected off, prod or an existing JSON file")
    warnings = []
    for item in args.system_warning:
        code, sep, message = item.partition("=")
        try:
            warnings.append(warning(code, message) if sep else "")
        except ValueError:
            sep = ""
        if not sep:
            p.error(f"--system-warning {item!r}: expected CODE=MESSAGE")
    if args.processing_delay < 0:
        p.error("--processing-delay must be >= 0")
    return SimConfig(host=args.host, port=args.port, state_dir=args.state, tokens=tokens,
                     access_token_ttl_s=args.access_ttl, refresh_token_ttl_s=args.refresh_ttl,
                     processing_delay_s=args.processing_delay, rate_limits=args.rate_limits,
                     faults=faults, seed=args.seed, environment=args.environment,
                     system_warnings=warnings), args.log_level


def main(argv: list[str] | None = None) -> int:
    config, level = parse_args(argv)
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from .app import make_app
    app = make_app(config)
    print(f"ksef-sim: KSeF API at http://{config.host}:{config.port}/v2, admin at /admin,"
          f" Latarnia at /latarnia; environment {config.environment};"
          f" state {'in ' + str(config.state_dir) if config.state_dir else 'in memory'}",
          flush=True)
    web.run_app(app, host=config.host, port=config.port, print=None, access_log=None, shutdown_timeout=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
