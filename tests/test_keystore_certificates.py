"""Certificate reading (official TV-3 certificate) and the Offline-certificate checks."""
from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from ksef_edge.keystore.certificates import (
    check_offline_certificate,
    format_serial,
    load_certificate,
)
from ksef_edge.keystore.devcert import make_test_certificate
from ksef_edge.keystore.errors import CertificateError
from official_vectors import TV2_SIGN_STRING, TV2_SIGNATURE, TV3_CERT_B64

SHOP_NIP = "5265877635"
OTHER_NIP = "1111111111"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_tv3_certificate_is_refused_by_cryptography_but_loads_via_fallback():
    der = base64.b64decode(TV3_CERT_B64)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(der)  # trap 1: cryptography >= 49
    info = load_certificate(der)
    assert info.parsed_by == "asn1crypto"
    assert info.serial == "01F20A5D352AE590"  # the serial KOD II carries in TV-2
    assert info.subject == "CN=5265877635,O=Beta,2.5.4.97=VATPL-5265877635,C=PL"
    assert info.issuer == "CN=TI CCK KSeF,OU=Krajowa Administracja Skarbowa,O=Ministerstwo Finansów,C=PL"
    assert info.nip == "5265877635"
    assert info.not_before == datetime(2025, 7, 29, 9, 28, 37, tzinfo=timezone.utc)
    assert info.not_after == datetime(2027, 7, 29, 9, 28, 37, tzinfo=timezone.utc)
    assert info.key_usage == {"digital_signature"}
    assert info.kind == "Authentication"
    assert info.key_description == "RSA 2048"


def test_tv3_public_key_from_fallback_verifies_official_kod2_signature():
    info = load_certificate(base64.b64decode(TV3_CERT_B64))
    sig = base64.urlsafe_b64decode(TV2_SIGNATURE + "=" * (-len(TV2_SIGNATURE) % 4))
    info.public_key.verify(
        sig, TV2_SIGN_STRING.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256()
    )


def test_tv3_loads_from_pem_and_from_bare_base64():
    der = base64.b64decode(TV3_CERT_B64)
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    assert load_certificate(pem).serial == "01F20A5D352AE590"
    assert load_certificate(TV3_CERT_B64.encode() + b"\n").der == der


def test_serial_format_is_uppercase_hex_padded_to_16():
    assert format_serial(0x01F20A5D352AE590) == "01F20A5D352AE590"
    assert format_serial(0xAB) == "00000000000000AB"
    key = ec.generate_private_key(ec.SECP256R1())
    info = load_certificate(make_test_certificate(key, nip=SHOP_NIP, serial=0x00F20A5D352AE59A))
    assert info.serial == "00F20A5D352AE59A"
    assert info.parsed_by == "cryptography"


@pytest.mark.parametrize("blob", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n", b"\x30\x03\x02\x01"])
def test_garbage_is_a_clear_error(blob):
    with pytest.raises(CertificateError) as e:
        load_certificate(blob)
    assert e.value.code == "unreadable_certificate"


def test_private_key_pem_is_not_a_certificate():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(CertificateError, match="not a certificate"):
        load_certificate(pem)


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


def _check(key, pem, **kw):
    args = dict(seller_nip=SHOP_NIP, public_key_of_private_key=key.public_key(), now=NOW)
    args.update(kw)
    return check_offline_certificate(load_certificate(pem), **args)


def _cert(key, **kw):
    kw.setdefault("nip", SHOP_NIP)
    kw.setdefault("not_before", NOW - timedelta(days=100))
    kw.setdefault("not_after", NOW + timedelta(days=600))
    return make_test_certificate(key, **kw)


def test_offline_certificate_for_this_key_and_nip_passes(key):
    info = load_certificate(_cert(key))
    assert info.kind == "Offline" and info.key_usage == {"non_repudiation"}
    assert _check(key, _cert(key)) == []


def test_authentication_certificate_is_refused_with_shop_owner_explanation(key):
    pem = _cert(key, kind="Authentication")
    with pytest.raises(CertificateError) as e:
        _check(key, pem)
    assert e.value.code == "authentication_certificate"
    msg = str(e.value)
    assert "Authentication certificate" in msg  # what it is
    assert "only log a system in" in msg and "offline invoices" in msg  # why it can't sign KOD II
    assert "Moduł certyfikatów" in msg and "certificateType 'Offline'" in msg  # how to get the right one
    # declaring it Offline does not change what KSeF issued
    with pytest.raises(CertificateError) as e2:
        _check(key, pem, declared_type="Offline")
    assert e2.value.code == "authentication_certificate"


def test_offline_certificate_declared_authentication_is_refused(key):
    with pytest.raises(CertificateError) as e:
        _check(key, _cert(key), declared_type="Authentication")
    assert e.value.code == "authentication_certificate"


def test_certificate_without_ksef_profile_needs_declaration(key):
    pem = _cert(key, kind="Unknown")
    with pytest.raises(CertificateError) as e:
        _check(key, pem)
    assert e.value.code == "unknown_certificate_type" and "--type Offline" in str(e.value)
    warnings = _check(key, pem, declared_type="offline")
    assert any("declared Offline" in w for w in warnings)


def test_certificate_for_another_nip_is_accepted_with_a_permissions_warning(key):
    """KSeF certificates identify, they do not authorise (ksef-docs certyfikaty-KSeF.md): issue #17."""
    warnings = _check(key, _cert(key, nip=OTHER_NIP))
    assert len(warnings) == 1
    assert f"NIP {OTHER_NIP}" in warnings[0] and f"NIP {SHOP_NIP}" in warnings[0]
    assert "KSeF sprawdzi" in warnings[0] and "KSeF will check this identity's permissions" in warnings[0]


def test_expired_certificate_is_refused(key):
    pem = _cert(key, not_before=NOW - timedelta(days=800), not_after=NOW - timedelta(days=1))
    with pytest.raises(CertificateError) as e:
        _check(key, pem)
    assert e.value.code == "expired" and "expired on" in str(e.value)


def test_not_yet_valid_certificate_is_refused(key):
    pem = _cert(key, not_before=NOW + timedelta(days=2), not_after=NOW + timedelta(days=700))
    with pytest.raises(CertificateError) as e:
        _check(key, pem)
    assert e.value.code == "not_yet_valid" and "clock" in str(e.value)


def test_expiry_within_30_days_is_a_warning(key):
    warnings = _check(key, _cert(key, not_after=NOW + timedelta(days=20)))
    assert len(warnings) == 1 and "expires on" in warnings[0] and "20 days" in warnings[0]
    assert _check(key, _cert(key, not_after=NOW + timedelta(days=31))) == []


def test_certificate_for_another_key_is_refused(key):
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateError) as e:
        _check(key, _cert(other))
    assert e.value.code == "key_mismatch" and "different key" in str(e.value)


def test_tv3_certificate_cannot_be_used_as_offline_certificate_for_kod2():
    info = load_certificate(base64.b64decode(TV3_CERT_B64))
    with pytest.raises(CertificateError) as e:
        check_offline_certificate(info, seller_nip=SHOP_NIP, public_key_of_private_key=info.public_key, now=NOW)
    assert e.value.code == "authentication_certificate"


def test_nip_found_in_serial_number_or_cn_forms(key):
    from ksef_edge.keystore.certificates import nip_from_subject

    assert nip_from_subject((("2.5.4.5", "TINPL-5265877635"),)) == "5265877635"
    assert nip_from_subject((("2.5.4.3", "526-587-76-35"),)) == "5265877635"
    assert nip_from_subject((("2.5.4.3", "Jan Kowalski"),)) is None
