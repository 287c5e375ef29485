"""Invoice numbers from the device's series pattern, e.g. `FV/{pos}/{yyyy}/{mm}/{seq:06}`.

The series is the pattern with everything but `{seq}` filled in (`FV/KASA1/2026/02/#`): a new
month starts a new series, and `seq` counts gaplessly within it (allocated by `OutboxStore.issue`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class _SeqSlot:
    def __format__(self, spec: str) -> str:
        return "#"


@dataclass(frozen=True)
class SeriesPattern:
    pattern: str
    pos: str

    def _fields(self, day: dt.date) -> dict[str, str]:
        return {"pos": self.pos, "yyyy": f"{day.year:04}", "yy": f"{day.year % 100:02}", "mm": f"{day.month:02}", "dd": f"{day.day:02}"}

    def series(self, day: dt.date) -> str:
        return self.pattern.format(seq=_SeqSlot(), **self._fields(day))

    def number(self, day: dt.date, seq: int) -> str:
        return self.pattern.format(seq=seq, **self._fields(day))


