"""GET /v1/status `backup`: the shop owner and the fleet see whether unsent invoices are in a backup.

Real in-process daemon on 127.0.0.1 with [backup] pointing at a directory (the "USB stick"), real
SQLite outbox, a real sealed backup written with `archive.create_backup`.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon
from ksef_edge import daemon_state as api_state
from ksef_edge.archive import create_backup

PASSPHRASE = b"correct horse battery staple 2026"


def backup_toml(dir: Path) -> str:
    dir.mkdir(parents=True, exist_ok=True)
    secret = dir / "backup-passphrase"
    secret.write_bytes(PASSPHRASE + b"\n")
    os.chmod(secret, 0o600)
    # interval_s = 0: no scheduled backup in the test, only the status (the medium is checked on demand)
    return (f'[backup]\ndir = "{dir / "usb"}"\ninterval_s = 0\nkeep = 3\nalarm_grace_s = 0\n'
            f'passphrase_file = "{secret}"\n')


async def get_status(http: aiohttp.ClientSession, d) -> dict:
    async with http.get(d.base_url + "/v1/status", headers=d.auth) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_status_without_backup_section_says_backups_are_manual(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path / "dev") as d, aiohttp.ClientSession() as http:
        b = (await get_status(http, d))["backup"]
    assert b["configured"] is False and b["alarm"] is False
    assert "ksef-edge backup create" in b["message"]


async def test_status_shows_backup_age_and_alarms_until_unsent_invoices_are_backed_up(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(api_state, "BACKUP_STATUS_MAX_AGE_S", 0.0)  # production re-reads the medium every 5 s
    dev = tmp_path / "dev"
    async with in_process_daemon(dev, extra_toml=backup_toml(dev)) as d, aiohttp.ClientSession() as http:
        assert d.daemon.state.backup is d.daemon.backup  # a typed DaemonState field, set by the service
        b = await get_status(http, d)
        assert b["backup"]["configured"] is True and b["backup"]["alarm"] is False  # nothing to lose yet
        assert b["backup"]["last_backup_at"] is None and b["backup"]["dir"] == str(dev / "usb")

        async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY,
                             headers={**d.auth, "Idempotency-Key": "bk-1"}) as r:
            assert r.status == 201, await r.text()
        b = (await get_status(http, d))["backup"]
        assert b["alarm"] is True and b["unprotected_invoices"] == 1  # the till holds the only copy
        assert b["oldest_unprotected_at"] is not None and "not in any backup" in b["message"]

        await asyncio.to_thread(create_backup, d.files.db, dev / "usb", PASSPHRASE)
        b = (await get_status(http, d))["backup"]
        assert b["alarm"] is False and b["unprotected_invoices"] == 0 and b["backups"] == 1
        assert b["last_backup_at"] is not None and 0 <= b["age_s"] < 60
