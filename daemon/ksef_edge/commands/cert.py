"""`ksef-edge cert install|show`: the KSeF Offline certificate that KOD II names."""
from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..command_args.keystore_args import UsageError, add_keystore_arguments, context_from_args, guarded, require_nip
from ..keystore import install_certificate, installed_declared_type, open_signer, read_installed_certificate
from ..keystore.certificates import identity_label
from ..keystore.errors import KeystoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    cert = subparsers.add_parser("cert", help="KSeF Offline certificate")
    sub = cert.add_subparsers(dest="cert_command", metavar="ACTION", required=True)

    inst = sub.add_parser("install", help="check a certificate (PEM or DER) against the key and NIP, then install it")
    inst.add_argument("file", type=Path, help="certificate file from KSeF (PEM, DER or Base64 DER)")
    inst.add_argument(
        "--type",
        dest="declared_type",
        help="type KSeF shows for it ('Offline'); needed only if the certificate lacks the Offline key usage",
    )
    add_keystore_arguments(inst)
    inst.set_defaults(func=guarded(_install))

    show = sub.add_parser("show", help="type, serial, subject, validity, key backend, warnings")
    add_keystore_arguments(show)
    show.set_defaults(func=guarded(_show))


def _install(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    nip = require_nip(ctx)
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    info, warnings = install_certificate(ctx.keystore, data, seller_nip=nip, declared_type=args.declared_type)
    print(f"installed {info.kind} certificate {info.serial} for {identity_label(info)[1]} at {ctx.keystore.cert_path}")
    for w in warnings:
        print(f"warning: {w}")
    return 0


def _show(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    nip = require_nip(ctx)
    info = read_installed_certificate(ctx.keystore)
    declared = installed_declared_type(ctx.keystore)
    rows = [
        ("type", info.kind + (f" (declared {declared})" if declared else "")),
        ("serial", info.serial),
        ("subject", info.subject),
        ("issuer", info.issuer),
        ("NIP", info.nip or "-"),
        ("valid from", f"{info.not_before:%Y-%m-%d %H:%M:%S} UTC"),
        ("valid until", f"{info.not_after:%Y-%m-%d %H:%M:%S} UTC"),
        ("key", info.key_description),
        ("key usage", ", ".join(sorted(info.key_usage)) or "-"),
        ("key backend", ctx.keystore.backend + (f" ({ctx.keystore.tcti})" if ctx.keystore.backend == "tpm" else "")),
        ("certificate file", str(ctx.keystore.cert_path)),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    try:
        signer = open_signer(ctx.keystore, seller_nip=nip, now=datetime.now(timezone.utc))
    except KeystoreError as exc:
        print(f"{'status':<{width}}  NOT USABLE")
        print(f"ksef-edge: error: {exc}", file=sys.stderr)
        return 2
    with signer:
        for w in signer.warnings:
            print(f"warning: {w}")
    print(f"{'status':<{width}}  OK: signs KOD II for NIP {nip}")
    return 0
