"""The product's UPO acceptance (ksef/upo_check.py) against every official UPO example (tests/conformance/upo/).

KSeF confirms an invoice with a UPO that (a) carries the TE/DEMO receiver suffix and (b) is XAdES-signed
(ksef-docs api-changelog RC6.0, sesja-sprawdzenie-stanu-i-pobranie-upo.md). Each official example, as
published and with an enveloped signature added (test-only key), must confirm every document it lists;
a UPO naming another hash or another number must be refused.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from upo_signing import sign_upo

from ksef_edge.ksef.errors import KsefProtocolError
from ksef_edge.ksef.upo_check import TALLY, check_upo

UPO_DIR = Path(__file__).parent / "upo"
OFFICIAL = sorted(UPO_DIR.glob("*.xml"))
NS = {"u": "http://upo.schematy.mf.gov.pl/KSeF/v4-3"}
OTHER_HASH = "qrs2gCLXnTUy6++AHwHuDxFuCj0BYUGRGtBuGnJwN+c="  # TV-10: SHA-256 of `<root>test</root>`


def documents(xml: bytes) -> list[tuple[str, str]]:
    """(SkrotDokumentu, NumerKSeFDokumentu) of each Dokument, read independently of the product."""
    root = etree.fromstring(xml)
    return [(d.findtext("u:SkrotDokumentu", namespaces=NS).strip(), d.findtext("u:NumerKSeFDokumentu", namespaces=NS).strip())
            for d in root.iterfind("u:Dokument", NS)]


def test_all_seven_official_examples_are_here():
    assert len(OFFICIAL) == 7, OFFICIAL
    te = [p.name for p in OFFICIAL if "środowisko testowe (TE)" in p.read_text("utf-8")]
    assert len(te) == 6 and "upo.xml" not in te  # 6 ksef-docs TE examples + the production-style one


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.name)
def test_official_upo_as_published_confirms_each_document(path: Path):
    xml = path.read_bytes()
    docs = documents(xml)
    assert docs
    for digest, number in docs:
        result = check_upo(xml, invoice_hash_b64=digest, ksef_number=number)
        assert result.status == "absent"
        assert result.environment == (None if path.name == "upo.xml" else "środowisko testowe (TE)")


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.name)
def test_official_upo_with_enveloped_signature_confirms_and_reports_valid_signature(path: Path):
    signed = sign_upo(path.read_bytes())
    assert b"<ds:Signature" in signed and signed.rstrip().endswith(b"</Potwierdzenie>")
    before = TALLY.to_dict()["valid"]
    for digest, number in documents(signed):
        result = check_upo(signed, invoice_hash_b64=digest, ksef_number=number)
        assert result.status == "valid", result
        assert "UPO test signer" in result.detail
    assert TALLY.to_dict()["valid"] == before + len(documents(signed))
    assert TALLY.to_dict()["last"]["status"] == "valid"


@pytest.mark.parametrize("path", OFFICIAL, ids=lambda p: p.name)
@pytest.mark.parametrize("signed", [False, True], ids=["published", "signed"])
def test_official_upo_naming_another_hash_or_number_is_refused(path: Path, signed: bool):
    xml = sign_upo(path.read_bytes()) if signed else path.read_bytes()
    digest, number = documents(xml)[0]
    with pytest.raises(KsefProtocolError, match="does not confirm"):
        check_upo(xml, invoice_hash_b64=OTHER_HASH, ksef_number=number)
    other_number = "5265877635-20250826-0100001AF629-AF"  # TV-4: a valid number of another invoice
    with pytest.raises(KsefProtocolError, match="does not confirm"):
        check_upo(xml, invoice_hash_b64=digest, ksef_number=other_number)


def test_a_signature_broken_after_signing_is_reported_but_never_blocks_confirmation():
    signed = sign_upo((UPO_DIR / "upo-faktura-kontekst-id-nip.xml").read_bytes())
    tampered = re.sub(rb"<DataPrzeslaniaDokumentu>[^<]+", b"<DataPrzeslaniaDokumentu>2025-09-17T11:05:40.841+02:00",
                      signed, count=1)
    digest, number = documents(tampered)[0]
    result = check_upo(tampered, invoice_hash_b64=digest, ksef_number=number)
    assert result.status == "invalid" and "Digest mismatch" in result.detail


def _official() -> bytes:
    return (UPO_DIR / "upo-faktura-kontekst-id-nip.xml").read_bytes()


@pytest.mark.parametrize("mutate, why", [
    (lambda x: x.replace(b"Ministerstwo Finans\xc3\xb3w - \xc5\x9brodowisko testowe (TE)", b"Ministerstwo Zdrowia"),
     "validate"),
    (lambda x: x.replace(b"<TrybWysylki>", b"<Nieznany/><TrybWysylki>", 1), "validate"),
    (lambda x: x.replace(b"<SkrotDokumentu>", b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/>"
                                              b"<SkrotDokumentu>", 1), "validate"),  # not enveloped at the root
    (lambda x: x.replace(b'<?xml version="1.0" encoding="utf-8"?>',
                         b'<?xml version="1.0" encoding="utf-8"?><!DOCTYPE P [<!ENTITY e "x">]>'), "DOCTYPE"),
    (lambda x: b"\xef\xbb\xbf" + x, "BOM"),
    (lambda x: x.replace(b"</Potwierdzenie>", b"<!--" + b"x" * 1_000_001 + b"--></Potwierdzenie>"), "exceeds"),
    (lambda x: x[:-40], "well-formed"),
], ids=["other-receiver", "unknown-element", "signature-not-enveloped", "dtd", "bom", "oversized", "truncated"])
def test_unsafe_or_invalid_upo_is_refused(mutate, why):
    xml = _official()
    digest, number = documents(xml)[0]
    with pytest.raises(KsefProtocolError, match=why):
        check_upo(mutate(xml), invoice_hash_b64=digest, ksef_number=number)
