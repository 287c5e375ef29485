"""Invoice -> FA(3) XML bytes, and validation of FA(3) / UPO documents against the official XSDs.

The bytes returned by `build_fa3` are the invoice: they are hashed for KOD I/KOD II and sent to
KSeF unchanged, so they are produced once, validated before anyone sees them, and never
re-serialised. Output: UTF-8, no BOM, an XML declaration naming UTF-8, no processing instructions.

The schemas are the official files in `ksef_edge/schemas/` (see SOURCES.md). `schemat_FA(3)`
imports StrukturyDanych by its crd.gov.pl URL; a resolver maps it to the local copy, and the
parser may not touch the network. Each schema is compiled once per process.
"""
from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple

from lxml import etree

from .errors import SchemaError
from .invoice import Address, Invoice, Line, PriceKind, VatRate
from .totals import RateTotal, Totals, compute_totals
from .xml_tree import Node, TreeMaker

if TYPE_CHECKING:
    from .kor import Correction, CorrectionRow, CorrectionTotals

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
XML_BYTES_MAX = 1_000_000  # KSeF limit for an invoice without attachments (protocol.md §9.1)
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
FA3_XSD = SCHEMA_DIR / "schemat_FA(3)_v1-0E.xsd"
UPO_XSD = SCHEMA_DIR / "upo-v4-3.xsd"
_REMOTE_PREFIX = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'

# P_13_x / P_14_x per rate (FA(3) Fa sequence order).
RATE_FIELDS: dict[VatRate, tuple[str, str | None]] = {
    VatRate.R23: ("P_13_1", "P_14_1"),
    VatRate.R8: ("P_13_2", "P_14_2"),
    VatRate.R5: ("P_13_3", "P_14_3"),
    VatRate.R0: ("P_13_6_1", None),
    VatRate.ZW: ("P_13_7", None),
    VatRate.NP: ("P_13_8", None),
    VatRate.OO: ("P_13_10", None),
}


class Fa3Totals(NamedTuple):
    """The totals as an FA(3) `Fa` element states them (for a KOR: the differences it makes)."""

    net: Decimal  # sum of P_13_x: every rate, including 0 %, zw, np and oo
    vat: Decimal  # sum of P_14_1..P_14_5 in PLN (the P_14_xW fields exist only for foreign currency)
    gross: Decimal | None  # P_15; None when the element has none


class InvoiceSummary(NamedTuple):
    """What KSeF reads from an invoice to detect duplicates (Podmiot1 NIP, RodzajFaktury, P_2)."""

    seller_nip: str
    issue_date: dt.date  # P_1
    number: str  # P_2
    kind: str  # RodzajFaktury


# --- schemas ------------------------------------------------------------------------------------


class _LocalSchemaResolver(etree.Resolver):
    """Serve the crd.gov.pl imports from the bundled copies; refuse every other remote URL."""

    def resolve(self, system_url: str | None, public_id: str | None, context: Any) -> Any:
        if system_url and system_url.startswith(_REMOTE_PREFIX):
            local = SCHEMA_DIR / system_url[len(_REMOTE_PREFIX):]
            if local.is_file():
                return self.resolve_filename(str(local), context)
        return None


def _compile(path: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalSchemaResolver())
    return etree.XMLSchema(etree.parse(str(path), parser))


# libxml2 is not safe to compile two schemas at once: two first requests compiling in executor threads
# failed with "TDataCzas does not resolve" (docs/benchmarks.md). One lock for every compile, and the
# daemon compiles both before READY (`compile_schemas`), so requests only ever read the finished object.
_COMPILE_LOCK = threading.Lock()


class _CompiledOnce:
    """A schema compiled on first use, at most once per process, under `_COMPILE_LOCK`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._schema: etree.XMLSchema | None = None

    def __call__(self) -> etree.XMLSchema:
        schema = self._schema
        if schema is None:
            with _COMPILE_LOCK:
                schema = self._schema
                if schema is None:
                    schema = self._schema = _compile(self._path)
        return schema

    @property
    def compiled(self) -> bool:
        return self._schema is not None

    def cache_clear(self) -> None:
        """Forget the compiled schema (tests: the next call compiles again)."""
        with _COMPILE_LOCK:
            self._schema = None


fa3_schema = _CompiledOnce(FA3_XSD)
upo_schema = _CompiledOnce(UPO_XSD)


def compile_schemas() -> None:
    """Compile the FA(3) and UPO schemas now (the daemon calls it before READY: ~6 ms here)."""
    fa3_schema()
    upo_schema()


def safe_parser() -> etree.XMLParser:
    """The parser for stored or received FA(3)/UPO bytes: no network, no entities, no DTD, no huge trees."""
    return etree.XMLParser(
        no_network=True, resolve_entities=False, load_dtd=False, huge_tree=False, remove_blank_text=False
    )


def _parse_checked(xml: bytes, what: str) -> etree._ElementTree:
    """Parse untrusted bytes with KSeF's transport rules: size, no BOM, no DTD, no PIs."""
    if not isinstance(xml, (bytes, bytearray)):
        raise SchemaError(f"{what}: expected bytes, got {type(xml).__name__}")
    if len(xml) > XML_BYTES_MAX:
        raise SchemaError(f"{what}: {len(xml)} bytes exceeds the KSeF limit of {XML_BYTES_MAX} bytes")
    if xml.startswith(b"\xef\xbb\xbf"):
        raise SchemaError(f"{what}: starts with a UTF-8 BOM; KSeF requires UTF-8 without BOM")
    try:
        tree = etree.ElementTree(etree.fromstring(bytes(xml), safe_parser()))
    except etree.XMLSyntaxError as exc:
        raise SchemaError(f"{what}: not well-formed XML: {exc}") from None
    if tree.docinfo.doctype:
        raise SchemaError(f"{what}: DOCTYPE declarations are not allowed")
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    if encoding not in ("UTF-8", "UTF8"):
        raise SchemaError(f"{what}: declares encoding {encoding}; KSeF requires UTF-8")
    root = tree.getroot()
    siblings = list(root.itersiblings(preceding=True)) + list(root.itersiblings())
    if any(isinstance(node, etree._ProcessingInstruction) for node in siblings) or any(
        True for _ in root.iter(etree.ProcessingInstruction)
    ):
        raise SchemaError(f"{what}: processing instructions are not allowed")
    return tree


def parse_untrusted(xml: bytes, what: str) -> etree._ElementTree:
    """Received bytes (e.g. a UPO) parsed under the same transport rules, for readers that validate a copy."""
    return _parse_checked(xml, what)


def _assert_valid(schema: etree.XMLSchema, tree: etree._ElementTree, what: str) -> None:
    if not schema.validate(tree):
        errors = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
        raise SchemaError(f"{what} does not validate against the XSD: " + "; ".join(errors))


def validate_fa3(xml: bytes) -> None:
    """Raise SchemaError (with libxml2's message) unless `xml` is an FA(3) invoice KSeF would accept."""
    _assert_valid(fa3_schema(), _parse_checked(xml, "FA(3) invoice"), "FA(3) invoice")


def validate_upo(xml: bytes) -> None:
    """Raise SchemaError unless `xml` validates against UPO v4-3."""
    _assert_valid(upo_schema(), _parse_checked(xml, "UPO"), "UPO")


def invoice_summary(xml: bytes) -> InvoiceSummary:
    """Seller NIP, P_1, P_2 and RodzajFaktury read from FA(3) bytes (parsed safely, not validated)."""
    root = _parse_checked(xml, "FA(3) invoice").getroot()
    ns = {"fa": FA3_NS}

    def text(path: str) -> str:
        value = root.findtext(path, namespaces=ns)
        if value is None:
            raise SchemaError(f"FA(3) invoice: missing {path.replace('fa:', '')}")
        return value.strip()

    try:
        issue_date = dt.date.fromisoformat(text("fa:Fa/fa:P_1"))
    except ValueError:
        raise SchemaError("FA(3) invoice: P_1 is not a date") from None
    return InvoiceSummary(
        seller_nip=text("fa:Podmiot1/fa:DaneIdentyfikacyjne/fa:NIP"),
        issue_date=issue_date,
        number=text("fa:Fa/fa:P_2"),
        kind=text("fa:Fa/fa:RodzajFaktury"),
    )


_NET_FIELD = re.compile(r"^P_13_\d+(_\d+)?$")
_VAT_FIELD = re.compile(r"^P_14_[1-5]$")


def read_totals(fa: etree._Element) -> Fa3Totals:
    """Net, VAT and gross read from a stored invoice's `Fa` (the signed document, never recomputed).

    Raises ValueError naming a field that is not an amount.
    """
    net = vat = Decimal("0.00")
    gross: Decimal | None = None
    for el in fa:
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if not (_NET_FIELD.match(name) or _VAT_FIELD.match(name) or name == "P_15"):
            continue
        try:
            value = Decimal((el.text or "").strip())
        except InvalidOperation:
            raise ValueError(f"{name} is not an amount: {el.text!r}") from None
        if name == "P_15":
            gross = value
        elif name.startswith("P_13"):
            net += value
        else:
            vat += value
    return Fa3Totals(net=net, vat=vat, gross=gross)


# --- building -------------------------------------------------------------------------------------


def _amount(value: Decimal) -> str:
    """TKwotowy: 2 decimal places."""
    return f"{value:.2f}"


def _plain(value: Decimal) -> str:
    """TKwotowy2 / TIlosci: plain decimal notation, no exponent, no trailing zeros beyond need."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _datetime_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_E = TreeMaker(FA3_NS)  # stateless apart from a cache of qualified names: shared by every build


def _maker() -> TreeMaker:
    return _E


def _header(E: TreeMaker, created_at: dt.datetime, system_info: str) -> Node:
    return E.Naglowek(
        E.KodFormularza("FA", kodSystemowy="FA (3)", wersjaSchemy="1-0E"),
        E.WariantFormularza("3"),
        E.DataWytworzeniaFa(_datetime_utc(created_at)),
        E.SystemInfo(" ".join(system_info.split())[:256]),
    )


def _address(E: TreeMaker, tag: str, addr: Address) -> Node:
    parts = [E.KodKraju(addr.country), E.AdresL1(addr.line1)]
    if addr.line2:
        parts.append(E.AdresL2(addr.line2))
    return E(tag, *parts)


def _parties(E: TreeMaker, invoice: Invoice) -> tuple[Node, Node]:
    """Podmiot1 (seller) and Podmiot2 (buyer, or BrakID for a consumer)."""
    seller, buyer = invoice.seller, invoice.buyer
    assert seller.address is not None  # Invoice requires the seller's address
    podmiot1 = E.Podmiot1(
        E.DaneIdentyfikacyjne(E.NIP(seller.nip), E.Nazwa(seller.name)),
        _address(E, "Adres", seller.address),
    )
    if buyer is not None and buyer.nip:
        buyer_id = [E.NIP(buyer.nip), E.Nazwa(buyer.name)]
    else:
        buyer_id = [E.BrakID("1")]
        if buyer is not None and buyer.name:
            buyer_id.append(E.Nazwa(buyer.name))
    podmiot2 = E.Podmiot2(E.DaneIdentyfikacyjne(*buyer_id))
    if buyer is not None and buyer.address is not None:
        podmiot2.append(_address(E, "Adres", buyer.address))
    podmiot2.extend([E.JST("2"), E.GV("2")])
    return podmiot1, podmiot2


def _rate_amounts(E: TreeMaker, fa: Node, by_rate: Mapping[VatRate, RateTotal], gross: Decimal) -> None:
    """P_13_x / P_14_x per rate (in FA(3) order), then P_15."""
    for rate, total in by_rate.items():
        net_field, vat_field = RATE_FIELDS[rate]
        fa.append(E(net_field, _amount(total.net)))
        if vat_field:
            fa.append(E(vat_field, _amount(total.vat)))
    fa.append(E.P_15(_amount(gross)))


def _adnotacje(E: TreeMaker, invoice: Invoice) -> Node:
    rates = invoice.rates
    if VatRate.ZW in rates:
        zwolnienie = E.Zwolnienie(E.P_19("1"), E.P_19A(invoice.exemption_basis))
    else:
        zwolnienie = E.Zwolnienie(E.P_19N("1"))
    return E.Adnotacje(
        E.P_16("2"),  # metoda kasowa: no
        E.P_17("2"),  # samofakturowanie: no
        E.P_18("1" if VatRate.OO in rates else "2"),  # odwrotne obciążenie
        E.P_18A("1" if invoice.split_payment else "2"),  # mechanizm podzielonej płatności
        zwolnienie,
        E.NoweSrodkiTransportu(E.P_22N("1")),
        E.P_23("2"),  # procedura uproszczona (triangulation): no
        E.PMarzy(E.P_PMarzyN("1")),
    )


def _fa_head(
    E: TreeMaker, invoice: Invoice, *, issue_date: dt.date, number: str,
    totals: "Totals | CorrectionTotals", kind: str,
) -> Node:
    """`Fa` up to RodzajFaktury: currency, P_1, place of issue (the invoice's), P_2, per-rate amounts, annotations."""
    fa = E.Fa(E.KodWaluty(invoice.currency), E.P_1(issue_date.isoformat()))
    if invoice.place_of_issue:
        fa.append(E.P_1M(invoice.place_of_issue))
    fa.append(E.P_2(number))
    _rate_amounts(E, fa, totals.by_rate, totals.gross)
    fa.append(_adnotacje(E, invoice))
    fa.append(E.RodzajFaktury(kind))
    return fa


def _fa_wiersz(
    E: TreeMaker, number: int, line: "Line | CorrectionRow", value: Decimal, *, gross: bool
) -> Node:
    """One FaWiersz (an invoice line, or a KOR row before/after the correction)."""
    return E.FaWiersz(
        E.NrWierszaFa(str(number)),
        E.P_7(line.name),
        E.P_8A(line.unit),
        E.P_8B(_plain(line.quantity)),
        E("P_9B" if gross else "P_9A", _plain(line.unit_price)),
        E("P_11A" if gross else "P_11", _amount(value)),
        E.P_12(line.vat_rate.fa3_code),
    )


def _serialize(root: Node) -> bytes:
    xml = _XML_DECLARATION + etree.tostring(_E.to_element(root), encoding="UTF-8", xml_declaration=False)
    validate_fa3(xml)
    return xml


def build_fa3(invoice: Invoice, *, system_info: str, totals: Totals | None = None) -> bytes:
    """The FA(3) document for `invoice`; raises SchemaError if it would not validate (a bug)."""
    totals = totals or compute_totals(invoice)
    E = _maker()
    header = _header(E, invoice.created_at, system_info)
    podmiot1, podmiot2 = _parties(E, invoice)

    fa = _fa_head(E, invoice, issue_date=invoice.issue_date, number=invoice.number, totals=totals, kind="VAT")
    if invoice.fiscal_receipt is not None:  # FP precedes DodatkowyOpis in the Fa sequence
        fa.append(E.FP("1"))
        for key, value in invoice.fiscal_receipt.descriptions():
            fa.append(E.DodatkowyOpis(E.Klucz(key), E.Wartosc(value)))
    for key, value in invoice.extra.items():
        fa.append(E.DodatkowyOpis(E.Klucz(key), E.Wartosc(value)))
    gross = totals.price_kind is PriceKind.GROSS
    for item in totals.lines:
        fa.append(_fa_wiersz(E, item.number, item.line, item.value, gross=gross))
    payment = invoice.payment
    platnosc = E.Platnosc()
    if payment.paid:
        platnosc.extend([E.Zaplacono("1"), E.DataZaplaty(payment.paid_date.isoformat())])  # type: ignore[union-attr]
    if payment.due_date is not None:
        platnosc.append(E.TerminPlatnosci(E.Termin(payment.due_date.isoformat())))
    platnosc.append(E.FormaPlatnosci(payment.method.fa3_code))
    fa.append(platnosc)

    return _serialize(E.Faktura(header, podmiot1, podmiot2, fa))


def build_fa3_kor(correction: "Correction", *, system_info: str) -> bytes:
    """The FA(3) correction invoice (RodzajFaktury KOR) for `correction` (see docs/corrections.md).

    Parties, place of issue and annotations are the original's. `DaneFaKorygowanej` carries
    `NrKSeF` + `NrKSeFFaKorygowanej` when the original's KSeF number is known at issue time, else
    `NrKSeFN` = 1; the choice is frozen into these bytes, which are printed (KOD I) and later
    uploaded unchanged. Lines use the before/after method: `StanPrzed` = 1 rows, each followed by
    the same line after the correction; P_13_x/P_14_x/P_15 are differences (negative for returns).
    Raises SchemaError if the result does not validate (a bug).
    """
    original = correction.original
    invoice = original.invoice
    request = correction.request
    totals = correction.totals
    E = _maker()
    header = _header(E, correction.created_at, system_info)
    podmiot1, podmiot2 = _parties(E, invoice)

    fa = _fa_head(E, invoice, issue_date=correction.issue_date, number=correction.number, totals=totals, kind="KOR")
    fa.append(E.PrzyczynaKorekty(request.reason))
    fa.append(E.TypKorekty(correction.effect.value))
    reference = [
        E.DataWystFaKorygowanej(original.issue_date.isoformat()),
        E.NrFaKorygowanej(original.number),
    ]
    if original.ksef_number:
        reference += [E.NrKSeF("1"), E.NrKSeFFaKorygowanej(original.ksef_number)]
    else:
        reference.append(E.NrKSeFN("1"))
    fa.append(E.DaneFaKorygowanej(*reference))
    gross = totals.price_kind is PriceKind.GROSS
    for row in correction.rows:
        item = _fa_wiersz(E, row.number, row, row.value, gross=gross)
        if row.before:
            item.append(E.StanPrzed("1"))
        fa.append(item)
    platnosc = E.Platnosc()
    if request.refunded:
        platnosc.extend([E.Zaplacono("1"), E.DataZaplaty(correction.issue_date.isoformat())])
    platnosc.append(E.FormaPlatnosci(request.refund_method.fa3_code))
    fa.append(platnosc)

    return _serialize(E.Faktura(header, podmiot1, podmiot2, fa))
