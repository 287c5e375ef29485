"""GET /invoices/ksef/{ksefNumber} (open-api.json): the accepted invoice's XML, byte for byte as sent,
with `x-ms-meta-hash`. Readable by the seller's context (ksef-sim has no buyer/permission model:
SIMULATOR ASSUMPTION, KSeF also lets the buyer and authorised parties read it). 21164 when unknown."""
from __future__ import annotations

import base64
import hashlib

from aiohttp import web

from .errors import KsefError
from .http_util import require_access, state_of
from .ksef_numbers import is_valid
from .processing import invoice_blob_name

routes = web.RouteTableDef()


@routes.get("/v2/invoices/ksef/{ksefNumber}")
async def download_invoice(request: web.Request) -> web.Response:
    st = state_of(request)
    claims = require_access(request)
    number = request.match_info["ksefNumber"]
    if not is_valid(number):
        raise KsefError(21405, [f"{number} nie jest poprawnym numerem KSeF (format NIP-RRRRMMDD-XXXXXXXXXXXX-CC"
                                " z sumą kontrolną CRC-8)."])
    ref = st.by_ksef_number.get(number)
    inv = st.invoices.get(ref) if ref else None
    data = st.store.get_blob(invoice_blob_name(number)) if inv else None
    if inv is None or data is None or inv.seller_nip != claims.context_value:
        raise KsefError(21164, [f"Faktura o numerze KSeF {number} nie została znaleziona."])
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
    return web.Response(body=data, content_type="application/xml", charset="utf-8",
                        headers={"x-ms-meta-hash": digest})
