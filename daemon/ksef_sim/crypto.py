"""The symmetric half of KSeF crypto: AES-256-CBC/PKCS#7 without an IV prefix (protocol.md §4.1)."""
from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class DecryptionError(Exception):
    """Ciphertext that does not decrypt to valid PKCS#7 padding with the session key."""


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if len(ciphertext) == 0 or len(ciphertext) % 16:
        raise DecryptionError(f"ciphertext length {len(ciphertext)} is not a positive multiple of 16")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = sym_padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionError("invalid PKCS#7 padding (wrong key or IV?)") from exc


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
