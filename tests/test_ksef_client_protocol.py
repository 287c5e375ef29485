"""The KSeF client's crypto and protocol steps, checked by real decryption and against ksef-sim."""
from __future__ import annotations

import base64
import datetime as dt
import io
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ksef_edge.ksef.batch import build_package
from ksef_edge.ksef.client import KsefClient
from ksef_edge.ksef.crypto import MfPublicKey, SymmetricKey, encrypt_ksef_token, pick_public_key, sha256_b64
from ksef_edge.ksef.errors import KsefHttpError, KsefProtocolError, KsefUnavailable
from ksef_edge.ksef.models import simulator_environment
from ksef_edge.ksef.pacer import Limit, Pacer
from uplink_fixtures import CONTEXT, TOKEN, free_port

NOW = dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone.utc)


def _mf_key(usage: str, valid_from: dt.datetime, key: rsa.RSAPrivateKey | None = None):
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ministerstwo Finansów")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(valid_from).not_valid_after(valid_from + dt.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return key, MfPublicKey(f"id-{usage}-{valid_from.date()}", (usage,), valid_from,
                            valid_from + dt.timedelta(days=365), der)


def test_ksef_token_is_rsa_oaep_sha256_with_mgf1_sha256_over_token_pipe_timestamp():
    priv, pub = _mf_key("KsefTokenEncryption", NOW - dt.timedelta(days=1))
    blob = base64.b64decode(encrypt_ksef_token(pub, TOKEN, 1752236636015))
    plain = priv.decrypt(blob, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    assert plain == f"{TOKEN}|1752236636015".encode()
    with pytest.raises(ValueError):  # MGF1-SHA1 (Java's default trap) must not decrypt it
        priv.decrypt(blob, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA256(), label=None))


def test_public_key_is_picked_by_usage_validity_and_latest_valid_from():
    _, old = _mf_key("SymmetricKeyEncryption", NOW - dt.timedelta(days=30))
    _, new = _mf_key("SymmetricKeyEncryption", NOW - dt.timedelta(days=1))
    _, future = _mf_key("SymmetricKeyEncryption", NOW + dt.timedelta(days=1))
    _, token = _mf_key("KsefTokenEncryption", NOW)
    assert pick_public_key([old, new, future, token], "SymmetricKeyEncryption", NOW) is new
    with pytest.raises(KsefProtocolError, match="KsefTokenEncryption"):
        pick_public_key([old, new], "KsefTokenEncryption", NOW)


def test_invoice_encryption_is_aes256_cbc_pkcs7_without_iv_prefix():
    key = SymmetricKey.generate()
    data = b"x" * 6480  # the OpenAPI example: 6480 plain bytes -> 6496 encrypted (one padding block)
    enc = key.encrypt(data)
    assert len(enc) == 6496 and key.decrypt(enc) == data


def test_batch_package_parts_decrypt_and_unzip_to_the_exact_invoice_bytes():
    files = [(f"{i}.xml", f"<Faktura>{i}</Faktura>".encode() * 50) for i in range(40)]
    pkg = build_package(files, part_bytes_max=1000)
    assert len(pkg.parts) > 1
    info = pkg.file_info()
    assert [p["fileHash"] for p in info["fileParts"]] == [sha256_b64(p) for p in pkg.parts]
    blob = b"".join(pkg.key.decrypt(p) for p in pkg.parts)
    assert sha256_b64(blob) == info["fileHash"] and len(blob) == info["fileSize"]
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == dict(files)
    with pytest.raises(ValueError, match="10000"):
        build_package([("a.xml", b"<a/>")] * 10_001)


async def test_token_auth_then_access_token_is_reused_and_survives_key_rotation(sim):
    async with KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, timeout_s=5) as client:
        first = await client.access_token()
        assert first == await client.access_token()  # cached, no second login
        limits = await client.rate_limits()
        assert limits["invoiceSend"].per_hour > 0
        await sim.admin("POST", "/admin/keys/rotate")  # emergency rotation: old publicKeyId -> 21470
        session = await client.open_online_session()  # refetches keys and retries once
        assert session.reference_number
        status = await client.session_status(session.reference_number)
        assert status.code == 100


async def test_wrong_token_is_an_auth_refusal_that_names_the_fix(sim):
    from ksef_edge.ksef.errors import KsefAuthError
    async with KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN + "x", timeout_s=5) as client:
        with pytest.raises((KsefAuthError, KsefHttpError)) as info:
            await client.access_token()
        assert TOKEN not in str(info.value)  # the secret never appears in errors


async def test_unreachable_ksef_is_unavailable_not_a_refusal():
    env = simulator_environment(f"http://127.0.0.1:{free_port()}")
    async with KsefClient(env, context=CONTEXT, token_provider=lambda: TOKEN, timeout_s=2) as client:
        with pytest.raises(KsefUnavailable):
            await client.public_keys()


async def test_408_from_a_gateway_is_outcome_unknown_not_a_refusal():
    from aiohttp import web

    async def timeout_408(request: web.Request) -> web.Response:
        return web.json_response({"error": "request timeout"}, status=408)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", timeout_408)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        env = simulator_environment(f"http://127.0.0.1:{port}")
        async with KsefClient(env, context=CONTEXT, token_provider=lambda: TOKEN, timeout_s=2) as client:
            with pytest.raises(KsefUnavailable):  # an invoice send answered 408 is re-checked, not rejected
                await client.public_keys()
    finally:
        await runner.cleanup()


async def test_429_retry_after_is_waited_out_then_the_request_succeeds(sim):
    from ksef_edge.ksef.uplink_clock import VirtualClock

    await sim.admin("POST", "/admin/rate-limits", {"limits": {"other": {"perSecond": 1, "perMinute": 2, "perHour": 100}}})

    async def advance(seconds: float) -> None:
        await sim.admin("POST", "/admin/clock", {"advance_s": seconds})

    clock = VirtualClock(start=dt.datetime.now(dt.timezone.utc), on_advance=advance)
    # a pacer that ignores the published limits, so KSeF has to say 429 and the client must wait
    pacer = Pacer({"other": Limit(100, 1000, 10000)}, clock=clock)
    async with KsefClient(sim.env, context=CONTEXT, token_provider=lambda: TOKEN, pacer=pacer, clock=clock,
                          timeout_s=5) as client:
        await client.access_token()
        for _ in range(3):
            assert (await client.rate_limits())["other"].per_minute == 2
        assert client.throttled >= 1
        assert clock.monotonic() >= 1.0  # it slept (virtually) for Retry-After before retrying
