"""OpenAPI 3.1 description of the local POS API, served at GET /openapi.json.

WHY in code: the limits (lines, quantity, price, idempotency key) come from the constants the parser
enforces, so the description cannot drift from them; `tests/test_api_openapi.py` validates real
responses of a live daemon against it.
"""
from __future__ import annotations

from typing import Any

from .. import __version__
from ..issuing.invoice_request import (
    EXEMPTION_BASIS_CHARS_MAX,
    LINES_MAX,
    NAME_CHARS_MAX,
    PRICE_MAX,
    QUANTITY_MAX,
    UNIT_CHARS_MAX,
)

_NULL_STR = {"type": ["string", "null"]}
_ERROR_RESPONSE = {"description": "error (nothing stored, no number used)",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_KEY = {"name": "Idempotency-Key", "in": "header", "required": True,
        "description": "the till's receipt id or a UUID: a retry with the same key and body returns the same invoice",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERROR_RESPONSE for c in codes}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _schemas() -> dict[str, Any]:
    amount = {"type": "string", "pattern": "^(0|[1-9][0-9]*)(\\.[0-9]+)?$"}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "field"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": _NULL_STR}}}},
        "Line": {"type": "object", "required": ["name", "quantity", "vat_rate"], "additionalProperties": False,
                 "properties": {
                     "name": {"type": "string", "maxLength": NAME_CHARS_MAX},
                     "quantity": {"oneOf": [{**amount, "description": f"> 0, <= {QUANTITY_MAX}, 6 decimals"},
                                            {"type": "integer", "minimum": 1, "maximum": int(QUANTITY_MAX)}]},
                     "unit": {"type": "string", "maxLength": UNIT_CHARS_MAX},
                     "unit_price_gross": {**amount, "description": f"<= {PRICE_MAX}, 8 decimals"},
                     "unit_price_net": {**amount, "description": f"<= {PRICE_MAX}, 8 decimals"},
                     "vat_rate": {"type": "string", "enum": ["23", "8", "5", "0", "zw", "np", "oo"]}}},
        "InvoiceRequest": {
            "type": "object", "required": ["lines", "payment"], "additionalProperties": False,
            "properties": {
                "buyer": {"type": ["object", "null"], "required": ["name"], "additionalProperties": False,
                          "properties": {"nip": {"type": ["string", "null"]},
                                         "name": {"type": "string", "maxLength": NAME_CHARS_MAX},
                                         "address": {"type": ["string", "null"], "maxLength": NAME_CHARS_MAX}}},
                "lines": {"type": "array", "minItems": 1, "maxItems": LINES_MAX,
                          "items": {"$ref": "#/components/schemas/Line"}},
                "payment": {"type": "object", "required": ["method"], "additionalProperties": False, "properties": {
                    "method": {"type": "string", "enum": ["cash", "card", "transfer"]},
                    "due_date": {"type": ["string", "null"], "format": "date"}}},
                "exemption_basis": {"type": ["string", "null"], "maxLength": EXEMPTION_BASIS_CHARS_MAX}}},
        "CorrectionRequest": {
            "type": "object", "required": ["reason", "refund_method"], "properties": {
                "reason": {"type": "string"}, "refund_method": {"type": "string", "enum": ["cash", "card", "transfer"]},
                "refunded": {"type": "boolean"}, "full_return": {"type": "boolean"},
                "effect": {"type": ["integer", "string"]},
                "changes": {"type": "array", "items": {"type": "object", "required": ["line_no"], "properties": {
                    "line_no": {"type": "integer", "minimum": 1}, "returned_quantity": amount,
                    "new_unit_price": amount}}}}},
        "Invoice": {
            "type": "object",
            "required": ["id", "number", "issue_date", "created_at", "sha256", "kod1_url", "kod2_url", "cert_serial",
                         "offline_mode", "deadline", "state", "print_state", "ksef_number", "upo_available",
                         "rejection", "kind", "corrects_id", "upo_signature", "technical_correction", "totals", "till"],
            "properties": {
                "id": {"type": "integer"}, "number": {"type": "string"},
                "issue_date": {"type": "string", "format": "date"}, "created_at": {"type": "string"},
                "sha256": {"type": "string"}, "kod1_url": _NULL_STR, "kod2_url": _NULL_STR, "cert_serial": _NULL_STR,
                "offline_mode": {"type": "string"}, "deadline": _NULL_STR,
                "state": {"type": "string", "enum": ["issued", "sending", "accepted", "confirmed", "rejected"]},
                "print_state": {"type": "string"}, "ksef_number": _NULL_STR, "upo_available": {"type": "boolean"},
                "rejection": {"type": ["object", "null"]}, "kind": {"type": "string", "enum": ["VAT", "KOR"]},
                "corrects_id": {"type": ["integer", "null"]}, "upo_signature": {"type": ["object", "string", "null"]},
                "technical_correction": {"type": ["object", "null"]},
                "totals": {"type": ["object", "null"], "properties": {
                    "net": {"type": "string"}, "vat": {"type": "string"}, "gross": {"type": "string"}}},
                "corrects": {"type": "object"},
                "till": {**_NULL_STR, "description": "the till that issued it (named tills); null before tills"}}},
        "InvoiceList": {"type": "object", "required": ["items", "next_after"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}},
            "next_after": {"type": ["integer", "null"]}}},
        "Status": {"type": "object", "required": ["version", "can_issue", "problems", "queue", "ksef", "certificate",
                                                 "clock", "printer", "till"],
                   "properties": {"version": {"type": "string"}, "can_issue": {"type": "boolean"},
                                  "problems": {"type": "array"}, "queue": {"type": "object"},
                                  "nearest_deadline": _NULL_STR, "ksef": {"type": "object"},
                                  "certificate": {"type": "object"}, "clock": {"type": "object"},
                                  "printer": {"type": "object"}, "till": _NULL_STR}},
        "Health": {"type": "object", "required": ["ok", "problems", "version"], "properties": {
            "ok": {"type": "boolean"}, "problems": {"type": "array"}, "version": {"type": "string"}}},
        "Lines": {"type": "object", "required": ["id", "number", "price_kind", "lines"], "properties": {
            "id": {"type": "integer"}, "number": {"type": "string"}, "price_kind": {"type": "string"},
            "corrections": {"type": "integer"}, "returnable": {"type": "boolean"},
            "lines": {"type": "array", "items": {"type": "object", "required": [
                "line_no", "name", "quantity", "remaining_quantity"]}}}},
    }


def openapi_spec() -> dict[str, Any]:
    invoice = {"$ref": "#/components/schemas/Invoice"}
    secured: list[dict[str, list[str]]] = [{"till": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "ksef-edge local POS API", "version": __version__,
                 "description": "Issue KSeF invoices offline at the till. Errors: {error: {code, message, field}}; "
                                "on any 4xx nothing is stored and no number is used. See docs/api.md."},
        "components": {
            "securitySchemes": {"till": {"type": "http", "scheme": "bearer",
                                         "description": "the till's token (`ksef-edge till add NAME`)"}},
            "schemas": _schemas(),
        },
        "paths": {
            "/v1/invoices": {
                "post": {"summary": "issue an invoice", "security": secured, "parameters": [_KEY],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/InvoiceRequest"}}}},
                         "responses": {"201": _json(invoice, "issued (or replayed: header Idempotent-Replayed)"),
                                       **_errors(400, 401, 408, 409, 413, 415, 421, 422, 503, 507)}},
                "get": {"summary": "list invoices", "security": secured, "parameters": [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}}],
                    "responses": {"200": _json({"$ref": "#/components/schemas/InvoiceList"}, "a page"),
                                  **_errors(400, 401, 421)}},
            },
            "/v1/invoices/{id}": {"get": {"summary": "one invoice", "security": secured, "parameters": [_ID],
                                          "responses": {"200": _json(invoice, "the invoice"), **_errors(401, 404)}}},
            "/v1/invoices/{id}/xml": {"get": {
                "summary": "the signed FA(3) XML as stored", "security": secured, "parameters": [_ID],
                "responses": {"200": {"description": "FA(3) XML", "content": {"application/xml": {"schema": {
                    "description": "the FA(3) document (schemat_FA(3)_v1-0E.xsd)"}}}}, **_errors(401, 404)}}},
            "/v1/invoices/{id}/corrected.xml": {"get": {
                "summary": "the file KSeF accepted in place of a rejected invoice (technical correction)",
                "security": secured, "parameters": [_ID],
                "responses": {"200": {"description": "FA(3) XML", "content": {"application/xml": {"schema": {
                    "description": "the corrected FA(3) document"}}}}, **_errors(401, 404)}}},
            "/v1/invoices/{id}/lines": {"get": {
                "summary": "lines as sold and what remains after corrections", "security": secured,
                "parameters": [_ID], "responses": {"200": _json({"$ref": "#/components/schemas/Lines"}, "lines"),
                                                   **_errors(401, 404, 409, 422)}}},
            "/v1/invoices/{id}/corrections": {
                "post": {"summary": "issue a correction invoice (KOR)", "security": secured, "parameters": [_ID, _KEY],
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/CorrectionRequest"}}}},
                         "responses": {"201": _json(invoice, "the correction"),
                                       **_errors(400, 401, 404, 409, 413, 415, 422, 503, 507)}},
                "get": {"summary": "corrections of an invoice", "security": secured, "parameters": [_ID],
                        "responses": {"200": _json({"type": "object", "required": ["items"], "properties": {
                            "items": {"type": "array", "items": invoice}}}, "corrections"), **_errors(401, 404)}},
            },
            "/v1/invoices/{id}/reprint": {"post": {
                "summary": "print the receipt again", "security": secured, "parameters": [_ID],
                "responses": {"202": _json({"type": "object"}, "queued"), **_errors(401, 404, 409)}}},
            "/v1/status": {"get": {"summary": "can the device issue, queues, deadlines", "security": secured,
                                   "responses": {"200": _json({"$ref": "#/components/schemas/Status"}, "status"),
                                                 **_errors(401)}}},
            "/healthz": {"get": {"summary": "liveness for supervisors", "responses": {
                "200": _json({"$ref": "#/components/schemas/Health"}, "can issue"),
                "503": _json({"$ref": "#/components/schemas/Health"}, "cannot issue; `problems` says why")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (own token on the LAN)", "responses": {
                "200": {"description": "text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}},
                **_errors(401, 403)}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {
                "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        },
    }
