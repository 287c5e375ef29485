"""The encrypted container of a backup: scrypt-derived key, zlib, AES-256-GCM in authenticated chunks.

Layout: `MAGIC`, a 4-byte header length, a JSON header (KDF parameters, salt, nonce prefix, a key
check value and plain metadata for `backup list`), then chunks of `<u32 length><ciphertext+tag>`.

Why chunks: the outbox grows for years and a Pi has little RAM, so the database is streamed, not
sealed in one piece. Each chunk's nonce is `prefix(7) || counter(4) || last(1)` (the STREAM
construction of Hoang, Reyhanitabar, Rogaway, Vizár 2015): reordering, dropping, duplicating or
truncating chunks, or editing the header (it is every chunk's associated data), fails
authentication. The key check (an HMAC under a second derived key) tells a wrong passphrase apart
from a damaged file without decrypting anything.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import BackupCorruptError, WrongPassphraseError

MAGIC = b"KSEF-EDGE-SEALED"  # 16 bytes
FORMAT = 1
CHUNK_BYTES = 1 << 20
# scrypt: 2^15 * 8 * 128 B = 32 MiB per guess; fits a Pi 3 (1 GiB) next to the daemon.
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
_MAX_N, _MAX_R, _MAX_P = 1 << 20, 16, 4  # refuse headers asking for absurd work (DoS by a forged file)
_HEADER_MAX = 64 * 1024
_CHUNK_MAX = CHUNK_BYTES + 16
_KEY_CHECK_LABEL = b"ksef-edge sealed key check v1"


@dataclass(frozen=True)
class SealedHeader:
    raw: bytes  # MAGIC + length + JSON exactly as stored (the chunks' associated data)
    salt: bytes
    nonce_prefix: bytes
    key_check: bytes
    n: int
    r: int
    p: int
    meta: dict[str, Any]


def _derive(passphrase: bytes, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    key = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase)
    return key[:32], key[32:]


def _key_check(check_key: bytes) -> bytes:
    return hmac.new(check_key, _KEY_CHECK_LABEL, hashlib.sha256).digest()


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class SealedWriter:
    """Compress and encrypt a byte stream into `out`; call `close()` to write the final chunk."""

    def __init__(self, out: BinaryIO, passphrase: bytes, meta: dict[str, Any]) -> None:
        salt, prefix = os.urandom(16), os.urandom(7)
        enc_key, check_key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        header = {
            "format": FORMAT,
            "cipher": "AES-256-GCM",
            "compression": "zlib",
            "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
            "nonce_prefix": _b64(prefix),
            "key_check": _b64(_key_check(check_key)),
            "meta": meta,
        }
        body = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
        self._aad = MAGIC + struct.pack(">I", len(body)) + body
        out.write(self._aad)
        self._out = out
        self._aead = AESGCM(enc_key)
        self._prefix = prefix
        self._counter = 0
        self._zip = zlib.compressobj(6)
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending += self._zip.compress(data)
        while len(self._pending) > CHUNK_BYTES:  # keep at least one byte back for the final chunk
            self._emit(bytes(self._pending[:CHUNK_BYTES]), last=False)
            del self._pending[:CHUNK_BYTES]

    def close(self) -> None:
        self._pending += self._zip.flush()
        while len(self._pending) > CHUNK_BYTES:
            self._emit(bytes(self._pending[:CHUNK_BYTES]), last=False)
            del self._pending[:CHUNK_BYTES]
        self._emit(bytes(self._pending), last=True)
        self._pending.clear()

    def _emit(self, plain: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter, last), plain, self._aad)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1


def read_header(f: BinaryIO, *, name: str) -> SealedHeader:
    """Parse the header (unauthenticated until a chunk decrypts); errors name the file."""
    start = f.read(len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
        raise BackupCorruptError("not_a_backup", f"{name} is not a ksef-edge backup (wrong file, or its start is damaged)")
    (length,) = struct.unpack(">I", start[len(MAGIC):])
    if length > _HEADER_MAX:
        raise BackupCorruptError("bad_header", f"{name}: header length {length} is implausible; the file is damaged")
    body = f.read(length)
    try:
        header = json.loads(body.decode("utf-8"))
        if header.get("format") != FORMAT:
            raise BackupCorruptError(
                "unknown_format",
                f"{name} has container format {header.get('format')!r}; this release reads format {FORMAT} "
                "(restore it with the release that wrote it)",
            )
        kdf = header["kdf"]
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        prefix = base64.b64decode(header["nonce_prefix"], validate=True)
        check = base64.b64decode(header["key_check"], validate=True)
        meta = dict(header.get("meta") or {})
    except BackupCorruptError:
        raise
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise BackupCorruptError("bad_header", f"{name}: the header is unreadable; the file is damaged") from None
    if kdf.get("name") != "scrypt" or not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        raise BackupCorruptError("bad_header", f"{name}: key-derivation parameters are out of range; the file is damaged")
    if len(prefix) != 7 or len(check) != 32 or len(salt) < 16:
        raise BackupCorruptError("bad_header", f"{name}: the header is malformed; the file is damaged")
    return SealedHeader(start + body, salt, prefix, check, n, r, p, meta)


def open_sealed(f: BinaryIO, passphrase: bytes, *, name: str) -> tuple[SealedHeader, Iterator[bytes]]:
    """Check the passphrase, then return the header and a generator of the plaintext.

    The generator raises `BackupCorruptError` at the first chunk that fails authentication, and
    if the stream ends before its final chunk (truncation) or continues after it.
    """
    header = read_header(f, name=name)
    enc_key, check_key = _derive(passphrase, header.salt, header.n, header.r, header.p)
    if not hmac.compare_digest(_key_check(check_key), header.key_check):
        raise WrongPassphraseError(
            "wrong_passphrase",
            f"the passphrase does not open {name} (or the backup's header was altered); "
            "use the backup passphrase that was configured when this backup was made",
        )
    return header, _plaintext(f, AESGCM(enc_key), header, name)


def _plaintext(f: BinaryIO, aead: AESGCM, header: SealedHeader, name: str) -> Iterator[bytes]:
    unzip = zlib.decompressobj()
    counter = 0
    while True:
        size_bytes = f.read(4)
        if len(size_bytes) < 4:
            raise BackupCorruptError(
                "truncated", f"{name} is truncated (it ends after {counter} chunk(s) without the final one); "
                "the copy is incomplete: use another backup"
            )
        (size,) = struct.unpack(">I", size_bytes)
        if not 16 <= size <= _CHUNK_MAX:
            raise BackupCorruptError("corrupt", f"{name} is corrupt at chunk {counter} (bad length); use another backup")
        sealed = f.read(size)
        if len(sealed) < size:
            raise BackupCorruptError("truncated", f"{name} is truncated inside chunk {counter}; use another backup")
        plain, last = None, False
        for last in (False, True):
            try:
                plain = aead.decrypt(_nonce(header.nonce_prefix, counter, last), sealed, header.raw)
                break
            except InvalidTag:
                continue
        if plain is None:
            raise BackupCorruptError(
                "corrupt",
                f"{name} failed authentication at chunk {counter}: it is corrupt or was tampered with; "
                "do not restore it, use another backup",
            )
        try:
            out = unzip.decompress(plain)
        except zlib.error:
            raise BackupCorruptError("corrupt", f"{name}: authenticated data does not decompress; the writer was faulty") from None
        if out:
            yield out
        counter += 1
        if last:
            tail = unzip.flush()
            if tail:
                yield tail
            if f.read(1):
                raise BackupCorruptError("corrupt", f"{name} has data after its final chunk; it was tampered with")
            if not unzip.eof:
                raise BackupCorruptError("corrupt", f"{name}: the compressed stream is incomplete")
            return
