"""Reference numbers in the official 36-character form (protocol.md §8):
`YYYYMMDD-XX-HHHHHHHHHH-HHHHHHHHHH-HH` where XX names the kind of object."""
from __future__ import annotations

import secrets
from datetime import datetime

# Infixes observed in official examples (protocol.md §8).
CHALLENGE = "CR"
AUTH_OPERATION = "AU"
ONLINE_SESSION = "SO"
BATCH_SESSION = "SB"
INVOICE = "EE"
UPO_PAGE = "EU"
KSEF_TOKEN = "EC"


def new_reference(infix: str, when: datetime) -> str:
    """A fresh reference number; the first hex block carries the time like KSeF's do."""
    stamp = f"{int(when.timestamp() * 1000) & 0xFFFFFFFFFF:010X}"
    return f"{when:%Y%m%d}-{infix}-{stamp}-{secrets.token_hex(5).upper()}-{secrets.token_hex(1).upper()}"
