"""The floor: what one durable invoice costs at minimum on this machine, with nothing else around it —
one fsync'd SQLite commit (WAL, synchronous=FULL, the invoice's XML as a blob), one KOD II signature
(EC P-256, the key the daemon uses), one FA(3) XSD validation. Issue latency is reported against it."""
from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import time
from pathlib import Path

from common import now, summary_ms


def sample_document():
    """A real issued document (seller/buyer/lines like the API bench's requests) and its signer."""
    from daemon_fixtures import MemorySigner  # EC P-256 + a KSeF-shaped Offline certificate
    from domain_factories import BUYER_B2B, SELLER, invoice, line
    from ksef_edge.domain.issuance import issue_document
    from ksef_edge.domain.qr import QrEnvironment

    signer = MemorySigner()
    today = dt.date.today()
    inv = invoice(line("Kawa", "2", "12.30", "23"), line("Rogal świętomarciński", "1", "9.99", "5"),
                  buyer=BUYER_B2B, seller=SELLER, number="FV/KASA1/2026/01/000001", issue_date=today,
                  created_at=dt.datetime.now(dt.timezone.utc))
    return issue_document(inv, signer, env=QrEnvironment.TEST), signer


def measure_floor(workdir: Path, n: int) -> dict:
    from ksef_edge.domain.fa3 import validate_fa3
    from ksef_edge.domain.qr import QrEnvironment, kod2_sign_string

    doc, signer = sample_document()
    xml = doc.xml
    sign_input = kod2_sign_string(QrEnvironment.TEST, "Nip", "5265877635", "5265877635", signer.certificate_serial,
                                  doc.sha256_b64url).encode()
    db = workdir / f"floor-{time.monotonic_ns()}.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, number TEXT UNIQUE, xml BLOB, sha256 BLOB)")
    commit, sign, validate, total = [], [], [], []
    validate_fa3(xml)  # schema compiled once, as in the daemon
    for i in range(n):
        t0 = now()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (number, xml, sha256) VALUES (?,?,?)", (f"FV/{i}", xml, hashlib.sha256(xml).digest()))
        conn.execute("COMMIT")
        t1 = now()
        signer.sign(sign_input)
        t2 = now()
        validate_fa3(xml)
        t3 = now()
        commit.append(t1 - t0)
        sign.append(t2 - t1)
        validate.append(t3 - t2)
        total.append(t3 - t0)
    conn.close()
    return {"n": n, "xml_bytes": len(xml), "commit_fsync": summary_ms(commit), "kod2_signature": summary_ms(sign),
            "xsd_validation": summary_ms(validate), "floor_total": summary_ms(total)}
