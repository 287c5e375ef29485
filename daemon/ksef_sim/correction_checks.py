"""A correction invoice (RodzajFaktury KOR/KOR_ZAL/KOR_ROZ) only after its original has a KSeF number.

protocol.md §5.1 / ksef-docs `tryby-offline.md`: "Fakturę korygującą przesyła się dopiero po nadaniu
numeru KSeF dokumentowi pierwotnemu". The simulator enforces it so the daemon's ordering is tested
end to end: each `DaneFaKorygowanej` must name an invoice this simulator has accepted, by
`NrKSeFFaKorygowanej`, or (branch `NrKSeFN` = 1, an invoice issued outside KSeF, e.g. offline) by
seller NIP + `NrFaKorygowanej` + `DataWystFaKorygowanej`. Otherwise status 450 (semantics).
A `NrKSeFFaKorygowanej` must be a well-formed KSeF number with a valid CRC-8 (numer-ksef.md); `NrKSeFN` = 1
is the exception of ustawa o VAT art. 106j ust. 2 pkt 3 (docs/corrections.md).
SIMULATOR ASSUMPTION: real KSeF's check for the NrKSeFN branch is not documented; a correction of an
invoice that never reaches KSeF (paper, before KSeF) would be refused here but may be accepted there.
"""
from __future__ import annotations

from lxml import etree

from .ksef_numbers import is_valid
from .schema_check import FA3_NS, safe_parser

CORRECTION_KINDS = frozenset({"KOR", "KOR_ZAL", "KOR_ROZ"})
_NS = {"fa": FA3_NS}


def missing_originals(xml: bytes, *, seller_nip: str, accepted: dict[tuple, str], by_ksef_number: dict[str, str],
                      issue_date_of: dict[str, str]) -> list[str]:
    """One Polish message per corrected invoice not (yet) in KSeF; empty when all are there.

    `accepted`: (NIP, RodzajFaktury, P_2) -> invoice ref; `by_ksef_number`: KSeF number -> ref;
    `issue_date_of`: ref -> P_1 (ISO) of the accepted invoice.
    """
    root = etree.fromstring(xml, safe_parser())
    problems = []
    for ref in root.iterfind("fa:Fa/fa:DaneFaKorygowanej", _NS):
        number = (ref.findtext("fa:NrFaKorygowanej", namespaces=_NS) or "").strip()
        date = (ref.findtext("fa:DataWystFaKorygowanej", namespaces=_NS) or "").strip()
        ksef_number = (ref.findtext("fa:NrKSeFFaKorygowanej", namespaces=_NS) or "").strip()
        if ksef_number:
            if not is_valid(ksef_number):
                problems.append(f"NrKSeFFaKorygowanej {ksef_number} nie jest poprawnym numerem KSeF"
                                " (format lub suma kontrolna CRC-8).")
            elif ksef_number not in by_ksef_number:
                problems.append(f"Faktura korygowana o numerze KSeF {ksef_number} nie istnieje w KSeF.")
            continue
        refs = [r for (nip, kind, p2), r in accepted.items()
                if nip == seller_nip and p2 == number and kind not in CORRECTION_KINDS]
        if not any(issue_date_of.get(r) == date for r in refs):
            problems.append(f"Faktura korygowana {number} z dnia {date} nie ma jeszcze numeru KSeF; fakturę"
                            " korygującą przesyła się dopiero po nadaniu numeru KSeF dokumentowi pierwotnemu.")
    return problems
