"""What a restore may install, and what it does to the numbering (issue #25).

Two rules, applied to the decrypted copy before it takes the outbox's place:
- **Only this device's records.** A backup of another seller (NIP) or another till (its series do not
  follow this device's `series_pattern` with this `pos_id`) is refused: its backlog would be uploaded
  with this seller's token, or its numbers would collide with the other till's. `allow_other_device`
  (`--other-device`) says it is intended.
- **Never a used number.** A backup may be older than the last invoice its device issued, so a
  restore from one starts a new numbering incarnation (store/incarnation.py): new series, tagged,
  that no earlier device can have used. A `migrate-out` file is exact (the old outbox is retired at
  the snapshot) and keeps the numbering, unless it is another device's.
"""
from __future__ import annotations

import datetime as dt
import re
import sqlite3
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from ..domain.fa3 import FA3_NS, safe_parser
from ..store.incarnation import read_incarnation, start_incarnation
from ..store.migrations import migrate_sync
from ..store.retirement import clear_retirement
from .errors import RestoreRefusedError

_FIELD_RE = {"yyyy": r"[0-9]{4}", "yy": r"[0-9]{2}", "mm": r"[0-9]{2}", "dd": r"[0-9]{2}"}


@dataclass(frozen=True)
class DeviceIdentity:
    """Who this device issues for: the seller's NIP and the till's series."""

    nip: str
    pos: str
    series_patterns: tuple[str, ...]

    @classmethod
    def of(cls, config: Any) -> DeviceIdentity:
        device = config.device
        return cls(config.seller.nip, device.pos_id, (device.series_pattern, device.correction_series_pattern))

    def owns_series(self, series: str) -> bool:
        """True unless `series` names another till: the pattern with another pos, or (for a series from
        an older pattern) no mention of this pos at all."""
        if any(_series_regex(p, self.pos).fullmatch(series) for p in self.series_patterns):
            return True
        if any(_series_regex(p, None).fullmatch(series) for p in self.series_patterns):
            return False  # this device's pattern, another pos
        return self.pos in re.split(r"[^0-9A-Za-z_]+", series)


def _series_regex(pattern: str, pos: str | None) -> re.Pattern[str]:
    """The series names `pattern` gives for `pos` (None: any) in any incarnation and on any date."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(pattern):
        out.append(re.escape(literal))
        if name == "pos":
            out.append((re.escape(pos) if pos is not None else r"[^/]+?") + r"(?:-R[0-9]+)?")
        elif name == "seq":
            out.append(r"(?:R[0-9]+-)?#")
        elif name is not None:
            out.append(_FIELD_RE.get(name, r"[^/]*"))
    return re.compile("".join(out))


def _seller_nips(con: sqlite3.Connection) -> set[str]:
    """The seller NIP (Podmiot1) of the newest invoice of each series (one per series is enough)."""
    nips: set[str] = set()
    rows = con.execute("SELECT xml FROM invoices WHERE id IN (SELECT MAX(id) FROM invoices GROUP BY series)")
    for (xml,) in rows:
        try:
            root = etree.fromstring(bytes(xml), safe_parser())
        except etree.XMLSyntaxError:
            continue
        nip = (root.findtext("fa:Podmiot1/fa:DaneIdentyfikacyjne/fa:NIP", "", {"fa": FA3_NS}) or "").strip()
        if nip:
            nips.add(nip)
    return nips


def identity_problems(con: sqlite3.Connection, expected: DeviceIdentity) -> list[str]:
    """Why the outbox in `con` is not this device's (empty when it is)."""
    problems = []
    other_nips = sorted(_seller_nips(con) - {expected.nip})
    if other_nips:
        problems.append(f"its invoices were issued for NIP {', '.join(other_nips)}, this device issues for NIP "
                        f"{expected.nip}")
    series = [s for (s,) in con.execute("SELECT DISTINCT series FROM invoices ORDER BY series")]
    foreign = [s for s in series if not expected.owns_series(s)]
    if foreign:
        shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        problems.append(f"its series ({shown}) are not this till's ({expected.pos}, "
                        f"{expected.series_patterns[0]})")
    return problems


@dataclass
class RestorePlan:
    """Inputs of `prepare`; after it ran, `incarnation` is the restored outbox's numbering incarnation."""

    kind: str  # the file's kind: "backup" or "migration"
    source: str  # the file, for the incarnation's record
    expected: DeviceIdentity | None  # None: no device config given, the identity cannot be checked
    allow_other_device: bool = False
    floor: int = 1  # incarnation of the outbox this restore replaces (when known)
    now: dt.datetime | None = None
    incarnation: int = 1
    new_incarnation: bool = False
    identity_problems: tuple[str, ...] = ()

    def prepare(self, tmp: Path) -> None:
        """Check and adjust the decrypted copy (never the live outbox)."""
        con = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            problems = identity_problems(con, self.expected) if self.expected is not None else []
            if problems and not self.allow_other_device:
                raise RestoreRefusedError(
                    "other_device",
                    f"{self.source} is not this device's backup: {'; '.join(problems)}. Check that you picked "
                    "the right file; if this device really takes over those records, pass --other-device "
                    "(the numbering then starts new series, so no number is reused)",
                )
            self.identity_problems = tuple(problems)
            migrate_sync(con)
            clear_retirement(con)
            self.incarnation = read_incarnation(con)
            if self.kind != "migration" or problems or self.floor > self.incarnation:
                reason = "restored from a backup" if self.kind != "migration" else "migrated in"
                if problems:
                    reason += " of another device"
                self.incarnation = start_incarnation(
                    con, reason=reason, source=self.source, at=self.now or dt.datetime.now(dt.UTC),
                    at_least=self.floor,
                )
                self.new_incarnation = True
        finally:
            con.close()


def replaced_incarnation(target: Path) -> int:
    """The incarnation of the outbox at `target` (1 when absent or unreadable), read-only."""
    if not target.exists():
        return 1
    try:
        con = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    except sqlite3.Error:
        return 1
    try:
        return read_incarnation(con)
    except sqlite3.Error:
        return 1
    finally:
        con.close()


__all__ = ["DeviceIdentity", "RestorePlan", "identity_problems", "replaced_incarnation"]
