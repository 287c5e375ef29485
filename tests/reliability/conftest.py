"""Reliability harness: quick mode in the default test run, long mode with `--long`
(or KSEF_EDGE_LONG=1; `scripts/test-long` runs it). Tests read their sizes from the `scale` fixture.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # daemon_fixtures, sim_fixtures, uplink_fixtures live in tests/
    sys.path.insert(0, str(TESTS))
HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@dataclass(frozen=True)
class Scale:
    long: bool
    crash_cycles: int
    powercut_cycles: int
    chaos_invoices: int
    fuzz_requests: int

    def pick(self, quick, long):
        return long if self.long else quick


QUICK = Scale(False, crash_cycles=50, powercut_cycles=10, chaos_invoices=1000, fuzz_requests=2000)
LONG = Scale(True, crash_cycles=1000, powercut_cycles=200, chaos_invoices=10_000, fuzz_requests=100_000)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--long", action="store_true", default=False,
                     help="reliability harness in long mode (1 000 crash cycles, 10 000 chaos invoices, 100 000 fuzz requests)")


def _long(config: pytest.Config) -> bool:
    try:
        opt = bool(config.getoption("--long"))
    except ValueError:  # option not registered (conftest not initial): fall back to the env var
        opt = False
    return opt or os.environ.get("KSEF_EDGE_LONG") == "1"


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    return LONG if _long(pytestconfig) else QUICK


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _long(config):
        return
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.timeout(6 * 3600))
