#!/usr/bin/env python3
"""A POS issuing one invoice on ksef-edge over the shop's LAN: TLS with a pinned fingerprint,
an Idempotency-Key, and a retry on timeout that can never issue twice. Standard library only.

    python3 pos_client.py --url https://kasa.sklep.lan:8787 --fingerprint AB:CD:... \\
        --token-file till-token --body invoice.json [--key RECEIPT-123]

The fingerprint is the one `ksef-edge tls show` prints. The certificate is checked against it before
the token or any data is sent. The same Idempotency-Key is used for every attempt, so a retry after a
timeout returns the invoice the first attempt issued (header Idempotent-Replayed: true).
Exit 0 with the invoice JSON on stdout; 1 when the device refused (its JSON error on stdout); 2 when
it could not be reached.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import ssl
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit


class PinMismatch(Exception):
    """The device presented another certificate than the pinned one: never send it the token."""


def _pinned_connection(host: str, port: int, fingerprint: str, timeout_s: float) -> http.client.HTTPSConnection:
    context = ssl.create_default_context()
    context.check_hostname = False  # identity comes from the pin, not from a CA
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, port, timeout=timeout_s, context=context)
    conn.connect()
    der = conn.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    got = hashlib.sha256(der or b"").hexdigest().upper()
    if got != fingerprint.replace(":", "").upper():
        conn.close()
        raise PinMismatch(f"certificate fingerprint {got} is not the pinned one")
    return conn


def issue(url: str, fingerprint: str, token: str, body: dict, key: str, *, timeout_s: float = 10.0,
          attempts: int = 4) -> tuple[int, dict, bool]:
    """(status, JSON, replayed). Retries timeouts and connection errors with the same key."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    payload = json.dumps(body).encode("utf-8")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key,
               "Host": f"{host}:{port}"}
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            conn = _pinned_connection(host, port, fingerprint, timeout_s)
            try:
                conn.request("POST", "/v1/invoices", body=payload, headers=headers)
                resp = conn.getresponse()
                answer = json.loads(resp.read() or b"{}")
                if resp.status == 503 and resp.getheader("Retry-After"):  # busy: wait and retry, same key
                    time.sleep(float(resp.getheader("Retry-After") or 1))
                    continue
                return resp.status, answer, resp.getheader("Idempotent-Replayed") == "true"
            finally:
                conn.close()
        except PinMismatch:
            raise
        except (TimeoutError, ConnectionError, OSError, http.client.HTTPException) as exc:
            last = exc
            print(f"attempt {attempt + 1} failed ({exc!r}); retrying with the same Idempotency-Key", file=sys.stderr)
            time.sleep(min(2.0, 0.2 * 2 ** attempt))
    raise ConnectionError(f"the device did not answer after {attempts} attempts: {last!r}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--fingerprint", required=True, help="SHA-256 from `ksef-edge tls show`")
    p.add_argument("--token-file", type=Path, required=True)
    p.add_argument("--body", type=Path, required=True, help="the invoice JSON (docs/api.md)")
    p.add_argument("--key", default=None, help="Idempotency-Key (default: a new UUID); reuse it to retry safely")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    try:
        status, answer, replayed = issue(args.url, args.fingerprint, args.token_file.read_text().strip(),
                                         json.loads(args.body.read_text()), args.key or str(uuid.uuid4()),
                                         timeout_s=args.timeout)
    except (PinMismatch, ConnectionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"status": status, "replayed": replayed, "body": answer}, ensure_ascii=False))
    return 0 if status == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
