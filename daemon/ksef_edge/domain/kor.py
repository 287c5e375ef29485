"""Correction invoices (FA(3) `RodzajFaktury` KOR) for returns and price fixes at the till. Pure data.

A correction names an original invoice (P_2, P_1, KSeF number when known) and changes some of its
lines: a returned quantity, a new unit price, or both; `full_return` returns everything that is
left. Earlier corrections of the same original (`prior`) are folded first, so a line can never be
returned or re-priced beyond what remains of it.

Lines use the before/after method (`StanPrzed`, see docs/corrections.md): each changed line appears
twice, first as it stood before this correction (`StanPrzed` = 1), then as it stands after it; lines
that do not change are left out. The per-rate totals (P_13_x, P_14_x, P_15) are differences of the
*whole-invoice* state after minus before, each computed exactly as `totals.py` computes an invoice
(VAT per rate from the sum of line values). So the original plus all its corrections always adds
up, to the grosz, to the totals of the invoice as it finally stands (0.00 after a full return).

Errors name the field as the local API receives it: `changes[1].returned_quantity`, `full_return`,
`original.ksef_number`, with 1-based original line numbers (`line_no`, as printed and as
`NrWierszaFa`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from types import MappingProxyType
from typing import Mapping

from .errors import InvoiceError, KsefNumberError
from .invoice import (
    EARLIEST_CREATED_AT,
    PRICE_DECIMALS_MAX,
    QUANTITY_DECIMALS_MAX,
    TEXT_MAX,
    Invoice,
    PaymentMethod,
    PriceKind,
    VatRate,
    clean_text,
    to_decimal,
)
from .ksef_number import validate_ksef_number
from .totals import AMOUNT_MAX, RATE_ORDER, RateTotal, rate_total, round_grosz

ZERO = Decimal("0.00")


class CorrectionEffect(str, Enum):
    """FA(3) `TypKorekty` (TTypKorekty): when the correction takes effect in the VAT records."""

    ORIGINAL_DATE = "1"  # "Korekta skutkująca w dacie ujęcia faktury pierwotnej"
    CORRECTION_DATE = "2"  # "Korekta skutkująca w dacie wystawienia faktury korygującej"
    OTHER_DATE = "3"  # "Korekta skutkująca w dacie innej" (e.g. different dates per line)

    @classmethod
    def parse(cls, raw: object, field_name: str = "effect") -> "CorrectionEffect":
        if isinstance(raw, cls):
            return raw
        aliases = {"original_date": "1", "correction_date": "2", "other_date": "3"}
        text = aliases.get(str(raw).strip().lower(), str(raw).strip())
        for effect in cls:
            if effect.value == text:
                return effect
        raise InvoiceError(
            field_name, f"{raw!r} is not a TypKorekty; use 1 (original date), 2 (correction date) or 3 (other date)"
        )


@dataclass(frozen=True)
class CorrectedInvoice:
    """The invoice being corrected, as the till issued and stored it."""

    invoice: Invoice  # its number (P_2), issue date (P_1), parties and lines
    ksef_number: str | None = None  # known once KSeF accepted it; decides NrKSeF vs NrKSeFN

    def __post_init__(self) -> None:
        if not isinstance(self.invoice, Invoice):
            raise InvoiceError("original", f"must be an Invoice, got {type(self.invoice).__name__}")
        if self.ksef_number is not None:
            number = self.ksef_number.strip() if isinstance(self.ksef_number, str) else self.ksef_number
            try:
                validate_ksef_number(number)
            except KsefNumberError as exc:
                raise InvoiceError("original.ksef_number", f"{self.ksef_number!r} is not a KSeF number: {exc}") from None
            if not number.startswith(f"{self.invoice.seller.nip}-"):
                raise InvoiceError(
                    "original.ksef_number",
                    f"{number} belongs to NIP {number[:10]}, not to the seller {self.invoice.seller.nip} "
                    f"of invoice {self.invoice.number}; check which invoice is being corrected",
                )
            object.__setattr__(self, "ksef_number", number)

    @property
    def number(self) -> str:
        return self.invoice.number

    @property
    def issue_date(self) -> dt.date:
        return self.invoice.issue_date


@dataclass(frozen=True)
class LineChange:
    """One original line changed: `returned_quantity` goes back, and/or the unit price becomes
    `new_unit_price` (of the same kind, gross or net, as the original's prices)."""

    line_no: int  # 1-based line number of the original (NrWierszaFa, as printed)
    returned_quantity: Decimal | None = None
    new_unit_price: Decimal | None = None


@dataclass(frozen=True)
class CorrectionRequest:
    """What the cashier asks for. Store it as is: later corrections fold it (see `current_state`)."""

    reason: str  # PrzyczynaKorekty, e.g. "Zwrot towaru" or "Błędna cena"
    refund_method: PaymentMethod  # how the difference is paid back (or paid) at the till
    changes: tuple[LineChange, ...] = ()
    full_return: bool = False  # return everything that remains of every line
    refunded: bool = True  # the difference was settled at the till on the correction's issue date
    effect: CorrectionEffect | None = None  # TypKorekty; None: derived (see `default_effect`)


@dataclass(frozen=True)
class LineState:
    """One original line as it stands after the corrections so far."""

    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class CorrectionRow:
    """One FaWiersz of the KOR: a changed line before (`before=True`, StanPrzed) or after."""

    number: int  # NrWierszaFa in the correction (1-based, unique)
    original_line_no: int
    before: bool
    name: str
    unit: str
    quantity: Decimal
    unit_price: Decimal
    vat_rate: VatRate
    value: Decimal  # P_11A (gross-priced) or P_11 (net-priced), 2 decimal places


@dataclass(frozen=True, eq=False)
class CorrectionTotals:
    price_kind: PriceKind
    by_rate: Mapping[VatRate, RateTotal]  # differences after - before, rates touched, FA(3) order
    net: Decimal
    vat: Decimal
    gross: Decimal  # P_15: negative for a return


@dataclass(frozen=True, eq=False)
class Correction:
    """A validated correction, ready for `fa3.build_fa3_kor`. Made by `build_correction` only."""

    original: CorrectedInvoice
    request: CorrectionRequest  # normalised (cleaned reason, Decimal amounts, explicit effect)
    number: str  # P_2 of the correction (its own series)
    issue_date: dt.date  # P_1 of the correction; KOD I uses it
    created_at: dt.datetime
    before: tuple[LineState, ...]  # every original line before this correction
    after: tuple[LineState, ...]  # every original line after it
    rows: tuple[CorrectionRow, ...]
    totals: CorrectionTotals

    @property
    def effect(self) -> CorrectionEffect:
        assert self.request.effect is not None
        return self.request.effect

    @property
    def seller_nip(self) -> str:
        nip = self.original.invoice.seller.nip
        assert nip is not None
        return nip


# --- state ----------------------------------------------------------------------------------------


def _decimals(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _initial_state(invoice: Invoice) -> list[LineState]:
    return [LineState(line.quantity, line.unit_price) for line in invoice.lines]


def _normalise_request(request: object, state: Sequence[LineState], original: Invoice, prefix: str) -> CorrectionRequest:
    """Check `request` against `state`; return it with clean text and Decimal amounts."""
    if not isinstance(request, CorrectionRequest):
        raise InvoiceError(prefix or "request", f"must be a CorrectionRequest, got {type(request).__name__}")
    p = f"{prefix}." if prefix else ""
    reason = clean_text(request.reason, f"{p}reason", max_len=TEXT_MAX)
    try:
        refund = PaymentMethod(request.refund_method)
    except ValueError:
        raise InvoiceError(f"{p}refund_method", f"{request.refund_method!r} is not one of cash, card, transfer") from None
    effect = None if request.effect is None else CorrectionEffect.parse(request.effect, f"{p}effect")
    if isinstance(request.changes, (str, bytes)) or not hasattr(request.changes, "__iter__"):
        raise InvoiceError(f"{p}changes", "must be a list of line changes")
    changes = tuple(request.changes)
    lines = original.lines
    if request.full_return:
        if changes:
            raise InvoiceError(f"{p}full_return", "give either full_return or a list of changes, not both")
        if all(s.quantity == 0 for s in state):
            raise InvoiceError(
                f"{p}full_return", f"everything on invoice {original.number} has already been returned; nothing is left"
            )
        changes = tuple(
            LineChange(i + 1, returned_quantity=s.quantity) for i, s in enumerate(state) if s.quantity > 0
        )
    elif not changes:
        raise InvoiceError(f"{p}changes", "a correction needs at least one changed line (or full_return)")
    seen: set[int] = set()
    normalised = []
    for i, change in enumerate(changes):
        cp = f"{p}changes[{i}]"
        if not isinstance(change, LineChange):
            raise InvoiceError(cp, f"must be a LineChange, got {type(change).__name__}")
        no = change.line_no
        if isinstance(no, bool) or not isinstance(no, int):
            raise InvoiceError(f"{cp}.line_no", f"must be a whole line number, got {no!r}")
        if not 1 <= no <= len(lines):
            raise InvoiceError(
                f"{cp}.line_no",
                f"invoice {original.number} has lines 1..{len(lines)}; there is no line {no}",
            )
        if no in seen:
            raise InvoiceError(f"{cp}.line_no", f"line {no} appears twice; put its quantity and price in one change")
        seen.add(no)
        line, current = lines[no - 1], state[no - 1]
        sold = line.quantity
        if change.returned_quantity is None and change.new_unit_price is None:
            raise InvoiceError(cp, f"line {no} ({line.name!r}): give returned_quantity, new_unit_price or both")
        if current.quantity == 0:
            raise InvoiceError(
                f"{cp}.line_no",
                f"line {no} ({line.name!r}) has already been fully returned by an earlier correction; nothing is left",
            )
        returned = None
        if change.returned_quantity is not None:
            returned = to_decimal(change.returned_quantity, f"{cp}.returned_quantity")
            if returned <= 0:
                raise InvoiceError(f"{cp}.returned_quantity", f"must be greater than 0, got {returned}")
            if _decimals(returned) > QUANTITY_DECIMALS_MAX:
                raise InvoiceError(
                    f"{cp}.returned_quantity", f"{returned} has more than {QUANTITY_DECIMALS_MAX} decimal places"
                )
            if returned > current.quantity:
                corrected = sold - current.quantity
                already = f", {_plain(corrected)} already returned by earlier corrections" if corrected else ""
                raise InvoiceError(
                    f"{cp}.returned_quantity",
                    f"returning {_plain(returned)} {line.unit} of line {no} ({line.name!r}) but only "
                    f"{_plain(current.quantity)} remain (sold {_plain(sold)}{already})",
                )
        price = None
        if change.new_unit_price is not None:
            price = to_decimal(change.new_unit_price, f"{cp}.new_unit_price")
            if price < 0:
                raise InvoiceError(f"{cp}.new_unit_price", f"must not be negative, got {price}")
            if _decimals(price) > PRICE_DECIMALS_MAX:
                raise InvoiceError(f"{cp}.new_unit_price", f"{price} has more than {PRICE_DECIMALS_MAX} decimal places")
            if price == current.unit_price:
                raise InvoiceError(
                    f"{cp}.new_unit_price",
                    f"line {no} ({line.name!r}) already costs {_plain(price)}; leave new_unit_price out or change it",
                )
        normalised.append(LineChange(no, returned, price))
    return CorrectionRequest(
        reason=reason,  # type: ignore[arg-type]
        refund_method=refund,
        changes=tuple(normalised),
        full_return=False,  # expanded into `changes` above
        refunded=bool(request.refunded),
        effect=effect,
    )


def _apply(state: Sequence[LineState], request: CorrectionRequest) -> list[LineState]:
    new = list(state)
    for change in request.changes:
        cur = new[change.line_no - 1]
        new[change.line_no - 1] = LineState(
            quantity=cur.quantity - (change.returned_quantity or 0),
            unit_price=cur.unit_price if change.new_unit_price is None else change.new_unit_price,
        )
    return new


def current_state(original: Invoice, prior: Iterable[CorrectionRequest] = ()) -> tuple[LineState, ...]:
    """Every line of `original` after the earlier corrections `prior` (in issue order)."""
    state = _initial_state(original)
    for k, request in enumerate(prior):
        state = _apply(state, _normalise_request(request, state, original, f"prior[{k}]"))
    return tuple(state)


# --- amounts ----------------------------------------------------------------------------------------


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _value(state: LineState) -> Decimal:
    return round_grosz(state.quantity * state.unit_price)


def _rate_totals(invoice: Invoice, state: Sequence[LineState]) -> dict[VatRate, RateTotal]:
    sums: dict[VatRate, Decimal] = {}
    for line, s in zip(invoice.lines, state):
        sums[line.vat_rate] = sums.get(line.vat_rate, ZERO) + _value(s)
    return {rate: rate_total(rate, invoice.price_kind, total) for rate, total in sums.items()}


def correction_totals(invoice: Invoice, before: Sequence[LineState], after: Sequence[LineState],
                      rates: Iterable[VatRate]) -> CorrectionTotals:
    """Per-rate differences (after - before) of the whole invoice, for the rates the change touches."""
    b, a = _rate_totals(invoice, before), _rate_totals(invoice, after)
    touched = set(rates)
    by_rate = {
        rate: RateTotal(net=a[rate].net - b[rate].net, vat=a[rate].vat - b[rate].vat, gross=a[rate].gross - b[rate].gross)
        for rate in RATE_ORDER
        if rate in touched
    }
    net = sum((t.net for t in by_rate.values()), ZERO)
    vat = sum((t.vat for t in by_rate.values()), ZERO)
    gross = sum((t.gross for t in by_rate.values()), ZERO)
    assert net + vat == gross, "correction totals must reconcile exactly"
    return CorrectionTotals(invoice.price_kind, MappingProxyType(by_rate), net, vat, gross)


def default_effect(gross_difference: Decimal) -> CorrectionEffect:
    """TypKorekty when the cashier does not choose one.

    A decrease (return, lower price) is recorded when the correction is issued (art. 29a ust. 13
    ustawy o VAT: 2); an increase at a till is the fix of a wrong price, recorded in the original's
    period (1). The caller overrides it for other cases.
    """
    return CorrectionEffect.ORIGINAL_DATE if gross_difference > 0 else CorrectionEffect.CORRECTION_DATE


def build_correction(
    original: CorrectedInvoice,
    request: CorrectionRequest,
    *,
    number: str,
    issue_date: dt.date,
    created_at: dt.datetime,
    prior: Iterable[CorrectionRequest] = (),
) -> Correction:
    """Validate `request` against what remains of `original` after `prior`; raise InvoiceError naming the field."""
    if not isinstance(original, CorrectedInvoice):
        raise InvoiceError("original", f"must be a CorrectedInvoice, got {type(original).__name__}")
    invoice = original.invoice
    before = current_state(invoice, prior)
    req = _normalise_request(request, before, invoice, "")
    after = tuple(_apply(before, req))
    number = clean_text(number, "number", max_len=TEXT_MAX)  # type: ignore[assignment]
    if number == invoice.number:
        raise InvoiceError("number", f"the correction needs its own number; {number} is the corrected invoice's")
    if not isinstance(issue_date, dt.date) or isinstance(issue_date, dt.datetime):
        raise InvoiceError("issue_date", "must be a date (YYYY-MM-DD), not a datetime")
    if issue_date < invoice.issue_date:
        raise InvoiceError(
            "issue_date", f"{issue_date} is before {invoice.issue_date}, the issue date of invoice {invoice.number}"
        )
    if issue_date > dt.date(2050, 1, 1):
        raise InvoiceError("issue_date", f"{issue_date} is outside the range FA(3) accepts")
    if not isinstance(created_at, dt.datetime) or created_at.utcoffset() is None:
        raise InvoiceError("created_at", "must be a timezone-aware datetime")
    if created_at < EARLIEST_CREATED_AT:
        raise InvoiceError("created_at", "FA(3) accepts DataWytworzeniaFa from 2025-09-01; check the device clock")

    rows: list[CorrectionRow] = []
    for change in sorted(req.changes, key=lambda c: c.line_no):
        line = invoice.lines[change.line_no - 1]
        for is_before, s in ((True, before[change.line_no - 1]), (False, after[change.line_no - 1])):
            value = _value(s)
            if abs(value) > AMOUNT_MAX:
                raise InvoiceError("changes", f"line {change.line_no}: quantity x price is too large for FA(3)")
            rows.append(CorrectionRow(
                number=len(rows) + 1, original_line_no=change.line_no, before=is_before, name=line.name,
                unit=line.unit, quantity=s.quantity, unit_price=s.unit_price, vat_rate=line.vat_rate, value=value,
            ))
    totals = correction_totals(invoice, before, after, (invoice.lines[c.line_no - 1].vat_rate for c in req.changes))
    if req.effect is None:
        req = CorrectionRequest(
            reason=req.reason, refund_method=req.refund_method, changes=req.changes, full_return=False,
            refunded=req.refunded, effect=default_effect(totals.gross),
        )
    return Correction(
        original=original, request=req, number=number, issue_date=issue_date, created_at=created_at,
        before=before, after=after, rows=tuple(rows), totals=totals,
    )
