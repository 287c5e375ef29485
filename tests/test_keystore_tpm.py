"""TPM key custody on a real swtpm: keys born in the TPM, KOD II verified against the certificate."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ksef_edge.keystore import KeystoreConfig, generate_key, install_certificate, open_key, open_signer
from ksef_edge.keystore.csr import CsrSubject, make_csr
from ksef_edge.keystore.devcert import make_test_certificate
from ksef_edge.keystore.errors import CertificateError, KeyFileError, TpmError
from official_vectors import TV2_SIGN_STRING
from tpm_fixtures import running_swtpm

tss = pytest.importorskip("tpm2_pytss")
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_CC, TPM2_HT, TPM2_SE, TPMA_OBJECT  # noqa: E402
from tpm2_pytss.types import TPMT_SYM_DEF, TPMT_SYM_DEF_OBJECT  # noqa: E402

SHOP_NIP = "5265877635"


def _cfg(tmp_path: Path, tcti: str, algorithm: str = "ec") -> KeystoreConfig:
    return KeystoreConfig(
        backend="tpm",
        tcti=tcti,
        key_path=tmp_path / "ks" / "offline-key.tss.pem",
        cert_path=tmp_path / "ks" / "offline-cert.pem",
        token_path=tmp_path / "ks" / "token.json",
        key_algorithm=algorithm,
    )


def _transient_handles(ectx) -> int:
    _, data = ectx.get_capability(TPM2_CAP.HANDLES, TPM2_HT.TRANSIENT << 24, 16)
    return data.data.handles.count


def _install_offline_cert(cfg, kind="Offline"):
    key = open_key(cfg)
    try:
        pem = make_test_certificate(key.public_key(), nip=SHOP_NIP, kind=kind)
    finally:
        key.close()
    return install_certificate(cfg, pem, seller_nip=SHOP_NIP)


def test_ec_key_in_tpm_signs_kod2_that_verifies_against_certificate(tmp_path, swtpm_tcti):
    cfg = _cfg(tmp_path, swtpm_tcti)
    generate_key(cfg).close()
    assert b"-----BEGIN TSS2 PRIVATE KEY-----" in cfg.key_path.read_bytes()
    _install_offline_cert(cfg)
    try:
        from ksef_edge.domain import qr
    except ImportError:
        qr = None
    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
        assert signer.backend_name == "tpm"
        cert_key = x509.load_der_x509_certificate(signer.certificate_der).public_key()
        if qr is not None:
            url = qr.kod2_url(qr.QrEnvironment.TEST, "Nip", SHOP_NIP, SHOP_NIP, b"<Faktura>1</Faktura>", signer)
            data, sig = qr.split_kod2_url(url)
            data = data.encode()
            assert qr.verify_kod2_url(url, cert_key)
        else:
            data = TV2_SIGN_STRING.encode()
            sig = signer.sign(data)
        assert len(sig) == 64  # P1363 r||s
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        cert_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        # many signatures on one loaded handle (swtpm has only 3 slots)
        for i in range(5):
            sig = signer.sign(b"%d" % i)
            cert_key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                            b"%d" % i, ec.ECDSA(hashes.SHA256()))


def test_rsa_key_in_tpm_uses_pss_salt_32_as_ksef_requires(tmp_path, swtpm_tcti):
    cfg = _cfg(tmp_path, swtpm_tcti, algorithm="rsa")
    generate_key(cfg).close()
    _install_offline_cert(cfg)
    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
        sig = signer.sign(TV2_SIGN_STRING.encode())
        pub = x509.load_der_x509_certificate(signer.certificate_der).public_key()
    assert len(sig) == 256
    pub.verify(sig, TV2_SIGN_STRING.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
               hashes.SHA256())
    # and the salt is exactly 32: a verifier demanding another salt length rejects it
    from cryptography.exceptions import InvalidSignature

    with pytest.raises(InvalidSignature):
        pub.verify(sig, TV2_SIGN_STRING.encode(), padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20),
                   hashes.SHA256())


def test_tpm_key_cannot_be_exported(tmp_path, swtpm_tcti):
    cfg = _cfg(tmp_path, swtpm_tcti)
    key = generate_key(cfg)
    try:
        attrs = key.tpm_public.publicArea.objectAttributes
        for flag in (TPMA_OBJECT.FIXEDTPM, TPMA_OBJECT.FIXEDPARENT, TPMA_OBJECT.SENSITIVEDATAORIGIN):
            assert attrs & flag, flag
        ectx = key.esapi
        session = ectx.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                          TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        try:
            ectx.policy_command_code(session, TPM2_CC.Duplicate)
            with pytest.raises(tss.TSS2_Exception):
                ectx.duplicate(key.handle, ESYS_TR.NULL, None, TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL),
                               session1=session)
        finally:
            ectx.flush_context(session)
        with pytest.raises(Exception):
            key.csr_private_key().private_numbers()
    finally:
        key.close()
    # the blob on disk holds no usable private key: it loads only into this TPM
    assert b"PRIVATE KEY-----" in cfg.key_path.read_bytes() and b"TSS2" in cfg.key_path.read_bytes()


def test_all_transient_handles_are_flushed(tmp_path, swtpm_tcti):
    from ksef_edge.keystore.tpm_backend import open_esapi

    cfg = _cfg(tmp_path, swtpm_tcti)
    generate_key(cfg).close()
    _install_offline_cert(cfg)
    for _ in range(4):  # more rounds than swtpm has slots
        with open_signer(cfg, seller_nip=SHOP_NIP) as signer:
            signer.sign(b"x")
    ectx = open_esapi(swtpm_tcti)
    try:
        assert _transient_handles(ectx) == 0
    finally:
        ectx.close()


def test_key_survives_tpm_restart_and_is_refused_by_another_tpm(tmp_path):
    state = tmp_path / "tpmstate"
    state.mkdir()
    with running_swtpm(state) as tcti:
        cfg = _cfg(tmp_path, tcti)
        pub = generate_key(cfg)
        first = pub.public_key().public_numbers()
        pub.close()
    with running_swtpm(state) as tcti:  # "reboot": same TPM state
        key = open_key(_cfg(tmp_path, tcti))
        assert key.public_key().public_numbers() == first
        key.close()
    with running_swtpm() as other_tcti:  # a different TPM (or a cleared one)
        with pytest.raises(TpmError) as e:
            open_key(_cfg(tmp_path, other_tcti))
    assert e.value.code == "key_not_from_this_tpm"
    assert "key generate --backend tpm --force" in str(e.value)


def test_tpm_absent_is_a_clear_error(tmp_path, free_tcp_port):
    cfg = _cfg(tmp_path, f"swtpm:host=127.0.0.1,port={free_tcp_port}")
    with pytest.raises(TpmError) as e:
        generate_key(cfg)
    assert e.value.code == "tpm_unreachable"
    assert "/dev/tpmrm0" in str(e.value) and cfg.tcti in str(e.value)
    assert not cfg.key_path.exists()
    bad = _cfg(tmp_path, "device:/nonexistent/tpmrm9")
    with pytest.raises(TpmError) as e:
        generate_key(bad)
    assert e.value.code == "tpm_unreachable"


def test_corrupt_tpm_key_file(tmp_path, swtpm_tcti):
    cfg = _cfg(tmp_path, swtpm_tcti)
    generate_key(cfg).close()
    cfg.key_path.write_bytes(b"-----BEGIN TSS2 PRIVATE KEY-----\nAAAA\n-----END TSS2 PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError) as e:
        open_key(cfg)
    assert e.value.code == "corrupt_key_file"


def test_authentication_certificate_for_tpm_key_is_refused(tmp_path, swtpm_tcti):
    cfg = _cfg(tmp_path, swtpm_tcti)
    generate_key(cfg).close()
    with pytest.raises(CertificateError) as e:
        _install_offline_cert(cfg, kind="Authentication")
    assert e.value.code == "authentication_certificate"
    assert not cfg.cert_path.exists()


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_csr_signed_inside_tpm_with_ksef_subject(tmp_path, swtpm_tcti, algorithm):
    cfg = _cfg(tmp_path, swtpm_tcti, algorithm)
    key = generate_key(cfg)
    try:
        der = make_csr(key, CsrSubject.for_company(nip=SHOP_NIP, organization="Sklep Żabka", common_name="Kasa 1"))
        pub = key.public_key()
    finally:
        key.close()
    csr = x509.load_der_x509_csr(der)
    assert csr.is_signature_valid
    assert csr.public_key().public_numbers() == pub.public_numbers()
    oids = [(a.oid.dotted_string, a.value) for a in csr.subject]
    assert oids == [
        ("2.5.4.3", "Kasa 1"),
        ("2.5.4.10", "Sklep Żabka"),
        ("2.5.4.97", f"VATPL-{SHOP_NIP}"),
        ("2.5.4.6", "PL"),
    ]


def test_dictionary_attack_lockout_does_not_stop_signing_and_is_reported_clearly(tmp_path, swtpm_tcti):
    """Someone hammers a password-protected TPM object until the TPM locks out: sales must go on
    (our key has no password and is NODA), and a refused DA-protected use reads as a lockout."""
    from tpm2_pytss.constants import TPM2_RH, TPM2_ST
    from tpm2_pytss.types import (
        TPM2B_AUTH,
        TPM2B_PUBLIC,
        TPM2B_SENSITIVE_CREATE,
        TPMS_SENSITIVE_CREATE,
        TPMT_SIG_SCHEME,
        TPMT_TK_HASHCHECK,
    )

    from ksef_edge.keystore.tpm_backend import _create_srk, open_esapi, tpm_error

    cfg = _cfg(tmp_path, swtpm_tcti)
    generate_key(cfg).close()
    _install_offline_cert(cfg)

    ectx = open_esapi(swtpm_tcti)
    try:
        ectx.dictionary_attack_parameters(1, 1000, 1000)  # lock out after one bad password
        srk = _create_srk(ectx)
        attrs = TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | \
            TPMA_OBJECT.SENSITIVEDATAORIGIN | TPMA_OBJECT.USERWITHAUTH
        priv, pub, *_ = ectx.create(srk, TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(userAuth=TPM2B_AUTH(b"pin"))),
                                    TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256", objectAttributes=attrs))
        other = ectx.load(srk, priv, pub)
        ectx.flush_context(srk)
        ectx.tr_set_auth(other, b"wrong")
        scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA, details={"any": {"hashAlg": TPM2_ALG.SHA256}})
        ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        with pytest.raises(tss.TSS2_Exception):
            ectx.sign(other, b"\0" * 32, scheme, ticket)  # bad password: DA counter hits the limit
        with pytest.raises(tss.TSS2_Exception) as locked:
            ectx.sign(other, b"\0" * 32, scheme, ticket)
        err = tpm_error(locked.value, swtpm_tcti, "signing")
        assert err.code == "tpm_lockout" and "lockout" in str(err)
        ectx.flush_context(other)
    finally:
        ectx.close()

    with open_signer(cfg, seller_nip=SHOP_NIP) as signer:  # still signs during the lockout
        sig = signer.sign(TV2_SIGN_STRING.encode())
        pub = x509.load_der_x509_certificate(signer.certificate_der).public_key()
        pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
                   TV2_SIGN_STRING.encode(), ec.ECDSA(hashes.SHA256()))


def test_owner_hierarchy_with_password_is_a_clear_error(tmp_path, swtpm_tcti):
    from ksef_edge.keystore.tpm_backend import open_esapi

    ectx = open_esapi(swtpm_tcti)
    try:
        ectx.hierarchy_change_auth(ESYS_TR.OWNER, b"someone-took-ownership")
    finally:
        ectx.close()
    with pytest.raises(TpmError) as e:
        generate_key(_cfg(tmp_path, swtpm_tcti))
    assert e.value.code == "tpm_auth" and "owner" in str(e.value)
