"""Printer real-time status (ESC/POS DLE EOT) against an emulated network printer on 127.0.0.1:
paper out is seen before a receipt is sent, shows in /v1/status and /metrics, and the waiting receipt
prints once paper is back."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest

from daemon_fixtures import VALID_BODY, in_process_daemon
from escpos_printer_emulator import EmulatedPrinter
from ksef_edge.printing import PrinterConfig
from ksef_edge.printing.printer_status import parse_status, query_status


def test_status_bytes_as_the_epson_guide_defines_them():
    # DLE EOT 1/2/4 answers: 0x12 = nothing set; n=4 bits 5,6 = paper end, bits 2,3 = near end; n=2 bit 2 = cover open
    ok = parse_status(0x12, 0x12, 0x12)
    assert ok.fault is None and not ok.paper_near_end
    assert parse_status(0x1A, 0x32, 0x72).fault == "paper_out"
    near = parse_status(0x12, 0x12, 0x1E)
    assert near.paper_near_end and near.fault is None
    assert parse_status(0x1A, 0x16, 0x12).fault == "cover_open"
    with pytest.raises(ValueError):
        parse_status(0xFF, 0x12, 0x12)  # not a status byte


@pytest.fixture
def printer():
    p = EmulatedPrinter()
    try:
        yield p
    finally:
        p.close()


def test_query_status_over_the_network(printer):
    cfg = PrinterConfig(connection="network", host="127.0.0.1", port=printer.port, timeout_s=2)
    assert query_status(cfg).fault is None
    printer.paper_near_end = True
    st = query_status(cfg)
    assert st.paper_near_end and st.fault is None
    printer.paper_out = True
    assert query_status(cfg).fault == "paper_out"
    assert printer.printed == [] and printer.lost == []  # status queries print nothing


def test_file_printer_has_no_status():
    assert query_status(PrinterConfig(connection="file", file_path="/dev/null")) is None


async def _get(http, d, path):
    async with http.get(d.base_url + path, headers=d.auth) as r:
        return await (r.json() if path != "/metrics" else r.text())


@pytest.mark.timeout(60)
async def test_paper_out_is_shown_and_the_receipt_prints_when_paper_is_back(tmp_path, printer):
    printer.paper_out = True
    toml = (f'[printer]\nconnection = "network"\nhost = "127.0.0.1"\nport = {printer.port}\n'
            'paper = "80mm"\ntimeout_s = 2\n')
    async with in_process_daemon(tmp_path, extra_toml=toml) as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY,
                             headers={**d.auth, "Idempotency-Key": "paper-1"}) as r:
            assert r.status == 201
            inv = await r.json()
        for _ in range(100):
            got = await _get(http, d, f"/v1/invoices/{inv['id']}")
            if got["print_state"] == "failed_retrying":
                break
            await asyncio.sleep(0.1)
        assert got["print_state"] == "failed_retrying"
        status = await _get(http, d, "/v1/status")
        assert status["printer"]["status"]["paper"] == "out"
        assert status["printer"]["status"]["fault"] == "paper_out"
        metrics = await _get(http, d, "/metrics")
        assert 'ksef_edge_printer_condition{condition="paper_out"} 1.0' in metrics
        assert printer.printed == [] and printer.lost == []  # nothing was sent into an empty printer

        printer.paper_out = False  # paper loaded: the watch sees it and the waiting receipt prints
        for _ in range(150):
            got = await _get(http, d, f"/v1/invoices/{inv['id']}")
            if got["print_state"] == "printed":
                break
            await asyncio.sleep(0.1)
        assert got["print_state"] == "printed"
        assert len(printer.printed) == 1 and inv["number"].encode() in printer.printed[0]
        status = await _get(http, d, "/v1/status")
        assert status["printer"]["status"]["paper"] == "ok"
        metrics = await _get(http, d, "/metrics")
        assert 'ksef_edge_printer_condition{condition="paper_out"} 0.0' in metrics


@pytest.mark.timeout(60)
async def test_a_printer_that_cannot_be_written_raises_the_alarm_metrics(tmp_path):
    toml = f'[printer]\nconnection = "file"\nfile_path = "{tmp_path}"\npaper = "58mm"\n'  # a directory: EISDIR
    async with in_process_daemon(tmp_path / "d", extra_toml=toml) as d, aiohttp.ClientSession() as http:
        async with http.post(d.base_url + "/v1/invoices", json=VALID_BODY,
                             headers={**d.auth, "Idempotency-Key": "w-1"}) as r:
            assert r.status == 201
        for _ in range(100):
            metrics = await _get(http, d, "/metrics")
            if 'ksef_edge_printer_condition{condition="write_failed"} 1.0' in metrics:
                break
            await asyncio.sleep(0.1)
        assert 'ksef_edge_printer_condition{condition="write_failed"} 1.0' in metrics
        assert "ksef_edge_receipts_waiting 1.0" in metrics
        status = await _get(http, d, "/v1/status")
        assert status["printer"]["state"].startswith("error") and status["printer"]["queue"]["failed_retrying"] == 1
