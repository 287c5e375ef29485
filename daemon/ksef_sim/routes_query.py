"""Reading the seller's invoices back out of KSeF (issue #25: rebuild a lost till's records).

- POST /v2/invoices/query/metadata: the official metadata query (open-api.json "Pobranie listy
  metadanych faktur"): `subjectType` + `dateRange` (Issue | Invoicing | PermanentStorage, at most
  3 months), optional exact `ksefNumber`, `invoiceNumber`, `sellerNip`; paging by `pageOffset` /
  `pageSize` (10..250), `sortOrder`; answer `hasMore`, `isTruncated` (10 000 records per filter set),
  `permanentStorageHwmDate`, `invoices[]`. Only Subject1 (the context's own sales) is modelled.
(GET /v2/invoices/ksef/{ksefNumber}, the download by KSeF number, is routes_invoice_download.py; the
amounts and buyer listed here are read from the same stored bytes.)

Rate limits (groups invoiceMetadata 20/h, invoiceDownload 64/h) come from the spec via the app's
middleware like every other route. Nothing here imports ksef_edge.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from aiohttp import web
from lxml import etree

from .clock import parse_iso
from .errors import KsefError, json_response
from .http_util import json_body, require_access, state_of
from .model import InvoiceRecord
from .processing import invoice_blob_name

routes = web.RouteTableDef()

WARSAW = ZoneInfo("Europe/Warsaw")
TRUNCATE_AT = 10_000  # "Limit techniczny: <= 10 000 rekordów na zestaw filtrów"
MAX_RANGE = timedelta(days=92)  # "Maksymalny dozwolony okres wynosi 3 miesiące"
DATE_TYPES = ("Issue", "Invoicing", "PermanentStorage")
SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")


def _when(text: object, field: str) -> datetime:
    if not isinstance(text, str):
        raise KsefError(21405, [f"Pole '{field}' musi być datą ISO 8601."])
    try:
        value = parse_iso(text)
    except ValueError:
        raise KsefError(21405, [f"Pole '{field}' nie jest poprawną datą ISO 8601: {text!r}."]) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=WARSAW)  # no offset: Warsaw time


def _int_query(request: web.Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.lstrip("-").isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise KsefError(21405, [f"Parametr '{name}' musi być liczbą całkowitą {bounds}."])
    return int(raw)


def _record_time(inv: InvoiceRecord, date_type: str) -> datetime | None:
    if date_type == "Issue":
        if not inv.issue_date:
            return None
        return datetime.combine(date.fromisoformat(inv.issue_date), datetime.min.time(), WARSAW)
    text = inv.invoicing_date if date_type == "Invoicing" else inv.permanent_storage_date
    return parse_iso(text) if text else None


KIND_TO_API = {"VAT": "Vat", "KOR": "Kor", "ZAL": "Zal", "ROZ": "Roz", "UPR": "Upr", "KOR_ZAL": "KorZal",
               "KOR_ROZ": "KorRoz"}
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _local(el: etree._Element, path: str) -> str:
    """Text at a slash path of local names (any namespace), '' when absent."""
    found = el.xpath("/".join(f"*[local-name()='{p}']" for p in path.split("/")))
    return (found[0].text or "").strip() if found else ""


def _money(text: str) -> Decimal:
    try:
        return Decimal(text) if text else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def _document_fields(xml: bytes) -> dict:
    """What the metadata shows from the file itself: names, buyer, currency and the totals (FA(3))."""
    try:
        root = etree.fromstring(xml, _SAFE)
    except etree.XMLSyntaxError:
        return {}
    buyer_ids = {"Nip": _local(root, "Podmiot2/DaneIdentyfikacyjne/NIP"),
                 "VatUe": _local(root, "Podmiot2/DaneIdentyfikacyjne/NrVatUE"),
                 "Other": _local(root, "Podmiot2/DaneIdentyfikacyjne/NrID")}
    kind, value = next(((k, v) for k, v in buyer_ids.items() if v), ("None", None))
    net = sum((_money(_local(root, f"Fa/P_13_{i}")) for i in ("1", "2", "3", "4", "5", "6_1", "6_2", "6_3", "7",
                                                             "8", "9", "10", "11")), Decimal(0))
    vat = sum((_money(_local(root, f"Fa/P_14_{i}")) for i in range(1, 6)), Decimal(0))
    buyer_name = _local(root, "Podmiot2/DaneIdentyfikacyjne/Nazwa")
    return {
        "seller_name": _local(root, "Podmiot1/DaneIdentyfikacyjne/Nazwa") or None,
        "buyer": {"identifier": {"type": kind, "value": value}, "name": buyer_name or None},
        "currency": _local(root, "Fa/KodWaluty") or "PLN",
        "netAmount": float(net), "vatAmount": float(vat), "grossAmount": float(_money(_local(root, "Fa/P_15"))),
    }


def _metadata(inv: InvoiceRecord, seller_nip: str, xml: bytes | None) -> dict:
    doc = _document_fields(xml) if xml is not None else {}
    return {
        "ksefNumber": inv.ksef_number,
        "invoiceNumber": inv.invoice_number,
        "issueDate": inv.issue_date,
        "invoicingDate": inv.invoicing_date,
        "acquisitionDate": inv.acquisition_date,
        "permanentStorageDate": inv.permanent_storage_date,
        "seller": {"nip": seller_nip, "name": doc.get("seller_name")},
        "buyer": doc.get("buyer", {"identifier": {"type": "None", "value": None}, "name": None}),
        "netAmount": doc.get("netAmount", 0.0),
        "grossAmount": doc.get("grossAmount", 0.0),
        "vatAmount": doc.get("vatAmount", 0.0),
        "currency": doc.get("currency", "PLN"),
        "invoicingMode": inv.invoicing_mode,
        "invoiceType": KIND_TO_API.get(inv.invoice_kind or "", "Vat"),
        "formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
        "invoiceHash": inv.invoice_hash,
        "isSelfInvoicing": False,
        "hasAttachment": False,
    }


@routes.post("/v2/invoices/query/metadata")
async def query_metadata(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    body = await json_body(request)
    page_offset = _int_query(request, "pageOffset", 0, 0, None)
    page_size = _int_query(request, "pageSize", 10, 10, 250)
    sort = request.query.get("sortOrder", "Asc")
    if sort not in ("Asc", "Desc"):
        raise KsefError(21405, ["Parametr 'sortOrder' musi mieć wartość Asc albo Desc."])
    subject = body.get("subjectType")
    if subject not in SUBJECT_TYPES:
        raise KsefError(21405, [f"Pole 'subjectType' jest wymagane: jedna z {', '.join(SUBJECT_TYPES)}."])
    date_range = body.get("dateRange")
    if not isinstance(date_range, dict):
        raise KsefError(21405, ["Pole 'dateRange' jest wymagane."])
    date_type = date_range.get("dateType")
    if date_type not in DATE_TYPES:
        raise KsefError(21405, [f"Pole 'dateRange.dateType' jest wymagane: jedna z {', '.join(DATE_TYPES)}."])
    start = _when(date_range.get("from"), "dateRange.from")
    end = _when(date_range["to"], "dateRange.to") if date_range.get("to") is not None else st.now()
    if end < start:
        raise KsefError(21405, ["Pole 'dateRange.to' nie może być wcześniejsze niż 'dateRange.from'."])
    if end - start > MAX_RANGE:
        raise KsefError(21405, ["Maksymalny dozwolony zakres dat wynosi 3 miesiące."])
    filters = {k: body.get(k) for k in ("ksefNumber", "invoiceNumber", "sellerNip")}
    context_nip = claims.context_value

    found: list[tuple[datetime, InvoiceRecord]] = []
    if subject == "Subject1":  # the context's own sales; buyers' and third parties' views are not modelled
        for inv in st.invoices.values():
            if inv.status_code != 200 or inv.ksef_number is None or inv.seller_nip != context_nip:
                continue
            when = _record_time(inv, date_type)
            if when is None or not start <= when <= end:
                continue
            if filters["ksefNumber"] and inv.ksef_number != filters["ksefNumber"]:
                continue
            if filters["invoiceNumber"] and inv.invoice_number != filters["invoiceNumber"]:
                continue
            if filters["sellerNip"] and inv.seller_nip != filters["sellerNip"]:
                continue
            found.append((when, inv))
    found.sort(key=lambda pair: (pair[0], pair[1].ksef_number or ""), reverse=(sort == "Desc"))
    truncated = len(found) > TRUNCATE_AT
    found = found[:TRUNCATE_AT]
    page = found[page_offset * page_size:(page_offset + 1) * page_size]
    has_more = (page_offset + 1) * page_size < len(found) or truncated
    return json_response({
        "hasMore": has_more,
        "isTruncated": truncated and (page_offset + 1) * page_size >= len(found),
        "permanentStorageHwmDate": st.now_iso(),
        "invoices": [_metadata(inv, context_nip, st.store.get_blob(invoice_blob_name(inv.ksef_number or "")))
                     for _, inv in page],
    })
