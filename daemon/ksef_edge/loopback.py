"""Whether an address stays on this machine: decides if the API may listen without TLS (config) and which
Host names are always accepted (api/host_check.py)."""
from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
