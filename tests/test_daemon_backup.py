"""The daemon with [backup]: the scheduled task writes encrypted backups while it issues, and the
backup age and alarm are in its status object and at /metrics."""
from __future__ import annotations

import asyncio
import os

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon
from ksef_edge.archive import list_backups, verify_backup

PASSPHRASE = b"correct horse battery staple 2026"


def _backup_toml(dir) -> str:
    secret = dir / "backup-passphrase"
    dir.mkdir(parents=True, exist_ok=True)
    secret.write_bytes(PASSPHRASE + b"\n")
    os.chmod(secret, 0o600)
    return (f'[backup]\ndir = "{dir / "usb"}"\ninterval_s = 60\nkeep = 3\nalarm_grace_s = 0\n'
            f'passphrase_file = "{secret}"\n')


def _metric(text: str, name: str) -> float:
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


async def test_scheduled_backup_protects_new_invoices_and_the_alarm_shows_until_then(tmp_path, monkeypatch):
    from ksef_edge.archive import monitor

    monkeypatch.setattr(monitor, "FIRST_BACKUP_DELAY_S", 1.5)  # production waits a minute after start
    dev = tmp_path / "dev"
    async with in_process_daemon(dev, extra_toml=_backup_toml(dev)) as d:
        backup = d.daemon.backup
        assert d.daemon.state.backup is backup  # what the API reads for /v1/status
        async with aiohttp.ClientSession() as http:
            async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY,
                                 headers={**d.auth, "Idempotency-Key": "b1"}) as r:
                assert r.status in (200, 201), await r.text()
            status = await backup.refresh()
            assert status.alarm and status.unprotected == 1  # the device holds the only copy
            assert backup.to_dict()["alarm"] is True and "not in any backup" in backup.to_dict()["message"]
            async with http.get(d.base_url + "/metrics", headers=d.auth) as r:
                text = await r.text()
            assert _metric(text, "ksef_edge_backup_alarm") == 1 and _metric(text, "ksef_edge_backup_age_seconds") == -1
            assert _metric(text, "ksef_edge_backup_unprotected_invoices") == 1

            for _ in range(100):  # the task started by the service writes the first backup
                if list_backups(dev / "usb") and backup.status and not backup.status.alarm:
                    break
                await asyncio.sleep(0.1)
            [written] = list_backups(dev / "usb")
            assert verify_backup(written.path, PASSPHRASE).facts.invoices == 1
            assert backup.to_dict()["alarm"] is False and backup.to_dict()["last_error"] is None
            async with http.get(d.base_url + "/metrics", headers=d.auth) as r:
                text = await r.text()
            assert _metric(text, "ksef_edge_backup_alarm") == 0
            assert 0 <= _metric(text, "ksef_edge_backup_age_seconds") < 60


def test_the_unit_lets_the_daemon_write_backups_and_read_their_passphrase():
    """The shipped unit (ProtectSystem=strict) must allow the example's backup dir and credential."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    unit = (root / "systemd" / "ksef-edge.service").read_text()
    backup = tomllib.loads((root / "firmware-config" / "device.example.toml").read_text())["backup"]
    writable = [p.lstrip("-") for p in re.findall(r"^ReadWritePaths=(.+)$", unit, re.M) for p in p.split()]
    assert backup["dir"] in writable
    creds = [c.split(":")[0] for c in re.findall(r"^LoadCredentialEncrypted=(.+)$", unit, re.M)]
    assert backup["passphrase_credential"] in creds


async def test_reprint_on_accept_skips_a_backlog_the_customers_have_left(tmp_path):
    """A copy with the KSeF number is for the customer at the till: not for invoices uploaded hours later."""
    import datetime as dt

    clock = {"now": dt.datetime.now(dt.timezone.utc)}
    toml = '[printer]\nconnection = "none"\nreprint_on_accept = true\n'
    async with in_process_daemon(tmp_path / "dev", extra_toml=toml, now=lambda: clock["now"]) as d:
        printed: list[int] = []

        class Printer:
            state = "ok"

            async def reprint(self, record, copy=True):
                printed.append(record.id)

        d.daemon.state.printer = Printer()
        async with aiohttp.ClientSession() as http:
            async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY,
                                 headers={**d.auth, "Idempotency-Key": "p1"}) as r:
                invoice_id = (await r.json())["id"]
        await d.daemon._on_accepted(invoice_id, "5265877635-20260302-0100001AF629-AF")
        assert printed == [invoice_id]
        clock["now"] += dt.timedelta(hours=3)  # KSeF came back three hours later
        await d.daemon._on_accepted(invoice_id, "5265877635-20260302-0100001AF629-AF")
        assert printed == [invoice_id]
