"""Receipt layout: what the buyer reads, within the paper width, with the right QR labels."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksef_edge.domain.totals import compute_totals
from ksef_edge.printing.receipt_layout import (
    QrBlock,
    ReceiptData,
    ReceiptLine,
    TextLine,
    VatSummaryRow,
    clean_text,
    layout,
    receipt_from_invoice,
)
from printing_fixtures import KOD1_OFFICIAL, KOD2_OFFICIAL_RSA, KSEF_NUMBER, POLISH, till_invoice


def texts(blocks) -> list[str]:
    return [b.text for b in blocks if isinstance(b, TextLine)]


def label_after(blocks, name: str) -> str:
    i = next(i for i, b in enumerate(blocks) if isinstance(b, QrBlock) and b.name == name)
    return blocks[i + 1].text


def test_receipt_from_invoice_shows_the_invoice_and_offline_labels():
    inv = till_invoice()
    data = receipt_from_invoice(inv, compute_totals(inv), kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA)
    blocks = layout(data, 42)
    body = "\n".join(texts(blocks))
    assert "Faktura FV/2026/02/000123" in body
    assert "2026-02-01" in body
    assert "NIP 5265877635" in body and "NIP 1111111111" in body
    assert POLISH.split()[0] in body and POLISH.split()[1] in body
    # 2 x 7.49 = 14.98 (23%), 0.5 x 12.125 = 6.0625 -> 6.06 (5%), 6 x 2.19 = 13.14 (8%); total 34.18
    assert "14,98 23%" in body and "6,06 5%" in body and "13,14 8%" in body
    assert any(line.startswith("DO ZAPŁATY") and line.endswith("34,18 PLN") for line in texts(blocks))
    assert "gotówka" in body
    qrs = [b for b in blocks if isinstance(b, QrBlock)]
    assert [(q.name, q.payload) for q in qrs] == [("KOD I", KOD1_OFFICIAL), ("KOD II", KOD2_OFFICIAL_RSA)]
    assert label_after(blocks, "KOD I") == "OFFLINE"
    assert label_after(blocks, "KOD II") == "CERTYFIKAT"
    assert "DUPLIKAT" not in body


def test_vat_summary_matches_the_rates_in_fa3_order():
    inv = till_invoice()
    data = receipt_from_invoice(inv, None, kod1_url=KOD1_OFFICIAL, kod2_url=None)
    rows = texts(layout(data, 48))
    start = next(i for i, t in enumerate(rows) if t.startswith("Stawka"))
    table = [r.split() for r in rows[start + 1:start + 4]]
    # 23%: gross 14.98 -> VAT round(14.98*23/123)=2.80; 8%: 13.14 -> 0.97; 5%: 6.06 -> 0.29
    assert table == [["23%", "12,18", "2,80", "14,98"], ["8%", "12,17", "0,97", "13,14"], ["5%", "5,77", "0,29", "6,06"]]


def test_reprint_after_upload_shows_ksef_number_and_duplikat():
    inv = till_invoice()
    data = receipt_from_invoice(inv, compute_totals(inv), kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA,
                                ksef_number=KSEF_NUMBER, copy=True)
    for columns in (32, 42, 48):
        blocks = layout(data, columns)
        i = next(i for i, b in enumerate(blocks) if isinstance(b, QrBlock) and b.name == "KOD I")
        j = next(j for j, b in enumerate(blocks) if isinstance(b, QrBlock) and b.name == "KOD II")
        assert "".join(b.text for b in blocks[i + 1:j] if isinstance(b, TextLine) and b.bold) == KSEF_NUMBER
        assert "OFFLINE" not in texts(blocks)
        assert blocks[j + 1].text == "CERTYFIKAT"
        assert texts(blocks).count("DUPLIKAT") == 2  # top and bottom, so a torn copy still says so


def test_online_invoice_without_kod2_prints_only_kod1():
    inv = till_invoice(buyer=False)
    data = receipt_from_invoice(inv, None, kod1_url=KOD1_OFFICIAL, kod2_url=None, ksef_number=KSEF_NUMBER)
    blocks = layout(data, 42)
    assert [b.name for b in blocks if isinstance(b, QrBlock)] == ["KOD I"]
    assert "Nabywca:" not in texts(blocks)


def test_a_character_without_a_glyph_gets_a_stand_in_not_an_error():
    assert clean_text("Chleb 🍞", "cp852") == "Chleb "  # emoji dropped (the stored XML keeps it)


def test_typographic_characters_are_transliterated_deliberately():
    assert clean_text("„Kłos” – 5 € … 2×3", "cp852") == '"Kłos" - 5 EUR ... 2×3'  # × exists in CP852
    assert clean_text(POLISH, "cp852") == POLISH


def test_control_characters_cannot_inject_printer_commands():
    assert clean_text("Piwo\x1b@\x1dV\x00\tjasne\n", "cp852") == "Piwo @ V  jasne "


# --- width property: random baskets, long Polish names -------------------------------------------------------
polish_text = st.text(alphabet=st.sampled_from("abcdefghijklmnoprstuwyzABCXYZ0123456789 .,-/" + POLISH + "„”–"),
                      min_size=1, max_size=300)
amounts = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("99999999.99"), places=2)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("100000"), places=3)


@st.composite
def receipts(draw) -> ReceiptData:
    lines = tuple(
        ReceiptLine(draw(polish_text), draw(quantities), draw(st.sampled_from(["szt", "kg", "opak.", "l"])),
                    draw(amounts), draw(st.sampled_from(["23%", "8%", "5%", "0%", "zw", "np", "oo"])), draw(amounts))
        for _ in range(draw(st.integers(1, 8))))
    summary = tuple(VatSummaryRow(r, draw(amounts), draw(amounts), draw(amounts))
                    for r in draw(st.lists(st.sampled_from(["23%", "8%", "5%", "zw"]), min_size=1, max_size=4, unique=True)))
    return ReceiptData(
        seller_name=draw(polish_text), seller_address=(draw(polish_text), draw(polish_text)), seller_nip="5265877635",
        invoice_number=draw(st.text(alphabet="FV/0123456789-ABC", min_size=1, max_size=60)),
        issue_date=dt.date(2026, 2, 1), lines=lines, vat_summary=summary, total=draw(amounts),
        payment_method=draw(st.sampled_from(["gotówka", "karta", "przelew"])),
        kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA,
        kod1_label=draw(st.sampled_from(["OFFLINE", KSEF_NUMBER])),
        copy_marker=draw(st.sampled_from([None, "DUPLIKAT"])),
        buyer_nip=draw(st.sampled_from([None, "1111111111"])), buyer_name=draw(st.one_of(st.none(), polish_text)),
        due_date=draw(st.sampled_from([None, dt.date(2026, 2, 15)])),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=receipts(), columns=st.sampled_from([32, 42, 48]))
def test_no_line_exceeds_the_paper_width(data: ReceiptData, columns: int):
    blocks = layout(data, columns)
    for block in blocks:
        if isinstance(block, TextLine):
            assert len(block.text) <= columns, block
            block.text.encode("cp852")  # and every character is printable in the code page
    # wrapping loses no character of a product name
    printed = "".join("".join(texts(blocks)).split())
    for line in data.lines:
        assert "".join(clean_text(line.name, "cp852").split()) in printed
    assert [b.payload for b in blocks if isinstance(b, QrBlock)] == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
