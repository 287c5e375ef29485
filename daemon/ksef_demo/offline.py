"""Offline issuance demo: realistic invoices -> FA(3) files, KOD I/KOD II links and deadlines.

    python -m ksef_demo.offline OUTDIR

Writes OUTDIR/invoices/<n>.xml (the exact bytes that would be uploaded) and OUTDIR/summary.json.
On first run it creates a *development* EC P-256 key and an Offline-profile test certificate
(`keystore.devcert`) in OUTDIR/dev-key/ (mode 0600, with a .gitignore so it never lands in a commit).
Real KOD II needs a KSeF Offline certificate; this one only demonstrates the format, so QR scans of it
will fail at MF.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from decimal import Decimal
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ksef_edge.civil_time import WARSAW
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.invoice import Address, Invoice, Line, Party, Payment, PaymentMethod, PriceKind, VatRate
from ksef_edge.domain.issuance import IssuedDocument, issue_document
from ksef_edge.domain.qr import QrEnvironment, verify_kod2_url
from ksef_edge.domain.signer import InMemorySigner, certificate_public_key
from ksef_edge.keystore.certificates import OFFLINE
from ksef_edge.keystore.devcert import make_test_certificate
from ksef_edge.keystore.files import write_private_file

DEMO_SELLER = Party(
    name="Piekarnia i Kawiarnia „Pod Złotym Kłosem” Grzegorz Brzęczyszczykiewicz spółka komandytowa",
    address=Address("ul. Świętojańska 12/3", "81-391 Gdynia"),
    nip="5265877635",
)
DEMO_BUYER_B2B = Party(
    name="Hurtownia Spożywcza „Żółw” sp. z o.o.", address=Address("ul. Łódzka 7", "90-001 Łódź"), nip="6808208874"
)
_KEY_FILE, _CERT_FILE = "offline-dev-key.pem", "offline-dev-cert.pem"


def _line(name: str, qty: str, price: str, rate: VatRate, kind: PriceKind = PriceKind.GROSS, unit: str = "szt") -> Line:
    return Line(name, Decimal(qty), Decimal(price), rate, kind, unit)


def sample_invoices(*, seller: Party = DEMO_SELLER, issue_date: dt.date, created_at: dt.datetime,
                    series: str = "FV/DEMO") -> list[Invoice]:
    """Four till-like invoices: B2C gross basket, B2B net with transfer, B2C with an exempt course, B2B oo/0 %/np."""
    def number(n: int) -> str:
        return f"{series}/{issue_date:%Y/%m}/{n:04d}"

    common = dict(seller=seller, issue_date=issue_date, created_at=created_at, place_of_issue="Gdynia")
    return [
        Invoice(  # consumer at the till, card, several rates, gross prices
            buyer=None, number=number(1), payment=Payment(PaymentMethod.CARD),
            lines=(
                _line("Chleb żytni na zakwasie 800 g", "2", "12.90", VatRate.R5),
                _line("Drożdżówka z serem", "3", "4.50", VatRate.R5),
                _line("Kawa latte na miejscu", "1", "16.00", VatRate.R8),
                _line("Woda mineralna gazowana 0,5 l", "2", "3.99", VatRate.R23),
                _line("Torba papierowa", "1", "0.50", VatRate.R23),
            ),
            **common,
        ),
        Invoice(  # a business buyer with NIP, net price list, bank transfer in 14 days
            buyer=DEMO_BUYER_B2B, number=number(2),
            payment=Payment(PaymentMethod.TRANSFER, paid=False, due_date=issue_date + dt.timedelta(days=14)),
            lines=(
                _line("Catering – zestaw śniadaniowy dla 25 osób", "25", "32.00", VatRate.R8, PriceKind.NET, "os."),
                _line("Tort okolicznościowy „Gdańskie Żuławy” 3 kg", "1", "289.00", VatRate.R5, PriceKind.NET),
                _line("Dowóz na terenie Trójmiasta", "1", "60.00", VatRate.R23, PriceKind.NET, "usł."),
                _line("Mąka pszenna typ 650, worek 25 kg", "4", "71.455", VatRate.R5, PriceKind.NET, "kg"),
            ),
            **common,
        ),
        Invoice(  # a named consumer, cash, an exempt course
            buyer=Party("Zofia Wiśniewska-Łęcka", Address("ul. Żeromskiego 4 m. 15", "81-346 Gdynia")),
            number=number(3), payment=Payment(PaymentMethod.CASH),
            exemption_basis="art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",
            lines=(
                _line("Warsztaty wypieku chleba dla dorosłych (kurs zawodowy)", "1", "350.00", VatRate.ZW, unit="usł."),
                _line("Książka „Chleb. Sztuka wypieku” – egzemplarz", "1", "59.90", VatRate.R5),
                _line("Ser żółty plastry", "0.254", "39.90", VatRate.R5, unit="kg"),
            ),
            **common,
        ),
        Invoice(  # reverse charge, domestic 0 % and a supply outside Poland, for a VAT-registered buyer
            buyer=DEMO_BUYER_B2B, number=number(4), payment=Payment(PaymentMethod.CARD),
            lines=(
                _line("Złom stalowy (odwrotne obciążenie, zał. 15)", "120", "1.20", VatRate.OO, unit="kg"),
                _line("Usługa doradcza świadczona poza terytorium kraju", "1", "500.00", VatRate.NP, unit="usł."),
                _line("Zestaw komputerowy dla szkoły (art. 83 ust. 1 pkt 26 ustawy o VAT)", "1", "2400.00", VatRate.R0),
            ),
            **common,
        ),
    ]


def load_or_create_dev_signer(key_dir: Path, *, nip: str = DEMO_SELLER.nip or "") -> InMemorySigner:
    """The development KOD II key + self-signed certificate, created on first use."""
    key_path, cert_path = key_dir / _KEY_FILE, key_dir / _CERT_FILE
    if key_path.exists() and cert_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert_der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
        return InMemorySigner(key, cert_der)  # type: ignore[arg-type]
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (key_dir / ".gitignore").write_text("*\n")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    cert_pem = make_test_certificate(key, nip=nip, kind=OFFLINE, organization="ksef-edge DEV offline",
                                     not_before=now - dt.timedelta(minutes=5), not_after=now + dt.timedelta(days=365))
    write_private_file(key_path, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        overwrite=True, what="development key file")
    cert_path.write_bytes(cert_pem)
    return InMemorySigner(key, x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER))


def _summary(n: int, doc: IssuedDocument) -> dict:
    return {
        "n": n,
        "file": f"invoices/{n}.xml",
        "number": doc.invoice.number,
        "issue_date": doc.invoice.issue_date.isoformat(),
        "buyer_nip": doc.invoice.buyer.nip if doc.invoice.buyer else None,
        "total": str(doc.totals.gross),
        "bytes": len(doc.xml),
        "sha256": doc.sha256_b64,  # standard Base64, as the API's invoiceHash
        "sha256_hex": doc.sha256.hex(),
        "kod1_url": doc.kod1_url,
        "kod2_url": doc.kod2_url,
        "cert_serial": doc.cert_serial,
        "mode": doc.mode.value,
        "deadline": doc.deadline.isoformat() if doc.deadline else None,
    }


def write_offline_demo(outdir: Path | str, *, env: QrEnvironment = QrEnvironment.TEST,
                       now: dt.datetime | None = None) -> list[dict]:
    """Issue the sample invoices offline (offline24) into `outdir`; returns the summary rows."""
    outdir = Path(outdir)
    now = now or dt.datetime.now(dt.timezone.utc)
    signer = load_or_create_dev_signer(outdir / "dev-key")
    public_key = certificate_public_key(signer.certificate_der)
    invoices_dir = outdir / "invoices"
    invoices_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    issue_date = now.astimezone(WARSAW).date()
    for n, invoice in enumerate(sample_invoices(issue_date=issue_date, created_at=now), start=1):
        doc = issue_document(invoice, signer, env=env, mode=OfflineMode.OFFLINE24)
        if not verify_kod2_url(doc.kod2_url or "", public_key):
            raise RuntimeError(f"KOD II of invoice {n} does not verify with the dev certificate")
        (invoices_dir / f"{n}.xml").write_bytes(doc.xml)
        rows.append(_summary(n, doc))
    (outdir / "summary.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ksef_demo.offline", description=__doc__.split("\n")[0])
    parser.add_argument("outdir", type=Path, help="directory for invoices/, summary.json and dev-key/")
    parser.add_argument("--env", default="test", help="QR environment: test, demo or prd (default: test)")
    args = parser.parse_args(argv)
    rows = write_offline_demo(args.outdir, env=QrEnvironment.parse(args.env))
    for row in rows:
        print(f"{row['number']}  {row['total']:>10} PLN  deadline {row['deadline']}  {row['file']}")
        print(f"  KOD I : {row['kod1_url']}")
        print(f"  KOD II: {row['kod2_url']}")
    print(f"wrote {len(rows)} invoices and {args.outdir / 'summary.json'}")
    print("note: KOD II is signed with a self-signed DEV certificate, not a KSeF Offline certificate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
