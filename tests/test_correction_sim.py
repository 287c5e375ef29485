"""ksef-sim refuses a correction (KOR) whose original has no KSeF number yet (protocol.md §5.1), and
accepts it once the original is in: the check that makes the daemon's ordering testable end to end."""
from __future__ import annotations

import datetime as dt

from domain_factories import invoice, line
from ksef_edge.domain.fa3 import build_fa3, build_fa3_kor
from ksef_edge.domain.invoice import PaymentMethod
from ksef_edge.domain.kor import CorrectedInvoice, CorrectionRequest, LineChange, build_correction
from ksef_edge.domain.ksef_number import make_ksef_number
from sim_client import KsefTestClient
from sim_fixtures import SIM_NIP, SIM_TOKEN

ORIGINAL = invoice(line("Chleb", "3", "4.99"), number="FV/KOR-SIM/0001")


def kor(number: str, ksef_number: str | None) -> bytes:
    request = CorrectionRequest(reason="Zwrot towaru", refund_method=PaymentMethod.CASH,
                                changes=(LineChange(1, returned_quantity=1),))
    correction = build_correction(
        CorrectedInvoice(ORIGINAL, ksef_number), request, number=number, issue_date=ORIGINAL.issue_date,
        created_at=ORIGINAL.created_at + dt.timedelta(minutes=5))
    return build_fa3_kor(correction, system_info="ksef-edge test")


async def send(client: KsefTestClient, session, crypto, xml: bytes) -> dict:
    ref = await client.send_invoice(session, crypto, xml, offline_mode=True)
    return (await client.wait_invoice(session, ref))["status"]


async def test_correction_waits_for_its_original_in_the_simulator(ksef_client: KsefTestClient, ksef_sim):
    await ksef_client.authenticate(SIM_NIP, SIM_TOKEN)
    session, crypto = await ksef_client.open_online()
    early = kor("KOR/SIM/0001", None)  # NrKSeFN: issued while the original was offline
    status = await send(ksef_client, session, crypto, early)
    assert status["code"] == 450 and "nie ma jeszcze numeru KSeF" in " ".join(status.get("details", []))
    unknown = make_ksef_number(SIM_NIP, ORIGINAL.issue_date, "0100806C1E7A")
    status = await send(ksef_client, session, crypto, kor("KOR/SIM/0002", unknown))
    assert status["code"] == 450 and unknown in " ".join(status.get("details", []))

    assert (await send(ksef_client, session, crypto, build_fa3(ORIGINAL, system_info="ksef-edge test")))["code"] == 200
    [original] = [i for i in ksef_sim.invoices() if i["invoiceNumber"] == ORIGINAL.number]
    assert (await send(ksef_client, session, crypto, kor("KOR/SIM/0003", None)))["code"] == 200
    assert (await send(ksef_client, session, crypto, kor("KOR/SIM/0004", original["ksefNumber"])))["code"] == 200
    accepted = {i["invoiceNumber"] for i in ksef_sim.invoices()}
    assert accepted == {ORIGINAL.number, "KOR/SIM/0003", "KOR/SIM/0004"}
