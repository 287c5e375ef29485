"""Polish NIP (tax id) checksum."""
from __future__ import annotations

from .errors import InvoiceError

_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def is_valid_nip(nip: str) -> bool:
    if len(nip) != 10 or not nip.isdigit() or nip[0] == "0":
        return False
    check = sum(int(d) * w for d, w in zip(nip, _WEIGHTS)) % 11
    return check != 10 and check == int(nip[9])


def validate_nip(nip: str, field: str = "nip") -> str:
    """Return the NIP if valid, else raise InvoiceError naming the field."""
    if not is_valid_nip(nip):
        raise InvoiceError(field, f"{nip!r} is not a valid NIP (10 digits with a correct checksum)")
    return nip
