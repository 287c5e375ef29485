"""What the thermal printer can show of a text, and the check that every invoice can get its receipt.

The printer prints one code page (CP852 by default). The stored FA(3) XML keeps the exact text
(a Cyrillic buyer name, `m²`); only the receipt shows a readable stand-in: `m²` -> `m2`,
Cyrillic and other scripts transliterated (text-unidecode), emoji and other pictographs dropped.
A text of which nothing readable would remain (a product named `☕`) is refused before a number is
used (`check_printable`, HTTP 422 naming the field): an invoice must never exist without a receipt.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING

from text_unidecode import unidecode

from ..refusal import Refusal

if TYPE_CHECKING:  # issuing imports printing at run time (issuing/receipts.py)
    from ..issuing.invoice_request import InvoiceDraft
    from . import PrinterConfig

# Deliberate substitutions for typographic characters a till may send (kept from the first layout).
DELIBERATE = {
    "\u2018": "'", "\u2019": "'", "\u201a": ",", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u20ac": "EUR", "\u00d7": "x", "\u2022": "*", "\u00b7": "*",
    "\u2122": "TM", "\u00ae": "(R)", "\u00a9": "(C)", "\u2030": "promil", "\u00b5": "u", "\u03bc": "u",
}


def encodable(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


def stand_in(ch: str, codec: str) -> str:
    """A readable replacement for one character `codec` cannot print ("" when there is none: emoji)."""
    if ch in DELIBERATE and encodable(DELIBERATE[ch], codec):
        return DELIBERATE[ch]
    compat = unicodedata.normalize("NFKC", ch)  # m² -> m2, № -> No, ﬁ -> fi
    if compat != ch and encodable(compat, codec):
        return compat
    if unicodedata.category(ch) in ("So", "Sk", "Cs", "Co", "Cn"):  # emoji, pictographs, private use
        return ""
    ascii_text = unidecode(ch).replace("[?]", "")
    return "".join(c for c in ascii_text if encodable(c, codec))


def printable_text(text: str, codec: str) -> str:
    """`text` as the printer can show it: characters of `codec` kept, every other one replaced by its stand-in."""
    if encodable(text, codec):
        return text
    return "".join(ch if encodable(ch, codec) else stand_in(ch, codec) for ch in text)


def _readable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _draft_texts(draft: InvoiceDraft) -> Iterator[tuple[str, str]]:
    """(field, text) of everything a cashier or customer typed that the receipt prints."""
    buyer = draft.buyer
    if buyer is not None:
        yield "buyer.name", buyer.name
        if buyer.address is not None:
            for value in (buyer.address.line1, buyer.address.line2):
                if value:
                    yield "buyer.address", value
    for i, line in enumerate(draft.lines):
        yield f"lines[{i}].name", line.name
        yield f"lines[{i}].unit", line.unit
    if draft.exemption_basis:
        yield "exemption_basis", draft.exemption_basis


def check_printable(draft: InvoiceDraft, codec: str) -> None:
    """Refuse (422 `unprintable_text`, naming the field) a request whose receipt would lose a whole text."""
    for field, text in _draft_texts(draft):
        shown = printable_text(text, codec)
        if not shown.strip() or (_readable(text) and not _readable(shown)):
            raise Refusal(
                422, "unprintable_text",
                f"{text!r} cannot be printed on the receipt (printer code page {codec}): nothing readable would remain; "
                "use letters or digits the printer has", field)


# PrinterConfig().python_codec, named here so that a device without a printer does not load python-escpos'
# printer database (~11 MB) for every sale's check; tests/test_receipt_printable.py keeps the two equal.
PREVIEW_CODEC = "cp852"


def check_receipt_printable(draft: InvoiceDraft, printer: PrinterConfig | None) -> None:
    """`check_printable` against the configured printer's code page (the preview default, CP852, without one)."""
    check_printable(draft, printer.python_codec if printer is not None else PREVIEW_CODEC)


__all__ = ["check_printable", "check_receipt_printable", "encodable", "printable_text", "stand_in"]
