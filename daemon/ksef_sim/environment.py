"""Which KSeF environment the simulator plays, and what differs between them on the wire.

The receiving party named in a UPO: ksef-docs `api-changelog.md` (UPO v4-3 entry) — TE adds
" - środowisko testowe (TE)", TR/DEMO " - środowisko przedprodukcyjne (TR)", PRD stays
"Ministerstwo Finansów". The official TE UPO examples (ksef-docs `faktury/upo/przyklady/v4-3/`)
carry the TE form verbatim. Real UPOs are XAdES-signed by MF (ksef-docs
`sesja-sprawdzenie-stanu-i-pobranie-upo.md`); ksef-sim signs with its own certificate.
"""
from __future__ import annotations

RECEIVER_PRD = "Ministerstwo Finansów"
RECEIVER = {
    "prod": RECEIVER_PRD,
    "demo": RECEIVER_PRD + " - środowisko przedprodukcyjne (TR)",
    "test": RECEIVER_PRD + " - środowisko testowe (TE)",
}
ENVIRONMENTS = tuple(RECEIVER)
ENVIRONMENT_VARIABLE = "KSEF_SIM_ENVIRONMENT"   # default for --environment (scripts/demo --ksef-environment)


def receiver_name(environment: str) -> str:
    return RECEIVER[environment]


def signs_upo(environment: str) -> bool:
    """Every real environment signs its UPOs; `sim` (the default) keeps the old unsigned PRD shape."""
    return environment in RECEIVER
