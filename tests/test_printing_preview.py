"""The PNG preview shows the receipt and both QR codes decode (zxing-cpp) to the invoice's links."""
from __future__ import annotations

import pytest
import zxingcpp
from PIL import Image

from ksef_edge.printing import PrinterConfig
from ksef_edge.printing.preview import render_preview, write_preview
from ksef_edge.printing.receipt_layout import layout, receipt_from_invoice
from printing_fixtures import KOD1_OFFICIAL, KOD2_OFFICIAL_RSA, KSEF_NUMBER, till_invoice


@pytest.mark.parametrize("paper", ["58mm", "80mm"])
def test_preview_png_decodes_to_both_links(tmp_path, paper):
    cfg = PrinterConfig(paper=paper)
    data = receipt_from_invoice(till_invoice(), None, kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA)
    path = write_preview(layout(data, cfg.line_columns), cfg, tmp_path / "receipt.png")
    img = Image.open(path)
    assert img.format == "PNG"
    assert img.width == cfg.print_width_dots + 32  # paper width plus a 16 px margin each side
    codes = sorted(zxingcpp.read_barcodes(img), key=lambda c: c.position.top_left.y)
    assert [c.text for c in codes] == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
    assert all(c.format == zxingcpp.BarcodeFormat.QRCode for c in codes)


def test_preview_of_a_reprint_still_decodes(tmp_path):
    cfg = PrinterConfig(paper="58mm")
    data = receipt_from_invoice(till_invoice(), None, kod1_url=KOD1_OFFICIAL, kod2_url=KOD2_OFFICIAL_RSA,
                                ksef_number=KSEF_NUMBER, copy=True)
    img = render_preview(layout(data, cfg.line_columns), cfg)
    assert {c.text for c in zxingcpp.read_barcodes(img)} == {KOD1_OFFICIAL, KOD2_OFFICIAL_RSA}
    # the text area is taller than the original's (two DUPLIKAT lines, the 35-char number wraps on 58 mm)
    original = render_preview(layout(receipt_from_invoice(till_invoice(), None, kod1_url=KOD1_OFFICIAL,
                                                          kod2_url=KOD2_OFFICIAL_RSA), 32), cfg)
    assert img.height > original.height
