"""Security checks after a full run (issue, print to a file sink, upload to ksef-sim, stop):
no private key, KSeF token, key passphrase or POS token in plain text anywhere in the state
directory or the logs (byte scan, several encodings), except each secret's own custody file;
the API refuses every /v1 call without the right token (401); secret files others can read are
refused at start.
"""
from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import serialization
from harness import SIM_TOKEN, body_for, make_device, post_invoice, request, start_sim


def encodings(secret: bytes) -> dict[str, bytes]:
    out = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode(),
           "base64": base64.b64encode(secret).rstrip(b"="), "base64url": base64.urlsafe_b64encode(secret).rstrip(b"=")}
    if all(32 <= b < 127 for b in secret):
        out["utf16"] = secret.decode().encode("utf-16-le")
    return out


def private_key_secrets(key_file: Path, passphrase: bytes) -> dict[str, bytes]:
    _, _, der = asn1_pem.unarmor(key_file.read_bytes())
    key = serialization.load_der_private_key(der, password=passphrase)
    plain_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    return {"pkcs8-der": plain_der, "ec-scalar": scalar}


def scan(root: Path, secrets: dict[str, bytes], allowed: dict[str, set[Path]]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for name, secret in secrets.items():
            if path in allowed.get(name.split(":")[0], set()):
                continue
            for enc, needle in encodings(secret).items():
                if len(needle) >= 12 and needle in data:
                    found.append(f"{name} ({enc}) in {path.relative_to(root)}")
    return found


def test_no_secret_in_plain_text_after_a_full_run_and_api_needs_the_token(tmp_path):
    sim = start_sim(tmp_path)
    printer_toml = '[printer]\nconnection = "file"\nfile_path = "receipts.bin"\n'
    device = make_device(tmp_path / "device", sim=sim, extra_toml=printer_toml)
    d = device.files.dir
    device.start()
    try:
        ids = []
        for n in range(12):
            status, inv = post_invoice(device.base_url, device.token, f"sec-{n}", body_for(n))
            assert status == 201, inv
            ids.append(inv["id"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            _, raw = request("GET", device.base_url + "/v1/status", token=device.token)
            if json.loads(raw)["queue"]["confirmed"] == len(ids):
                break
            time.sleep(0.3)
        assert json.loads(raw)["queue"]["confirmed"] == len(ids), raw

        # every /v1 route: no token / wrong token / wrong scheme -> 401, nothing else
        routes = [("POST", "/v1/invoices"), ("GET", "/v1/invoices"), ("GET", f"/v1/invoices/{ids[0]}"),
                  ("GET", f"/v1/invoices/{ids[0]}/xml"), ("POST", f"/v1/invoices/{ids[0]}/reprint"),
                  ("GET", "/v1/status"), ("GET", f"/v1/invoices/{ids[0]}/receipt.png"),
                  ("GET", f"/v1/invoices/{ids[0]}/upo.xml")]
        for method, path in routes:
            for headers in ({}, {"Authorization": "Bearer " + "x" * 48}, {"Authorization": f"Basic {device.token}"},
                            {"Authorization": f"Bearer {device.token[:-1]}"}):
                status, raw = request(method, device.base_url + path, body=body_for(0), key="sec-x",
                                      headers=headers)
                assert status == 401, (method, path, headers, status, raw[:200])
        assert device.token.encode() not in device.all_logs()
    finally:
        assert device.stop() == 0
        sim.stop()
    assert (d / "receipts.bin").stat().st_size > 0  # the run really printed

    passphrase = (d / "key-passphrase").read_bytes().strip()
    secrets = {
        "passphrase": passphrase,
        "ksef-token": SIM_TOKEN.encode(),
        "pos-token": device.token.encode(),
        **{f"private-key:{k}": v for k, v in private_key_secrets(d / "offline-key.p8", passphrase).items()},
    }
    allowed = {"passphrase": {d / "key-passphrase"}, "pos-token": {d / "pos-token"}}
    assert scan(d, {"passphrase": passphrase}, {}), "control: the scan must find the passphrase in its own file"
    leaks = scan(d, secrets, allowed)
    assert not leaks, leaks
    # the KSeF token file is encrypted: not even a recognisable fragment of the token
    token_file = (d / "ksef-token.json").read_bytes()
    assert b"nip-5265877635" not in token_file and b"|" not in json.loads(token_file).get("ciphertext", "|").encode()


def test_secret_files_readable_by_others_are_refused_at_start(tmp_path):
    device = make_device(tmp_path / "device")
    d = device.files.dir
    for name in ("offline-key.p8", "key-passphrase"):
        os.chmod(d / name, 0o644)
        device.start(wait=False)
        code = device.proc.wait(30)
        log = device.log_tail()
        assert code != 0, log
        assert "chmod 600" in log and name in log, log  # names the file and the fix
        assert (d / "key-passphrase").read_bytes().strip().decode() not in log
        os.chmod(d / name, 0o600)
    device.start()
    assert device.stop() == 0
