"""Polish NIP (tax id) checksum."""
from __future__ import annotations

_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def is_valid_nip(nip: str) -> bool:
    if len(nip) != 10 or not nip.isdigit() or nip[0] == "0":
        return False
    check = sum(int(d) * w for d, w in zip(nip, _WEIGHTS)) % 11
    return check != 10 and check == int(nip[9])
