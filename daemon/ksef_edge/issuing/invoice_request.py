"""`POST /v1/invoices` body -> domain objects, or a `RequestError` naming the field (the API maps it to 400/422).

Strict on purpose: a POS integration bug (a float price, a typo'd key, a stray control character)
is refused at once with the field to fix, instead of becoming a wrong legal document.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..domain.errors import InvoiceError
from ..domain.fiscal_receipt import FiscalReceipt
from ..domain.invoice import Address, Line, Party, Payment, PaymentMethod, PriceKind, VatRate
from ..domain.nip import is_valid_nip
from ..domain.plain_decimal import plain_decimal
from .errors import InvalidRequestError, MalformedRequestError
from .fiscal_receipt_request import parse_fiscal_receipt

LINES_MAX = 200
NAME_CHARS_MAX = 512  # FA(3) TZnakowy512 (P_7, buyer name, address line)
UNIT_CHARS_MAX = 256  # FA(3) TZnakowy (P_8A)
EXEMPTION_BASIS_CHARS_MAX = 256  # FA(3) TZnakowy (P_19A)
QUANTITY_MAX = Decimal("1000000")
PRICE_MAX = Decimal("10000000")
INVOICE_TOTAL_MAX = Decimal(100_000_000)  # gross PLN of one invoice (docs/api.md "Limits")
JSON_INT_DIGITS_MAX = 30  # longer JSON integers are refused before Python converts them
_QTY = (7, 6)  # integer digits, fraction digits (plain_decimal)
_PRICE = (8, 8)
DUE_DATE_MIN = dt.date(2016, 7, 1)  # FA(3) tns:TData (schemat_FA(3)_v1-0E.xsd): 2016-07-01..2050-01-01
DUE_DATE_MAX = dt.date(2050, 1, 1)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
# XML 1.0 Char minus the C0/C1 controls (tab/newline are not meaningful in a name either)
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class InvoiceDraft:
    """The till's part of an invoice; the service adds seller, number and dates."""

    buyer: Party | None
    lines: tuple[Line, ...]
    payment: Payment
    exemption_basis: str | None = None  # P_19A: the legal basis of the zw lines (required with any zw line)
    fiscal_receipt: FiscalReceipt | None = None  # the sale is on this receipt: FA(3) FP = 1 (docs/fiscal-receipts.md)


class _Float:
    """Marks a JSON number with a fraction or exponent: money must never pass through a float."""

    def __init__(self, text: str) -> None:
        self.text = text


def _reject_constant(name: str) -> Any:
    raise MalformedRequestError("invalid_json", f"{name} is not allowed in JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedRequestError("duplicate_key", f"key {key!r} appears twice in one object", key)
        out[key] = value
    return out


def _bounded_int(text: str) -> int:
    """JSON integers longer than JSON_INT_DIGITS_MAX are refused: past 4 300 digits int() raises (a 500)."""
    if len(text.lstrip("-")) > JSON_INT_DIGITS_MAX:
        raise MalformedRequestError("number_too_long", f"a JSON integer has {len(text)} digits; at most {JSON_INT_DIGITS_MAX}")
    return int(text)


def parse_body(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError("invalid_encoding", f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(
            text, parse_float=_Float, parse_int=_bounded_int, parse_constant=_reject_constant,
            object_pairs_hook=_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise MalformedRequestError("invalid_json", f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise MalformedRequestError("invalid_json", "body is nested too deeply") from None


def canonical_json(body: Any) -> str:
    """One text per request meaning (sorted keys, no spaces); stored for reprints and hashed for idempotency."""

    def default(o: Any) -> str:
        if isinstance(o, _Float):
            return o.text
        raise TypeError

    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def request_hash(canonical: str) -> str:
    """Tells a retry from a different request that reuses an Idempotency-Key."""
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def parse_invoice_request(body: Any) -> InvoiceDraft:
    obj = _object(
        body, "", {"buyer", "lines", "payment", "exemption_basis", "fiscal_receipt"}, required={"lines", "payment"}
    )
    buyer = _buyer(obj.get("buyer"))
    lines_raw = obj["lines"]
    if not isinstance(lines_raw, list):
        raise MalformedRequestError("wrong_type", "must be a list of invoice lines", "lines")
    if not lines_raw:
        raise MalformedRequestError("missing_field", "an invoice needs at least one line", "lines")
    if len(lines_raw) > LINES_MAX:
        raise MalformedRequestError("too_many_lines", f"at most {LINES_MAX} lines per invoice", "lines")
    lines = tuple(_line(item, f"lines[{i}]") for i, item in enumerate(lines_raw))
    kinds = {line.price_kind for line in lines}
    if len(kinds) > 1:
        raise MalformedRequestError("mixed_price_kinds", "use unit_price_gross on every line or unit_price_net on every line", "lines"
        )
    _check_total(lines)
    payment = _payment(obj["payment"])
    receipt = parse_fiscal_receipt(obj.get("fiscal_receipt"), buyer_nip=buyer.nip if buyer else None)
    return InvoiceDraft(
        buyer=buyer, lines=lines, payment=payment, exemption_basis=_exemption_basis(obj, lines), fiscal_receipt=receipt
    )


# ------------------------------------------------------------------------------------------ parts


def _object(value: Any, field: str, allowed: set[str], *, required: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    where = field or "body"
    if not isinstance(value, dict):
        raise MalformedRequestError("wrong_type", f"{where} must be a JSON object", field or None)
    for key in value:
        if key not in allowed:
            path = f"{field}.{key}" if field else key
            raise MalformedRequestError("unknown_field", f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}", path)
    for key in sorted(required):
        if key not in value or value[key] is None:
            path = f"{field}.{key}" if field else key
            raise MalformedRequestError("missing_field", f"{key!r} is required", path)
    return value


def _text(value: Any, field: str, max_chars: int) -> str:
    if isinstance(value, _Float) or not isinstance(value, str):
        raise MalformedRequestError("wrong_type", "must be a string", field)
    if _BAD_CHARS.search(value):
        raise MalformedRequestError("invalid_characters", "contains control characters or unpaired surrogates", field)
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if not text:
        raise MalformedRequestError("empty", "must not be empty", field)
    if len(text) > max_chars:
        raise MalformedRequestError("too_long", f"at most {max_chars} characters", field)
    return text


def _decimal(value: Any, field: str, pattern: tuple[int, int], maximum: Decimal, *, allow_int: bool) -> Decimal:
    if isinstance(value, _Float):
        raise MalformedRequestError("float_not_allowed", f"send amounts as strings to keep them exact, e.g. \"{value.text}\"", field
        )
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, int) and not allow_int):
        raise MalformedRequestError("wrong_type", "must be a decimal string such as \"12.30\"", field)
    text = str(value)
    if len(text) > 40:
        raise MalformedRequestError("out_of_range", f"must be at most {maximum}", field)
    amount = plain_decimal(text, int_digits=pattern[0], frac_digits=pattern[1])
    if amount is None:
        if plain_decimal(text, int_digits=40, frac_digits=pattern[1]) is not None:
            raise MalformedRequestError("out_of_range", f"must be at most {maximum}", field)
        raise MalformedRequestError("invalid_amount",
            f"{text!r} is not a plain decimal like \"12.30\" (ASCII digits 0-9, a dot, at most {pattern[1]} "
            "decimal places; no sign, exponent or spaces)", field,
        )
    if amount > maximum:
        raise MalformedRequestError("out_of_range", f"must be at most {maximum}", field)
    return amount


def _buyer(value: Any) -> Party | None:
    if value is None:
        return None
    obj = _object(value, "buyer", {"nip", "name", "address"}, required={"name"})
    name = _text(obj["name"], "buyer.name", NAME_CHARS_MAX)
    nip = None
    if obj.get("nip") is not None:
        nip_raw = obj["nip"]
        if not isinstance(nip_raw, str):
            raise MalformedRequestError("wrong_type", "must be a string of 10 digits", "buyer.nip")
        if nip_raw != nip_raw.strip():
            raise MalformedRequestError("invalid_nip", "remove the spaces before or after the NIP", "buyer.nip")
        nip = nip_raw.replace("-", "").replace(" ", "")
        if nip.upper().startswith("PL"):
            nip = nip[2:]
        if not is_valid_nip(nip):
            raise InvalidRequestError("invalid_nip", f"{nip_raw!r} is not a valid NIP (10 digits with a correct checksum)", "buyer.nip")
    address = None
    if obj.get("address") is not None:
        address = Address(line1=_text(obj["address"], "buyer.address", NAME_CHARS_MAX))
    try:
        return Party(name=name, address=address, nip=nip)
    except InvoiceError as exc:
        raise InvalidRequestError("invalid_buyer", exc.message, f"buyer.{exc.field}") from None


def _line(value: Any, field: str) -> Line:
    obj = _object(
        value,
        field,
        {"name", "quantity", "unit", "unit_price_gross", "unit_price_net", "vat_rate"},
        required={"name", "quantity", "vat_rate"},
    )
    gross, net = obj.get("unit_price_gross"), obj.get("unit_price_net")
    if (gross is None) == (net is None):
        raise MalformedRequestError("missing_field", "give exactly one of unit_price_gross or unit_price_net", f"{field}.unit_price_gross")
    kind, price_raw, price_field = (
        (PriceKind.GROSS, gross, f"{field}.unit_price_gross") if gross is not None else (PriceKind.NET, net, f"{field}.unit_price_net")
    )
    price = _decimal(price_raw, price_field, _PRICE, PRICE_MAX, allow_int=False)
    quantity = _decimal(obj["quantity"], f"{field}.quantity", _QTY, QUANTITY_MAX, allow_int=True)
    if quantity <= 0:
        raise MalformedRequestError("out_of_range", "must be greater than 0", f"{field}.quantity")
    rate_raw = obj["vat_rate"]
    if isinstance(rate_raw, _Float) or isinstance(rate_raw, bool) or not isinstance(rate_raw, (str, int)):
        raise MalformedRequestError("wrong_type", "must be a string such as \"23\" or \"zw\"", f"{field}.vat_rate")
    try:
        rate = VatRate.parse(rate_raw, f"{field}.vat_rate")
    except InvoiceError as exc:
        raise InvalidRequestError("invalid_vat_rate", exc.message, exc.field) from None
    unit = _text(obj["unit"], f"{field}.unit", UNIT_CHARS_MAX) if obj.get("unit") is not None else "szt"
    return Line(
        name=_text(obj["name"], f"{field}.name", NAME_CHARS_MAX),
        quantity=quantity,
        unit_price=price,
        vat_rate=rate,
        price_kind=kind,
        unit=unit,
    )


def _check_total(lines: tuple[Line, ...]) -> None:
    """A bound on the gross total (quantity x unit price, net prices with their VAT) before anything is built."""
    total = Decimal(0)
    for line in lines:
        amount = line.quantity * line.unit_price
        if line.price_kind is PriceKind.NET and line.vat_rate.percent is not None:
            amount += amount * line.vat_rate.percent / 100
        total += amount
    if total > INVOICE_TOTAL_MAX:
        raise InvalidRequestError("total_too_large",
            f"the invoice total would be about {total:.2f} PLN; one invoice may total at most {INVOICE_TOTAL_MAX} PLN",
            "lines",
        )


def _exemption_basis(obj: dict[str, Any], lines: tuple[Line, ...]) -> str | None:
    """P_19A: an exempt sale must say which provision exempts it; a basis without exempt lines is a till bug."""
    zw = [i for i, line in enumerate(lines) if line.vat_rate is VatRate.ZW]
    raw = obj.get("exemption_basis")
    if raw is None:
        if zw:
            raise MalformedRequestError("missing_field",
                f"lines[{zw[0]}] is VAT-exempt (zw): give the legal basis of the exemption in exemption_basis, "
                "e.g. \"art. 43 ust. 1 pkt 37 ustawy o VAT\"",
                "exemption_basis",
            )
        return None
    basis = _text(raw, "exemption_basis", EXEMPTION_BASIS_CHARS_MAX)
    if not zw:
        raise InvalidRequestError("invalid_invoice",
            "exemption_basis is given but no line is exempt: set vat_rate \"zw\" on the exempt lines or drop exemption_basis",
            "exemption_basis",
        )
    return basis


def _payment(value: Any) -> Payment:
    obj = _object(value, "payment", {"method", "due_date"}, required={"method"})
    method_raw = obj["method"]
    if not isinstance(method_raw, str):
        raise MalformedRequestError("wrong_type", "must be a string: cash, card or transfer", "payment.method")
    try:
        method = PaymentMethod(method_raw.strip().lower())
    except ValueError:
        raise InvalidRequestError("invalid_payment_method", f"{method_raw!r} is not one of cash, card, transfer", "payment.method") from None
    due = None
    if obj.get("due_date") is not None:
        raw = obj["due_date"]
        if not isinstance(raw, str) or not _DATE.fullmatch(raw):
            raise MalformedRequestError("wrong_type", "must be a date string YYYY-MM-DD", "payment.due_date")
        try:
            due = dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidRequestError("invalid_date", f"{raw!r} is not a calendar date", "payment.due_date") from None
        if not DUE_DATE_MIN <= due <= DUE_DATE_MAX:
            raise InvalidRequestError("out_of_range", f"FA(3) accepts dates from {DUE_DATE_MIN} to {DUE_DATE_MAX}", "payment.due_date"
            )
    return Payment(method=method, paid=method is not PaymentMethod.TRANSFER, due_date=due)
