"""The product's readers of KSeF answers against the official OpenAPI examples (tests/conformance/openapi/).

Each example is fed, as published, to the function the uplink uses on the real answer: statuses
(`InvoiceStatus`, `SessionStatus`), errors (`client._codes` for both error formats), MF public keys
(`MfPublicKey`), the `X-System-Warning` header. Expected values are read from the example files, not
from the product.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from ksef_edge.ksef.client import _codes
from ksef_edge.ksef.crypto import MfPublicKey, pick_public_key
from ksef_edge.ksef.errors import KsefProtocolError
from ksef_edge.ksef.models import InvoiceStatus, SessionStatus
from ksef_edge.ksef.system_warning import parse_system_warning
from official_vectors import TV3_CERT_B64

OPENAPI = Path(__file__).parent / "openapi"


def example(name: str):
    return json.loads((OPENAPI / name).read_text("utf-8"))


def test_single_invoice_status_example_440_duplicate_is_read_with_its_extensions():
    raw = example("session-invoice-status.200.json")
    st = InvoiceStatus.from_api(raw)  # the example omits the required invoiceHash: still readable
    assert st.code == raw["status"]["code"] == 440
    assert st.extensions["originalKsefNumber"] == "5265877635-20250626-010080DD2B5E-26"
    assert st.reference_number == raw["referenceNumber"] and st.invoice_hash == ""
    assert raw["status"]["details"][0] in st.reason


@pytest.mark.parametrize("name", ["session-invoices.200.json", "session-invoices-failed.200.json"])
def test_session_invoice_list_examples_are_read_item_by_item(name):
    raw = example(name)
    items = [InvoiceStatus.from_api(i) for i in raw["invoices"]]
    assert [i.code for i in items] == [i["status"]["code"] for i in raw["invoices"]]
    assert [i.invoice_hash for i in items] == [i.get("invoiceHash", "") for i in raw["invoices"]]
    for got, src in zip(items, raw["invoices"]):
        assert got.ksef_number == src.get("ksefNumber") and got.upo_download_url == src.get("upoDownloadUrl")
        if src.get("upoDownloadUrlExpirationDate"):
            assert got.upo_download_url_expires is not None and got.upo_download_url_expires.tzinfo is not None


def test_session_status_example_is_read_with_its_upo_pages():
    raw = example("session-status.200.json")
    st = SessionStatus.from_api(raw)
    assert st.code == 200 and st.invoice_count == 10 and st.failed_invoice_count == 2
    assert st.upo_pages[0]["downloadUrl"].startswith("https://api-test.ksef.mf.gov.pl/storage/")


@pytest.mark.parametrize("name, codes", [
    ("ExceptionResponse.example.json", (12345,)),
    ("BadRequestProblemDetails.example.json", (21405, 21157)),
    ("UnauthorizedProblemDetails.example.json", ()),
    ("ForbiddenProblemDetails.example.json", ()),
    ("TooManyRequestsResponse.example.json", ()),
    ("TooManyRequestsProblemDetails.example.json", ()),
    ("auth-status.410.problem.json", ()),
])
def test_every_official_error_shape_gives_codes_and_a_readable_message(name, codes):
    raw = example(name)
    got_codes, message = _codes(raw)
    assert got_codes == codes
    expected = (raw.get("exception", {}).get("exceptionDetailList", [{}])[0].get("exceptionDescription")
                or (raw.get("errors") or [{}])[0].get("description")
                or (raw.get("status", {}).get("details", [None])[0] if isinstance(raw.get("status"), dict) else None)
                or raw.get("detail"))
    assert expected and expected in message, (message, expected)


def test_public_key_certificates_example_is_read_with_mf_timestamps():
    raw = example("public-key-certificates.200.json")
    assert all(item["certificate"].endswith("...") for item in raw)  # MF truncated the DER in its example
    with pytest.raises(KsefProtocolError):
        MfPublicKey.from_api(raw[0])  # a truncated certificate is not a key: refused, never half-read
    keys = [MfPublicKey.from_api({**item, "certificate": TV3_CERT_B64}) for item in raw]
    assert [k.public_key_id for k in keys] == [i["publicKeyId"] for i in raw]
    assert [list(k.usage) for k in keys] == [i["usage"] for i in raw]
    assert keys[0].valid_from == dt.datetime(2024, 7, 11, 12, 23, 56, 15430, tzinfo=dt.UTC)
    assert keys[0].certificate_der == base64.b64decode(TV3_CERT_B64)
    now = keys[0].valid_from + dt.timedelta(days=1)
    for usage in {u for i in raw for u in i["usage"]}:
        assert usage in pick_public_key(keys, usage, now).usage


def test_system_warning_header_format_from_the_openapi_description():
    schema = example("SystemWarning.schema.json")
    assert "`[code]: message | [code]: message`" in schema["description"]
    got = parse_system_warning("[W001]: Planowana przerwa techniczna 2026-03-02 22:00 | [W002]: Token wygasa za 7 dni")
    assert got == [{"code": "W001", "message": "Planowana przerwa techniczna 2026-03-02 22:00"},
                   {"code": "W002", "message": "Token wygasa za 7 dni"}]
    assert parse_system_warning("free text") == [{"code": "?", "message": "free text"}]
