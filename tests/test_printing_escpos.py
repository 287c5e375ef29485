"""ESC/POS bytes as a printer reads them: Polish text in the forced code page, QR payloads, raster fallback, cut."""
from __future__ import annotations

import pytest
import zxingcpp

from escpos_reader import Qr, Raster, Text, parse
from ksef_edge.domain.qr import QrEnvironment, kod1_url, kod2_url
from ksef_edge.domain.totals import compute_totals
from ksef_edge.printing import PrinterConfig, PrinterConfigError, open_printer
from ksef_edge.printing.escpos_output import (
    QrTooLargeError,
    qr_image,
    qr_module_dots,
    qr_modules,
    qr_version,
    render,
    send,
)
from ksef_edge.printing.receipt_layout import TextLine, UnprintableTextError, layout, receipt_from_invoice
from printing_fixtures import KOD1_OFFICIAL, KOD2_OFFICIAL_RSA, KSEF_NUMBER, POLISH, till_invoice


def labels_after_codes(parsed) -> list[str]:
    """The first non-empty text after each QR code (native or raster): its label on paper."""
    labels = []
    for i, e in enumerate(parsed.events):
        if isinstance(e, (Qr, Raster)):
            labels.append(next(x.text for x in parsed.events[i + 1:] if isinstance(x, Text) and x.text.strip()))
    return labels


def receipt_blocks(cfg: PrinterConfig, *, kod2: str = KOD2_OFFICIAL_RSA, **kw):
    inv = till_invoice()
    data = receipt_from_invoice(inv, compute_totals(inv), kod1_url=KOD1_OFFICIAL, kod2_url=kod2, **kw)
    return layout(data, cfg.line_columns, codec=cfg.python_codec)


def print_to_file(tmp_path, **cfg_kw) -> bytes:
    cfg = PrinterConfig(connection="file", file_path=str(tmp_path / "lp0"), **cfg_kw)
    send(cfg, render(receipt_blocks(cfg), cfg))
    return (tmp_path / "lp0").read_bytes()


@pytest.mark.parametrize("paper,profile", [("58mm", "default"), ("80mm", "TM-T20II"), ("80mm", "TM-T88V")])
def test_file_sink_native_qr_round_trip(tmp_path, paper, profile):
    parsed = parse(print_to_file(tmp_path, paper=paper, profile=profile))
    assert parsed.codepages == [18]  # ESC t 18 = CP852 on Epson-compatible printers, once
    assert all(line.codepage == 18 for line in parsed.lines)
    for word in POLISH.split():
        assert word in parsed.text
    assert parsed.qr_payloads == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
    assert {e.ecc for e in parsed.events if hasattr(e, "ecc")} == {"M"}
    assert labels_after_codes(parsed) == ["OFFLINE", "CERTYFIKAT"]
    assert len(parsed.cuts) == 1 and parsed.events[-1] == parsed.cuts[0]
    columns = 32 if paper == "58mm" else 42
    assert max(len(line.text) for line in parsed.lines) <= columns


def test_raster_fallback_decodes_to_the_same_links(tmp_path):
    parsed = parse(print_to_file(tmp_path, paper="58mm", profile="POS-5890"))
    assert parsed.codepages == [18]  # the profile's CP852 slot, not the CP1257 its magic encoding would pick
    assert parsed.qr_payloads == []  # no GS ( k on a printer without native QR
    assert len(parsed.rasters) == 2
    decoded = [zxingcpp.read_barcodes(img)[0].text for img in parsed.rasters]
    assert decoded == [KOD1_OFFICIAL, KOD2_OFFICIAL_RSA]
    assert all(img.width <= 384 for img in parsed.rasters)
    assert labels_after_codes(parsed) == ["OFFLINE", "CERTYFIKAT"]
    assert parsed.cuts == []  # POS-5890 has no cutter
    assert "ĄĆĘŁŃÓŚŹŻ" in parsed.text


def test_codepage_slot_is_configurable_for_clones(tmp_path):
    data = print_to_file(tmp_path, paper="58mm", codepage_slot=46)
    parsed = parse(data, codepages={0: "cp437", 46: "cp852"})
    assert parsed.codepages == [46]
    assert "ąćęłńóśźż" in parsed.text
    assert "ąćęłńóśźż".encode("cp852") in data


def test_windows_1250_code_page(tmp_path):
    cfg = PrinterConfig(paper="80mm", profile="TM-T88V", codepage="CP1250", codepage_slot=45)
    parsed = parse(render(receipt_blocks(cfg), cfg), codepages={0: "cp437", 45: "cp1250"})
    assert "ĄĆĘŁŃÓŚŹŻ" in parsed.text and parsed.codepages == [45]


def test_profile_without_the_code_page_needs_a_slot():
    cfg = PrinterConfig(profile="TM-T88III")  # its profile lists no CP852
    with pytest.raises(PrinterConfigError, match="printer.codepage_slot"):
        render([TextLine("Łódź")], cfg)


def test_unencodable_text_is_refused_not_replaced():
    cfg = PrinterConfig()
    with pytest.raises(UnprintableTextError, match="U\\+0416"):
        render([TextLine("Ж")], cfg)


def test_ec_kod2_from_the_domain_prints_and_fits_58mm(tmp_path, ec_signer):
    inv = till_invoice()
    xml = b"<Faktura>stand-in bytes; the link hashes whatever bytes were stored</Faktura>"
    k1 = kod1_url(QrEnvironment.TEST, "5265877635", inv.issue_date, xml)
    k2 = kod2_url(QrEnvironment.TEST, "Nip", "5265877635", "5265877635", xml, ec_signer)
    assert 200 <= len(k2) <= 230
    cfg = PrinterConfig(connection="file", file_path=str(tmp_path / "lp0"), paper="58mm", native_qr=False)
    data = receipt_from_invoice(inv, None, kod1_url=k1, kod2_url=k2)
    send(cfg, render(layout(data, cfg.line_columns), cfg))
    parsed = parse((tmp_path / "lp0").read_bytes())
    assert [zxingcpp.read_barcodes(img)[0].text for img in parsed.rasters] == [k1, k2]
    assert qr_module_dots(k2, 384) >= 5  # v11: bigger modules than the RSA link gets


def test_module_sizes_fit_the_paper():
    # protocol.md §6.3: KOD I v6, RSA KOD II v17 at ECC M
    assert qr_version(KOD1_OFFICIAL) == 6 and qr_version(KOD2_OFFICIAL_RSA) == 17
    for width in (384, 512, 576):
        for link in (KOD1_OFFICIAL, KOD2_OFFICIAL_RSA):
            dots = qr_module_dots(link, width)
            assert 3 <= dots <= 8
            assert (qr_modules(link).width + 8) * dots <= width
    assert qr_module_dots(KOD2_OFFICIAL_RSA, 384) == 4  # 93 modules with quiet zone on 384 dots


def test_too_narrow_paper_is_a_clear_error():
    with pytest.raises(QrTooLargeError, match="EC P-256"):
        qr_module_dots(KOD2_OFFICIAL_RSA, 200)


def test_segno_fallback_encodes_the_same_link():
    img = qr_image(KOD2_OFFICIAL_RSA, 4, 384, encoder="segno")
    assert zxingcpp.read_barcodes(img)[0].text == KOD2_OFFICIAL_RSA


def test_reprint_bytes_carry_duplikat_and_ksef_number(tmp_path):
    cfg = PrinterConfig(connection="file", file_path=str(tmp_path / "lp0"), paper="58mm")
    send(cfg, render(receipt_blocks(cfg, ksef_number=KSEF_NUMBER, copy=True), cfg))
    parsed = parse((tmp_path / "lp0").read_bytes())
    lines = [line.text for line in parsed.lines]
    assert lines.count("DUPLIKAT") == 2
    assert "OFFLINE" not in lines
    assert KSEF_NUMBER in "".join(lines)


def test_open_printer_builds_each_connection_type(tmp_path):
    from escpos import printer

    assert isinstance(open_printer(PrinterConfig(connection="network", host="127.0.0.1")), printer.Network)
    assert isinstance(open_printer(PrinterConfig(connection="file", file_path=str(tmp_path / "x"))), printer.File)
    assert isinstance(open_printer(PrinterConfig(connection="usb", usb_vendor=0x04B8, usb_product=0x0E15)), printer.Usb)
    assert isinstance(open_printer(PrinterConfig(connection="serial", serial_device="/dev/ttyUSB9")), printer.Serial)
    with pytest.raises(PrinterConfigError, match="connection = 'none'"):
        open_printer(PrinterConfig())


@pytest.mark.parametrize("kw,key", [
    ({"connection": "network"}, "printer.host"),
    ({"connection": "usb", "usb_vendor": 1}, "printer.usb_vendor"),
    ({"connection": "file"}, "printer.file_path"),
    ({"paper": "110mm"}, "printer.paper"),
    ({"codepage": "KOI8-Q"}, "printer.codepage"),
    ({"profile": "NoSuchPrinter"}, "printer.profile"),
    ({"columns": 8}, "printer.columns"),
])
def test_bad_config_names_the_key(kw, key):
    with pytest.raises(PrinterConfigError, match=key.replace(".", r"\.")):
        PrinterConfig(**kw)
