"""The issue pipeline and the offline demo: exact bytes, one hash, links that verify, deadlines."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import stat
from decimal import Decimal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from cert_factories import make_test_certificate
from domain_factories import BUYER_B2B, invoice, line
from ksef_demo.offline import write_offline_demo
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.errors import DomainError, InvoiceError
from ksef_edge.domain.fa3 import invoice_summary, validate_fa3
from ksef_edge.domain.issuance import issue_document
from ksef_edge.domain.qr import QrEnvironment, kod1_url, verify_kod2_url
from ksef_edge.domain.signer import InMemorySigner, Signer, certificate_public_key


class CountingSigner:
    def __init__(self, inner: InMemorySigner) -> None:
        self.inner, self.calls = inner, 0
        self.certificate_serial, self.certificate_der = inner.certificate_serial, inner.certificate_der

    def sign(self, data: bytes) -> bytes:
        self.calls += 1
        return self.inner.sign(data)


def test_issue_document_derives_everything_from_the_same_bytes(ec_signer):
    doc = issue_document(invoice(line(), line("Kawa", "1", "16.00", "8")), ec_signer, env=QrEnvironment.TEST)
    validate_fa3(doc.xml)
    assert doc.sha256 == hashlib.sha256(doc.xml).digest()
    assert doc.sha256_b64 == base64.b64encode(doc.sha256).decode() and doc.sha256_b64.endswith("=")
    assert doc.kod1_url == kod1_url(QrEnvironment.TEST, "5265877635", dt.date(2025, 10, 31), doc.xml)
    assert doc.kod2_url.startswith(
        f"https://qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/01F20A5D352AE591/{doc.sha256_b64url}/")
    assert verify_kod2_url(doc.kod2_url, certificate_public_key(ec_signer.certificate_der))
    assert doc.cert_serial == "01F20A5D352AE591"
    assert doc.deadline == dt.date(2025, 11, 3)  # Fri 31 Oct 2025 -> Mon 3 Nov (1 Nov is a Saturday)
    assert doc.totals.gross == Decimal("20.99")


def test_context_can_differ_from_the_seller(ec_signer):
    doc = issue_document(invoice(), ec_signer, env=QrEnvironment.PRD, ctx_type="InternalId",
                         ctx_value="5265877635-00001")
    assert "https://qr.ksef.mf.gov.pl/certificate/InternalId/5265877635-00001/5265877635/" in doc.kod2_url
    assert verify_kod2_url(doc.kod2_url, certificate_public_key(ec_signer.certificate_der))


def test_rsa_offline_certificate_signs_pss():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "5265877635")])
    now = dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x01F20A5D352AE590).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    signer = InMemorySigner(key, cert.public_bytes(serialization.Encoding.DER))
    doc = issue_document(invoice(), signer, env=QrEnvironment.TEST)
    assert signer.certificate_serial == "01F20A5D352AE590"
    assert len(doc.kod2_url.rsplit("/", 1)[1]) == 342  # 256-byte signature, like the official TV-2 link
    assert verify_kod2_url(doc.kod2_url, key.public_key())


def test_invalid_invoice_is_refused_before_anything_is_signed(ec_signer):
    counting = CountingSigner(ec_signer)
    assert isinstance(counting, Signer)
    with pytest.raises(InvoiceError) as err:
        issue_document(invoice(line(rate="zw")), counting, env=QrEnvironment.TEST)
    assert err.value.field == "exemption_basis" and counting.calls == 0


def test_total_failure_has_no_qr_codes_and_no_deadline():
    doc = issue_document(invoice(), None, env=QrEnvironment.TEST, mode=OfflineMode.TOTAL_FAILURE)
    assert doc.kod1_url is None and doc.kod2_url is None and doc.deadline is None
    validate_fa3(doc.xml)
    with pytest.raises(ValueError, match="Signer"):
        issue_document(invoice(), None, env=QrEnvironment.TEST)


def test_failure_mode_deadline_is_carried(ec_signer):
    doc = issue_document(invoice(issue_date=dt.date(2025, 7, 8)), ec_signer, env=QrEnvironment.TEST,
                         mode=OfflineMode.FAILURE, failure_ends=[dt.date(2025, 7, 12)])
    assert doc.deadline == dt.date(2025, 7, 22)


def test_signer_refuses_a_key_that_is_not_the_certificates():
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(DomainError, match="does not belong"):
        InMemorySigner(other, make_test_certificate(key))
    assert "PRIVATE" not in repr(InMemorySigner(key, make_test_certificate(key)))


def test_offline_demo_writes_exact_files_and_a_summary(tmp_path):
    now = dt.datetime(2025, 12, 23, 10, 30, tzinfo=dt.timezone.utc)
    rows = write_offline_demo(tmp_path, now=now)
    assert len(rows) >= 3
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary == rows
    cert = x509.load_pem_x509_certificate((tmp_path / "dev-key" / "offline-dev-cert.pem").read_bytes())
    public_key = certificate_public_key(cert.public_bytes(serialization.Encoding.DER))
    rates, buyers = set(), set()
    for row in rows:
        xml = (tmp_path / row["file"]).read_bytes()
        validate_fa3(xml)
        assert base64.b64encode(hashlib.sha256(xml).digest()).decode() == row["sha256"]
        assert invoice_summary(xml).number == row["number"]
        assert verify_kod2_url(row["kod2_url"], public_key)
        assert row["deadline"] == "2025-12-29"  # 24-26 Dec 2025 are holidays, then the weekend
        rates |= {p12.decode() for p12 in re.findall(rb"<P_12>([^<]+)</P_12>", xml)}
        buyers.add(row["buyer_nip"])
    assert {"23", "8", "5", "zw"} <= rates and None in buyers and BUYER_B2B.nip in buyers
    key_file = tmp_path / "dev-key" / "offline-dev-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / "dev-key" / ".gitignore").read_text() == "*\n"
    again = write_offline_demo(tmp_path, now=now)
    assert [r["cert_serial"] for r in again] == [r["cert_serial"] for r in rows]  # the dev key is reused
