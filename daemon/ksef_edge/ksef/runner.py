"""Wiring helpers: build an uplink on its own store connection; run it as a process.

`python -m ksef_edge.ksef.runner --db outbox.db --api http://127.0.0.1:8700/v2 --nip 5265877635
--token-file token.txt [--latarnia URL] [--until-drained]` is what the crash tests kill with SIGKILL;
the daemon uses `open_uplink()` from its service instead.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path
from typing import Awaitable, Callable

from ..store import OutboxStore
from .availability import Availability, Outage
from .client import KsefClient
from .models import ContextIdentifier, Environment
from .pacer import Pacer
from .uplink import Uplink, UplinkConfig
from .uplink_clock import Clock, SystemClock


async def open_uplink(
    db_path: str | Path,
    env: Environment,
    *,
    context: ContextIdentifier,
    token_provider: Callable[[], str],
    config: UplinkConfig | None = None,
    clock: Clock | None = None,
    overrides: tuple[Outage, ...] = (),
    timeout_s: float = 30.0,
    on_accepted: Callable[[int, str], Awaitable[None]] | None = None,
    busy_timeout_ms: int = 5000,
) -> tuple[Uplink, Callable[[], Awaitable[None]]]:
    """An `Uplink` on a dedicated `OutboxStore` (own connections); returns (uplink, async closer)."""
    clock = clock or SystemClock()
    store = await OutboxStore.open(db_path, busy_timeout_ms=busy_timeout_ms)
    client = KsefClient(env, context=context, token_provider=token_provider, clock=clock,
                        pacer=Pacer(clock=clock), timeout_s=timeout_s)
    uplink = Uplink(store, client, config=config, clock=clock, availability=Availability(overrides),
                    on_accepted=on_accepted)

    async def close() -> None:
        await client.close()
        await store.close()

    return uplink, close


async def _main(args: argparse.Namespace) -> int:
    token = Path(args.token_file).read_text(encoding="utf-8").strip()
    env = Environment("cli", args.api.rstrip("/"), args.latarnia)
    config = UplinkConfig(lost_grace_s=args.lost_grace, poll_interval_s=args.poll, idle_wait_s=args.poll,
                          batch_threshold=args.batch_threshold, backoff_base_s=0.2, backoff_max_s=5.0)
    uplink, close = await open_uplink(args.db, env, context=ContextIdentifier("Nip", args.nip),
                                      token_provider=lambda: token, config=config, timeout_s=args.timeout)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, uplink.request_stop)  # graceful: finish the step, then exit
    task = uplink.start()
    try:
        while not task.done():
            await asyncio.sleep(0.5)
            if args.until_drained:
                counts = await uplink.store.counts_by_state()
                if not (counts["issued"] or counts["sending"] or counts["accepted"]):
                    break
    finally:
        await uplink.stop()
        await close()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ksef_edge.ksef.runner", description=__doc__)
    p.add_argument("--db", required=True)
    p.add_argument("--api", required=True, help="KSeF API base ending in /v2")
    p.add_argument("--latarnia", default=None)
    p.add_argument("--nip", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--until-drained", action="store_true")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--lost-grace", type=float, default=90.0)
    p.add_argument("--poll", type=float, default=2.0)
    p.add_argument("--batch-threshold", type=int, default=30)
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    raise SystemExit(main())
