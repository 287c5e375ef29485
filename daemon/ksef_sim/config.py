"""Simulator settings (command line -> typed config)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .faults import FaultRule


@dataclass
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    state_dir: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)   # KSeF token -> context NIP
    challenge_ttl_s: float = 600.0                          # protocol.md §2.1: 10 minutes
    operation_token_ttl_s: float = 2700.0                   # TV-8 example
    access_token_ttl_s: float = 900.0                       # TV-8 example, "kilkanaście minut"
    refresh_token_ttl_s: float = 7 * 86400.0                # "do 7 dni"
    online_session_ttl_s: float = 12 * 3600.0               # protocol.md §2.7
    upo_url_ttl_s: float = 3 * 86400.0
    processing_delay_s: float = 0.05                        # 100 -> 150 -> 200 takes this long
    rate_limits: str = "prod"                               # off | prod | FILE
    faults: list[FaultRule] = field(default_factory=list)
    seed: int | None = None
    environment: str = "sim"                                # sim | prod | demo | test (environment.py)
    system_warnings: list[str] = field(default_factory=list)  # "[code]: message" for X-System-Warning
    session_invoices_max: int = 10_000                      # protocol.md §9.1
    invoice_bytes_max: int = 1_000_000
    batch_parts_max: int = 50
    batch_part_bytes_max: int = 100_000_000
