"""KSeF numbers as ksef-docs `faktury/numer-ksef.md` defines them (protocol.md §8, test-vectors TV-4):
`NIP-YYYYMMDD-XXXXXXXXXXXX-CC`, 35 characters; CC is CRC-8 (poly 0x07, init 0x00, MSB first,
no reflection, no final XOR) over the ASCII bytes of the first 32 characters, hyphens included,
as 2 uppercase hex digits. Written here from those documents, not shared with ksef-edge."""
from __future__ import annotations

import re
import secrets
from datetime import date

_FORMAT = re.compile(r"^[1-9]\d{9}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}$")


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def new_ksef_number(seller_nip: str, day: date, technical: str | None = None) -> str:
    """A fresh number for an invoice accepted on `day`; the 12-hex technical part is random."""
    tech = technical or secrets.token_hex(6).upper()
    head = f"{seller_nip}-{day:%Y%m%d}-{tech}"
    return f"{head}-{crc8(head.encode('ascii')):02X}"


def is_valid(number: str) -> bool:
    """Format and checksum (not whether the invoice exists)."""
    return bool(_FORMAT.match(number)) and crc8(number[:32].encode("ascii")) == int(number[33:], 16)
