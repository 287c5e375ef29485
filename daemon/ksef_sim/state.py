"""All simulator state in one place, mirrored write-through into the Store."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from . import refnums
from .clock import VirtualClock, iso
from .config import SimConfig
from .faults import FaultInjector
from .keys import KeyRing
from .latarnia import Latarnia
from .model import AuthOperation, Challenge, InvoiceRecord, KsefTokenRecord, Session
from .ratelimit import RateLimiter
from .store import Store
from .tokens import TokenSigner
from .upo_signing import UpoSigner

WARSAW = ZoneInfo("Europe/Warsaw")


class SimState:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.clock = VirtualClock()
        self.store = Store(config.state_dir)
        self.keys = KeyRing.load_or_generate(config.state_dir, self.clock.now())
        secret = self._secret()
        self.signer = TokenSigner(secret)
        self._url_key = hashlib.sha256(b"presigned-url|" + secret).digest()
        self.faults = FaultInjector(list(config.faults), seed=config.seed)
        self.rate_limiter = RateLimiter.from_setting(config.rate_limits)
        self.latarnia = Latarnia()
        self.upo_signer = UpoSigner.load_or_generate(config.state_dir, self.clock.now())
        self.system_warnings: list[str] = list(config.system_warnings)
        self.down_mode: str | None = None       # None | "503" | "reset"
        self.processing_delay_s = config.processing_delay_s
        self.tasks: set[asyncio.Task] = set()
        self._reset_records()
        self._load()
        for token, nip in config.tokens.items():
            self.add_token(nip, token)

    # --- records ---------------------------------------------------------------------------------
    def _reset_records(self) -> None:
        self.tokens: dict[str, KsefTokenRecord] = {}
        self.challenges: dict[str, Challenge] = {}
        self.auth_ops: dict[str, AuthOperation] = {}
        self.sessions: dict[str, Session] = {}
        self.invoices: dict[str, InvoiceRecord] = {}
        self.session_invoices: dict[str, list[str]] = {}
        self.accepted_by_key: dict[tuple, str] = {}      # (NIP, RodzajFaktury, P_2) -> invoice ref
        self.by_ksef_number: dict[str, str] = {}
        self.by_hash: dict[str, list[str]] = {}          # invoiceHash -> invoice refs (all submissions)

    def _secret(self) -> bytes:
        directory = self.config.state_dir
        if directory is None:
            return secrets.token_bytes(32)
        path = directory / "token-secret"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    def _load(self) -> None:
        for data in self.store.load("token"):
            rec = KsefTokenRecord(**data)
            self.tokens[rec.token_sha256] = rec
        for data in self.store.load("challenge"):
            self.challenges[data["challenge"]] = Challenge(**data)
        for data in self.store.load("auth"):
            self.auth_ops[data["reference_number"]] = AuthOperation(**data)
        for data in self.store.load("session"):
            self.sessions[data["reference_number"]] = Session(**data)
        for data in self.store.load("invoice"):
            self.index_invoice(InvoiceRecord(**data))
        clock = self.store.load("clock")
        if clock:
            self.clock.offset_s = clock[-1]["offset_s"]

    def index_invoice(self, inv: InvoiceRecord) -> None:
        self.invoices[inv.reference_number] = inv
        refs = self.session_invoices.setdefault(inv.session_reference, [])
        if inv.reference_number not in refs:
            refs.append(inv.reference_number)
        hashes = self.by_hash.setdefault(inv.invoice_hash, [])
        if inv.reference_number not in hashes:
            hashes.append(inv.reference_number)
        if inv.status_code == 200 and inv.ksef_number:
            self.accepted_by_key[(inv.seller_nip, inv.invoice_kind, inv.invoice_number)] = inv.reference_number
            self.by_ksef_number[inv.ksef_number] = inv.reference_number

    def save(self, record: object) -> None:
        kind, key = {
            KsefTokenRecord: ("token", "token_sha256"), Challenge: ("challenge", "challenge"),
            AuthOperation: ("auth", "reference_number"), Session: ("session", "reference_number"),
            InvoiceRecord: ("invoice", "reference_number"),
        }[type(record)]
        self.store.put(kind, getattr(record, key), record)

    def save_clock(self) -> None:
        self.store.put("clock", "clock", {"offset_s": self.clock.offset_s})

    def reset(self) -> None:
        """Forget everything except the keys and the tokens given on the command line."""
        for task in list(self.tasks):
            task.cancel()
        self.store.clear()
        self._reset_records()
        self.clock = VirtualClock()
        self.faults.rules.clear()
        self.rate_limiter.reset()
        self.latarnia = Latarnia()
        self.down_mode = None
        self.system_warnings = list(self.config.system_warnings)
        self.processing_delay_s = self.config.processing_delay_s
        for token, nip in self.config.tokens.items():
            self.add_token(nip, token)

    # --- helpers -----------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def later_iso(self, seconds: float) -> str:
        return iso(self.clock.now() + timedelta(seconds=seconds))

    def warsaw_day(self, when: datetime | None = None):
        return (when or self.clock.now()).astimezone(WARSAW).date()

    def add_token(self, nip: str, token: str) -> KsefTokenRecord:
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        existing = self.tokens.get(digest)
        if existing is not None and existing.nip == nip:
            return existing
        rec = KsefTokenRecord(digest, nip, refnums.new_reference(refnums.KSEF_TOKEN, self.now()))
        self.tokens[digest] = rec
        self.save(rec)
        return rec

    def find_token(self, token: str) -> KsefTokenRecord | None:
        return self.tokens.get(hashlib.sha256(token.encode("utf-8")).hexdigest())

    def spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def presign(self, path: str, ttl_s: float) -> tuple[str, str]:
        """A storage path with expiry and signature (like KSeF's pre-signed blob URLs), and its expiry."""
        expires = int(self.clock.time() + ttl_s)
        sig = hmac.new(self._url_key, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()
        return f"{path}?se={expires}&sig={sig}", iso(datetime.fromtimestamp(expires, tz=self.clock.now().tzinfo))

    def presigned_ok(self, path: str, expires: str, sig: str) -> bool:
        if not expires.isdigit() or int(expires) < self.clock.time():
            return False
        good = hmac.new(self._url_key, f"{path}|{expires}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(good, sig)
