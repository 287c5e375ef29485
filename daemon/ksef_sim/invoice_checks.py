"""Per-invoice verification as KSeF does it after decryption (protocol.md §4.5, §9.1):
file rules and FA(3) XSD (430), permission scope (410), semantics (450). Duplicates (440)
need the global index and are decided in processing.py."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ksef_edge.domain.errors import SchemaError
from ksef_edge.domain.fa3 import InvoiceSummary, invoice_summary, validate_fa3

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


@dataclass
class Verdict:
    """Result of the file-level checks: a summary to continue with, or a rejection status."""

    summary: InvoiceSummary | None
    code: int = 0
    details: list[str] = field(default_factory=list)


def verify_invoice_file(xml: bytes, *, context_nip: str, acceptance_day: date,
                        attachments_allowed: bool) -> Verdict:
    try:
        validate_fa3(xml)
        summary = invoice_summary(xml)
    except SchemaError as exc:
        return Verdict(None, 430, [str(exc)])
    if b"<Zalacznik" in xml and not attachments_allowed:
        return Verdict(None, 415, ["Załączniki (Zalacznik) są dozwolone tylko w sesji wsadowej"
                                   " po zgłoszeniu zamiaru ich wysyłania."])
    if summary.seller_nip != context_nip:
        return Verdict(None, 410, [f"Kontekst {context_nip} nie ma uprawnień do wystawiania faktur"
                                   f" sprzedawcy (Podmiot1) NIP {summary.seller_nip}."])
    if summary.issue_date > acceptance_day:
        return Verdict(None, 450, [f"Data wystawienia P_1 {summary.issue_date.isoformat()} jest późniejsza"
                                   f" niż data przyjęcia faktury {acceptance_day.isoformat()}."])
    return Verdict(summary)
