"""Wiring and lifecycle of the daemon: store + keystore + API, sd_notify, graceful stop.

READY=1 is sent only after the store opened (integrity check, migrations, crash recovery), the
signer opened with every certificate check passed, and the API listens. WATCHDOG=1 comes from the
event loop while the store answers; SIGTERM sends STOPPING=1, stops accepting connections, lets
in-flight requests finish (an issuance transaction is never cut), then closes the store.

Background work: the KSeF uplink (`ksef.runner.open_uplink`, own store connections) when
`[ksef] uplink = "auto"` and a KSeF token is installed; the receipt print queue when [printer] is set.
Both are told about each new invoice through `DaemonState.on_issued`; `add_background()` takes more.
With [backup], `archive.monitor.BackupMonitor` runs the scheduled backups and keeps their age and
alarm in `Daemon.backup` / `DaemonState.backup` (`.to_dict()`) and at /metrics.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from aiohttp import web

from . import __version__
from .api.app import build_app
from .api.connections import ConnectionLimits
from .api.listener import GuardedSite, ensure_descriptors, lan_tls_context
from .api.self_check import api_answers
from .api.stopping import STOPPING_KEY
from .api.tills import TILLS_KEY, TillsContext
from .config import Config
from .daemon_state import CertificateStatus, DaemonState
from .domain.fa3 import compile_schemas
from .domain.signer import Signer
from .issuing.invoice_issuer import InvoiceIssuer, utc_now
from .keystore.certificates import load_certificate
from .keystore.signing import CertifiedSigner
from .logfields import logfmt_fields, set_till
from .metrics import Metrics
from .store import OutboxStore
from .store.tills import TillRegistry

if TYPE_CHECKING:  # imported lazily at run time: only a device with [backup] / [printer] loads them
    from .archive.monitor import BackupMonitor
    from .issuing.receipts import ReceiptPrinter

log = logging.getLogger("ksef_edge.service")

try:  # systemd-python is optional: outside systemd (or without the module) notify is a no-op
    import systemd.daemon as _sd_daemon
except ImportError:  # pragma: no cover - depends on the machine
    _sd_daemon = None

WATCHDOG_PING_TIMEOUT_S = 2.0
# A stop waits this long for the uplink's current step, then abandons it (state is written before
# every KSeF request, so the next start resumes it): well inside the unit's TimeoutStopSec, KSeF
# reachable or not (issue #25: a stop during an outage used to take 30 s and end in SIGKILL).
UPLINK_STOP_S = 2.0
REPRINT_ON_ACCEPT_MAX_AGE = dt.timedelta(hours=1)  # [printer] reprint_on_accept: only while the customer may be there


# ------------------------------------------------------------------------------------ sd_notify


def sd_notify(message: str) -> bool:
    """Send a state line to systemd (NOTIFY_SOCKET); False when not under systemd."""
    if _sd_daemon is None or not os.environ.get("NOTIFY_SOCKET"):
        return False
    try:
        return bool(_sd_daemon.notify(message))
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False


def watchdog_interval_s() -> float | None:
    """Half the systemd watchdog period, or None when no watchdog is configured for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


# -------------------------------------------------------------------------------------- logging


class _LogfmtFormatter(logging.Formatter):
    """`ts=... level=... logger=... msg="..."`: greppable, one line per event, no secrets (callers never pass them)."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        line = (
            f"ts={self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} level={record.levelname.lower()} "
            f'logger={record.name} msg="{msg}"'
        ) + logfmt_fields(record)
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


def setup_logging(level: int = logging.INFO) -> None:
    """journald under systemd (JOURNAL_STREAM / INVOCATION_ID set), else stderr."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler | None = None
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        try:
            from systemd.journal import JournalHandler

            handler = JournalHandler(SYSLOG_IDENTIFIER="ksef-edge")
        except ImportError:
            handler = None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_LogfmtFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# ------------------------------------------------------------------------------------- the daemon


def certificate_status(signer: Signer) -> CertificateStatus:
    """What the status shows of the signer's certificate; a keystore signer has it parsed and checked."""
    if isinstance(signer, CertifiedSigner):
        info, backend, warnings = signer.certificate, signer.backend_name, signer.warnings
    else:  # an in-memory signer (tests, demos)
        info, backend, warnings = load_certificate(signer.certificate_der), "memory", ()
    return CertificateStatus(
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        backend=backend,
        warnings=tuple(warnings),
    )


def open_signer(config: Config, now: dt.datetime) -> Signer:
    """Open the Offline-certificate signer with every check (type, NIP, validity, key match)."""
    from .keystore import open_signer as keystore_open_signer

    return keystore_open_signer(config.keystore, seller_nip=config.seller.nip, now=now)


class Daemon:
    """Start with `await daemon.start()`, stop with `await daemon.stop()`; `run_daemon` adds signals."""

    def __init__(
        self,
        config: Config,
        *,
        signer: Signer | None = None,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.config = config
        self._signer = signer
        self._owns_signer = signer is None
        self._now = now
        self.store: OutboxStore | None = None
        self.state: DaemonState | None = None
        self._runner: web.AppRunner | None = None
        self.site: GuardedSite | None = None
        self._tills: TillRegistry | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.stopping = asyncio.Event()
        self.bound: tuple[str, int] | str | None = None
        self._uplink_close: Callable[[], Any] | None = None
        self.backup: BackupMonitor | None = None  # when [backup] is configured
        self._printer: ReceiptPrinter | None = None  # when [printer] is configured

    async def start(self) -> None:
        cfg = self.config
        # before READY and before any request: two first requests compiling at once broke libxml2 (a 500)
        compile_schemas()
        self.store = await OutboxStore.open(cfg.store.path, busy_timeout_ms=cfg.store.busy_timeout_ms)
        log.info("store %s ready (schema v%d)", cfg.store.path, self.store.schema_version)
        try:
            if self._signer is None:
                self._signer = open_signer(cfg, self._now())
            cert = certificate_status(self._signer)
            for warning in cert.warnings:
                log.warning("certificate: %s", warning)
            log.info("signer ready: certificate %s (%s), valid until %s", cert.serial, cert.backend, cert.not_after.date())
            issuer = InvoiceIssuer(cfg, self._signer, self.store, now=self._now)
            self.state = DaemonState(
                config=cfg,
                store=self.store,
                issuer=issuer,
                signer=self._signer,
                certificate=cert,
                metrics=Metrics(),
                now=self._now,
            )
            await self._start_uplink()  # opens its own store connections first (their crash recovery runs now)
            await self._start_printer()
            await self._start_backups()
            app = build_app(self.state)
            app[STOPPING_KEY] = self.stopping  # from the first moment of a stop, issuing answers 503
            await self._listen(self._with_tills(app))
        except BaseException:
            await self.stop()
            raise

    def _with_tills(self, app: web.Application) -> web.Application:
        """Named tills (store/tills.py): the config's token becomes the till named by [device] pos_id, once."""
        assert self.state is not None
        registry = TillRegistry.open(self.config.store.path)
        if registry.adopt(self.config.device.pos_id, self.config.api.token):
            log.info("tills: the [api] token is now till %s (ksef-edge till list)", self.config.device.pos_id)
        self._tills = registry
        app[TILLS_KEY] = TillsContext.create(registry, self.state.metrics.registry)
        return app

    async def _listen(self, app: web.Application) -> None:
        api = self.config.api
        limits = ConnectionLimits(api.connections_max, api.header_timeout_s, api.keepalive_requests_max)
        ensure_descriptors(api.connections_max)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=api.shutdown_timeout_s, handle_signals=False,
                                     keepalive_timeout=api.header_timeout_s)
        await self._runner.setup()
        if api.unix_socket is not None:
            path = Path(api.unix_socket)
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a stale socket from a crash
            site = GuardedSite(self._runner, limits, path=str(path))
            await site.start()
            os.chmod(path, 0o660)
            self.bound = str(path)
        else:
            site = GuardedSite(self._runner, limits, host=api.listen_host, port=api.listen_port,
                               ssl_context=lan_tls_context(api))
            await site.start()
            self.bound = site.bound
        self.site = site
        log.info("API listening on %s (at most %d connections)", self.bound, api.connections_max)

    async def _start_printer(self) -> None:
        """Receipts go to `printing.PrintQueue` when [printer] is configured (connection != none)."""
        assert self.state is not None and self.store is not None
        printer_cfg = self.config.printer
        if printer_cfg is None or printer_cfg.connection == "none":
            log.info("printing: no printer configured; receipts stay 'pending'")
            return
        from .issuing.receipts import ReceiptPrinter
        from .printing.metrics import PrinterCollector

        printer = ReceiptPrinter(printer_cfg, self.store, self.state.metrics.registry)
        self._printer = printer
        self.state.printer = printer
        self.state.metrics.registry.register(PrinterCollector(printer.queue))  # ksef_edge_printer_* at /metrics
        self.state.on_issued.append(printer.on_issued)
        await printer.start(self._now())

    async def _start_backups(self) -> None:
        """[backup]: scheduled encrypted backups, and their age/alarm in the status and at /metrics."""
        assert self.state is not None
        cfg = self.config.backup
        if cfg is None:
            log.info("backups: no [backup] section; run `ksef-edge backup create` by hand")
            return
        from .archive.monitor import BackupMonitor

        monitor = BackupMonitor(cfg, self.config.store.path, registry=self.state.metrics.registry)
        self.backup = monitor
        self.state.backup = monitor  # read by the API: GET /v1/status `backup`, the status page
        status = await monitor.refresh()
        self.add_background("backup", monitor.run())
        log.info("backups: to %s every %ss (keep %d); %s", cfg.dir, cfg.interval_s, cfg.keep, status.message)

    async def _start_uplink(self) -> None:
        """The KSeF uplink on its own store connections, when [ksef] uplink = "auto" and a KSeF token is installed."""
        assert self.state is not None
        ksef = self.config.ksef
        if ksef.uplink != "auto":
            log.info("uplink disabled ([ksef] uplink = off); invoices stay queued")
            return
        from .keystore.errors import KeystoreError
        from .keystore.token_store import load_token
        from .ksef.models import ContextIdentifier, environment_for
        from .ksef.recovery import recover_then_start
        from .ksef.runner import open_uplink

        try:
            token = await asyncio.get_running_loop().run_in_executor(None, load_token, self.config.keystore)
        except KeystoreError as exc:
            log.warning("uplink not started: %s", exc)
            self.state.ksef_reachability = "no_token"
            return
        name = ksef.environment.value
        env = environment_for(name, ksef.api_base_url)
        uplink, close = await open_uplink(
            self.config.store.path,
            env,
            context=ContextIdentifier(ksef.context_type, ksef.context_value),
            token_provider=lambda: token,
            config=ksef.uplink_config(),
            overrides=ksef.outage_overrides(),
            timeout_s=ksef.uplink_timeout_s,
            on_accepted=self._on_accepted,
            busy_timeout_ms=self.config.store.busy_timeout_ms,
        )
        self._uplink_close = close
        self.state.uplink = uplink
        self.state.metrics.include(uplink.metrics.registry)  # ksef_edge_uplink_* at the daemon's /metrics
        self.state.on_issued.append(lambda record, draft: uplink.notify())
        # after a restore, ask KSeF in bulk what it already holds before uploading (ksef/recovery.py)
        self.add_background("recover", recover_then_start(Path(self.config.store.path), uplink.client,
                                                          seller_nip=self.config.seller.nip, start=uplink.start))
        log.info("uplink started (%s, %s)", name, ksef.api_base_url)

    async def _on_accepted(self, invoice_id: int, ksef_number: str) -> None:
        """KSeF gave the invoice its number: with `[printer] reprint_on_accept`, print a copy that shows
        the KSeF number under KOD I (the receipt laid out from the stored bytes, as every print is)."""
        state = self.state
        if not self.config.reprint_on_accept or state is None or state.printer is None or self.store is None:
            return
        record = await self.store.get(invoice_id)
        if self._now() - record.created_at > REPRINT_ON_ACCEPT_MAX_AGE:
            return  # a backlog uploaded after an outage: the customers have gone, no stack of copies
        if record.ksef_number is None:  # the uplink's commit is not visible yet on our reader: use what it told us
            record = dataclasses.replace(record, ksef_number=ksef_number)
        await state.printer.reprint(record)
        log.info("invoice %s accepted as %s: copy with the KSeF number queued", record.number, ksef_number)

    def add_background(self, name: str, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_task_end)
        self._tasks.append(task)
        return task

    async def healthy_for_watchdog(self) -> bool:
        """The event loop runs, the store answers and a till could get an answer (api/self_check.py)."""
        if self.store is None:
            return False
        try:
            await asyncio.wait_for(self.store.ping(), WATCHDOG_PING_TIMEOUT_S)
        except Exception as exc:
            log.error("watchdog: store does not answer: %s", exc)
            return False
        if self.bound is not None and not await api_answers(
            self.bound, tls=self.site is not None and self.site.tls, timeout_s=WATCHDOG_PING_TIMEOUT_S
        ):
            log.error("watchdog: the API on %s does not answer GET /healthz; not feeding the watchdog", self.bound)
            return False
        return True

    async def stop(self) -> None:
        self.stopping.set()
        state = self.state
        if state is not None and state.uplink is not None:
            with contextlib.suppress(Exception):
                await state.uplink.stop(timeout_s=UPLINK_STOP_S)
            state.uplink = None
        if self._uplink_close is not None:
            with contextlib.suppress(Exception):
                await self._uplink_close()
            self._uplink_close = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()  # stops listening, waits for in-flight handlers
            self._runner = None
        await self._close_resources()
        if self._tills is not None:
            self._tills.close()
            self._tills = None

    async def _close_resources(self) -> None:
        printer, self._printer = self._printer, None
        if printer is not None:
            with contextlib.suppress(Exception):
                await printer.close()
        if self.store is not None:
            await self.store.close()
            self.store = None
        if self._owns_signer and isinstance(self._signer, CertifiedSigner):
            with contextlib.suppress(Exception):
                self._signer.close()
            self._signer = None


def _log_task_end(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s died: %r", task.get_name(), exc)


async def run_daemon(config: Config) -> int:
    """Run until SIGTERM/SIGINT; the systemd unit's main process."""
    os.umask(os.umask(0o077) | 0o027)  # files the daemon creates: at most 0640, whatever umask it got
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    set_till(config.device.pos_id)  # TILL on every log record (journald field / logfmt pair)
    daemon = Daemon(config)
    await daemon.start()
    sd_notify(f"READY=1\nSTATUS=issuing invoices (ksef-edge {__version__})\nMAINPID={os.getpid()}")
    log.info("ready (ksef-edge %s)", __version__)
    watchdog = asyncio.create_task(_watchdog(daemon, stop), name="watchdog")
    await stop.wait()
    sd_notify("STOPPING=1\nSTATUS=stopping: finishing in-flight requests")
    log.info("stopping: finishing in-flight requests")
    watchdog.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watchdog
    await daemon.stop()
    log.info("stopped")
    return 0


async def _watchdog(daemon: Daemon, stop: asyncio.Event) -> None:
    interval = watchdog_interval_s()
    if interval is None:
        return
    while not stop.is_set():
        if await daemon.healthy_for_watchdog():
            sd_notify("WATCHDOG=1")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
