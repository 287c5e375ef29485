"""Shared data for the printing tests: official KOD I / KOD II links and a realistic till invoice."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ksef_edge.domain.invoice import Address, Invoice, Line, Party, Payment, PaymentMethod, VatRate
from official_vectors import TV2_URL, TV_HASH

# ksef-docs kody-qr.md example (protocol.md §6.1) and test-vectors.md TV-2 (RSA-2048, 472 chars).
KOD1_OFFICIAL = "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/" + TV_HASH
KOD2_OFFICIAL_RSA = TV2_URL
assert len(KOD2_OFFICIAL_RSA) == 472
KSEF_NUMBER = "5265877635-20250826-0100001AF629-AF"  # numer-ksef.md example, TV-4
POLISH = "ąćęłńóśźż ĄĆĘŁŃÓŚŹŻ"


def till_invoice(*, buyer: bool = True) -> Invoice:
    return Invoice(
        seller=Party("Piekarnia Żółty Kłos sp. z o.o.", Address("ul. Świętokrzyska 12/4", "00-001 Łódź"), "5265877635"),
        buyer=Party("Gęślą Jaźń Ćma Śródmieście s.c.", None, "1111111111") if buyer else None,
        lines=(
            Line(f"Chleb żytni razowy krojony {POLISH}", Decimal("2"), Decimal("7.49"), VatRate.R23),
            Line("Bułka maślana", Decimal("0.5"), Decimal("12.125"), VatRate.R5, unit="kg"),
            Line("Woda źródlana 1,5 l", Decimal("6"), Decimal("2.19"), VatRate.R8),
        ),
        payment=Payment(PaymentMethod.CASH),
        number="FV/2026/02/000123",
        issue_date=dt.date(2026, 2, 1),
        created_at=dt.datetime(2026, 2, 1, 9, 30, tzinfo=dt.timezone.utc),
    )
