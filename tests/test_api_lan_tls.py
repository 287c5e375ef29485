"""The API on the shop's LAN (issue 19, item 1), on loopback addresses only.

The daemon listens with TLS on 127.0.0.2; a POS on another address (source 127.0.0.3) issues an
invoice pinning the certificate's SHA-256 fingerprint (from `ksef-edge tls init`), plain HTTP on
that address is refused, a wrong `Host` is refused (DNS rebinding), /metrics needs its own token,
and a non-loopback listen address without TLS is refused at config load.
"""
from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from daemon_fixtures import VALID_BODY, MemorySigner, free_port, write_device_config
from ksef_edge.config import ConfigError, load_config
from ksef_edge.service import Daemon

LAN = "127.0.0.2"
POS = "127.0.0.3"


def tls_init(dir: Path) -> tuple[Path, Path, str]:
    cert, key = dir / "api-cert.pem", dir / "api-key.pem"
    out = subprocess.run([sys.executable, "-m", "ksef_edge", "tls", "init", "--cert", str(cert), "--key", str(key),
                          "--name", LAN, "--name", "kasa.sklep.lan"], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("SHA-256 fingerprint: "))
    assert "odcisk" in out  # the shop owner is told what to do with it, in Polish
    return cert, key, line.split(": ", 1)[1]


def _lan_available() -> bool:
    try:
        with socket.socket() as s:
            s.bind((LAN, 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _lan_available(), reason="127.0.0.2 cannot be bound here")


async def test_pos_on_another_address_issues_pinning_the_fingerprint(tmp_path: Path) -> None:
    cert, key, fp = tls_init(tmp_path)
    (tmp_path / "metrics-token").write_text("m" * 32 + "\n")
    port = free_port()
    files = write_device_config(tmp_path, port=port, api_extra=(
        f'tls_cert_file = "{cert}"\ntls_key_file = "{key}"\nallowed_hosts = ["kasa.sklep.lan", "{LAN}"]\n'
        'metrics_token_file = "metrics-token"\n'))
    text = files.config.read_text().replace('listen_host = "127.0.0.1"', f'listen_host = "{LAN}"')
    files.config.write_text(text)
    daemon = Daemon(load_config(files.config), signer=MemorySigner())
    await daemon.start()
    base = f"https://{LAN}:{daemon.bound[1]}"
    auth = {"Authorization": f"Bearer {files.token}"}
    pin = aiohttp.Fingerprint(bytes.fromhex(fp.replace(":", "")))
    try:
        connector = aiohttp.TCPConnector(local_addr=(POS, 0), ssl=pin)
        async with aiohttp.ClientSession(connector=connector) as pos:
            async with pos.post(base + "/v1/invoices", json=VALID_BODY,
                                headers={**auth, "Idempotency-Key": uuid.uuid4().hex}) as r:
                body = await r.json()
                assert r.status == 201, body
            async with pos.get(base + "/v1/status", headers={**auth, "Host": "evil.example"}) as r:
                assert r.status == 421 and (await r.json())["error"]["code"] == "wrong_host"
            async with pos.get(base + "/v1/status", headers={**auth, "Host": f"kasa.sklep.lan:{port}"}) as r:
                assert r.status == 200
            async with pos.get(base + "/metrics") as r:
                assert r.status == 401
            async with pos.get(base + "/metrics", headers={"Authorization": "Bearer " + "m" * 32}) as r:
                assert r.status == 200 and "ksef_edge_" in await r.text()
            async with pos.get(base + "/metrics", headers=auth) as r:  # a till's token does not open /metrics
                assert r.status == 401
        wrong = aiohttp.Fingerprint(hashlib.sha256(b"another device").digest())
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=wrong)) as other:
            with pytest.raises(aiohttp.ServerFingerprintMismatch):
                await other.get(base + "/healthz")
        # plain HTTP on that address: refused by the TLS listener, the token never crosses in clear
        reader, writer = await asyncio.open_connection(LAN, daemon.bound[1], local_addr=(POS, 0))
        writer.write(f"GET /v1/status HTTP/1.1\r\nHost: {LAN}\r\nAuthorization: Bearer {files.token}\r\n\r\n".encode())
        await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(4096), 10)
        except (TimeoutError, ConnectionResetError):
            answer = b""
        writer.close()
        assert not answer.startswith(b"HTTP/"), answer  # closed (or a TLS alert), never an HTTP answer
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(LAN, daemon.bound[1], ssl=ctx)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        assert hashlib.sha256(der).hexdigest().upper() == fp.replace(":", "")  # the pin is the served cert's
    finally:
        await daemon.stop()


def test_lan_address_without_tls_is_refused_unless_explicitly_allowed(tmp_path: Path, caplog) -> None:
    files = write_device_config(tmp_path)
    text = files.config.read_text().replace('listen_host = "127.0.0.1"', 'listen_host = "0.0.0.0"')
    files.config.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(files.config)
    assert err.value.key == "api.listen_host" and "tls init" in str(err.value)
    files.config.write_text(text.replace("[api]\n", "[api]\nallow_plain_http_on_lan = true\n"))
    cfg = load_config(files.config)
    from ksef_edge.api.listener import lan_tls_context

    with caplog.at_level("WARNING"):
        assert lan_tls_context(cfg.api) is None
    assert sum("WITHOUT TLS" in r.getMessage() for r in caplog.records) >= 1


async def test_wrong_host_is_refused_on_loopback_too(tmp_path: Path) -> None:
    """DNS rebinding against the cashier's own browser: a page at evil.example resolving to 127.0.0.1."""
    from daemon_fixtures import in_process_daemon

    async with in_process_daemon(tmp_path) as d, aiohttp.ClientSession() as s:
        async with s.get(d.base_url + "/v1/status", headers={**d.auth, "Host": "evil.example:8787"}) as r:
            assert r.status == 421
        async with s.get(d.base_url + "/", headers={"Host": "evil.example"}) as r:
            assert r.status == 421
        async with s.get(d.base_url + "/v1/status", headers=d.auth) as r:
            assert r.status == 200


def test_setup_receipt_carries_the_fingerprint(tmp_path: Path) -> None:
    from escpos_reader import parse

    cert, key, fp = tls_init(tmp_path)
    out = tmp_path / "setup.bin"
    png = tmp_path / "setup.png"
    subprocess.run([sys.executable, "-m", "ksef_edge", "tls", "show", "--cert", str(cert), "--key", str(key),
                    "--escpos", str(out), "--png", str(png)], check=True, capture_output=True)
    parsed = parse(out.read_bytes())
    printed = "".join(line.text.strip() for line in parsed.lines)
    assert fp.replace(":", "") in printed.replace(":", "")  # all 32 bytes, in order, on paper
    assert "odcisk" in parsed.text.lower() and LAN in parsed.text
    assert parsed.rasters or parsed.qr_payloads  # the QR code for scanning at the POS
    assert png.read_bytes().startswith(b"\x89PNG")
