"""`ksef-edge correct ID --xml FILE --config ...`: technical correction of an invoice KSeF rejected.

KSeF rejected the file (e.g. 430: it did not pass the schema), not the sale: the invoice is
re-generated with the same content and sent in an online session with `hashOfCorrectedInvoice`
= the rejected file's hash (protocol.md §5.5). Safe while the daemon runs: the outbox is SQLite in
WAL mode (a second process may write), and the daemon's uplink never touches a `rejected` invoice.
The invoice keeps the bytes printed at the till; the accepted file is stored next to it with its
own hash, KOD I and KOD II (`OutboxStore.record_correction`).
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

from ..config import Config

EXIT_REFUSED = 1
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("correct", help="technical correction of an invoice KSeF rejected (sends the fixed file)")
    p.add_argument("invoice_id", type=int, metavar="ID", help="the rejected invoice's id (GET /v1/invoices, status page)")
    p.add_argument("--xml", type=Path, required=True, metavar="FILE",
                   help="the re-generated FA(3) file: same sale, valid against the schema")
    p.add_argument("--config", required=True, metavar="FILE", help="device TOML (/etc/ksef-edge/device.toml)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"ksef-edge correct: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        xml = args.xml.read_bytes()
    except OSError as exc:
        print(f"ksef-edge correct: cannot read {args.xml}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        number = asyncio.run(correct_invoice(config, args.invoice_id, xml))
    except CorrectRefused as exc:
        print(f"ksef-edge correct: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"invoice {args.invoice_id} corrected: KSeF accepted the new file as {number}; its UPO is stored, "
          "or fetched by the running daemon when KSeF serves it")
    return 0


class CorrectRefused(Exception):
    """Anything that stops a correction, as one line for the shop owner."""


def _issue_date(xml: bytes) -> dt.date:
    """P_1 of the corrected file itself: its KOD I carries its own date and hash."""
    from lxml import etree

    try:
        nodes = etree.fromstring(xml).xpath("//*[local-name()='Fa']/*[local-name()='P_1']/text()")
        return dt.date.fromisoformat(str(nodes[0]).strip())
    except (etree.XMLSyntaxError, IndexError, ValueError) as exc:
        raise CorrectRefused(f"the file has no readable P_1 (issue date): {exc}") from None


async def correct_invoice(config: Config, invoice_id: int, xml: bytes) -> str:
    """Send the technical correction and store it; returns the KSeF number. Raises CorrectRefused."""
    from ..domain.deadlines import OfflineMode
    from ..domain.errors import SchemaError
    from ..domain.fa3 import validate_fa3
    from ..domain.issuance import seal_document
    from ..domain.qr import QrEnvironment
    from ..keystore import open_signer
    from ..keystore.errors import KeystoreError
    from ..keystore.token_store import load_token
    from ..ksef.client import KsefClient
    from ..ksef.errors import KsefError
    from ..ksef.models import ContextIdentifier, environment_for
    from ..ksef.technical_correction import CorrectionError, correct_rejected_invoice
    from ..store import InvoiceState, NotFoundError, OutboxStore, StoreError

    try:
        validate_fa3(xml)
    except SchemaError as exc:
        raise CorrectRefused(f"the new file is not valid FA(3), KSeF would reject it too: {exc}") from None
    ksef = config.ksef
    store = await OutboxStore.open(config.store.path, busy_timeout_ms=config.store.busy_timeout_ms)
    try:
        try:
            rec = await store.get(invoice_id)
        except NotFoundError:
            raise CorrectRefused(f"invoice {invoice_id} does not exist in {config.store.path}") from None
        if rec.state is not InvoiceState.REJECTED:
            raise CorrectRefused(f"invoice {rec.number} is {rec.state.value}; only a rejected invoice can be "
                                 "technically corrected")
        mode = OfflineMode(rec.offline_mode)
        try:
            signer = open_signer(config.keystore, seller_nip=config.seller.nip) if mode.needs_qr_codes else None
            token = load_token(config.keystore)
        except KeystoreError as exc:
            raise CorrectRefused(exc.message) from None
        try:
            seal = seal_document(xml, signer, env=QrEnvironment(ksef.qr_environment), seller_nip=config.seller.nip,
                                 issue_date=_issue_date(xml), ctx_type=ksef.context_type,
                                 ctx_value=ksef.context_value, mode=mode)
        finally:
            if signer is not None and hasattr(signer, "close"):
                signer.close()
        env = environment_for(ksef.environment.value, ksef.api_base_url)
        async with KsefClient(env, context=ContextIdentifier(ksef.context_type, ksef.context_value),
                              token_provider=lambda: token, timeout_s=ksef.uplink_timeout_s) as client:
            try:
                result = await correct_rejected_invoice(store, client, invoice_id, xml, kod1_url=seal.kod1_url,
                                                        kod2_url=seal.kod2_url, cert_serial=seal.cert_serial)
            except CorrectionError as exc:
                raise CorrectRefused(str(exc)) from None
            except KsefError as exc:
                raise CorrectRefused(f"KSeF could not be asked ({exc}); nothing was stored, run it again later") from None
            except StoreError as exc:
                raise CorrectRefused(f"KSeF accepted the file but storing it failed: {exc}") from None
        return result.ksef_number
    finally:
        await store.close()
