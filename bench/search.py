"""Search on a store of 10 000 invoices (issue #20): `scripts/bench --only search`, or alone:
`.venv/bin/python bench/search.py [--n 10000]`.

The store is a real outbox file (OutboxStore, all migrations) filled with real FA(3) documents built by
`domain.fa3.build_fa3` for 200 distinct templates (buyers, amounts) spread over 100 issue days; the
rows are inserted in one transaction (building and signing 10 000 invoices through the API is the
issue bench's job). Measured in-process on the store's reader: the first index catch-up, then each
query 20 times (p50, max): by NIP, by a one-week date range, NIP + range, name part, amount range.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct

NIPS = ["5260250995", "7740001454", "1132853869", "5252248481", "9542583988"]


def _documents(n: int) -> list[tuple]:
    from domain_factories import invoice, line
    from ksef_edge.domain.fa3 import build_fa3
    from ksef_edge.domain.invoice import Party

    start = dt.date(2026, 8, 1)
    templates = {}
    rows = []
    for i in range(n):
        key = i % 200
        day = start + dt.timedelta(days=i * 100 // n)
        if key not in templates:
            buyer = Party(f"Klient {key} Sp. z o.o.", nip=NIPS[key % len(NIPS)]) if key % 4 else None
            templates[key] = build_fa3(
                invoice(line("Towar", "1", f"{10 + key}.99"), buyer=buyer, number=f"T/{key}"), system_info="bench")
        xml = templates[key].replace(b"<P_2>T/%d</P_2>" % key, b"<P_2>FV/B/%06d</P_2>" % i)
        created = dt.datetime.combine(day, dt.time(12), dt.UTC).isoformat(timespec="microseconds")
        rows.append((f"FV/B/{day:%Y/%m}", i + 1, f"FV/B/{i:06d}", xml, hashlib.sha256(xml).digest(),
                     day.isoformat(), created, "offline", day.isoformat(), f"k{i}", "h", created))
    return rows


def _timed(fn, runs: int = 20) -> dict:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = asyncio.get_event_loop().run_until_complete(fn())
        times.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": round(pct(times, 50), 2), "max_ms": round(max(times), 2), "hits": len(result[0])}


def measure_search(work: Path, n: int) -> dict:
    from ksef_edge.store import OutboxStore
    from ksef_edge.store.search import SearchQuery, catch_up, search

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    store = loop.run_until_complete(OutboxStore.open(work / "search.sqlite3"))
    try:
        rows = _documents(n)
        loop.run_until_complete(store.write_rows(lambda conn: conn.executemany(
            "INSERT INTO invoices (series, seq, number, xml, sha256, issue_date, created_at, offline_mode, deadline, "
            "idempotency_key, request_hash, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)))
        t = time.perf_counter()
        indexed = loop.run_until_complete(catch_up(store))
        first_index_s = round(time.perf_counter() - t, 2)
        week = (dt.date(2026, 9, 1), dt.date(2026, 9, 7))
        queries = {
            "nip": SearchQuery(buyer_nip=NIPS[1]),
            "date_range_week": SearchQuery(date_from=week[0], date_to=week[1]),
            "nip_and_date_range": SearchQuery(buyer_nip=NIPS[1], date_from=week[0], date_to=week[1]),
            "name_part": SearchQuery(buyer_name="klient 13"),
            "amount_range": SearchQuery(amount_min=Decimal(50), amount_max=Decimal(51)),
            "nip_last_page": SearchQuery(buyer_nip=NIPS[2], before=50),
        }
        out = {"n": n, "first_index_catch_up_s": first_index_s, "indexed": indexed}
        for name, q in queries.items():
            out[name] = _timed(lambda q=q: search(store, q))
        return out
    finally:
        loop.run_until_complete(store.close())
        loop.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=10_000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ksef-edge-bench-search-") as tmp:
        print(json.dumps(measure_search(Path(tmp), args.n), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
