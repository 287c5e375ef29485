"""The setup receipt: the API certificate's SHA-256 fingerprint on paper, for whoever sets up the POS.

WHY on paper: the installer types or scans the fingerprint into the POS at the till, away from the
device's console; a printout with a QR code avoids mistyping 64 hex digits.
"""
from __future__ import annotations

from .receipt_layout import Block, QrBlock, TextLine


def setup_receipt_blocks(fingerprint: str, names: list[str], columns: int) -> list[Block]:
    groups = fingerprint.split(":")
    per_line = max(1, (columns + 1) // 3)
    blocks: list[Block] = [
        TextLine("ksef-edge: połączenie kasy", bold=True, align="center"),
        TextLine("Odcisk SHA-256 certyfikatu API", align="center"),
        TextLine(""),
    ]
    for i in range(0, len(groups), per_line):
        blocks.append(TextLine(":".join(groups[i:i + per_line]), align="center"))
    blocks.append(TextLine(""))
    for name in names:
        blocks.append(TextLine(f"adres: {name}"))
    blocks += [
        TextLine("Wpisz ten odcisk w ustawieniach kasy (POS)."),
        TextLine("Kasa połączy się tylko z tym urządzeniem."),
        QrBlock(fingerprint, "SHA-256"),
    ]
    return blocks
