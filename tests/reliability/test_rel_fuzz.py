"""Fuzzing the local API of a real `ksef-edge run` process with hypothesis-generated requests
(quick: ~2 000, long: 100 000): no 5xx, the process never dies, and the outbox holds exactly the
invoices that were answered 201 (a refused request leaves no row and burns no number).

The API publishes no OpenAPI document, so schemathesis is not used; the strategies below follow
docs/api.md (every route, auth variants, mutated bodies around a valid invoice, raw garbage).
"""
from __future__ import annotations

import json
import sqlite3
import string
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

from harness import CONNECTION_ERRORS, check_store, make_device, request
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from daemon_fixtures import VALID_BODY

# ---------------------------------------------------------------------------------- strategies

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
    st.sampled_from(["12.30", "0", "-1", "1e3", "0.000000001", "99999999999", "23", "np", "oo", "card", "cash",
                     "transfer", "2026-02-30", "1111111111", "PL 111-111-11-11", "5265877635", "\u0000", "\ud800x",
                     " ", "x" * 600]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)

FIELD_PATHS = [("buyer",), ("buyer", "nip"), ("buyer", "name"), ("buyer", "address"), ("lines",),
               ("lines", 0), ("lines", 0, "name"), ("lines", 0, "quantity"), ("lines", 0, "unit"),
               ("lines", 0, "unit_price_gross"), ("lines", 0, "vat_rate"), ("lines", 1, "unit_price_gross"),
               ("payment",), ("payment", "method"), ("payment", "due_date")]


@st.composite
def mutated_invoice(draw: st.DrawFn) -> Any:
    """A valid invoice with a few fields replaced, removed or added (near the valid boundary)."""
    body = json.loads(json.dumps(VALID_BODY))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(FIELD_PATHS))
        parent: Any = body
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "extra"]))
            if action == "replace":
                parent[path[-1]] = draw(json_values)
            elif action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            pass
    if draw(st.booleans()):
        body["lines"] = body.get("lines", []) * draw(st.sampled_from([1, 2, 100, 201])) \
            if isinstance(body.get("lines"), list) else body.get("lines")
    return body


bodies = st.one_of(
    mutated_invoice().map(lambda b: json.dumps(b, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b'{"lines": [], "lines": []}', b'{"a": NaN}', b"\xff\xfe{}", b"[]" * 40_000,
                     b'{"payment": {"method": "card"}, "lines": [{"quantity": 1.5}]}', b"null"]),
)
ids = st.one_of(st.integers(0, 10).map(str), st.sampled_from(["-1", "99999999999999999999", "١", "²", "0x1", "a", "%00"]))
paths = st.one_of(
    st.just("/v1/invoices"),
    ids.map(lambda i: f"/v1/invoices/{i}"),
    ids.map(lambda i: f"/v1/invoices/{i}/xml"),
    ids.map(lambda i: f"/v1/invoices/{i}/reprint"),
    ids.map(lambda i: f"/v1/invoices/{i}/receipt.png"),
    ids.map(lambda i: f"/v1/invoices/{i}/receipt.bin"),
    ids.map(lambda i: f"/v1/invoices/{i}/upo.xml"),
    st.sampled_from(["/v1/status", "/healthz", "/metrics", "/", "/ui", "/ui/", "/ui/app.js", "/ui/..%2f..%2fetc%2fpasswd",
                     "/v1", "/v1/", "/v2/invoices", "//v1/invoices"]),
    st.text(alphabet=string.ascii_letters + string.digits + "/%.-_~", max_size=30).map(lambda s: "/" + s),
)
queries = st.one_of(
    st.just(""),
    st.fixed_dictionaries({}, optional={
        "state": st.sampled_from(["issued", "confirmed", "bogus", "", "ISSUED"]),
        "limit": st.sampled_from(["0", "1", "500", "501", "-5", "²", "1e3", "99999999999999999999999"]),
        "after": st.sampled_from(["0", "-1", "x", "4611686018427387904", "١"]),
    }).map(lambda q: "?" + "&".join(f"{k}={v}" for k, v in q.items()) if q else ""),
)
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=220)
auth_modes = st.sampled_from(["good", "good", "good", "none", "wrong", "lowercase-scheme", "basic"])


@st.composite
def api_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what a buggy till sends (POST /v1/invoices, right token, odd bodies); the rest anything."""
    if draw(st.integers(0, 9)) < 6:
        key = draw(st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12),
                             st.none(), header_text))
        return {"method": "POST", "path": "/v1/invoices", "body": draw(bodies), "key": key,
                "ctype": "application/json", "auth": "good"}
    method = draw(st.sampled_from(["POST", "GET", "GET", "PUT", "DELETE", "PATCH"]))
    key = draw(st.one_of(st.none(), st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12),
                         header_text))
    ctype = draw(st.sampled_from(["application/json", "application/json; charset=utf-8",
                                  "text/plain", "application/x-www-form-urlencoded", ""]))
    return {"method": method, "path": draw(paths) + draw(queries), "body": draw(bodies) if method != "GET" else None,
            "key": key, "ctype": ctype, "auth": draw(auth_modes)}


# ---------------------------------------------------------------------------------------- test


def test_hypothesis_requests_never_5xx_never_crash_never_store_refused(tmp_path, scale):
    device = make_device(tmp_path / "device")
    device.start()
    statuses: Counter[int] = Counter()
    created_keys: dict[str, int] = {}
    failures: list[str] = []

    @settings(max_examples=scale.fuzz_requests, deadline=None, database=None, derandomize=not scale.long,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @given(api_requests())
    def one(req: dict[str, Any]) -> None:
        headers: dict[str, str] = {}
        if req["ctype"]:
            headers["Content-Type"] = req["ctype"]
        token = {"good": f"Bearer {device.token}", "wrong": "Bearer " + "0" * 48,
                 "lowercase-scheme": f"bearer {device.token}", "basic": f"Basic {device.token}"}.get(req["auth"])
        if token:
            headers["Authorization"] = token
        if req["key"] is not None:
            headers["Idempotency-Key"] = req["key"]
        try:
            path = quote(req["path"], safe="/?&=%:~-._+")  # non-ASCII goes on the wire percent-encoded
            status, raw = request(req["method"], device.base_url + path, raw=req["body"], headers=headers,
                                  timeout=20)
        except CONNECTION_ERRORS as exc:
            assert device.proc.poll() is None, f"daemon died on {req!r}: {device.log_tail()}"
            raise AssertionError(f"connection error {exc!r} on {req!r}") from None
        statuses[status] += 1
        assert status < 500, f"{status} on {req!r}: {raw[:300]!r}\n{device.errors_in_logs()}"
        if req["path"].startswith("/v1/") and req["auth"] not in ("good", "lowercase-scheme"):
            assert status in (401, 404, 405), (status, req)  # 404/405: aiohttp routes before auth for unknown paths
        if status == 201 and req["method"] == "POST":
            body = json.loads(raw)
            created_keys.setdefault(req["key"].strip(), body["id"])

    started = time.monotonic()
    try:
        one()
        assert device.proc.poll() is None, "the daemon exited during fuzzing"
        status, _ = request("GET", device.base_url + "/healthz")
        assert status == 200
    finally:
        device.stop()
    assert not failures, failures[:5]
    conn = sqlite3.connect(device.db)
    try:
        rows = conn.execute("SELECT id, idempotency_key FROM invoices").fetchall()
    finally:
        conn.close()
    assert {k: i for i, k in rows} == created_keys, "rows without a 201 (or 201s without a row)"
    check = check_store(device.db, {})
    assert not check.problems, check.problems[:5]
    assert statuses[201] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0, statuses
    log = device.all_logs()
    assert device.token.encode() not in log
    print(f"fuzz: {sum(statuses.values())} requests in {time.monotonic() - started:.1f}s, statuses {dict(statuses)}")
