"""Errors of key custody. Each carries a stable `code` (for status pages and tests) and a message
that names the problem and the fix in words a shop owner or installer understands. Messages never
contain key material, passphrases or tokens."""
from __future__ import annotations


class KeystoreError(Exception):
    """Base of every key-custody problem; the daemon refuses to issue while one is unresolved."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CertificateError(KeystoreError):
    """The certificate cannot sign KOD II for this device (wrong type, NIP, validity or key)."""


class KeyFileError(KeystoreError):
    """The encrypted key file, its passphrase or its permissions are wrong."""


class TpmError(KeystoreError):
    """The TPM is absent, unreachable, locked out or refused an operation."""


class TokenError(KeystoreError):
    """The KSeF token is missing, malformed or cannot be decrypted."""
