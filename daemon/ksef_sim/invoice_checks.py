"""Per-invoice verification as KSeF does it after decryption (protocol.md §4.5, §9.1):
file rules and FA(3) XSD (430), permission scope (410), semantics (450). Duplicates (440)
need the global index and are decided in processing.py. Reads the invoice itself (schema_check)
rather than through ksef-edge, so a misreading in the product cannot hide here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lxml import etree

from .schema_check import FA3_NS, DocumentError, parse_fa3

# Invoice status descriptions, verbatim from open-api.json (SessionInvoiceStatusResponse.status).
INVOICE_STATUS = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    410: "Nieprawidłowy zakres uprawnień",
    415: "Brak możliwości wysyłania faktury z załącznikiem",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
    500: "Nieznany błąd",
    550: "Operacja została anulowana przez system",
}
_NS = {"fa": FA3_NS}


@dataclass(frozen=True)
class InvoiceFacts:
    """What KSeF reads from an invoice: the duplicate key (Podmiot1 NIP, RodzajFaktury, P_2) and P_1."""

    seller_nip: str
    issue_date: date
    number: str
    kind: str
    root: etree._Element


@dataclass
class Verdict:
    """Result of the file-level checks: facts to continue with, or a rejection status."""

    summary: InvoiceFacts | None
    code: int = 0
    details: list[str] = field(default_factory=list)


def read_facts(root: etree._Element) -> InvoiceFacts:
    def text(path: str) -> str:
        return (root.findtext(path, namespaces=_NS) or "").strip()
    return InvoiceFacts(seller_nip=text("fa:Podmiot1/fa:DaneIdentyfikacyjne/fa:NIP"),
                        issue_date=date.fromisoformat(text("fa:Fa/fa:P_1")),
                        number=text("fa:Fa/fa:P_2"), kind=text("fa:Fa/fa:RodzajFaktury"), root=root)


def verify_invoice_file(xml: bytes, *, context_nip: str, acceptance_day: date,
                        attachments_allowed: bool) -> Verdict:
    try:
        facts = read_facts(parse_fa3(xml))
    except DocumentError as exc:
        return Verdict(None, 430, [str(exc)])
    if facts.root.find(".//fa:Zalacznik", _NS) is not None and not attachments_allowed:
        return Verdict(None, 415, ["Załączniki (Zalacznik) są dozwolone tylko w sesji wsadowej"
                                   " po zgłoszeniu zamiaru ich wysyłania."])
    if facts.seller_nip != context_nip:
        return Verdict(None, 410, [f"Kontekst {context_nip} nie ma uprawnień do wystawiania faktur"
                                   f" sprzedawcy (Podmiot1) NIP {facts.seller_nip}."])
    if facts.issue_date > acceptance_day:
        return Verdict(None, 450, [f"Data wystawienia P_1 {facts.issue_date.isoformat()} jest późniejsza"
                                   f" niż data przyjęcia faktury {acceptance_day.isoformat()}."])
    return Verdict(facts)
