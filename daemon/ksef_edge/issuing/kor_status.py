"""Corrections waiting for their original's KSeF number, and the alarms among them, for `/v1/status`.

The store holds a correction back from upload until its original is accepted
(`OutboxStore.list_for_upload`); `domain.kor_ordering.correction_gate` says when that wait
is a risk: the original was rejected, is past its own deadline, or the correction's own deadline
is today or past.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from ..civil_time import warsaw_date
from ..domain.kor_ordering import correction_gate
from ..store import OutboxStore


async def correction_status(store: OutboxStore, now: dt.datetime) -> dict[str, Any]:
    """`{"waiting": n, "alarms": [{correction_id, correction_number, deadline, original_id,
    original_number, original_state, original_deadline, reasons: [...]}, ...]}`."""
    today = warsaw_date(now)
    pairs = await store.blocked_corrections()
    alarms = []
    for kor, original in pairs:
        gate = correction_gate(
            original_state=original.state.value, original_number=original.number,
            original_deadline=original.deadline, correction_deadline=kor.deadline, today=today,
        )
        if gate.at_risk:
            alarms.append({
                "correction_id": kor.id,
                "correction_number": kor.number,
                "deadline": kor.deadline.isoformat() if kor.deadline else None,
                "original_id": original.id,
                "original_number": original.number,
                "original_state": original.state.value,
                "original_deadline": original.deadline.isoformat() if original.deadline else None,
                "reasons": list(gate.reasons),
            })
    return {"waiting": len(pairs), "alarms": alarms}
