"""The pure issue pipeline for a correction: Correction + Signer -> exact KOR bytes, KOD I/II, deadline.

Same guarantees as `issuance.issue_document`: the bytes are built and validated once, hashed once,
and KOD I (with the correction's own P_1) and KOD II derive from them. The store keeps them as is;
the uplink sends them unchanged once the original is accepted (see `kor_ordering`).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from .deadlines import OfflineMode
from .fa3 import build_fa3_kor
from .issuance import DEFAULT_SYSTEM_INFO, Seal, seal_document
from .kor import Correction, CorrectionTotals
from .qr import QrEnvironment
from .signer import Signer


@dataclass(frozen=True, eq=False)
class IssuedCorrection(Seal):
    """An issued correction: its seal (deadline from its own issue date) and the correction it was built from."""

    correction: Correction
    totals: CorrectionTotals

    @property
    def references_ksef_number(self) -> bool:
        """True if the bytes carry NrKSeFFaKorygowanej (original accepted before the correction was issued)."""
        return self.correction.original.ksef_number is not None


def issue_correction(
    correction: Correction,
    signer: Signer | None,
    *,
    env: QrEnvironment,
    ctx_type: str = "Nip",
    ctx_value: str | None = None,
    mode: OfflineMode = OfflineMode.OFFLINE24,
    system_info: str = DEFAULT_SYSTEM_INFO,
    unavailability_end: dt.date | None = None,
    failure_ends: Iterable[dt.date] = (),
) -> IssuedCorrection:
    """Build, validate, hash, link and sign one offline correction (raises SchemaError/DomainError)."""
    xml = build_fa3_kor(correction, system_info=system_info)
    seal = seal_document(
        xml, signer, env=env, seller_nip=correction.seller_nip, issue_date=correction.issue_date,
        ctx_type=ctx_type, ctx_value=ctx_value, mode=mode, unavailability_end=unavailability_end,
        failure_ends=failure_ends,
    )
    return IssuedCorrection(correction=correction, totals=correction.totals, **seal.fields())
