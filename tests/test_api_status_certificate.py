"""GET /v1/status `certificate`: what the signer really holds (type, serial, subject NIP, validity, warnings).

Real keystore (encrypted-file key, KSeF-shaped certificate, every check of `keystore.open_signer`)
behind a real in-process daemon on 127.0.0.1.
"""
from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from daemon_fixtures import SELLER_NIP, in_process_daemon
from ksef_edge.keystore import KeystoreConfig, open_signer
from ksef_edge.keystore.certificates import AUTHENTICATION, certificate_der
from ksef_edge.keystore.devcert import make_test_certificate
from ksef_edge.keystore.file_backend import generate_file_key
from ksef_edge.keystore.passphrase import PassphraseSource


async def status(d) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(d.base_url + "/v1/status", headers=d.auth) as r:
            assert r.status == 200
            return await r.json()


def file_signer(dir: Path, *, days_left: int):
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "pass").write_text(secrets.token_urlsafe(24) + "\n")
    (dir / "pass").chmod(0o600)
    key = generate_file_key(dir / "key.p8", PassphraseSource(file=dir / "pass"), algorithm="ec")
    not_after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days_left, hours=2)
    try:
        pem = make_test_certificate(key.public_key(), nip=SELLER_NIP, not_after=not_after,
                                    organization="Piekarnia Pod Złotym Kłosem")
    finally:
        key.close()
    (dir / "cert.pem").write_bytes(pem)
    cfg = KeystoreConfig(backend="file", key_path=dir / "key.p8", cert_path=dir / "cert.pem",
                         token_path=dir / "token.json", passphrase_credential=None, passphrase_file=dir / "pass")
    return open_signer(cfg, seller_nip=SELLER_NIP), x509.load_pem_x509_certificate(pem)


async def test_status_shows_the_offline_certificate_and_one_live_expiry_warning(tmp_path: Path) -> None:
    signer, cert = file_signer(tmp_path / "keys", days_left=10)
    assert any("expires on" in w for w in signer.warnings)  # the keystore warned at start
    try:
        async with in_process_daemon(tmp_path / "dev", signer=signer) as d:
            c = (await status(d))["certificate"]
    finally:
        signer.close()
    assert c["type"] == "Offline"
    assert c["serial"] == format(cert.serial_number, "X").zfill(16)
    assert c["nip"] == SELLER_NIP and f"VATPL-{SELLER_NIP}" in c["subject"] and "Złotym" in c["subject"]
    assert dt.datetime.fromisoformat(c["not_after"]) == cert.not_valid_after_utc
    assert c["days_left"] == 10 and c["backend"] == "file" and c["key"] == "EC secp256r1"
    assert len(c["warnings"]) == 1, c["warnings"]  # the start-up wording is replaced, not repeated
    assert "10 day(s) left" in c["warnings"][0] and "cert install" in c["warnings"][0]


class AuthenticationCertSigner:
    """A daemon handed a signer whose certificate is an Authentication one (e.g. by a wiring mistake)."""

    def __init__(self, nip: str) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.certificate_der = certificate_der(make_test_certificate(self._key, nip=nip, kind=AUTHENTICATION))
        self.certificate_serial = format(x509.load_der_x509_certificate(self.certificate_der).serial_number, "X").zfill(16)
        self.backend_name = "memory"

    def sign(self, data: bytes) -> bytes:
        r, s = decode_dss_signature(self._key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


async def test_status_reports_the_real_type_and_nip_never_assumes_offline(tmp_path: Path) -> None:
    async with in_process_daemon(tmp_path, signer=AuthenticationCertSigner("1111111111")) as d:
        c = (await status(d))["certificate"]
    assert c["type"] == "Authentication" and c["nip"] == "1111111111"
    assert any("not Offline" in w for w in c["warnings"]), c["warnings"]
    assert any("1111111111" in w and SELLER_NIP in w for w in c["warnings"]), c["warnings"]


async def test_status_warns_that_ksef_checks_the_permissions_of_another_identity(tmp_path: Path) -> None:
    from daemon_fixtures import MemorySigner

    async with in_process_daemon(tmp_path, signer=MemorySigner("1111111111")) as d:
        c = (await status(d))["certificate"]
    assert c["type"] == "Offline" and c["nip"] == "1111111111"
    identity = [w for w in c["warnings"] if "KSeF sprawdzi" in w]
    assert len(identity) == 1 and f"sprzedawcy NIP {SELLER_NIP}" in identity[0], c["warnings"]
