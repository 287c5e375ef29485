"""The whole product in one command: simulator + daemon on loopback, invoices through the API, receipts, upload.

    scripts/demo [--out DIR] [--serve]        (= python -m ksef_edge.demo after scripts/setup-env)

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
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from .demo_offline import DEMO_BUYER_B2B, DEMO_SELLER
from .store.numbering import civil_date

POS_ID = "DEMO1"
# KSEF_EDGE_DEMO_SLOWDOWN stretches the waits on a slow machine (scripts/test-arm64 under qemu-user: ~15).
SLOWDOWN = max(1.0, float(os.environ.get("KSEF_EDGE_DEMO_SLOWDOWN") or 1))
START_TIMEOUT_S = 30.0 * SLOWDOWN
PRINT_TIMEOUT_S = 15.0 * SLOWDOWN
UPLINK_TIMEOUT_S = 90.0 * SLOWDOWN
FINAL_STATES = ("confirmed", "rejected")
IN_KSEF_STATES = ("accepted", "confirmed")


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and where its log is."""


# ------------------------------------------------------------------------------------ the invoices


@dataclass(frozen=True)
class DemoSale:
    label: str  # what the progress line shows
    body: dict[str, Any]  # POST /v1/invoices body, as a till would send it


def demo_sales(today: dt.date) -> list[DemoSale]:
    """B2C and B2B, gross and net prices, 23/8/5/0 %, zw, oo, a long Polish product name, three payment methods."""
    b2b_buyer = {"nip": DEMO_BUYER_B2B.nip, "name": DEMO_BUYER_B2B.name,
                 "address": "ul. Łódzka 7, 90-001 Łódź"}
    return [
        DemoSale("B2C, card, 5/8/23 %", {
            "lines": [
                {"name": "Chleb żytni na zakwasie 800 g", "quantity": "2", "unit_price_gross": "12.90", "vat_rate": "5"},
                {"name": "Drożdżówka z serem", "quantity": "3", "unit_price_gross": "4.50", "vat_rate": "5"},
                {"name": "Kawa latte na miejscu", "quantity": "1", "unit_price_gross": "16.00", "vat_rate": "8"},
                {"name": "Woda mineralna gazowana 0,5 l", "quantity": "2", "unit_price_gross": "3.99", "vat_rate": "23"},
                {"name": "Torba papierowa", "quantity": "1", "unit_price_gross": "0.50", "vat_rate": "23"},
            ],
            "payment": {"method": "card"},
        }),
        DemoSale("B2B with NIP, transfer in 14 days, net prices", {
            "buyer": b2b_buyer,
            "lines": [
                {"name": "Catering – zestaw śniadaniowy dla 25 osób", "quantity": "25", "unit": "os.",
                 "unit_price_net": "32.00", "vat_rate": "8"},
                {"name": "Dowóz na terenie Trójmiasta", "quantity": "1", "unit": "usł.", "unit_price_net": "60.00",
                 "vat_rate": "23"},
                {"name": "Mąka pszenna typ 650, worek 25 kg", "quantity": "4", "unit_price_net": "71.46",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "transfer", "due_date": (today + dt.timedelta(days=14)).isoformat()},
        }),
        DemoSale("B2C, cash, long Polish product name", {
            "lines": [
                {"name": "Tort okolicznościowy „Gdańskie Żuławy” z kremem śmietankowo-pistacjowym, świeżymi "
                         "malinami, jeżynami i dekoracją z białej czekolady — zamówienie specjalne, 3 kg",
                 "quantity": "1", "unit_price_gross": "289.00", "vat_rate": "5"},
                {"name": "Świeczki urodzinowe „Sto lat” (zestaw 12 szt.)", "quantity": "1",
                 "unit_price_gross": "7.99", "vat_rate": "23"},
                {"name": "Ser żółty plastry", "quantity": "0.254", "unit": "kg", "unit_price_gross": "39.90",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "cash"},
        }),
        DemoSale("B2B with NIP, 0 % and reverse charge (oo)", {
            "buyer": b2b_buyer,
            "lines": [
                {"name": "Złom stalowy (odwrotne obciążenie, zał. 15)", "quantity": "120", "unit": "kg",
                 "unit_price_gross": "1.20", "vat_rate": "oo"},
                {"name": "Zestaw komputerowy dla szkoły (art. 83 ust. 1 pkt 26 ustawy o VAT)", "quantity": "1",
                 "unit_price_gross": "2400.00", "vat_rate": "0"},
            ],
            "payment": {"method": "card"},
        }),
        DemoSale("B2C named buyer, exempt (zw)", {
            "exemption_basis": "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",  # P_19A; the API must accept it
            "buyer": {"name": "Zofia Wiśniewska-Łęcka", "address": "ul. Żeromskiego 4 m. 15, 81-346 Gdynia"},
            "lines": [
                {"name": "Warsztaty wypieku chleba dla dorosłych (kurs zawodowy)", "quantity": "1", "unit": "usł.",
                 "unit_price_gross": "350.00", "vat_rate": "zw"},
                {"name": "Książka „Chleb. Sztuka wypieku”", "quantity": "1", "unit_price_gross": "59.90",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "cash"},
        }),
    ]


def demo_return(sale_label: str) -> DemoSale:
    """The customer of the first sale brings one pastry back: a correction invoice (KOR), refunded by card."""
    return DemoSale(f"Return: 1 × Drożdżówka (KOR of {sale_label.split(',')[0]})", {
        "reason": "Zwrot towaru", "refund_method": "card", "changes": [{"line_no": 2, "returned_quantity": "1"}],
    })


# ---------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demo_ksef_token(nip: str, today: dt.date) -> str:
    """A token shaped like KSeF's (`<date>-EC-...|nip-<NIP>|<secret>`); only the simulator knows it."""
    return (f"{today:%Y%m%d}-EC-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}-"
            f"{secrets.token_hex(1).upper()}|nip-{nip}|{secrets.token_hex(32)}")


class Api:
    """The daemon's local HTTP API with the POS bearer token (urllib: nothing to install)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self._token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 30.0) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        hdrs = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, raw = self.request(method, path, body, **kw)
        if status >= 300:
            raise DemoError(f"{method} {path} answered {status}: {raw[:500].decode(errors='replace')}")
        return json.loads(raw)

    def bytes(self, path: str) -> bytes:
        status, raw = self.request("GET", path)
        if status != 200:
            raise DemoError(f"GET {path} answered {status}: {raw[:500].decode(errors='replace')}")
        return raw


# ------------------------------------------------------------------------------------ the processes


@dataclass
class Stack:
    """The running simulator and daemon, and where their files are."""

    work: Path  # private temp dir: config, keystore, token, database, printer sink
    sim_url: str
    api: Api
    token: str
    sink: Path
    cert_pem: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def daemon_url(self) -> str:
        return self.api.base_url


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{what} exited with code {proc.returncode}; last log lines:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise DemoError(f"{what} did not answer {url} within {START_TIMEOUT_S:.0f} s; see {log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _child_env() -> dict[str, str]:
    """Our package importable in the children even without an install; no systemd variables leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "INVOCATION_ID")}
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = package_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def write_device(work: Path, *, port: int, sim_api: str, ksef_token: str) -> tuple[Path, str, Path, Path]:
    """Device config + keystore in `work`; returns (config path, POS token, printer sink, certificate)."""
    from .keystore import KeystoreConfig
    from .keystore.certificates import OFFLINE
    from .keystore.devcert import make_test_certificate
    from .keystore.file_backend import generate_file_key
    from .keystore.files import write_private_file
    from .keystore.passphrase import PassphraseSource
    from .keystore.token_store import store_token

    nip = DEMO_SELLER.nip or ""
    write_private_file(work / "key-passphrase", (secrets.token_urlsafe(24) + "\n").encode(), overwrite=True,
                       what="passphrase file")
    key = generate_file_key(work / "offline-key.p8", PassphraseSource(file=work / "key-passphrase"), algorithm="ec")
    try:
        cert = make_test_certificate(key.public_key(), nip=nip, kind=OFFLINE, organization="Piekarnia Pod Złotym Kłosem")
    finally:
        key.close()
    (work / "offline-cert.pem").write_bytes(cert)
    keystore = KeystoreConfig(backend="file", key_path=work / "offline-key.p8", cert_path=work / "offline-cert.pem",
                              token_path=work / "ksef-token.json", passphrase_credential=None,
                              passphrase_file=work / "key-passphrase")
    store_token(keystore, ksef_token)
    pos_token = secrets.token_hex(24)
    write_private_file(work / "pos-token", (pos_token + "\n").encode(), overwrite=True, what="POS token file")
    sink = work / "printer.bin"
    address = DEMO_SELLER.address
    seller_name = DEMO_SELLER.name.replace('"', '\\"')
    (work / "device.toml").write_text(f"""# ksef-edge demo device (generated by ksef_edge.demo)
[device]
pos_id = "{POS_ID}"
series_pattern = "FV/{{pos}}/{{yyyy}}/{{mm}}/{{seq:06}}"
place_of_issue = "Gdynia"

[seller]
nip = "{nip}"
name = "{seller_name}"
address_line1 = "{address.line1 if address else ''}"
address_line2 = "{address.line2 if address and address.line2 else ''}"

[api]
listen_host = "127.0.0.1"
listen_port = {port}
token_file = "pos-token"

[store]
path = "outbox.sqlite3"

[keystore]
backend = "file"
key_path = "offline-key.p8"
cert_path = "offline-cert.pem"
token_path = "ksef-token.json"
passphrase_file = "key-passphrase"

[printer]
connection = "file"
file_path = "{sink}"
paper = "80mm"

[ksef]
environment = "simulator"
api_base_url = "{sim_api}"
uplink = "auto"
""", encoding="utf-8")
    sample = Path(__file__).resolve().parents[2] / "firmware-config" / "products.example.csv"
    if sample.exists():  # the shop's product list (the till page reads products.csv next to device.toml)
        (work / "products.csv").write_bytes(sample.read_bytes())
    return work / "device.toml", pos_token, sink, work / "offline-cert.pem"


@contextlib.contextmanager
def running_stack(logs: Path, *, port: int | None = None, say: Callable[[str], None] = print) -> Iterator[Stack]:
    """Start the simulator and the daemon; stop both (and delete the private files) on exit."""
    today = civil_date(dt.datetime.now(dt.timezone.utc))
    nip = DEMO_SELLER.nip or ""
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ksef-edge-demo-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ksef_token = _demo_ksef_token(nip, today)
        sim_port = free_port()
        sim_log = logs / "ksef-sim.log"
        say(f"• starting the KSeF simulator on 127.0.0.1:{sim_port}")
        with open(sim_log, "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ksef_sim", "--host", "127.0.0.1", "--port", str(sim_port),
                 "--token", f"{nip}={ksef_token}", "--processing-delay", "0.2", "--log-level", "WARNING"],
                stdout=log, stderr=subprocess.STDOUT, env=_child_env(), cwd=work))
        sim_url = f"http://127.0.0.1:{sim_port}"
        _wait_http(sim_url + "/admin/health", procs[0], sim_log, "ksef-sim")

        port = port or free_port()
        say("• creating a development key, an Offline TEST certificate and the KSeF token custody")
        config, pos_token, sink, cert = write_device(work, port=port, sim_api=sim_url + "/v2", ksef_token=ksef_token)
        daemon_log = logs / "ksef-edge.log"
        say(f"• starting ksef-edge on 127.0.0.1:{port}")
        with open(daemon_log, "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "ksef_edge", "run", "--config", str(config)],
                stdout=log, stderr=subprocess.STDOUT, env=_child_env(), cwd=work))
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/healthz", procs[1], daemon_log, "ksef-edge")
        yield Stack(work, sim_url, Api(base, pos_token), pos_token, sink, cert, procs)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(work, ignore_errors=True)


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
    from .domain.qr import verify_kod2_url
    from .domain.signer import certificate_public_key
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

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
        issued, skipped = issue_all(stack, demo_sales(civil_date(dt.datetime.now(dt.timezone.utc))), say)
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
