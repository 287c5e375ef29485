"""A correction issued offline: its own exact bytes, KOD I/II and deadline; held back until the
original has its KSeF number; an alarm when it is stuck behind a late or rejected original."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from domain_factories import invoice, line
from ksef_edge.domain.deadlines import OfflineMode
from ksef_edge.domain.errors import DomainError
from ksef_edge.domain.fa3 import validate_fa3
from ksef_edge.domain.kor import CorrectedInvoice, CorrectionRequest, LineChange, build_correction
from ksef_edge.domain.kor_issuance import issue_correction
from ksef_edge.domain.kor_ordering import (
    OriginalStatus,
    correction_deadline,
    correction_gate,
    original_send_by,
)
from ksef_edge.domain.qr import QrEnvironment, sha256_b64url, verify_kod2_url
from ksef_edge.domain.signer import certificate_public_key

FRI, MON, TUE = dt.date(2025, 10, 31), dt.date(2025, 11, 3), dt.date(2025, 11, 4)


def a_correction(issue_date=FRI):
    original = invoice(line("Chleb żytni", "3", "4.99"))
    req = CorrectionRequest("Zwrot towaru", "cash", changes=(LineChange(1, returned_quantity=D("1")),))
    return build_correction(CorrectedInvoice(original), req, number="KOR/2025/10/0001", issue_date=issue_date,
                            created_at=dt.datetime(2025, 10, 31, 17, tzinfo=dt.timezone.utc))


def test_issued_correction_links_its_own_bytes_and_date(ec_signer):
    issued = issue_correction(a_correction(), ec_signer, env=QrEnvironment.TEST)
    validate_fa3(issued.xml)
    assert b"<NrKSeFN>1</NrKSeFN>" in issued.xml and not issued.references_ksef_number
    assert issued.kod1_url == f"https://qr-test.ksef.mf.gov.pl/invoice/5265877635/31-10-2025/{sha256_b64url(issued.xml)}"
    assert verify_kod2_url(issued.kod2_url, certificate_public_key(ec_signer.certificate_der))
    assert issued.deadline == MON  # offline24 from its own issue date (Fri -> Mon)
    assert issued.totals.gross == D("-4.99")


def test_total_failure_correction_has_no_codes_and_no_deadline():
    issued = issue_correction(a_correction(), None, env=QrEnvironment.TEST, mode=OfflineMode.TOTAL_FAILURE)
    assert issued.kod1_url is None and issued.kod2_url is None and issued.deadline is None


def test_correction_deadline_follows_the_offline_rules():
    assert correction_deadline(FRI) == MON
    assert correction_deadline(dt.date(2025, 12, 23)) == dt.date(2025, 12, 29)  # Wigilia 2025 is a holiday
    assert correction_deadline(FRI, OfflineMode.FAILURE, failure_ends=[FRI]) == dt.date(2025, 11, 12)


@pytest.mark.parametrize("state", ["accepted", "confirmed", OriginalStatus.ACCEPTED])
def test_not_blocked_once_the_original_has_its_number(state):
    gate = correction_gate(original_state=state, original_number="FV/1", original_deadline=MON,
                           correction_deadline=MON, today=TUE)
    assert (gate.blocked, gate.at_risk, gate.reasons) == (False, False, ())


def test_blocked_but_fine_while_the_original_is_on_time():
    for state in ("issued", "sending"):
        gate = correction_gate(original_state=state, original_number="FV/1", original_deadline=MON,
                               correction_deadline=TUE, today=FRI)
        assert gate.blocked and not gate.at_risk and gate.reasons == ()


def test_at_risk_behind_a_rejected_original():
    gate = correction_gate(original_state="rejected", original_number="FV/1", original_deadline=MON,
                           correction_deadline=TUE, today=FRI)
    assert gate.blocked and gate.at_risk
    assert "rejected" in gate.reasons[0] and "technical correction" in gate.reasons[0]


def test_at_risk_behind_a_late_original_and_on_its_own_last_day():
    gate = correction_gate(original_state="issued", original_number="FV/1", original_deadline=FRI,
                           correction_deadline=TUE, today=MON)
    assert gate.at_risk and "late" in gate.reasons[0]
    gate = correction_gate(original_state="sending", original_number="FV/1", original_deadline=TUE,
                           correction_deadline=MON, today=MON)
    assert gate.at_risk and "ends today" in gate.reasons[0]


def test_unknown_state_is_a_clear_error():
    with pytest.raises(DomainError, match="unknown original state 'lost'"):
        correction_gate(original_state="lost", original_number="FV/1", original_deadline=None,
                        correction_deadline=None, today=FRI)


def test_original_inherits_the_earliest_deadline_of_its_waiting_corrections():
    failure_deadline = dt.date(2025, 11, 12)  # original issued in failure mode
    assert original_send_by(failure_deadline, [MON, TUE]) == MON
    assert original_send_by(None, [None]) is None
    assert original_send_by(TUE, []) == TUE


def test_upload_order_holds_corrections_and_pulls_their_originals_forward():
    from ksef_edge.domain.kor_ordering import QueuedDocument, upload_order

    queued = [
        QueuedDocument(1, deadline=dt.date(2025, 11, 12)),  # original, failure mode: long deadline
        QueuedDocument(2, deadline=TUE),  # ordinary invoice
        QueuedDocument(3, deadline=MON, corrects=1),  # correction of 1: blocked, but pulls 1 to MON
        QueuedDocument(4, deadline=MON, corrects=7),  # correction of an accepted original: sendable
    ]
    states = {1: "issued", 7: "accepted"}
    assert upload_order(queued, states) == [1, 4, 2]
    states[1] = "accepted"  # next round, after 1 got its KSeF number
    assert upload_order([q for q in queued if q.id != 1], states) == [3, 4, 2]
    with pytest.raises(DomainError, match="no state given for its original 9"):
        upload_order([QueuedDocument(5, deadline=MON, corrects=9)], {})
