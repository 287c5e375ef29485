"""The whole product in one command: simulator + daemon on loopback, invoices through the API, receipts, upload.

    scripts/demo [--out DIR] [--serve]        (= python -m ksef_demo after scripts/setup-env)

Starts `ksef-sim` (accepting a generated KSeF token for the demo seller's NIP) and `ksef-edge run`
(file keystore with a freshly generated development key and an Offline-profile TEST certificate,
the KSeF token in token custody, a file "printer", KSeF environment = the simulator), issues a
realistic set of invoices through the local HTTP API, waits for each receipt to print and for the
uplink to send everything to the simulator, then writes DIR (default `demo-out/`):

    invoices/<id>.xml     the exact stored FA(3) bytes (GET /v1/invoices/{id}/xml); the last one is a
                          correction (KOR): the first customer returns one item
    receipts/<id>.bin     the ESC/POS bytes the printer received (the file sink after that receipt)
    receipts/<id>.png     the receipt preview (GET /v1/invoices/{id}/receipt.png)
    certificate.pem       the certificate whose key signed every KOD II
    summary.json          per invoice: id, number, sha256, kod1_url, kod2_url, state, ksef_number, deadline, ...
    logs/                 the daemon's and the simulator's logs

Everything it started is stopped at the end; with --serve both keep running (the page URL and the
API token are printed) until Ctrl-C. The key, passphrase and KSeF token live in a private temporary
directory that is deleted on exit; the certificate is a test one that KSeF does not know.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ksef_demo.offline import DEMO_SELLER
from ksef_demo.sales import DemoSale, demo_return, demo_sales
from ksef_demo.stack import (
    FINAL_STATES,
    IN_KSEF_STATES,
    PRINT_TIMEOUT_S,
    UPLINK_TIMEOUT_S,
    Api,
    DemoError,
    Stack,
    running_stack,
)
from ksef_edge.civil_time import warsaw_date

# -------------------------------------------------------------------------------------- the steps


@dataclass
class Issued:
    sale: DemoSale
    invoice: dict[str, Any]
    escpos: bytes | None = None
    print_note: str = ""


def _wait_printed(api: Api, invoice_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + PRINT_TIMEOUT_S
    while True:
        inv = api.json("GET", f"/v1/invoices/{invoice_id}")
        if inv["print_state"] in ("printed", "failed") or time.monotonic() > deadline:
            return inv
        time.sleep(0.05)


def issue_all(stack: Stack, sales: list[DemoSale], say: Callable[[str], None]) -> tuple[list[Issued], list[dict]]:
    """Issue each sale through the API, one at a time, and keep the ESC/POS bytes its receipt sent."""
    issued: list[Issued] = []
    skipped: list[dict] = []
    for n, sale in enumerate(sales, start=1):
        status, raw = stack.api.request("POST", "/v1/invoices", sale.body,
                                        headers={"Idempotency-Key": f"demo-{n}-{secrets.token_hex(4)}"})
        if status != 201:
            err = json.loads(raw).get("error", {}) if raw.startswith(b"{") else {"message": raw.decode(errors="replace")}
            say(f"  [{n}/{len(sales)}] {sale.label}: REFUSED by the API ({status} {err.get('code')}: {err.get('message')})")
            skipped.append({"sale": sale.label, "status": status, "error": err})
            continue
        inv = _wait_printed(stack.api, json.loads(raw)["id"])
        item = Issued(sale, inv)
        if inv["print_state"] == "printed":
            item.escpos = stack.sink.read_bytes()  # the sink is rewritten per receipt: exactly this one
        else:
            item.print_note = f"print state {inv['print_state']}"
        issued.append(item)
        say(f"  [{n}/{len(sales)}] {inv['number']}  {sale.label:<48} receipt {inv['print_state']}")
    return issued, skipped


def issue_return(stack: Stack, original: Issued, say: Callable[[str], None]) -> Issued | None:
    """POST /v1/invoices/{id}/corrections for the first sale, once KSeF has it (a KOR is sent after its original)."""
    ret = demo_return(original.sale.label)
    status, raw = stack.api.request("POST", f"/v1/invoices/{original.invoice['id']}/corrections", ret.body,
                                    headers={"Idempotency-Key": f"demo-return-{secrets.token_hex(4)}"})
    if status != 201:
        say(f"  ! the correction was refused ({status}): {raw[:300].decode(errors='replace')}")
        return None
    inv = _wait_printed(stack.api, json.loads(raw)["id"])
    item = Issued(ret, inv)
    if inv["print_state"] == "printed":
        item.escpos = stack.sink.read_bytes()
    else:
        item.print_note = f"print state {inv['print_state']}"
    say(f"  {inv['number']}  {ret.label:<48} receipt {inv['print_state']}")
    return item


def wait_for_uplink(api: Api, ids: list[int], say: Callable[[str], None], timeout_s: float = UPLINK_TIMEOUT_S) -> dict[int, dict]:
    """Poll until every invoice has its UPO (or was rejected); show progress; give up after `timeout_s`."""
    status = api.json("GET", "/v1/status")
    uplink = status.get("ksef", {}).get("uplink")
    current = {i: api.json("GET", f"/v1/invoices/{i}") for i in ids}
    if uplink is None:
        say("  ! the uplink is not running in this daemon (status has no ksef.uplink); invoices stay 'issued'")
        return current
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        current = {i: api.json("GET", f"/v1/invoices/{i}") for i in ids}
        counts: dict[str, int] = {}
        for inv in current.values():
            counts[inv["state"]] = counts.get(inv["state"], 0) + 1
        line = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        if line != last:
            say(f"  uplink: {line}")
            last = line
        if all(inv["state"] in FINAL_STATES for inv in current.values()):
            return current
        time.sleep(0.25)
    err = api.json("GET", "/v1/status").get("ksef", {}).get("uplink", {}).get("last_error")
    say(f"  ! not every invoice reached KSeF within {timeout_s:.0f} s" + (f"; last uplink error: {err}" if err else ""))
    return current


def write_outputs(out: Path, stack: Stack, issued: list[Issued], final: dict[int, dict], skipped: list[dict],
                  uplink_running: bool) -> list[dict]:
    """Everything the user keeps: XML, receipts, certificate, summary.json; returns the summary rows."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from ksef_edge.domain.qr import verify_kod2_url
    from ksef_edge.domain.signer import certificate_public_key

    (out / "invoices").mkdir(parents=True, exist_ok=True)
    (out / "receipts").mkdir(parents=True, exist_ok=True)
    cert_pem = stack.cert_pem.read_bytes()
    (out / "certificate.pem").write_bytes(cert_pem)
    cert = x509.load_pem_x509_certificate(cert_pem)
    public_key = certificate_public_key(cert.public_bytes(serialization.Encoding.DER))
    rows = []
    for item in issued:
        inv = final.get(item.invoice["id"], item.invoice)
        iid = inv["id"]
        xml = stack.api.bytes(f"/v1/invoices/{iid}/xml")
        (out / "invoices" / f"{iid}.xml").write_bytes(xml)
        escpos = item.escpos if item.escpos is not None else stack.api.bytes(f"/v1/invoices/{iid}/receipt.bin")
        (out / "receipts" / f"{iid}.bin").write_bytes(escpos)
        (out / "receipts" / f"{iid}.png").write_bytes(stack.api.bytes(f"/v1/invoices/{iid}/receipt.png"))
        totals = inv.get("totals") or {}  # read by the API from the stored XML (P_13_x, P_14_x, P_15)
        rows.append({
            "id": iid,
            "number": inv["number"],
            "kind": inv.get("kind", "VAT"),
            "corrects_id": inv.get("corrects_id"),
            "sale": item.sale.label,
            "total": totals.get("gross"),
            "net": totals.get("net"),
            "vat": totals.get("vat"),
            "currency": "PLN",
            "sha256": inv["sha256"],
            "kod1_url": inv["kod1_url"],
            "kod2_url": inv["kod2_url"],
            "kod2_verified": bool(inv["kod2_url"]) and verify_kod2_url(inv["kod2_url"], public_key),
            "cert_serial": inv["cert_serial"],
            "state": inv["state"],
            "ksef_number": inv["ksef_number"],
            "upo_available": inv["upo_available"],
            "deadline": inv["deadline"],
            "print_state": inv["print_state"],
            "receipt_source": "printer" if item.escpos is not None else "rendered (" + item.print_note + ")",
            "files": {"xml": f"invoices/{iid}.xml", "escpos": f"receipts/{iid}.bin", "png": f"receipts/{iid}.png"},
        })
    summary = {
        "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "seller_nip": DEMO_SELLER.nip,
        "certificate": {"file": "certificate.pem", "serial": format(cert.serial_number, "X").zfill(16),
                        "note": "TEST certificate signed by a throwaway CA; KSeF does not know it"},
        "uplink_running": uplink_running,
        "invoices": rows,
        "skipped": skipped,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return rows


def summary_table(rows: list[dict]) -> str:
    head = ("Number", "Gross", "State", "KSeF number", "Deadline")
    body = [(r["number"], (r["total"] or "?") + " PLN", r["state"],
             r["ksef_number"] or "—", r["deadline"] or "—") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]

    def fmt(row: tuple) -> str:
        return "  ".join(str(v).rjust(w) if i == 1 else str(v).ljust(w) for i, (v, w) in enumerate(zip(row, widths)))

    return "\n".join(line.rstrip() for line in [fmt(head), "  ".join("-" * w for w in widths), *(fmt(r) for r in body)])


def _clean_outputs(out: Path) -> None:
    """Remove what an earlier run wrote (only our own names), so the folder describes this run."""
    for name in ("invoices", "receipts", "logs"):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("summary.json", "certificate.pem"):
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def run_demo(out: Path, *, serve: bool = False, port: int | None = None, say: Callable[[str], None] = print,
             uplink_timeout_s: float = UPLINK_TIMEOUT_S) -> list[dict]:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _clean_outputs(out)
    with running_stack(out / "logs", port=port, say=say) as stack:
        say("• issuing invoices through the API (POST /v1/invoices) and printing the receipts")
        issued, skipped = issue_all(stack, demo_sales(warsaw_date(dt.datetime.now(dt.timezone.utc))), say)
        if not issued:
            raise DemoError("the API refused every demo invoice; see " + str(out / "logs" / "ksef-edge.log"))
        say("• waiting for the uplink to send them to the KSeF simulator")
        uplink_running = stack.api.json("GET", "/v1/status").get("ksef", {}).get("uplink") is not None
        final = wait_for_uplink(stack.api, [i.invoice["id"] for i in issued], say, uplink_timeout_s)
        first = final.get(issued[0].invoice["id"], {})
        if first.get("state") in IN_KSEF_STATES:
            say("• a return at the till: correction invoice of the first sale (POST /v1/invoices/{id}/corrections)")
            kor = issue_return(stack, issued[0], say)
            if kor is not None:
                issued.append(kor)
                final.update(wait_for_uplink(stack.api, [kor.invoice["id"]], say, uplink_timeout_s))
        else:
            say("  ! the first sale is not in KSeF, so the demo return (a correction) is skipped")
        rows = write_outputs(out, stack, issued, final, skipped, uplink_running)
        say("")
        say(summary_table(rows))
        say("")
        say(f"Output: {out}  (invoices/, receipts/, certificate.pem, summary.json, logs/)")
        if skipped:
            say(f"Note: {len(skipped)} demo sale(s) refused by the API: "
                + "; ".join(f"{s['sale']}: {s['error'].get('message')}" for s in skipped))
        if serve:
            _serve(stack, say)
    say("• stopped the daemon and the simulator")
    return rows


def _serve(stack: Stack, say: Callable[[str], None]) -> None:
    say("")
    say(f"Cashier and status page: {stack.daemon_url}/ui/#token={stack.token}")
    say(f"  (or open {stack.daemon_url}/ui/ and log in with the API token: {stack.token})")
    say(f"KSeF simulator: {stack.sim_url}/v2   — press Ctrl-C to stop everything")
    stop = {"now": False}

    def handler(signum: int, frame: Any) -> None:
        stop["now"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop["now"]:
            if any(p.poll() is not None for p in stack.procs):
                say("a demo process exited; stopping")
                break
            time.sleep(0.5)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default: demo-out/)")
    parser.add_argument("--serve", action="store_true", help="keep the daemon and simulator running; print the page URL")
    parser.add_argument("--port", type=int, default=None, help="daemon port with --serve (default: a free port)")
    args = parser.parse_args(argv)
    try:
        run_demo(args.out, serve=args.serve, port=args.port, say=lambda s: print(s, flush=True))
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopped everything", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
