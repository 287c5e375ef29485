"""Is the wall clock trustworthy? A Pi may boot without RTC or NTP.

The kernel knows whether an NTP daemon (systemd-timesyncd, chrony) has disciplined the clock:
`adjtimex()` in read-only mode returns TIME_ERROR while it is unsynchronised. This is the same
flag `timedatectl show -p NTPSynchronized` reports, without D-Bus or a subprocess, so it is cheap
enough for every status call. Unknown (no such syscall / not Linux) is reported as unknown.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import enum

_TIME_ERROR = 5
_TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux; oversize buffer, modes=0 (read only)


class ClockSync(str, enum.Enum):
    SYNCHRONIZED = "synchronized"
    UNSYNCHRONIZED = "unsynchronized"
    UNKNOWN = "unknown"


def clock_sync() -> ClockSync:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        adjtimex = libc.adjtimex
    except (OSError, AttributeError):
        return ClockSync.UNKNOWN
    buf = ctypes.create_string_buffer(_TIMEX_BYTES)  # zeroed: modes = 0 means "only read"
    state = adjtimex(buf)
    if state < 0:
        return ClockSync.UNKNOWN
    return ClockSync.UNSYNCHRONIZED if state == _TIME_ERROR else ClockSync.SYNCHRONIZED
