"""MF public keys are fetched again daily and before a cached key's validTo, without a restart (issue #17),
and KSeF's X-System-Warning header reaches the log and GET /v1/status. Real HTTP on loopback."""
from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from daemon_fixtures import api_call, in_process_daemon
from ksef_edge.ksef.client import KsefClient
from ksef_edge.ksef.errors import KsefUnavailable
from ksef_edge.ksef.models import simulator_environment
from ksef_edge.ksef.system_warning import SYSTEM_WARNINGS
from ksef_edge.ksef.uplink_clock import VirtualClock
from uplink_fixtures import CONTEXT, TOKEN, free_port

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
KEY_ID = "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8="  # open-api.json example id; MF keeps it on re-certification


def _cert(valid_to: dt.datetime) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów (test)")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(START - dt.timedelta(days=30))
            .not_valid_after(valid_to).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class FakeMf:
    """GET /security/public-key-certificates as MF answers it; the test changes what it serves."""

    valid_to: dt.datetime
    hits: int = 0
    down: bool = False
    warning: str | None = None
    certificate: str = ""
    base: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def recertify(self, valid_to: dt.datetime) -> None:
        self.valid_to, self.certificate = valid_to, _cert(valid_to)

    async def handler(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.down:
            return web.json_response({"status": {"code": 503}}, status=503)
        body = [{"certificate": self.certificate, "certificateId": "c", "publicKeyId": KEY_ID,
                 "validFrom": "2026-01-01T00:00:00.0000000+00:00", "validTo": self.valid_to.isoformat(),
                 "usage": ["KsefTokenEncryption", "SymmetricKeyEncryption"]}]
        headers = {"X-System-Warning": self.warning} if self.warning else {}
        return web.json_response(body, headers=headers)


@pytest.fixture
async def mf() -> AsyncIterator[FakeMf]:
    fake = FakeMf(valid_to=START + dt.timedelta(days=30))
    fake.recertify(fake.valid_to)
    app = web.Application()
    app.router.add_get("/v2/security/public-key-certificates", fake.handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.base = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def test_keys_are_refreshed_daily_and_before_valid_to_and_a_recertified_key_is_used(mf):
    clock = VirtualClock(START)
    async with KsefClient(simulator_environment(mf.base), context=CONTEXT, token_provider=lambda: TOKEN,
                          clock=clock, timeout_s=5) as client:
        first = (await client.public_keys())[0]
        await client.public_keys()
        assert mf.hits == 1  # cached within the day
        await clock.sleep(24 * 3600 + 1)
        mf.recertify(clock.now() + dt.timedelta(minutes=90))  # the key MF serves now ends in 90 minutes
        await client.public_keys()
        assert mf.hits == 2  # daily refresh
        await clock.sleep(20 * 60)
        await client.public_keys()
        assert mf.hits == 2  # 70 minutes left: not yet
        mf.recertify(clock.now() + dt.timedelta(days=365))  # MF re-certifies the key: same publicKeyId
        await clock.sleep(15 * 60)  # 55 minutes left: within the hour before validTo
        keys = await client.public_keys()
        assert mf.hits == 3
        assert keys[0].public_key_id == first.public_key_id == KEY_ID
        assert keys[0].certificate_der == base64.b64decode(mf.certificate) != first.certificate_der
        assert keys[0].valid_to > clock.now() + dt.timedelta(days=300)
        await client.public_keys()
        assert mf.hits == 3  # valid for a year again: no more refreshes this day


async def test_a_failed_refresh_keeps_a_still_valid_key_and_a_dead_key_is_not_used(mf, caplog):
    clock = VirtualClock(START)
    async with KsefClient(simulator_environment(mf.base), context=CONTEXT, token_provider=lambda: TOKEN,
                          clock=clock, timeout_s=5) as client:
        cached = await client.public_keys()
        mf.down = True
        await clock.sleep(24 * 3600 + 1)
        with caplog.at_level(logging.WARNING, logger="ksef_edge.ksef.public_keys"):
            assert await client.public_keys() == cached  # still valid: the uplink keeps working
        assert "not refreshed" in caplog.text
        await clock.sleep(60)
        hits = mf.hits
        await client.public_keys()
        assert mf.hits == hits  # no retry storm: next attempt after 5 minutes
        await clock.sleep(30 * 24 * 3600)  # now the cached key has expired
        with pytest.raises(KsefUnavailable):
            await client.public_keys()


async def test_system_warning_header_is_logged_and_shown_in_status(mf, tmp_path, caplog):
    SYSTEM_WARNINGS.clear()
    mf.warning = "[W100]: Planowana przerwa techniczna 2026-03-07 22:00-23:00 | [W200]: Test"
    async with KsefClient(simulator_environment(mf.base), context=CONTEXT, token_provider=lambda: TOKEN,
                          timeout_s=5) as client:
        with caplog.at_level(logging.WARNING, logger="ksef_edge.ksef.system_warning"):
            await client.public_keys()
            await client.public_keys(refresh=True)
    assert caplog.text.count("KSeF system warning") == 1  # once per distinct value
    try:
        async with in_process_daemon(tmp_path) as d:
            _, st = await api_call(d, "GET", "/v1/status")
        sw = st["ksef"]["system_warning"]
        assert sw["warnings"] == [{"code": "W100", "message": "Planowana przerwa techniczna 2026-03-07 22:00-23:00"},
                                  {"code": "W200", "message": "Test"}]
        assert sw["path"].endswith("/security/public-key-certificates") and sw["seen"] == 2
        assert "upo_signatures" in st["ksef"]
    finally:
        SYSTEM_WARNINGS.clear()
