"""The `X-System-Warning` response header (API 2.6.0, open-api.json `SystemWarning`):
`[code]: message | [code]: message`, non-blocking, ASCII-folded. Forced on TE by the request header
`X-Test-System-Warning`, whose content is returned. ksef-sim adds warnings set by `--system-warning`
or POST /admin/system-warning to every /v2 response, and echoes `X-Test-System-Warning` when playing
`test` (or `sim`)."""
from __future__ import annotations

import re
import unicodedata

HEADER = "X-System-Warning"
TEST_HEADER = "X-Test-System-Warning"
ONE = re.compile(r"\[(?P<code>[^\]]+)\]: (?P<message>[^|]+)")   # the spec's regex, verbatim
_EXTRA = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "|": "/"})


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).encode("ascii", "ignore").decode()


def warning(code: str, message: str) -> str:
    """One `[code]: message`, folded; refuses what the spec's regex could not read back."""
    item = f"[{ascii_fold(code).replace(']', '')}]: {ascii_fold(message).strip()}"
    if not ONE.fullmatch(item):
        raise ValueError("ostrzeżenie musi mieć niepusty kod i treść")
    return item


def header_value(items: list[str]) -> str | None:
    return " | ".join(items) if items else None
