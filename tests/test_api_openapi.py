"""The OpenAPI 3.1 document the daemon serves is valid and true: real responses of a live daemon
(`ksef-edge run` on loopback) to real requests, good and bad, validate against it (openapi-core)."""
from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from daemon_fixtures import VALID_BODY, DaemonProcess, daemon_process


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with daemon_process(tmp_path_factory.mktemp("openapi")) as d:
        yield d


def fetch(d: DaemonProcess, method: str, path: str, body: Any = None, token: str | None = None,
          key: bool = True) -> tuple[int, bytes, str, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    req = urllib.request.Request(d.base_url + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get_content_type(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get_content_type(), dict(exc.headers)


@pytest.fixture(scope="module")
def spec(live: DaemonProcess) -> OpenAPI:
    status, raw, ctype, _ = fetch(live, "GET", "/openapi.json", key=False)
    assert status == 200 and ctype == "application/json"
    document = json.loads(raw)
    validate(document)  # a valid OpenAPI 3.1 document
    assert document["openapi"].startswith("3.1")
    return OpenAPI.from_dict(document)


def check(spec: OpenAPI, d: DaemonProcess, method: str, path: str, pattern: str, body: Any = None,
          token: str | None = None, view_args: dict[str, Any] | None = None) -> tuple[int, Any]:
    status, raw, ctype, headers = fetch(d, method, path, body, token)
    request = MockRequest(d.base_url, method.lower(), path.split("?")[0], path_pattern=pattern, view_args=view_args,
                          data=json.dumps(body).encode() if body is not None else None)
    spec.validate_response(request, MockResponse(raw, status_code=status, headers=headers, content_type=ctype))
    return status, json.loads(raw) if ctype == "application/json" else raw


def test_real_responses_match_the_served_openapi(spec: OpenAPI, live: DaemonProcess) -> None:
    t = live.token
    status, invoice = check(spec, live, "POST", "/v1/invoices", "/v1/invoices", VALID_BODY, t)
    assert status == 201
    iid = {"id": invoice["id"]}
    assert check(spec, live, "GET", f"/v1/invoices/{invoice['id']}", "/v1/invoices/{id}", token=t, view_args=iid)[0] == 200
    assert check(spec, live, "GET", "/v1/invoices?limit=5", "/v1/invoices", token=t)[0] == 200
    assert check(spec, live, "GET", f"/v1/invoices/{invoice['id']}/lines", "/v1/invoices/{id}/lines", token=t,
                 view_args=iid)[0] == 200
    assert check(spec, live, "GET", f"/v1/invoices/{invoice['id']}/xml", "/v1/invoices/{id}/xml", token=t,
                 view_args=iid)[0] == 200
    kor = {"reason": "Zwrot towaru", "refund_method": "card", "changes": [{"line_no": 1, "returned_quantity": "1"}]}
    assert check(spec, live, "POST", f"/v1/invoices/{invoice['id']}/corrections", "/v1/invoices/{id}/corrections",
                 kor, t, view_args=iid)[0] == 201
    assert check(spec, live, "GET", f"/v1/invoices/{invoice['id']}/corrections", "/v1/invoices/{id}/corrections",
                 token=t, view_args=iid)[0] == 200
    assert check(spec, live, "GET", "/v1/status", "/v1/status", token=t)[0] == 200
    assert check(spec, live, "GET", "/healthz", "/healthz")[0] == 200
    assert check(spec, live, "GET", "/metrics", "/metrics")[0] == 200
    # errors have the documented shape too
    assert check(spec, live, "GET", "/v1/status", "/v1/status", token="wrong-token-wrong")[0] == 401
    assert check(spec, live, "GET", "/v1/invoices/999999", "/v1/invoices/{id}", token=t, view_args={"id": 999999})[0] == 404
    bad = copy.deepcopy(VALID_BODY)
    bad["lines"][0]["quantity"] = "1\u0663"
    assert check(spec, live, "POST", "/v1/invoices", "/v1/invoices", bad, t)[0] == 400


FIELD_VALUES = st.one_of(st.text(max_size=8), st.integers(-5, 10**7), st.none(), st.booleans(),
                         st.sampled_from(["1", "0.5", "12.30", "zw", "23", "card", "2031-01-01"]))


def test_generated_requests_get_documented_answers(spec: OpenAPI, live: DaemonProcess) -> None:
    """Bounded property run (60 examples): whatever the body, the answer is one the document describes."""

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(["quantity", "unit_price_gross", "vat_rate", "name"]), FIELD_VALUES,
           st.sampled_from(["method", "due_date"]), FIELD_VALUES)
    def one(line_field: str, line_value: Any, pay_field: str, pay_value: Any) -> None:
        body = copy.deepcopy(VALID_BODY)
        body["lines"][0][line_field] = line_value
        body["payment"][pay_field] = pay_value
        status, _ = check(spec, live, "POST", "/v1/invoices", "/v1/invoices", body, live.token)
        assert status < 500

    one()


def test_openapi_is_served_without_a_token_and_names_every_v1_route(live: DaemonProcess) -> None:
    import re

    document = json.loads(fetch(live, "GET", "/openapi.json", key=False)[1])
    src = (Path(__file__).resolve().parents[1] / "daemon/ksef_edge/api/app.py").read_text()
    routes = set(re.findall(r'add_(?:get|post)\("(/v1/[^"]+|/healthz|/metrics)"', src))
    assert routes <= set(document["paths"]), routes - set(document["paths"])
