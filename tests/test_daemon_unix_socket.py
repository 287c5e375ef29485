"""Unix-socket listening, and an uplink without a KSeF token: the till still issues, status says why."""
from __future__ import annotations

import aiohttp

from daemon_fixtures import VALID_BODY, in_process_daemon


async def test_api_on_unix_socket_and_uplink_without_token(tmp_path):
    sock = tmp_path / "run" / "api.sock"
    extra = ""
    async with in_process_daemon(tmp_path, extra_toml=extra, api_extra=f'unix_socket = "{sock}"\n', uplink="auto") as d:
        assert sock.exists() and (sock.stat().st_mode & 0o777) == 0o660
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as http:
            async with http.post("http://device/v1/invoices", json=VALID_BODY, headers={**d.auth, "Idempotency-Key": "u1"}) as r:
                assert r.status == 201
            async with http.get("http://device/v1/status", headers=d.auth) as r:
                st = await r.json()
    assert st["ksef"]["reachability"] == "no_token"
    assert st["queue"]["issued"] == 1
