"""The daemon's view of its backups: runs the schedule, keeps the status fresh, exports metrics.

`/v1/status` and the status page read `BackupMonitor.to_dict()`; Prometheus gets
`ksef_edge_backup_age_seconds`, `ksef_edge_backup_unprotected_invoices`, `ksef_edge_backup_alarm` and
`ksef_edge_backup_last_success_timestamp_seconds` on the registry the daemon serves at `/metrics`.
The alarm is `backup_status`'s: invoices KSeF does not hold yet that are in no backup for longer
than `alarm_grace_s` (the device would be their only copy), or no backup medium at all.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from .backup import BackupInfo, BackupStatus
from .schedule import BackupScheduleState, current_backup_status, run_backup_schedule
from .settings import BackupConfig

log = logging.getLogger(__name__)

STATUS_REFRESH_S = 60.0
FIRST_BACKUP_DELAY_S = 60.0  # after start: let the daemon settle (and a restart loop not hammer the medium)


class BackupMonitor:
    """`await run()` in the background (backups + status refresh); `status` / `to_dict()` for the API."""

    def __init__(self, cfg: BackupConfig, db_path: Path, *, registry: CollectorRegistry | None = None,
                 refresh_s: float = STATUS_REFRESH_S, first_backup_delay_s: float | None = None) -> None:
        self.cfg = cfg
        self.db_path = Path(db_path)
        self.schedule = BackupScheduleState()
        self.status: BackupStatus | None = None
        self._refresh_s = refresh_s
        self._first_delay_s = FIRST_BACKUP_DELAY_S if first_backup_delay_s is None else first_backup_delay_s
        self._alarm_logged = False
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._age = Gauge("ksef_edge_backup_age_seconds", "Age of the newest good backup (-1: none)", registry=r)
        self._unprotected = Gauge("ksef_edge_backup_unprotected_invoices",
                                  "Invoices not yet in KSeF that are in no backup", registry=r)
        self._alarm = Gauge("ksef_edge_backup_alarm", "1 when unsent invoices have waited too long without a backup",
                            registry=r)
        self._last_success = Gauge("ksef_edge_backup_last_success_timestamp_seconds",
                                   "When the newest good backup was written (0: none)", registry=r)

    async def refresh(self) -> BackupStatus:
        """Recompute the status (a directory listing and one indexed query, off the event loop)."""
        try:
            status = await current_backup_status(self.cfg, self.db_path)
        except Exception as exc:  # a status probe must never take the daemon down
            log.error("backup status unavailable: %s", exc)
            status = BackupStatus(None, None, 0, None, True, f"backup status unavailable: {exc}")
        self.status = status
        self._age.set(status.age_s if status.age_s is not None else -1)
        self._unprotected.set(status.unprotected)
        self._alarm.set(1 if status.alarm else 0)
        self._last_success.set(status.last_backup_at.timestamp() if status.last_backup_at else 0)
        if status.alarm and not self._alarm_logged:
            log.error("ALARM backup: %s", status.message)
        self._alarm_logged = status.alarm
        return status

    def _on_backup(self, info: BackupInfo) -> None:
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self.refresh())

    async def run(self) -> None:
        """Until cancelled: scheduled backups (when `interval_s` > 0) and a status refresh every minute."""
        tasks = [asyncio.create_task(self._refresh_loop(), name="backup-status")]
        if self.cfg.interval_s > 0:
            tasks.append(asyncio.create_task(
                run_backup_schedule(self.cfg, self.db_path, state=self.schedule, first_delay_s=self._first_delay_s,
                                    on_backup=self._on_backup), name="backup-schedule"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _refresh_loop(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready status for `/v1/status` (`backup` key) and the status page."""
        st = self.status
        last = self.schedule.last_result
        return {
            "dir": str(self.cfg.dir),
            "interval_s": self.cfg.interval_s,
            "last_backup_at": _iso(st.last_backup_at) if st else None,
            "age_s": round(st.age_s, 1) if st and st.age_s is not None else None,
            "backups": st.backups if st else 0,
            "unprotected_invoices": st.unprotected if st else 0,
            "oldest_unprotected_at": _iso(st.oldest_unprotected_at) if st else None,
            "alarm": bool(st.alarm) if st else False,
            "message": st.message if st else "not checked yet",
            "last_written": str(last.path) if last else None,
            "last_error": self.schedule.last_error,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None
