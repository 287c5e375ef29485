"""Shared by `backup restore` and `migrate-in`: the --other-device flag and what the operator is told
about the numbering afterwards (issue #25: a restore never reuses a number, and says so)."""
from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports commands at start; the archive code only when one runs
    from .backup import RestoreResult
    from .restore_policy import DeviceIdentity


def add_other_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--other-device", action="store_true",
        help="accept a file of another NIP or till (refused by default); numbering still starts new series",
    )


def expected_identity(config: Any) -> DeviceIdentity | None:
    """This device's identity from its config; None with --db only (then nothing can be checked)."""
    from .restore_policy import DeviceIdentity

    return DeviceIdentity.of(config) if config is not None else None


def print_numbering(result: RestoreResult, config: Any, *, now: dt.datetime | None = None) -> None:
    """Where numbering goes on, in words: the old position, and the new series if there is one."""
    from ..civil_time import warsaw_date as civil_date
    from ..store.numbering import SeriesPattern

    facts = result.backup.facts
    for problem in result.identity_problems:
        print(f"WARNING: accepted with --other-device: {problem}")
    if config is None:
        print("WARNING: no --config given, so the file's NIP and till were not checked against this device")
    if not result.new_incarnation:
        for series, seq in sorted(facts.series.items()):
            print(f"series {series}: next number {seq + 1}")
        return
    for series, seq in sorted(facts.series.items()):
        print(f"series {series}: last number in the file {seq} (closed on this device)")
    day = civil_date(now or dt.datetime.now(dt.UTC))
    if config is not None:
        pattern = SeriesPattern(config.device.series_pattern, config.device.pos_id, result.incarnation)
        print(f"numbering incarnation {result.incarnation}: the next invoice number is {pattern.number(day, 1)}, "
              "in a new series; the lost device may have issued numbers after this file was made, so they are "
              "never issued again here")
    else:
        print(f"numbering incarnation {result.incarnation}: new invoices get new series tagged "
              f"-R{result.incarnation}; no number of the old device is issued again")
    print("then run `ksef-edge recover --config ...` to fetch from KSeF what the lost device sent after the backup")
