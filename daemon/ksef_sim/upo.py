"""UPO v4-3 (urzędowe poświadczenie odbioru) XML for accepted invoices (protocol.md §4.5).

The name of the receiving party depends on the environment played (environment.py): PRD's
"Ministerstwo Finansów", which the XSD fixes, or TE/TR's suffixed form, which violates that same
XSD exactly as the official TE examples do. Signing (upo_signing.py) happens after building.
With an XAdES-signed auth session the UPO names SkrotDokumentuUwierzytelniajacego (the official
examples' form), with a token session NumerReferencyjnyTokenaKSeF."""
from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
LOGICAL_STRUCTURE = "Schemat_FA(3)_v1-0E.xsd"
FORM_CODE = "FA (3)"


@dataclass(frozen=True)
class UpoDocument:
    seller_nip: str
    ksef_number: str
    invoice_number: str
    issue_date: str          # YYYY-MM-DD
    sent_at: str             # ISO date-time
    numbered_at: str         # ISO date-time
    invoice_hash: str        # Base64 SHA-256
    mode: str                # Online | Offline


def build_upo(session_reference: str, context_nip: str, token_reference: str,
              documents: list[UpoDocument], *, page: tuple[int, int] | None = None,
              receiver: str = "Ministerstwo Finansów", auth_document_hash: str | None = None) -> bytes:
    """One UPO page; `page` = (page number, page count) adds OpisPotwierdzenia (session UPO)."""
    if not documents:
        raise ValueError("a UPO lists at least one accepted invoice")
    E = lambda tag, text=None: _el(tag, text)  # noqa: E731
    root = etree.Element(f"{{{UPO_NS}}}Potwierdzenie", nsmap={None: UPO_NS})
    root.set("wersjaSchemy", "4-3")
    root.append(E("NazwaPodmiotuPrzyjmujacego", receiver))
    root.append(E("NumerReferencyjnySesji", session_reference))
    auth = E("Uwierzytelnienie")
    ctx = E("IdKontekstu")
    ctx.append(E("Nip", context_nip))
    auth.append(ctx)
    if auth_document_hash:
        auth.append(E("SkrotDokumentuUwierzytelniajacego", auth_document_hash))
    else:
        auth.append(E("NumerReferencyjnyTokenaKSeF", token_reference))
    root.append(auth)
    if page is not None:
        desc = E("OpisPotwierdzenia")
        for tag, value in (("Strona", page[0]), ("LiczbaStron", page[1]), ("ZakresDokumentowOd", 1),
                           ("ZakresDokumentowDo", len(documents) + 1), ("CalkowitaLiczbaDokumentow", len(documents))):
            desc.append(E(tag, str(value)))
        root.append(desc)
    root.append(E("NazwaStrukturyLogicznej", LOGICAL_STRUCTURE))
    root.append(E("KodFormularza", FORM_CODE))
    for doc in documents:
        el = E("Dokument")
        for tag, value in (("NipSprzedawcy", doc.seller_nip), ("NumerKSeFDokumentu", doc.ksef_number),
                           ("NumerFaktury", doc.invoice_number), ("DataWystawieniaFaktury", doc.issue_date),
                           ("DataPrzeslaniaDokumentu", doc.sent_at), ("DataNadaniaNumeruKSeF", doc.numbered_at),
                           ("SkrotDokumentu", doc.invoice_hash), ("TrybWysylki", doc.mode)):
            el.append(E(tag, value))
        root.append(el)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _el(tag: str, text: str | None) -> etree._Element:
    el = etree.Element(f"{{{UPO_NS}}}{tag}")
    if text is not None:
        el.text = text
    return el
