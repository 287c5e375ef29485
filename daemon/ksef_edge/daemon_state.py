"""What the API handlers need from the running daemon, and the health rules built on it."""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from .clock_sync import ClockSync, clock_sync
from .config import Config
from .domain.signer import Signer
from .issuing.invoice_issuer import InvoiceIssuer, utc_now
from .issuing.invoice_request import InvoiceDraft
from .issuing.invoice_totals import InvoiceTotals, TotalsCache, TotalsReadError, totals_from_fa3
from .issuing.kor_issuer import CorrectionIssuer
from .keystore.certificates import CertificateInfo, identity_warning, load_certificate
from .keystore.signing import CertifiedSigner
from .ksef.system_warning import SYSTEM_WARNINGS
from .ksef.uplink import Uplink
from .ksef.upo_check import TALLY
from .metrics import Metrics
from .printing.receipt_layout import Block
from .store import InvoiceRecord, OutboxStore

log = logging.getLogger(__name__)

CERT_WARN_DAYS = 30
CLOCK_SYNC_CACHE_S = 10.0
BACKUP_STATUS_MAX_AGE_S = 5.0  # /v1/status re-reads the backup medium at most this often (the page polls every 5 s)


IssuedHook = Callable[[InvoiceRecord, InvoiceDraft | None], None]


class PrintLink(Protocol):
    """The receipt printer seen from the API (`issuing.receipts.ReceiptPrinter`)."""

    async def reprint(self, record: InvoiceRecord) -> None: ...

    def print_blocks(self, job_id: str, blocks: list[Block]) -> None: ...

    @property
    def state(self) -> str: ...


class BackupView(Protocol):
    """The scheduled backups seen from the API (`archive.monitor.BackupMonitor`)."""

    async def refresh(self) -> object: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CertificateStatus:
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    backend: str
    warnings: tuple[str, ...] = ()


@dataclass
class DaemonState:
    config: Config
    store: OutboxStore
    issuer: InvoiceIssuer
    signer: Signer
    certificate: CertificateStatus
    metrics: Metrics
    printer: PrintLink | None = None
    ksef_reachability: str = "unknown"  # set by the uplink: reachable | unreachable | unknown
    now: Callable[[], dt.datetime] = utc_now
    clock_sync_probe: Callable[[], ClockSync] = clock_sync
    on_issued: list[IssuedHook] = field(default_factory=list)  # (record, draft or None for a KOR), after commit
    uplink: Uplink | None = None  # when running
    backup: BackupView | None = None  # archive.monitor.BackupMonitor when [backup] is configured
    kod2_alarm: str | None = None  # the last KOD II self-check failure (domain.kod2_check), until an issue succeeds
    _corrections: CorrectionIssuer | None = None
    _certificate_info: CertificateInfo | None = None
    _totals: TotalsCache = field(default_factory=TotalsCache)
    _sync_cache: tuple[float, ClockSync] | None = None
    _backup_checked: float = float("-inf")

    @property
    def corrections(self) -> CorrectionIssuer:
        """The correction (KOR) issuer, made on first use from the same config, signer, store and clock."""
        if self._corrections is None:
            self._corrections = CorrectionIssuer(self.config, self.signer, self.store, now=self.now)
        return self._corrections

    def remember_totals(self, record: InvoiceRecord, totals: InvoiceTotals) -> None:
        """Totals of a document just issued (from what was built, so its 201 does not parse the XML back)."""
        self._totals.put(record.id, record.sha256, totals)

    async def invoice_totals(self, record: InvoiceRecord) -> InvoiceTotals | None:
        """Net/VAT/gross read from the stored bytes (None, logged, if they cannot be read: never guessed)."""
        hit = self._totals.get(record.id, record.sha256)
        if hit is not None:
            return hit
        xml = record.xml if record.xml is not None else await self.store.get_xml(record.id)
        try:
            totals = totals_from_fa3(xml)
        except TotalsReadError as exc:
            log.error("invoice %s: no totals: %s", record.number, exc)
            return None
        self._totals.put(record.id, record.sha256, totals)
        return totals

    def clock_sync(self) -> ClockSync:
        cached = self._sync_cache
        if cached is None or time.monotonic() - cached[0] > CLOCK_SYNC_CACHE_S:
            cached = (time.monotonic(), self.clock_sync_probe())
            self._sync_cache = cached
        return cached[1]

    async def problems(self) -> list[dict[str, str]]:
        """Reasons the daemon cannot issue right now (empty list: healthy)."""
        out: list[dict[str, str]] = []
        try:
            await self.store.ping()
            floor = await self.store.clock_floor()
        except Exception as exc:  # reported, not raised
            return [{"code": "store_unavailable", "message": f"the invoice database is not usable: {exc}"}]
        full = self.store.storage_problem()
        if full is not None:
            out.append({"code": "storage_full", "message": f"{full}; invoices cannot be stored until it is freed"})
        now = self.now()
        if floor is not None and now < floor - dt.timedelta(seconds=self.config.clock.floor_tolerance_s):
            out.append({
                "code": "clock_behind",
                "message": f"the clock ({now.isoformat(timespec='seconds')}) is behind the last issued invoice "
                f"({floor.isoformat(timespec='seconds')}); fix the time (NTP/RTC)",
            })
        if self.config.clock.require_sync and self.clock_sync() is not ClockSync.SYNCHRONIZED:
            out.append({"code": "clock_unsynchronized", "message": "the clock is not NTP-synchronised and [clock] require_sync is on"})
        if self.kod2_alarm:
            out.append({"code": "kod2_signature_invalid", "message": self.kod2_alarm})
        cert = self.certificate
        if now > cert.not_after:
            out.append({"code": "certificate_expired", "message": f"the Offline certificate {cert.serial} expired on {cert.not_after.date()}; install a new one"})
        elif now < cert.not_before:
            out.append({"code": "certificate_not_yet_valid", "message": f"the Offline certificate {cert.serial} is valid only from {cert.not_before.isoformat(timespec='seconds')}"})
        return out

    async def ksef_status(self) -> dict[str, Any]:
        """KSeF reachability as the uplink last saw it ("unknown" until it has talked to KSeF).

        The uplink's snapshot is refreshed at most every `status_interval_s` (5 s), so this is cheap.
        """
        out: dict[str, Any] = {"environment": self.config.ksef.environment.value, "reachability": self.ksef_reachability}
        if self.uplink is not None:
            st = await self.uplink.refresh_status()
            if st.last_success and (st.last_error_at is None or st.last_success >= st.last_error_at):
                out["reachability"] = "reachable"
            elif st.last_error_at is not None:
                out["reachability"] = "unreachable"
            out["uplink"] = st.to_dict()
        out["system_warning"] = SYSTEM_WARNINGS.to_dict()  # KSeF's X-System-Warning, None when it sent none
        out["upo_signatures"] = TALLY.to_dict()  # UPO XML signatures checked since start (never blocking)
        return out

    async def backup_status(self) -> dict[str, Any]:
        """`backup` in GET /v1/status: age of the last good backup, unprotected invoices, the alarm.

        Re-read at most every `BACKUP_STATUS_MAX_AGE_S` (a listing of the medium and one indexed query),
        so an invoice issued a moment ago counts as unprotected on the next poll, not a minute later.
        """
        if self.backup is None:
            return {"configured": False, "alarm": False,
                    "message": "no [backup] section: backups only by hand (`ksef-edge backup create`)"}
        if time.monotonic() - self._backup_checked >= BACKUP_STATUS_MAX_AGE_S:
            self._backup_checked = time.monotonic()
            await self.backup.refresh()  # never raises: a failed probe is reported as an alarm
        return {"configured": True, **self.backup.to_dict()}

    def certificate_info(self) -> CertificateInfo:
        """The signer's certificate as `keystore.certificates.CertificateInfo` (read once: it cannot change while running)."""
        if self._certificate_info is None:
            signer = self.signer  # a keystore.CertifiedSigner has it parsed already
            self._certificate_info = (signer.certificate if isinstance(signer, CertifiedSigner)
                                      else load_certificate(signer.certificate_der))
        return self._certificate_info

    def certificate_warnings(self) -> list[str]:
        """The signer's own warnings (from the checks at start) plus a live expiry warning.

        The keystore's expiry warning was worded at start ("N days left") and goes stale in a daemon that
        runs for weeks, so it is replaced by one counted now.
        """
        cert = self.certificate
        signer_warnings = self.signer.warnings if isinstance(self.signer, CertifiedSigner) else None
        warnings = [w for w in (cert.warnings if signer_warnings is None else signer_warnings)
                    if f"{cert.serial} expires on" not in w]
        days = (cert.not_after - self.now()).days
        if 0 <= days <= CERT_WARN_DAYS:
            warnings.append(f"the Offline certificate {cert.serial} expires on {cert.not_after.date()} "
                            f"({days} day(s) left); request a new one in KSeF and install it with `ksef-edge cert install FILE`")
        info = self.certificate_info()
        if info.kind != "Offline":
            warnings.append(f"certificate {cert.serial} is of type {info.kind}, not Offline: KOD II needs a KSeF Offline certificate")
        identity = identity_warning(info, self.config.seller.nip)
        if identity is not None and identity not in warnings:
            warnings.append(identity)
        return warnings

    def certificate_json(self) -> dict[str, Any]:
        """`certificate` in GET /v1/status: what the signer really holds, for the page and the fleet."""
        cert, info = self.certificate, self.certificate_info()
        return {
            "type": info.kind,
            "serial": cert.serial,
            "subject": info.subject,
            "nip": info.nip,
            "issuer": info.issuer,
            "key": info.key_description,
            "backend": cert.backend,
            "not_before": cert.not_before.isoformat(),
            "not_after": cert.not_after.isoformat(),
            "days_left": (cert.not_after - self.now()).days,
            "warnings": self.certificate_warnings(),
        }
