"""`ksef-edge key generate|csr`: create the offline key in custody and request its certificate."""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from ..command_args.keystore_args import (
    Context,
    UsageError,
    add_keystore_arguments,
    context_from_args,
    guarded,
    require_nip,
)
from ..keystore import generate_key, open_key
from ..keystore.csr import CsrSubject, make_csr
from ..keystore.files import write_private_file


def register(subparsers: argparse._SubParsersAction) -> None:
    key = subparsers.add_parser("key", help="offline signing key (TPM or encrypted file)")
    sub = key.add_subparsers(dest="key_command", metavar="ACTION", required=True)

    gen = sub.add_parser("generate", help="create a new key inside the chosen backend")
    add_keystore_arguments(gen)
    gen.add_argument("--algorithm", choices=("ec", "rsa"), help="ec = P-256 (default, smaller QR), rsa = 2048")
    gen.add_argument("--force", action="store_true", help="replace an existing key (its certificate becomes useless)")
    gen.set_defaults(func=guarded(_generate))

    csr = sub.add_parser("csr", help="PKCS#10 request (DER) for KSeF's Offline certificate enrolment")
    add_keystore_arguments(csr)
    csr.add_argument("--out", type=Path, required=True, help="where to write the CSR (DER)")
    csr.add_argument("--base64", action="store_true", help="write Base64 DER (the form POST /certificates/enrollments takes)")
    csr.add_argument(
        "--enrollment-data",
        type=Path,
        help="JSON from GET /certificates/enrollments/data: its subject fields are used unchanged",
    )
    csr.add_argument("--common-name", help="CN (default: seller name)")
    csr.add_argument("--organization", help="O (default: seller name)")
    csr.set_defaults(func=guarded(_csr))


def _fingerprint(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _generate(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    backend = generate_key(ctx.keystore, algorithm=args.algorithm, force=args.force)
    try:
        fp = _fingerprint(backend.public_key())
    finally:
        backend.close()
    print(f"generated {ctx.keystore.backend} key: {ctx.keystore.key_path}")
    print(f"public key SHA-256: {fp}")
    print("next: `ksef-edge key csr --out offline.csr`, enrol it in KSeF as type Offline, then `ksef-edge cert install FILE`")
    return 0


def _subject(args: argparse.Namespace, ctx: Context) -> CsrSubject:
    if args.enrollment_data is not None:
        try:
            data = json.loads(args.enrollment_data.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read enrolment data {args.enrollment_data}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"enrolment data {args.enrollment_data} must be a JSON object")
        return CsrSubject.from_enrollment_data(data)
    nip = require_nip(ctx)
    org = args.organization or ctx.seller_name
    if not org:
        raise UsageError("the CSR needs the company name: pass --organization NAME (or --config with seller.name)")
    return CsrSubject.for_company(nip=nip, organization=org, common_name=args.common_name)


def _csr(args: argparse.Namespace) -> int:
    ctx = context_from_args(args)
    subject = _subject(args, ctx)
    backend = open_key(ctx.keystore)
    try:
        der = make_csr(backend, subject)
    finally:
        backend.close()
    out = base64.b64encode(der) + b"\n" if args.base64 else der
    write_private_file(args.out, out, overwrite=True, what="CSR", mode=0o644)
    print(f"wrote CSR ({'Base64 ' if args.base64 else ''}DER) to {args.out}", file=sys.stdout)
    return 0
