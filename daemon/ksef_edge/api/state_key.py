"""The one key under which the aiohttp application holds the daemon's state (every route module reads it)."""
from __future__ import annotations

from aiohttp import web

from ..daemon_state import DaemonState

STATE_KEY = web.AppKey("ksef_edge_state", DaemonState)
