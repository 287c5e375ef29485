"""Admin/inspection API for tests and demos (not part of KSeF): tokens, clock, faults,
availability, rate limits, inspection of accepted invoices. Never rate-limited or faulted."""
from __future__ import annotations

import json
from collections import Counter

from aiohttp import web

from .clock import parse_iso
from .errors import json_response
from .faults import FaultRule
from .http_util import state_of
from .ratelimit import RateLimiter
from .system_warning import warning

routes = web.RouteTableDef()


class AdminError(Exception):
    """Bad admin request: answered 400 {"error": message}."""


async def _body(request: web.Request) -> dict:
    try:
        data = json.loads(await request.read() or b"{}")
    except json.JSONDecodeError as exc:
        raise AdminError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


@routes.get("/admin/health")
async def health(request: web.Request) -> web.Response:
    return json_response({"ok": True})


@routes.post("/admin/reset")
async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    return json_response({"ok": True})


@routes.post("/admin/tokens")
async def add_token(request: web.Request) -> web.Response:
    body = await _body(request)
    nip, token = body.get("nip"), body.get("token")
    if not isinstance(nip, str) or not nip.isdigit() or len(nip) != 10:
        raise AdminError("'nip' must be a 10-digit NIP string, e.g. \"5265877635\"")
    if not isinstance(token, str) or not token or len(token) > 160 or "\n" in token:
        raise AdminError("'token' must be a non-empty string of at most 160 characters")
    rec = state_of(request).add_token(nip, token)
    return json_response({"nip": rec.nip, "referenceNumber": rec.reference_number}, 201)


@routes.get("/admin/clock")
async def get_clock(request: web.Request) -> web.Response:
    return json_response(state_of(request).clock.describe())


@routes.post("/admin/clock")
async def set_clock(request: web.Request) -> web.Response:
    st = state_of(request)
    body = await _body(request)
    try:
        if body.get("freeze") is True:
            st.clock.freeze()
        elif body.get("freeze") is False:
            st.clock.unfreeze()
        if "set" in body:
            st.clock.set(parse_iso(str(body["set"])))
        if "advance_s" in body:
            st.clock.advance(float(body["advance_s"]))
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    st.save_clock()
    return json_response(st.clock.describe())


@routes.get("/admin/faults")
async def list_faults(request: web.Request) -> web.Response:
    return json_response(state_of(request).faults.describe())


@routes.post("/admin/faults")
async def add_faults(request: web.Request) -> web.Response:
    """Body: a rule object, {"rules": [...]}, or {"rule": "PATH=KIND[:P[:N]]"}; appended in order."""
    st = state_of(request)
    body = await _body(request)
    try:
        if "rule" in body:
            rules = [FaultRule.parse(str(body["rule"]))]
        elif "rules" in body:
            rules = [FaultRule.parse(r) if isinstance(r, str) else FaultRule.from_dict(r) for r in body["rules"]]
        else:
            rules = [FaultRule.from_dict(body)]
    except (TypeError, ValueError) as exc:
        raise AdminError(str(exc)) from None
    if body.get("replace"):
        st.faults.rules.clear()
    st.faults.rules.extend(rules)
    return json_response(st.faults.describe(), 201)


@routes.delete("/admin/faults")
async def clear_faults(request: web.Request) -> web.Response:
    state_of(request).faults.rules.clear()
    return web.Response(status=204)


@routes.post("/admin/down")
async def down(request: web.Request) -> web.Response:
    body = await _body(request)
    mode = str(body.get("mode", "503"))
    if mode not in ("503", "reset"):
        raise AdminError("mode must be \"503\" (answer 503 Service Unavailable) or \"reset\" (reset connections)")
    state_of(request).down_mode = mode
    return json_response({"down": mode})


@routes.post("/admin/up")
async def up(request: web.Request) -> web.Response:
    state_of(request).down_mode = None
    return json_response({"down": None})


@routes.post("/admin/latarnia")
async def latarnia(request: web.Request) -> web.Response:
    st = state_of(request)
    body = await _body(request)
    try:
        st.latarnia.switch(str(body.get("status", "")), st.now_iso(), start=body.get("start"),
                           end=body.get("end"), title=body.get("title"), text=body.get("text"))
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    return json_response(st.latarnia.status_body())


@routes.post("/admin/rate-limits")
async def rate_limits(request: web.Request) -> web.Response:
    """{"mode": "off"|"prod"} and/or {"limits": {group: {perSecond, perMinute, perHour}}}."""
    st = state_of(request)
    body = await _body(request)
    try:
        if "mode" in body:
            if body["mode"] not in ("off", "prod"):
                raise AdminError("mode must be \"off\" or \"prod\"")
            st.rate_limiter = RateLimiter.from_setting(body["mode"])
        if "limits" in body:
            st.rate_limiter.enabled = True
            st.rate_limiter.apply_overrides(body["limits"])
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    st.rate_limiter.reset()
    return json_response({"enabled": st.rate_limiter.enabled, "limits": st.rate_limiter.effective()})


@routes.post("/admin/settings")
async def settings(request: web.Request) -> web.Response:
    st = state_of(request)
    body = await _body(request)
    if "processing_delay_s" in body:
        value = body["processing_delay_s"]
        if not isinstance(value, (int, float)) or value < 0:
            raise AdminError("processing_delay_s must be a number >= 0")
        st.processing_delay_s = float(value)
    return json_response({"processing_delay_s": st.processing_delay_s})


@routes.post("/admin/keys/rotate")
async def rotate_keys(request: web.Request) -> web.Response:
    st = state_of(request)
    st.keys.rotate(st.now())
    st.keys.save(st.config.state_dir)
    return json_response(st.keys.to_api())


@routes.get("/admin/invoices")
async def invoices(request: web.Request) -> web.Response:
    """Every accepted invoice, with how many accepted invoices and submissions share its hash."""
    st = state_of(request)
    accepted = [i for i in st.invoices.values() if i.status_code == 200]
    accepted_per_hash = Counter(i.invoice_hash for i in accepted)
    items = [{
        "ksefNumber": i.ksef_number, "invoiceHash": i.invoice_hash, "invoiceNumber": i.invoice_number,
        "sellerNip": i.seller_nip, "invoicingMode": i.invoicing_mode, "acquisitionDate": i.acquisition_date,
        "sessionReferenceNumber": i.session_reference, "referenceNumber": i.reference_number,
        "count": accepted_per_hash[i.invoice_hash],
        "submissions": len(st.by_hash.get(i.invoice_hash, [])),
        "hashOfCorrectedInvoice": i.hash_of_corrected,
    } for i in accepted]
    return json_response({"invoices": items})


@web.middleware
async def admin_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except AdminError as exc:
        return json_response({"error": str(exc)}, 400)


@routes.get("/admin/upo-certificate")
async def upo_certificate(request: web.Request) -> web.Response:
    """The certificate the simulator signs UPOs with (PEM), to verify its XAdES signatures."""
    st = state_of(request)
    return web.Response(body=st.upo_signer.cert_pem(), content_type="application/x-pem-file")


@routes.post("/admin/system-warning")
async def add_system_warning(request: web.Request) -> web.Response:
    """Send X-System-Warning `[code]: message` on every /v2 response from now on."""
    body = await _body(request)
    code, message = body.get("code"), body.get("message")
    if not isinstance(code, str) or not isinstance(message, str):
        raise AdminError("expected {\"code\": \"...\", \"message\": \"...\"}")
    try:
        item = warning(code, message)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    st = state_of(request)
    st.system_warnings.append(item)
    return json_response({"warnings": st.system_warnings}, 201)


@routes.delete("/admin/system-warning")
async def clear_system_warnings(request: web.Request) -> web.Response:
    state_of(request).system_warnings.clear()
    return json_response({"warnings": []})
