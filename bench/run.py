"""`scripts/bench [--quick]`: measure ksef-edge on this machine, write bench/results.json, print a table.

Full run: 5 000 sequential + 5 000 with 8 concurrent tills (10 000 invoices), the floor, saturation
with 16 tills, 10 000-invoice backlog drain against ksef-sim with production rate limits, receipts to
a file sink, RSS, start-up to READY=1. `--quick`: the same at ~1/10 size (a smoke check, not numbers
to publish).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, machine  # sets sys.path for the fixtures

TARGETS = {
    "issue_p99_ms": 25.0,
    "issue_p99_vs_floor": 3.0,
    "throughput_per_s": 300.0,
    "drain_10k_s": 60.0,
    "rss_mb": 80.0,
    "ready_s": 1.5,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="about 1/10 of the sizes: a smoke run")
    p.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    p.add_argument("--only", default="", help="comma list: floor,issue,ready,drain,saturation,receipt,search "
                   "(drain uploads the invoices the issue step made: give both)")
    args = p.parse_args(argv)
    q = args.quick
    sizes = {"floor": 300 if q else 2000, "seq": 500 if q else 5000, "conc": 500 if q else 5000, "clients": 8,
             "sat": 500 if q else 3000, "sat_clients": 16, "receipts": 10 if q else 50, "ready_runs": 2 if q else 5}
    only = set(filter(None, args.only.split(",")))
    want = lambda name: not only or name in only  # noqa: E731

    from harness import make_device

    from drain import measure_drain
    from floor import measure_floor
    from issue import concurrent, measure_issue
    from receipt import measure_receipt
    from startup import time_to_ready

    results: dict = {"mode": "quick" if q else "full", "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "machine": machine(), "sizes": sizes, "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="ksef-edge-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        work = Path(tmp)
        t_all = time.monotonic()
        if want("floor") or want("issue"):
            step("floor")
            results["floor"] = measure_floor(work, sizes["floor"])
        dev = make_device(work / "a")
        if want("ready"):
            step("ready (empty store)")
            results["ready_empty_store"] = time_to_ready(dev, sizes["ready_runs"])
        if want("issue"):
            step(f"issue: {sizes['seq']} sequential + {sizes['conc']} with {sizes['clients']} tills")
            dev.start()
            try:
                fl = results["floor"]["floor_total"]
                results["issue"] = measure_issue(dev, sizes["seq"], sizes["clients"], fl["p50_ms"], fl["p99_ms"])
            finally:
                dev.stop()
            # the virtual disk's fsync latency drifts with the neighbours' I/O: measure the floor again
            step("floor, again after the issue bench")
            results["floor_after_issue"] = measure_floor(work, sizes["floor"])
            if want("ready"):
                step("ready (after the issue bench)")
                results["ready_full_store"] = time_to_ready(dev, sizes["ready_runs"])
                # python-escpos parses its 1 MB capabilities file with pure-Python YAML on every start unless
                # ESCPOS_CAPABILITIES_PICKLE_DIR points at a persistent cache: measure the fix too
                cache = work / "escpos-cache"
                cache.mkdir(exist_ok=True)
                results["ready_full_store_escpos_cache"] = time_to_ready(
                    dev, sizes["ready_runs"] + 1, env={"ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)})
            if want("drain"):
                from drain import time_list_for_upload

                step("drain: one list_for_upload(500) on the queued store (limit 120 s)")
                results["drain_list_for_upload"] = time_list_for_upload(dev.db, 120)
                step("drain")
                results["drain"] = measure_drain(dev.db, work / "sim", timeout_s=900)
        if want("saturation"):
            step(f"saturation: {sizes['sat']} invoices from {sizes['sat_clients']} tills")
            sat = make_device(work / "b")
            sat.start()
            try:
                import issue as issue_mod
                from common import summary_ms

                before = issue_mod.RETRIED_5XX[0]
                lat, wall = concurrent(sat.files.port, sat.token, sizes["sat"], sizes["sat_clients"], "sat")
                results["saturation"] = {"clients": sizes["sat_clients"], "n": sizes["sat"],
                                         "throughput_per_s": round(sizes["sat"] / wall, 1), **summary_ms(lat),
                                         "retried_5xx": issue_mod.RETRIED_5XX[0] - before}
            finally:
                sat.stop()
        if want("receipt"):
            step("receipt")
            sink = work / "c" / "printer.bin"
            rc = make_device(work / "c", extra_toml=f'[printer]\nconnection = "file"\nfile_path = "{sink}"\npaper = "80mm"\n')
            rc.start()
            try:
                results["receipt"] = measure_receipt(rc, sink, sizes["receipts"])
            finally:
                rc.stop()
        if want("search"):
            from search import measure_search

            step("search on 10 000 stored invoices (1 000 with --quick)")
            (work / "s").mkdir()
            results["search"] = measure_search(work / "s", 1000 if q else 10_000)
        results["duration_s"] = round(time.monotonic() - t_all, 1)
    results["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["verdict"] = verdict(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print_table(results)
    print(f"\nwritten {args.out}")
    return 0


def step(what: str) -> None:
    print(f"[bench] {what} ...", file=sys.stderr, flush=True)


def verdict(r: dict) -> dict:
    out = {}
    if "issue" in r:
        worst_p99 = max(r["issue"]["sequential"]["p99_ms"], r["issue"]["concurrent"]["p99_ms"])
        out["issue_p99_ms"] = (worst_p99, worst_p99 <= TARGETS["issue_p99_ms"])
        floor_p99 = max(r["floor"]["floor_total"]["p99_ms"], r.get("floor_after_issue", r["floor"])["floor_total"]["p99_ms"])
        ratio = round(r["issue"]["sequential"]["p99_ms"] / floor_p99, 2)
        out["issue_p99_vs_floor"] = (ratio, ratio <= TARGETS["issue_p99_vs_floor"])
        out["rss_mb"] = (r["issue"]["rss_after_mb"], r["issue"]["rss_after_mb"] <= TARGETS["rss_mb"])
    if "saturation" in r:
        tp = r["saturation"]["throughput_per_s"]
        out["throughput_per_s"] = (tp, tp >= TARGETS["throughput_per_s"])
    if "drain" in r and r["drain"]["all_accepted_s"] is not None:
        t = r["drain"]["all_accepted_s"]
        # the target is about 10 000 invoices: a smaller (quick) drain cannot meet or miss it
        met = t <= TARGETS["drain_10k_s"] if r["drain"]["invoices"] >= 10_000 else None
        out["drain_10k_s"] = (round(t, 1), met)
    # as shipped: the unit sets ESCPOS_CAPABILITIES_PICKLE_DIR (a persistent escpos cache) since 2026-11-26
    for key in ("ready_full_store_escpos_cache", "ready_full_store", "ready_empty_store"):
        if key in r:
            out.setdefault("ready_s", (r[key]["median_s"], r[key]["median_s"] <= TARGETS["ready_s"]))
    return {k: {"value": v, "met": ok} for k, (v, ok) in out.items()}


def print_table(r: dict) -> None:
    m = r["machine"]
    print(f"\nksef-edge bench ({r['mode']}) on {m['arch']}, {m['cpus']} CPU(s) {m['cpu']}, Python {m['python']}, "
          f"SQLite {m['sqlite']}; load {m['load_avg_at_start']} -> {m['load_avg_at_end']}")
    rows = []
    if "floor" in r:
        f = r["floor"]
        rows.append(("floor: commit+fsync / KOD II sign / XSD (p50)",
                     f"{f['commit_fsync']['p50_ms']} / {f['kod2_signature']['p50_ms']} / {f['xsd_validation']['p50_ms']} ms"))
        rows.append(("floor total p50 / p99", f"{f['floor_total']['p50_ms']} / {f['floor_total']['p99_ms']} ms"))
        if "floor_after_issue" in r:
            g = r["floor_after_issue"]
            rows.append(("  again after the issue bench: commit / total p50 / p99",
                         f"{g['commit_fsync']['p50_ms']} / {g['floor_total']['p50_ms']} / {g['floor_total']['p99_ms']} ms"))
    if "issue" in r:
        for name in ("sequential", "concurrent"):
            s = r["issue"][name]
            label = "issue, 1 till" if name == "sequential" else f"issue, {s['clients']} tills"
            rows.append((f"{label}: p50 / p95 / p99", f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} ms "
                         f"(p99 = {s['p99_vs_floor_p99']}x floor p99)"))
        rows.append(("RSS idle / after invoices", f"{r['issue']['rss_idle_mb']} / {r['issue']['rss_after_mb']} MB "
                     f"({r['issue']['invoices_in_store']} invoices)"))
        rows.append(("throughput, 8 tills", f"{r['issue']['concurrent']['throughput_per_s']} invoices/s"))
        rows.append(("5xx answers (retried by the tills)", str(r["issue"]["retried_5xx"])))
    if "saturation" in r:
        rows.append((f"throughput at saturation ({r['saturation']['clients']} tills)",
                     f"{r['saturation']['throughput_per_s']} invoices/s (p99 {r['saturation']['p99_ms']} ms, "
                     f"{r['saturation']['retried_5xx']} 5xx retried)"))
    if "drain_list_for_upload" in r:
        d = r["drain_list_for_upload"]
        rows.append(("uplink query list_for_upload(500), 10k queued",
                     f"> {d['timeout_s']} s (stopped)" if d["timed_out"] else f"{d['seconds']} s"))
    if "drain" in r:
        d = r["drain"]
        rows.append((f"backlog drain ({d['invoices']} invoices, prod limits)",
                     f"accepted {fmt(d['all_accepted_s'])} s, UPOs {fmt(d['all_confirmed_s'])} s, "
                     f"{d['fraction_of_limit_rate']} of the batch-limit rate"))
    if "receipt" in r:
        rc = r["receipt"]
        rows.append(("receipt: issue -> last printer byte p50 / p99", f"{rc['p50_ms']} / {rc['p99_ms']} ms, {rc['bytes_p50']} bytes"))
    for key, label in (("ready_empty_store", "start-up to READY=1 (empty store)"),
                       ("ready_full_store", "start-up to READY=1 (10k store)"),
                       ("ready_full_store_escpos_cache", "  same, with ESCPOS_CAPABILITIES_PICKLE_DIR")):
        if key in r:
            rows.append((label, f"median {r[key]['median_s']} s (max {r[key]['max_s']})"))
    if "search" in r:
        s = r["search"]
        rows.append((f"search on {s['n']} invoices: first index catch-up", f"{s['first_index_catch_up_s']} s"))
        for key, res in s.items():
            if isinstance(res, dict) and "p50_ms" in res:
                rows.append((f"  search by {key.replace('_', ' ')}: p50 / max",
                             f"{res['p50_ms']} / {res['max_ms']} ms ({res['hits']} hits)"))
    width = max((len(a) for a, _ in rows), default=0)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")
    print("\ntargets:")
    for k, v in r["verdict"].items():
        verdict = "not measured at this size" if v["met"] is None else "met" if v["met"] else "MISSED"
        print(f"  {k:<20} {v['value']!s:<10} (target {TARGETS[k]}) {verdict}")


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
