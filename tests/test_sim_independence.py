"""ksef-sim is a referee, not a mirror of ksef-edge (issue 17): it imports nothing from the product,
and its own readings of KSeF rules agree with the official artifacts (TV-4 KSeF numbers, official FA(3)
examples and XSDs, protocol.md §9.1 file rules)."""
from __future__ import annotations

import ast
import hashlib
from datetime import date
from pathlib import Path

import pytest

from ksef_sim import ksef_numbers, schema_check

REPO = Path(__file__).resolve().parent.parent
SIM_DIR = REPO / "daemon" / "ksef_sim"
OFFICIAL = Path(__file__).resolve().parent / "fixtures" / "official"
# test-vectors.md TV-4 (official KSeF numbers; sources: ksef-docs numer-ksef.md, open-api.json, UPO examples,
# ksef-client-csharp QrCodeInvoiceEndpointsTests.cs)
OFFICIAL_KSEF_NUMBERS = ["5265877635-20250826-0100001AF629-AF", "5265877635-20250729-01004014E040-00",
                         "5265877635-20250626-010080DD2B5E-26", "5265877635-20250916-0200A0D6723E-C2",
                         "5265877635-20250916-010040741B3E-46"]


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            names.append(str(node.args[0].value))
    return names


def test_no_simulator_module_imports_ksef_edge():
    modules = sorted(SIM_DIR.rglob("*.py"))
    assert len(modules) >= 25
    offenders = {str(p.relative_to(REPO)): name for p in modules for name in _imported_modules(p)
                 if name == "ksef_edge" or name.startswith("ksef_edge.")}
    assert offenders == {}


def test_simulator_xsds_are_the_official_files():
    """Byte-identical to the hashes SOURCES.md records (official CIRFMF/ksef-docs files)."""
    sources = (SIM_DIR / "schemas" / "SOURCES.md").read_text(encoding="utf-8")
    xsds = sorted((SIM_DIR / "schemas").glob("*.xsd"))
    assert {p.name for p in xsds} >= {"schemat_FA(3)_v1-0E.xsd", "upo-v4-3.xsd", "StrukturyDanych_v10-0E.xsd"}
    for path in xsds:
        assert hashlib.sha256(path.read_bytes()).hexdigest() in sources, path.name


@pytest.mark.parametrize("number", OFFICIAL_KSEF_NUMBERS)
def test_official_ksef_numbers_pass_the_simulator_check(number: str):
    assert ksef_numbers.is_valid(number)
    broken = number[:-2] + f"{(int(number[-2:], 16) + 1) % 256:02X}"
    assert not ksef_numbers.is_valid(broken)


def test_simulator_numbers_have_the_official_shape():
    number = ksef_numbers.new_ksef_number("5265877635", date(2025, 8, 26), "0100001AF629")
    assert number == OFFICIAL_KSEF_NUMBERS[0]                    # the documented example, rebuilt
    fresh = ksef_numbers.new_ksef_number("5265877635", date(2026, 1, 5))
    assert len(fresh) == 35 and fresh.startswith("5265877635-20260105-") and ksef_numbers.is_valid(fresh)


def _template(number: str = "1") -> bytes:
    text = (OFFICIAL / "invoice-template-fa-3.xml").read_text(encoding="utf-8")
    return text.replace("#nip#", "5265877635").replace("#invoice_number#", number).encode("utf-8")


@pytest.mark.parametrize("xml", [(OFFICIAL / "invoice.xml").read_bytes(), _template()], ids=["pdf-generator", "csharp"])
def test_official_invoices_pass_the_simulator_schema_check(xml: bytes):
    root = schema_check.parse_fa3(xml)
    assert root.tag == "{http://crd.gov.pl/wzor/2025/06/25/13775/}Faktura"


@pytest.mark.parametrize("mutate, fragment", [
    (lambda x: b"\xef\xbb\xbf" + x, "BOM"),
    (lambda x: x.replace(b"?>", b"?>\n<?xml-stylesheet href=\"a.xsl\"?>", 1), "instrukcję przetwarzania"),
    (lambda x: x.replace(b"<P_2>", b"<P_2>\xc2\x86", 1), "niedozwolony znak"),
    (lambda x: x.replace(b"<RodzajFaktury>VAT", b"<RodzajFaktury>XYZ", 1), "niezgodny ze schematem"),
    (lambda x: x[:-40], "nie jest poprawnym XML"),
])
def test_file_rules_and_schema_violations_are_refused(mutate, fragment: str):
    with pytest.raises(schema_check.DocumentError, match=fragment):
        schema_check.parse_fa3(mutate(_template()))


def test_official_upo_example_validates_against_the_simulator_upo_schema():
    root = schema_check.parse_checked((OFFICIAL / "upo.xml").read_bytes())
    schema_check.validate(root, schema_check.upo_schema(), "UPO")


def _kor_referring(ksef_number: str) -> bytes:
    return (f'<Faktura xmlns="{schema_check.FA3_NS}"><Fa><DaneFaKorygowanej>'
            f"<DataWystFaKorygowanej>2025-08-26</DataWystFaKorygowanej><NrFaKorygowanej>FV/1</NrFaKorygowanej>"
            f"<NrKSeF>1</NrKSeF><NrKSeFFaKorygowanej>{ksef_number}</NrKSeFFaKorygowanej>"
            "</DaneFaKorygowanej></Fa></Faktura>").encode()


def test_correction_check_names_a_bad_checksum_and_an_unknown_original():
    from ksef_sim.correction_checks import missing_originals
    good = OFFICIAL_KSEF_NUMBERS[0]
    kwargs = {"seller_nip": "5265877635", "accepted": {}, "issue_date_of": {}}
    assert missing_originals(_kor_referring(good), by_ksef_number={good: "ref"}, **kwargs) == []
    [unknown] = missing_originals(_kor_referring(good), by_ksef_number={}, **kwargs)
    assert "nie istnieje w KSeF" in unknown
    [bad] = missing_originals(_kor_referring(good[:-2] + "00"), by_ksef_number={good[:-2] + "00": "ref"}, **kwargs)
    assert "CRC-8" in bad
