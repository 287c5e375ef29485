"""Batch package: ZIP of invoice files, split into parts, each part AES-encrypted (protocol.md §4.6)."""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field

from .crypto import SymmetricKey, sha256_b64

BATCH_INVOICES_MAX = 10_000          # per session (docs:limity/limity.md)
PART_BYTES_MAX = 100_000_000         # before encryption
PARTS_MAX = 50


@dataclass(frozen=True)
class BatchPackage:
    zip_size: int
    zip_hash: str
    parts: tuple[bytes, ...] = field(repr=False)   # encrypted
    key: SymmetricKey = field(repr=False)

    def file_info(self) -> dict:
        return {
            "fileSize": self.zip_size,
            "fileHash": self.zip_hash,
            "fileParts": [
                {"ordinalNumber": i, "fileSize": len(p), "fileHash": sha256_b64(p)}
                for i, p in enumerate(self.parts, start=1)
            ],
        }


def build_package(files: list[tuple[str, bytes]], *, part_bytes_max: int = PART_BYTES_MAX,
                  key: SymmetricKey | None = None) -> BatchPackage:
    """ZIP `files` (name, exact XML bytes), split, encrypt every part with one session key."""
    if not files:
        raise ValueError("a batch package needs at least one invoice")
    if len(files) > BATCH_INVOICES_MAX:
        raise ValueError(f"{len(files)} invoices exceed the KSeF limit of {BATCH_INVOICES_MAX} per session")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    blob = buf.getvalue()
    chunks = [blob[i:i + part_bytes_max] for i in range(0, len(blob), part_bytes_max)]
    if len(chunks) > PARTS_MAX:
        raise ValueError(f"package of {len(blob)} bytes needs {len(chunks)} parts; KSeF allows {PARTS_MAX}")
    key = key or SymmetricKey.generate()
    return BatchPackage(len(blob), sha256_b64(blob), tuple(key.encrypt(c) for c in chunks), key)
