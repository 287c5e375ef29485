"""KSeF numbers: `NIP-YYYYMMDD-TTTTTTTTTTTT-CC` (35 chars), CC = CRC-8 of the first 32 characters.

CRC-8: polynomial 0x07, init 0x00, MSB first, no reflection, no final XOR, over the ASCII bytes of
the first 32 characters including hyphens (ksef-docs `faktury/numer-ksef.md`,
ksef-client-csharp `KsefNumberValidator.cs`). Error messages mirror the official validator's.
"""
from __future__ import annotations

import datetime as dt
import re

from .errors import KsefNumberError

KSEF_NUMBER_LENGTH = 35
_DATA_LENGTH = 32
_PATTERN = re.compile(
    r"([1-9](\d[1-9]|[1-9]\d)\d{7})-(20[2-9]\d|2[1-9]\d{2}|[3-9]\d{3})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])"
    r"-([0-9A-F]{12})-([0-9A-F]{2})"
)
_NIP = re.compile(r"[1-9]((\d[1-9])|([1-9]\d))\d{7}")
_TECHNICAL = re.compile(r"[0-9A-F]{12}")


def crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _checksum(data32: str) -> str:
    return f"{crc8(data32.encode('ascii')):02X}"


def validate_ksef_number(number: str) -> str:
    """Return `number` if it is a valid KSeF number, else raise KsefNumberError (Polish message)."""
    if not isinstance(number, str) or not number.strip():
        raise KsefNumberError("Numer KSeF jest pusty.")
    if len(number) != KSEF_NUMBER_LENGTH:
        raise KsefNumberError(
            f"Numer KSeF ma nieprawidłową długość: {len(number)}. Oczekiwana długość to {KSEF_NUMBER_LENGTH}."
        )
    match = _PATTERN.fullmatch(number)
    if not match:
        raise KsefNumberError(
            "Numer KSeF ma nieprawidłowy format. Oczekiwany format: 9999999999-RRRRMMDD-FFFFFFFFFFFF-FF"
        )
    try:
        dt.date(int(number[11:15]), int(number[15:17]), int(number[17:19]))
    except ValueError:
        raise KsefNumberError("Numer KSeF zawiera nieistniejącą datę.") from None
    expected = _checksum(number[:_DATA_LENGTH])
    if number[-2:] != expected:
        raise KsefNumberError(
            f"Nieprawidłowa suma kontrolna CRC-8. Oczekiwano: {expected}, otrzymano: {number[-2:]}."
        )
    return number


def is_valid_ksef_number(number: str) -> bool:
    try:
        validate_ksef_number(number)
    except KsefNumberError:
        return False
    return True


def make_ksef_number(nip: str, date: dt.date, technical12: str) -> str:
    """Assemble a KSeF number (the simulator assigns these) with its CRC-8."""
    if not _NIP.fullmatch(nip or ""):
        raise KsefNumberError(f"NIP {nip!r} nie ma formatu 10 cyfr.")
    if not _TECHNICAL.fullmatch(technical12 or ""):
        raise KsefNumberError(f"Część techniczna {technical12!r} musi mieć 12 znaków szesnastkowych (0-9, A-F).")
    data = f"{nip}-{date.strftime('%Y%m%d')}-{technical12}"
    return validate_ksef_number(f"{data}-{_checksum(data)}")


def ksef_number_date(number: str) -> dt.date:
    """The date KSeF accepted the invoice (part 2 of the number)."""
    n = validate_ksef_number(number)
    return dt.date(int(n[11:15]), int(n[15:17]), int(n[17:19]))
