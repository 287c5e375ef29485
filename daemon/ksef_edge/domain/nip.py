"""Polish NIP (tax id) checksum."""
from __future__ import annotations

from .plain_decimal import ascii_digits

_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def is_valid_nip(nip: str) -> bool:
    if len(nip) != 10 or not ascii_digits(nip) or nip[0] == "0":  # "１２…" (fullwidth) is not a NIP
        return False
    check = sum(int(d) * w for d, w in zip(nip, _WEIGHTS)) % 11
    return check != 10 and check == int(nip[9])
