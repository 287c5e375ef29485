"""`.venv/bin/python bench/replica_rpo.py [--runs N]`: the recovery point of Litestream replication.

Each run: a device (`ksef-edge run` subprocess) issues as fast as a till posts while Litestream
streams the outbox to a directory (the second medium); at a random instant 1.5-6 s in, the daemon
and Litestream are SIGKILLed together (a power cut of the device; the replica medium survives);
`ksef-edge replica restore` rebuilds the outbox on a new device. Reported: per run, how many
acknowledged invoices the restore misses and the age (before the kill) of the oldest one missing;
the goal (issue #25) is none older than 1 s. Same code path as tests/test_replica.py.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    from test_replica import _run_once  # tests/test_replica.py

    rng = random.Random(args.seed)
    rows = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="ksef-edge-rpo-") as tmp:
            t = Path(tmp)
            acked, killed_at, have, _ = _run_once(t, f"file://{t / 'usb' / 'replica'}",
                                                  kill_after_s=rng.uniform(1.5, 6.0))
        missing = [killed_at - ts for k, ts in acked.items() if k not in have]
        rows.append({"acknowledged": len(acked), "missing": len(missing),
                     "oldest_missing_s": round(max(missing), 3) if missing else 0.0})
        print(f"run {i + 1}: {rows[-1]}", flush=True)
    worst = max(r["oldest_missing_s"] for r in rows)
    summary = {"machine": machine(), "runs": len(rows), "acknowledged": sum(r["acknowledged"] for r in rows),
               "missing": sum(r["missing"] for r in rows), "worst_oldest_missing_s": worst,
               "goal_s": 1.0, "ok": worst <= 1.0}
    print(json.dumps(summary, indent=1))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
