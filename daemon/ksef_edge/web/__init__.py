"""The cashier and status page served by the daemon, plus the receipt/UPO downloads it needs.

`register_pages(app, state)` is called once from `api.app.build_app`. The page shell and its static
files carry no data and need no token; everything they show comes from `/v1/...` calls made with the
same bearer token as the POS API (entered once, kept in the browser's localStorage).
"""
from __future__ import annotations

from .routes import register_pages

__all__ = ["register_pages"]
