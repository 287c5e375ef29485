"""The daemon's backup task and the `[backup]` settings."""
from __future__ import annotations

import asyncio
import os

import pytest

from archive_helpers import issue, passphrase_file
from ksef_edge.archive import BackupConfig, list_backups
from ksef_edge.archive.schedule import BackupScheduleState, current_backup_status, run_backup_schedule
from ksef_edge.store import OutboxStore


async def test_scheduled_backup_runs_and_status_clears_the_alarm(tmp_path, ec_signer):
    store = await OutboxStore.open(tmp_path / "outbox.sqlite3")
    try:
        await issue(store, ec_signer)
        cfg = BackupConfig(dir=tmp_path / "usb", keep=3, interval_s=60, alarm_grace_s=0,
                           passphrase_file=passphrase_file(tmp_path))
        assert (await current_backup_status(cfg, store.path)).alarm
        done = asyncio.Event()
        task = asyncio.create_task(run_backup_schedule(cfg, store.path, first_delay_s=0, on_backup=lambda _: done.set()))
        await asyncio.wait_for(done.wait(), 30)
        task.cancel()
        assert len(list_backups(cfg.dir)) == 1
        status = await current_backup_status(cfg, store.path)
        assert not status.alarm and status.age_s is not None
    finally:
        await store.close()


async def test_a_failing_backup_is_reported_and_the_task_keeps_running(tmp_path, ec_signer):
    store = await OutboxStore.open(tmp_path / "outbox.sqlite3")
    try:
        await issue(store, ec_signer)
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the USB stick should be mounted")
        cfg = BackupConfig(dir=blocker / "sub", interval_s=60, passphrase_file=passphrase_file(tmp_path))
        state = BackupScheduleState()
        task = asyncio.create_task(run_backup_schedule(cfg, store.path, state=state, first_delay_s=0))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if state.last_error:
                break
        assert not task.done()  # still scheduled for the next interval
        task.cancel()
        assert "is the backup medium mounted" in state.last_error
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keep": 0}, "backup.keep: must be at least 1"),
        ({"interval_s": 5}, "backup.interval_s"),
        ({"passphrase_credential": None}, "backup.passphrase_file"),
        ({"prune_after_days": -1}, "backup.prune_after_days"),
    ],
)
def test_backup_settings_name_the_bad_key(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BackupConfig(dir=tmp_path, **kwargs)


def test_passphrase_from_a_systemd_credential(tmp_path, monkeypatch):
    from ksef_edge.archive import backup_passphrase

    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ksef-edge-backup").write_bytes(b"a long backup passphrase\n")
    os.chmod(creds / "ksef-edge-backup", 0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    cfg = BackupConfig(dir=tmp_path)
    assert backup_passphrase(cfg.passphrase_source, creating=True) == b"a long backup passphrase"
