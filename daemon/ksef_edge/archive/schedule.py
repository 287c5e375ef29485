"""The daemon's backup task: a backup every `interval_s` (and pruning, when configured).

Runs the blocking work in a thread so the event loop (and systemd's watchdog) never waits for a
slow USB stick. A failed backup is logged with its reason and retried at the next interval; the
status's alarm (`backup_status`) is what makes a long failure visible.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..keystore.errors import KeystoreError
from .backup import BackupInfo, BackupStatus, backup_status, create_backup
from .errors import ArchiveError
from .retention import prune_archived
from .settings import BackupConfig, backup_passphrase

log = logging.getLogger(__name__)


@dataclass
class BackupScheduleState:
    last_result: BackupInfo | None = None
    last_error: str | None = None


async def run_backup_schedule(
    cfg: BackupConfig,
    db_path: Path,
    *,
    state: BackupScheduleState | None = None,
    first_delay_s: float = 60.0,
    on_backup: Callable[[BackupInfo], None] | None = None,
) -> None:
    """Forever (until cancelled): wait, back up, apply retention, optionally prune. Never raises."""
    if cfg.interval_s <= 0:
        return
    state = state or BackupScheduleState()
    delay = first_delay_s
    while True:
        await asyncio.sleep(delay)
        delay = cfg.interval_s
        try:
            passphrase = backup_passphrase(cfg.passphrase_source, creating=True)
            info = await asyncio.to_thread(create_backup, db_path, cfg.dir, passphrase, keep=cfg.keep)
            state.last_result, state.last_error = info, None
            log.info("backup written: %s (%d invoices)", info.path, info.facts.invoices)
            if on_backup is not None:
                on_backup(info)
            if cfg.prune_after_days > 0:
                pruned = await asyncio.to_thread(prune_archived, db_path, older_than_days=cfg.prune_after_days)
                if pruned.pruned:
                    log.info("pruned %d archived invoice(s) issued before %s", len(pruned.pruned), pruned.cutoff)
        except (ArchiveError, KeystoreError) as exc:
            state.last_error = exc.message
            log.error("backup failed: %s", exc.message)
        except OSError as exc:
            state.last_error = f"{exc.__class__.__name__}: {exc.strerror or exc}"
            log.error("backup failed: %s", state.last_error)
        except Exception as exc:  # the task must outlive any single failure
            state.last_error = f"{exc.__class__.__name__}: {exc}"
            log.exception("backup failed")


async def current_backup_status(cfg: BackupConfig, db_path: Path) -> BackupStatus:
    """For the status page / metrics: age of the last good backup and the unsent-invoices alarm."""
    return await asyncio.to_thread(backup_status, db_path, cfg.dir, grace_s=cfg.alarm_grace_s)
