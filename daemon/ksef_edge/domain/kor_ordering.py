"""When a correction may be sent, its own deadline, and when to raise the alarm. Pure: `today` is given.

KSeF takes a correction of an offline invoice only after the original has its KSeF number
(ksef-docs `tryby-offline.md`: "Fakturę korygującą przesyła się dopiero po nadaniu numeru KSeF
dokumentowi pierwotnemu"; protocol.md §5.1). So the uplink holds a correction back (`blocked`)
until its original is `accepted`/`confirmed`. Meanwhile the correction's own legal deadline runs
from its own issue date like any offline invoice (offline24: next working day), so a correction
stuck behind an original that is late or rejected is an alarm (`at_risk`), and the original
inherits the earliest deadline of the corrections waiting for it (`original_send_by`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from .deadlines import OfflineMode, upload_deadline
from .errors import DomainError


class OriginalStatus(str, Enum):
    """Upload state of the corrected invoice; the values are the store's `InvoiceState` values."""

    ISSUED = "issued"
    SENDING = "sending"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"

    @property
    def has_ksef_number(self) -> bool:
        return self in (OriginalStatus.ACCEPTED, OriginalStatus.CONFIRMED)


@dataclass(frozen=True)
class CorrectionGate:
    blocked: bool  # the original has no KSeF number yet: do not send the correction
    at_risk: bool  # raise the alarm: the correction may miss its deadline because of its original
    reasons: tuple[str, ...]  # one operator-readable sentence per problem (empty when all is well)


def correction_deadline(
    issue_date: dt.date,
    mode: OfflineMode = OfflineMode.OFFLINE24,
    *,
    unavailability_end: dt.date | None = None,
    failure_ends: Iterable[dt.date] = (),
) -> dt.date | None:
    """The correction's own upload deadline: the same rules as any offline invoice, from its own P_1."""
    return upload_deadline(mode, issue_date, unavailability_end=unavailability_end, failure_ends=failure_ends)


def correction_gate(
    *,
    original_state: OriginalStatus | str,
    original_number: str,
    original_deadline: dt.date | None,
    correction_deadline: dt.date | None,
    today: dt.date,
) -> CorrectionGate:
    """Is the correction blocked behind its original, and is that a risk worth an alarm?"""
    try:
        state = OriginalStatus(original_state)
    except ValueError:
        raise DomainError(f"unknown original state {original_state!r}; expected one of "
                          + ", ".join(s.value for s in OriginalStatus)) from None
    if state.has_ksef_number:
        return CorrectionGate(blocked=False, at_risk=False, reasons=())
    reasons = []
    if state is OriginalStatus.REJECTED:
        reasons.append(f"original invoice {original_number} was rejected by KSeF: send its technical correction "
                       "first; this correction waits for its KSeF number")
    if original_deadline is not None and today > original_deadline:
        reasons.append(f"original invoice {original_number} is late (deadline {original_deadline}) "
                       "and still has no KSeF number")
    if correction_deadline is not None and today >= correction_deadline:
        when = "today" if today == correction_deadline else f"on {correction_deadline}"
        reasons.append(f"this correction's deadline ends {when} but it cannot be sent before invoice "
                       f"{original_number} has its KSeF number")
    return CorrectionGate(blocked=True, at_risk=bool(reasons), reasons=tuple(reasons))


def original_send_by(original_deadline: dt.date | None, correction_deadlines: Iterable[dt.date | None]) -> dt.date | None:
    """The date by which the original must be accepted so that its waiting corrections can still
    make their own deadlines: the earliest of all (None: no obligation at all)."""
    dates = [d for d in (original_deadline, *correction_deadlines) if d is not None]
    return min(dates) if dates else None


@dataclass(frozen=True)
class QueuedDocument:
    """One stored document waiting for upload, as the uplink sees it."""

    id: int
    deadline: dt.date | None
    corrects: int | None = None  # id of the original invoice if this is a correction


def upload_order(queued: Iterable[QueuedDocument], original_states: dict[int, OriginalStatus | str]) -> list[int]:
    """Ids of the queued documents that may be sent now, most urgent first.

    A correction is left out while its original (looked up in `original_states`, which must hold
    the state of every original a queued correction names) has no KSeF number. An original is
    ordered by `original_send_by` (its own deadline or the earliest of its waiting corrections).
    Ties and no-deadline documents keep issue order (id).
    """
    items = list(queued)
    waiting: dict[int, list[dt.date | None]] = {}
    for item in items:
        if item.corrects is not None:
            waiting.setdefault(item.corrects, []).append(item.deadline)
    sendable = []
    for item in items:
        if item.corrects is not None:
            if item.corrects not in original_states:
                raise DomainError(f"correction {item.id}: no state given for its original {item.corrects}")
            if not OriginalStatus(original_states[item.corrects]).has_ksef_number:
                continue
            due = item.deadline
        else:
            due = original_send_by(item.deadline, waiting.get(item.id, ()))
        sendable.append((due or dt.date.max, item.id))
    return [item_id for _, item_id in sorted(sendable)]
