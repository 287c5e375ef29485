"""Strict input at the POS API, against a live `ksef-edge run` on loopback (issue 19, item 4).

Every malformed body gets a 4xx naming the field; nothing reaches a 5xx; a refused request stores
nothing and uses no number. The explicit cases are the ones found against a running daemon
(Unicode digits signed as other amounts, 500s from a 5 000-digit integer, gzip garbage, a fullwidth
NIP, a due date after 2050, a 2·10^15 PLN total); the hypothesis part throws mutated bodies at it.
"""
from __future__ import annotations

import copy
import gzip
import http.client
import json
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon_fixtures import VALID_BODY, DaemonProcess, daemon_process

QTY = ("lines", 0, "quantity")
PRICE = ("lines", 0, "unit_price_gross")
NIP = ("buyer", "nip")
DUE = ("payment", "due_date")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with daemon_process(tmp_path_factory.mktemp("strict")) as d:
        yield d


def post(d: DaemonProcess, body: bytes, headers: dict[str, str] | None = None,
         path: str = "/v1/invoices") -> tuple[int, Any]:
    host, port = d.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("POST", path, body=body, headers={
            "Authorization": f"Bearer {d.token}", "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex, **(headers or {}),
        })
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data)
        except ValueError:  # refused by aiohttp's HTTP parser before the app (e.g. `br` without Brotli)
            return resp.status, {"error": {"code": "http_parser", "message": data.decode("utf-8", "replace"),
                                           "field": "Content-Encoding"}}
    finally:
        conn.close()


def with_value(path: tuple[Any, ...], value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    body = copy.deepcopy(base or VALID_BODY)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def numbers(db: Path) -> list[int]:
    con = sqlite3.connect(db)
    try:
        return [r[0] for r in con.execute("SELECT seq FROM invoices WHERE kind = 'VAT' ORDER BY seq")]
    finally:
        con.close()


def many_lines(n: int, qty: str, price: str) -> dict[str, Any]:
    line = {"name": "Towar", "quantity": qty, "unit_price_gross": price, "vat_rate": "23"}
    return {**copy.deepcopy(VALID_BODY), "lines": [dict(line) for _ in range(n)]}


HUGE_INT = b"9" * 5000
EXPLICIT: list[tuple[str, bytes, dict[str, str], int, str | None]] = [
    ("arabic-indic digit in quantity", dumps(with_value(QTY, "1\u0663")), {}, 400, "lines[0].quantity"),
    ("fullwidth digit in quantity", dumps(with_value(QTY, "0.\uff15")), {}, 400, "lines[0].quantity"),
    ("quantity with a trailing newline", dumps(with_value(QTY, "1\n")), {}, 400, "lines[0].quantity"),
    ("quantity with a leading space", dumps(with_value(QTY, " 1")), {}, 400, "lines[0].quantity"),
    ("price with an exponent", dumps(with_value(PRICE, "1e5")), {}, 400, "lines[0].unit_price_gross"),
    ("price in devanagari digits", dumps(with_value(PRICE, "\u0967\u0968.30")), {}, 400, "lines[0].unit_price_gross"),
    ("price too large", dumps(with_value(PRICE, "123456789012.00")), {}, 400, "lines[0].unit_price_gross"),
    ("5 000-digit integer quantity", dumps(with_value(QTY, 0)).replace(b'"quantity": 0', b'"quantity": ' + HUGE_INT),
     {}, 400, None),
    ("5 000-digit integer anywhere", b'{"x": ' + HUGE_INT + b"}", {}, 400, None),
    ("fullwidth NIP", dumps(with_value(NIP, "\uff11" * 10)), {}, 422, "buyer.nip"),
    ("NIP with a trailing space", dumps(with_value(NIP, "1111111111 ")), {}, 400, "buyer.nip"),
    ("due date after 2050", dumps(with_value(("payment",), {"method": "transfer", "due_date": "2051-01-01"})),
     {}, 422, "payment.due_date"),
    ("due date in year 9999", dumps(with_value(("payment",), {"method": "transfer", "due_date": "9999-12-31"})),
     {}, 422, "payment.due_date"),
    ("due date before FA(3)", dumps(with_value(("payment",), {"method": "transfer", "due_date": "2016-06-30"})),
     {}, 422, "payment.due_date"),
    ("due date in other digits", dumps(with_value(("payment",), {"method": "transfer", "due_date": "２０３０-01-01"})),
     {}, 400, "payment.due_date"),
    ("total of 2e15 PLN", dumps(many_lines(200, "1000000", "9999999.99")), {}, 422, "lines"),
    ("gzip garbage", b"\x1f\x8b\x08\x00garbage-not-deflate" * 5, {"Content-Encoding": "gzip"}, 400, None),
    ("deflate garbage", b"not a zlib stream", {"Content-Encoding": "deflate"}, 400, None),
    ("truncated gzip", gzip.compress(dumps(VALID_BODY))[:-12], {"Content-Encoding": "gzip"}, 400, None),
    ("gzip of non-JSON", gzip.compress(b"\xff\xfe not json"), {"Content-Encoding": "gzip"}, 400, None),
    ("brotli claimed", b"\x00\x01\x02", {"Content-Encoding": "br"}, 400, "Content-Encoding"),
    ("unknown encoding", dumps(VALID_BODY), {"Content-Encoding": "x-rot13"}, 415, "Content-Encoding"),
]


@pytest.mark.parametrize("name,body,headers,status,field", EXPLICIT, ids=[c[0] for c in EXPLICIT])
def test_malformed_body_gets_a_4xx_naming_the_field(
    live: DaemonProcess, name: str, body: bytes, headers: dict[str, str], status: int, field: str | None
) -> None:
    before = numbers(live.files.db)
    got, answer = post(live, body, headers)
    assert got == status, (name, answer)
    assert answer["error"]["code"] and answer["error"]["message"]
    if field is not None:
        assert answer["error"]["field"] == field, answer
    assert numbers(live.files.db) == before  # nothing stored, no number used


def test_gzip_encoded_valid_body_issues(live: DaemonProcess) -> None:
    status, answer = post(live, gzip.compress(dumps(VALID_BODY)), {"Content-Encoding": "gzip"})
    assert status == 201, answer
    status, answer = post(live, zlib.compress(dumps(VALID_BODY)), {"Content-Encoding": "deflate"})
    assert status == 201, answer


def test_correction_amounts_accept_ascii_digits_only(live: DaemonProcess) -> None:
    status, invoice = post(live, dumps(VALID_BODY))
    assert status == 201
    path = f"/v1/invoices/{invoice['id']}/corrections"
    for bad in ("1\u0663", " 1", "1\n", "1e0", "NaN", "-1", "９"):
        body = {"reason": "Zwrot", "refund_method": "card", "changes": [{"line_no": 1, "returned_quantity": bad}]}
        status, answer = post(live, dumps(body), path=path)
        assert status == 422, (bad, answer)
        assert answer["error"]["field"] == "changes[0].returned_quantity", answer


# ---------------------------------------------------------------------------------------- fuzzing

ODD_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789.\u0660\u0663\u06f5\u0967\uff10\uff15\u00b2\u2155 \n\t-+eE", max_size=12),
    st.sampled_from(["1", "0", "0.5", "12.30", "9999999.99", "1000000", "1e3", "NaN", "Infinity", "-0", "2050-01-02",
                     "1111111111", "PL1111111111", "111-111-11-11", "2049-12-31", "0000-00-00"]),
)
ODD_VALUE = st.one_of(
    ODD_TEXT,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
FIELDS = [QTY, PRICE, NIP, DUE, ("lines", 0, "vat_rate"), ("lines", 0, "name"), ("buyer", "name"),
          ("payment", "method"), ("lines", 1, "unit"), ("lines", 0, "unit_price_net")]


@st.composite
def fuzzed_request(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    kind = draw(st.sampled_from(["field", "field", "field", "raw", "encoded"]))
    if kind == "raw":
        return draw(st.binary(max_size=300)), {}
    body = copy.deepcopy(VALID_BODY)
    body["payment"] = {"method": "transfer", "due_date": "2030-01-01"}
    for _ in range(draw(st.integers(1, 3))):
        body = with_value(draw(st.sampled_from(FIELDS)), draw(ODD_VALUE), body)
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        raw = raw.replace(b'"quantity": "2"', b'"quantity": ' + b"7" * draw(st.integers(1, 6000)))
    if kind == "encoded":
        encoding = draw(st.sampled_from(["gzip", "deflate", "br", "identity", "gzip, deflate"]))
        packed = gzip.compress(raw) if encoding.startswith("gzip") else zlib.compress(raw)
        cut = draw(st.integers(0, len(packed)))
        return packed[:cut] if draw(st.booleans()) else packed, {"Content-Encoding": encoding}
    return raw, {}


def test_fuzz_no_5xx_rows_equal_201s_gapless(live: DaemonProcess) -> None:
    before = numbers(live.files.db)
    statuses: list[int] = []

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fuzzed_request())
    def one(request: tuple[bytes, dict[str, str]]) -> None:
        body, headers = request
        status, answer = post(live, body, headers)
        statuses.append(status)
        assert status < 500, (body[:200], headers, answer)
        if status >= 400:
            assert answer["error"]["code"], answer

    one()
    after = numbers(live.files.db)
    created = statuses.count(201)
    assert len(statuses) >= 200 and 0 < created < len(statuses)
    assert len(after) - len(before) == created
    assert after == list(range(1, len(after) + 1))  # gapless: a refusal never used a number
