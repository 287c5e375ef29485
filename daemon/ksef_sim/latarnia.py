"""KSeF availability "Latarnia" (lighthouse) status and messages, in the shape the official
clients read (protocol.md §1a; client-code contract, UNCONFIRMED by MF docs)."""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field

STATUSES = ("AVAILABLE", "MAINTENANCE", "FAILURE", "TOTAL_FAILURE")
TITLES = {
    "MAINTENANCE": "Planowana niedostępność KSeF",
    "FAILURE": "Awaria KSeF",
    "TOTAL_FAILURE": "Awaria całkowita KSeF",
}


@dataclass
class Message:
    id: str
    eventId: int
    category: str
    type: str
    title: str
    text: str
    start: str
    end: str | None
    version: int
    published: str


@dataclass
class Latarnia:
    status: str = "AVAILABLE"
    messages: list[Message] = field(default_factory=list)
    _event_id: int = 0
    _open_event: Message | None = None

    def switch(self, status: str, now_iso: str, *, start: str | None = None, end: str | None = None,
               title: str | None = None, text: str | None = None) -> None:
        """Move to `status`; publishes the start/end messages of the event like KSeF does."""
        if status not in STATUSES:
            raise ValueError(f"Latarnia status {status!r}: use one of {', '.join(STATUSES)}")
        if self._open_event is not None and status != self._open_event.category:
            opened = self._open_event
            self.messages.append(Message(
                id=str(uuid.uuid4()), eventId=opened.eventId, category=opened.category,
                type="FAILURE_END" if opened.category != "MAINTENANCE" else "MAINTENANCE_ANNOUNCEMENT",
                title=f"Zakończenie: {opened.title}", text=text or "KSeF działa poprawnie.",
                start=opened.start, end=end or now_iso, version=opened.version + 1, published=now_iso))
            self._open_event = None
        if status != "AVAILABLE" and self._open_event is None:
            self._event_id += 1
            msg = Message(
                id=str(uuid.uuid4()), eventId=self._event_id, category=status,
                type="MAINTENANCE_ANNOUNCEMENT" if status == "MAINTENANCE" else "FAILURE_START",
                title=title or TITLES[status], text=text or TITLES[status] + ".",
                start=start or now_iso, end=end, version=1, published=now_iso)
            self.messages.append(msg)
            self._open_event = msg
        self.status = status

    def status_body(self) -> dict:
        current = [asdict(self._open_event)] if self._open_event is not None else []
        return {"status": self.status, "messages": current}

    def messages_body(self) -> list[dict]:
        return [asdict(m) for m in self.messages]
