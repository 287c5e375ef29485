"""Custody of the KSeF token the uplink authenticates with (same custody as the offline key).

Whoever holds the token can act in KSeF with its permissions, so it is never stored in plain text,
never logged, and never accepted on the command line (see `ksef-edge token set`).

On-disk format (JSON, mode 0600), `"format": "ksef-edge-token/1"`:
- backend "file": AES-256-GCM under a key derived with scrypt (N=2^15, r=8, p=1) from the key-file
  passphrase (systemd credential or passphrase file);
- backend "tpm": AES-256-GCM under a random 32-byte key sealed in the TPM (a KEYEDHASH data object
  under the SRK, FIXEDTPM|FIXEDPARENT, stored as a TSS2 PRIVATE KEY blob). Sealing the AES key
  rather than the token itself keeps tokens of any length within the TPM's 128-byte seal limit.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import KeystoreError, TokenError
from .files import check_private_file, write_private_file
from .passphrase import read_passphrase

if TYPE_CHECKING:
    from . import KeystoreConfig

FORMAT = "ksef-edge-token/1"
_AAD = FORMAT.encode()
_SCRYPT = {"n": 1 << 15, "r": 8, "p": 1}
MAX_TOKEN_LENGTH = 4096


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def _validate_token(token: str) -> str:
    token = token.strip()
    if not token:
        raise TokenError("empty_token", "no KSeF token given; pipe it in: `ksef-edge token set < token.txt`")
    if len(token) > MAX_TOKEN_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in token):
        raise TokenError(
            "bad_token",
            "the input does not look like a KSeF token (one line of printable text); paste only the token",
        )
    return token


def store_token(cfg: "KeystoreConfig", token: str) -> None:
    """Encrypt/seal `token` into `cfg.token_path` (replacing any previous token)."""
    plain = _validate_token(token).encode()
    key = os.urandom(32)
    record: dict = {"format": FORMAT, "backend": cfg.backend}
    if cfg.backend == "file":
        salt = os.urandom(16)
        key = _derive(read_passphrase(cfg.passphrase_source()), salt, _SCRYPT)
        record["kdf"] = {"name": "scrypt", "salt": _b64(salt), **_SCRYPT}
    elif cfg.backend == "tpm":
        record["sealed_key"] = _tpm_seal(cfg.tcti, key).decode()
    else:
        raise TokenError("bad_backend", f"keystore backend {cfg.backend!r} is not 'file' or 'tpm'")
    nonce = os.urandom(12)
    record["nonce"] = _b64(nonce)
    record["ciphertext"] = _b64(AESGCM(key).encrypt(nonce, plain, _AAD))
    write_private_file(
        Path(cfg.token_path), json.dumps(record, indent=1).encode() + b"\n", overwrite=True, what="token file"
    )


def load_token(cfg: "KeystoreConfig") -> str:
    """The KSeF token from custody; TokenError/KeystoreError naming the fix if it cannot be opened."""
    path = Path(cfg.token_path)
    if not path.exists():
        raise TokenError("no_token", f"no KSeF token stored ({path}); store one with `ksef-edge token set < token.txt`")
    check_private_file(path, "token file")
    try:
        record = json.loads(path.read_bytes())
        if record.get("format") != FORMAT:
            raise ValueError("format")
        nonce = _unb64(record["nonce"])
        ciphertext = _unb64(record["ciphertext"])
        backend = record["backend"]
    except (ValueError, KeyError, TypeError):
        raise TokenError(
            "corrupt_token_file", f"token file {path} is damaged; store the token again with `ksef-edge token set`"
        ) from None
    if backend == "file":
        try:
            kdf = record["kdf"]
            params = {"n": int(kdf["n"]), "r": int(kdf["r"]), "p": int(kdf["p"])}
            salt = _unb64(kdf["salt"])
        except (ValueError, KeyError, TypeError):
            raise TokenError("corrupt_token_file", f"token file {path} is damaged; run `ksef-edge token set` again") from None
        key = _derive(read_passphrase(cfg.passphrase_source()), salt, params)
    elif backend == "tpm":
        key = _tpm_unseal(cfg.tcti, str(record.get("sealed_key", "")).encode(), path)
    else:
        raise TokenError("corrupt_token_file", f"token file {path} names an unknown backend; run `ksef-edge token set` again")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, _AAD).decode()
    except InvalidTag:
        raise TokenError(
            "token_decrypt_failed",
            f"token file {path} cannot be decrypted (different passphrase or TPM than when it was stored, or the "
            "file is damaged); store the token again with `ksef-edge token set`",
        ) from None


def _derive(passphrase: bytes, salt: bytes, params: dict) -> bytes:
    return Scrypt(salt=salt, length=32, **params).derive(passphrase)


def _tpm_seal(tcti: str, secret: bytes) -> bytes:
    from tpm2_pytss.tsskey import TSSPrivKey

    from .tpm_backend import _tss, create_under_srk, open_esapi, tpm_error

    _, c, t = _tss()
    A = c.TPMA_OBJECT
    template = t.TPM2B_PUBLIC(
        publicArea=t.TPMT_PUBLIC(
            type=c.TPM2_ALG.KEYEDHASH,
            nameAlg=c.TPM2_ALG.SHA256,
            objectAttributes=A.FIXEDTPM | A.FIXEDPARENT | A.USERWITHAUTH | A.NODA,
            parameters=t.TPMU_PUBLIC_PARMS(
                keyedHashDetail=t.TPMS_KEYEDHASH_PARMS(scheme=t.TPMT_KEYEDHASH_SCHEME(scheme=c.TPM2_ALG.NULL))
            ),
        )
    )
    sensitive = t.TPM2B_SENSITIVE_CREATE(t.TPMS_SENSITIVE_CREATE(data=t.TPM2B_SENSITIVE_DATA(secret)))
    ectx = open_esapi(tcti)
    try:
        priv, pub = create_under_srk(ectx, sensitive, template)
    except KeystoreError:
        raise
    except Exception as exc:
        raise tpm_error(exc, tcti, "sealing the KSeF token") from None
    finally:
        ectx.close()
    return TSSPrivKey(priv, pub).to_pem()


def _tpm_unseal(tcti: str, pem: bytes, path: Path) -> bytes:
    from tpm2_pytss.tsskey import TSSPrivKey

    from .tpm_backend import load_under_srk, open_esapi, tpm_error

    try:
        blob = TSSPrivKey.from_pem(pem)
    except Exception:
        raise TokenError("corrupt_token_file", f"token file {path} is damaged; run `ksef-edge token set` again") from None
    ectx = open_esapi(tcti)
    try:
        handle = load_under_srk(ectx, blob)
        try:
            return bytes(ectx.unseal(handle))
        finally:
            ectx.flush_context(handle)
    except KeystoreError:
        raise
    except Exception as exc:
        err = tpm_error(exc, tcti, "unsealing the KSeF token")
        if err.code == "key_not_from_this_tpm":
            raise TokenError(
                "token_not_from_this_tpm",
                f"token file {path} was sealed by another TPM, or this TPM was cleared; store the token again "
                "with `ksef-edge token set`",
            ) from None
        raise err from None
    finally:
        ectx.close()
