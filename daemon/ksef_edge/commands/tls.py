"""`ksef-edge tls init|install|show`: the API's own TLS certificate for a POS on the shop's LAN.

`init` makes the device's key and a self-signed certificate for the names a POS uses; `install`
takes one from the shop's CA; `show` prints the SHA-256 fingerprint the POS pins. Then set
`[api] tls_cert_file`/`tls_key_file` (docs/api.md "On the shop's LAN").
"""
from __future__ import annotations

import argparse
import socket
from pathlib import Path

from ..api.tls import (
    TlsError,
    create_device_certificate,
    fingerprint,
    install_certificate,
)
from ..command_args.guard import guarded

DEFAULT_DIR = Path("/var/lib/ksef-edge/tls")


def _say_fingerprint(cert: Path, fp: str) -> None:
    print(f"certificate: {cert}")
    print(f"SHA-256 fingerprint: {fp}")
    print("Wpisz ten odcisk (SHA-256) w ustawieniach kasy/POS: kasa sprawdzi, że łączy się z tym urządzeniem.")


def _init(args: argparse.Namespace) -> int:
    names = args.name or [socket.gethostname(), "localhost", "127.0.0.1"]
    fp = create_device_certificate(args.key, args.cert, names, force=args.force)
    _say_fingerprint(args.cert, fp)
    return 0


def _install(args: argparse.Namespace) -> int:
    fp = install_certificate(args.from_cert, args.from_key, args.key, args.cert)
    _say_fingerprint(args.cert, fp)
    return 0


def _show(args: argparse.Namespace) -> int:
    fp = fingerprint(args.cert)
    _say_fingerprint(args.cert, fp)
    if args.print or args.escpos or args.png:
        _setup_receipt(args, fp)
    return 0


def _setup_receipt(args: argparse.Namespace, fp: str) -> None:
    """The fingerprint on the receipt printer ([printer] of --config), or as ESC/POS bytes / a PNG."""
    from cryptography import x509

    from ..printing import PrinterConfig
    from ..printing.escpos_output import print_blocks, render
    from ..printing.preview import write_preview
    from ..printing.setup_receipt import setup_receipt_blocks

    printer = PrinterConfig()
    if args.config:
        from ..config import load_config

        configured = load_config(args.config).printer
        printer = configured if isinstance(configured, PrinterConfig) else printer
    cert = x509.load_pem_x509_certificate(args.cert.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        names = []
    blocks = setup_receipt_blocks(fp, names, printer.line_columns)
    if args.escpos:
        Path(args.escpos).write_bytes(render(blocks, printer))
        print(f"ESC/POS: {args.escpos}")
    if args.png:
        print(f"preview: {write_preview(blocks, printer, args.png)}")
    if args.print:
        print_blocks(printer, blocks)
        print("setup receipt printed")


def register(subparsers: argparse._SubParsersAction) -> None:
    tls = subparsers.add_parser("tls", help="the local API's TLS certificate (a POS on the shop's LAN)")
    sub = tls.add_subparsers(dest="tls_command", metavar="STEP", required=True)
    for name, func, text in (("init", _init, "create the device's key and self-signed certificate"),
                             ("install", _install, "install a certificate and key from the shop's CA"),
                             ("show", _show, "print the certificate's SHA-256 fingerprint")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--cert", type=Path, default=DEFAULT_DIR / "api-cert.pem", help="certificate path (PEM)")
        p.add_argument("--key", type=Path, default=DEFAULT_DIR / "api-key.pem", help="key path (PEM, written 0600)")
        if name == "init":
            p.add_argument("--name", action="append",
                           help="a DNS name or IP address the POS uses (repeat); default: hostname, localhost, 127.0.0.1")
            p.add_argument("--force", action="store_true", help="replace an existing certificate (re-pin every till)")
        if name == "show":
            p.add_argument("--config", help="device TOML whose [printer] prints the setup receipt")
            p.add_argument("--print", action="store_true", help="print the setup receipt (fingerprint + QR)")
            p.add_argument("--escpos", metavar="OUT", help="write the setup receipt's ESC/POS bytes")
            p.add_argument("--png", metavar="OUT", help="write a PNG preview of the setup receipt")
        if name == "install":
            p.add_argument("--from-cert", type=Path, required=True, help="the certificate the shop's CA issued")
            p.add_argument("--from-key", type=Path, required=True, help="its private key (PEM, unencrypted)")
        p.set_defaults(func=guarded("ksef-edge tls", (TlsError,), func))
