"""Strict parsing of the numbers a till sends: ASCII digits only, no sign, exponent or whitespace.

WHY: `\\d`, `str.isdigit()` and `Decimal()` all accept every Unicode digit ("1٣" reads as 13,
"0.５" as 0.5) and `$` matches before a trailing newline, so a till's encoding bug could be signed
into an invoice as a different amount. Everything money-like that enters through the API goes
through `plain_decimal`; NIPs through `ascii_digits`.
"""
from __future__ import annotations

import re
from decimal import Decimal

_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


def ascii_digits(text: str) -> bool:
    """True when `text` is one or more of the ASCII digits 0-9 and nothing else."""
    return _ASCII_DIGITS.fullmatch(text) is not None


def plain_decimal(text: str, *, int_digits: int, frac_digits: int) -> Decimal | None:
    """`text` as a Decimal when it is `0` or `[1-9][0-9]{0,int_digits-1}` with an optional `.` and
    1..frac_digits ASCII digits; None for anything else (signs, exponents, spaces, other digits)."""
    pattern = re.compile(
        rf"(0|[1-9][0-9]{{0,{int_digits - 1}}})(\.[0-9]{{1,{frac_digits}}})?", re.ASCII
    )
    if pattern.fullmatch(text) is None:
        return None
    return Decimal(text)
