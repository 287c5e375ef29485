"""Invoice numbers from the device's series pattern, e.g. `FV/{pos}/{yyyy}/{mm}/{seq:06}`.

The series is the pattern with everything but `{seq}` filled in (`FV/KASA1/2026/02/#`): a new
month starts a new series, and `seq` counts gaplessly within it (allocated by `OutboxStore.issue`).
After a restore from a backup the outbox is in a later numbering incarnation (store/incarnation.py):
its tag joins `{pos}` (`FV/KASA1-R2/2026/02/#`), or precedes `{seq}` when the pattern has no `{pos}`,
so the restored device starts series the lost one never used.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .incarnation import FIRST, tagged_pos


class _SeqSlot:
    def __format__(self, spec: str) -> str:
        return "#"


@dataclass(frozen=True)
class SeriesPattern:
    pattern: str
    pos: str
    incarnation: int = FIRST

    @property
    def _pattern(self) -> str:
        if self.incarnation <= FIRST or "{pos" in self.pattern:
            return self.pattern
        return self.pattern.replace("{seq", f"R{self.incarnation}-{{seq", 1)

    def _fields(self, day: dt.date) -> dict[str, str]:
        return {"pos": tagged_pos(self.pos, self.incarnation), "yyyy": f"{day.year:04}", "yy": f"{day.year % 100:02}", "mm": f"{day.month:02}", "dd": f"{day.day:02}"}

    def series(self, day: dt.date) -> str:
        return self._pattern.format(seq=_SeqSlot(), **self._fields(day))

    def number(self, day: dt.date, seq: int) -> str:
        return self._pattern.format(seq=seq, **self._fields(day))


