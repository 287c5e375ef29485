"""Crash consistency: POS clients issue invoices while `ksef-edge run` (issuance + uplink to ksef-sim)
is SIGKILLed at random moments and restarted. After every cycle: each acknowledged invoice is stored
exactly once with the acknowledged number and hash, numbering is gapless, every stored XML matches
its hash and passes the FA(3) XSD. At the end every invoice is in KSeF (the simulator) exactly once.

The power-cut variant (test_rel_powercut.py) reuses `run_crash_cycles` with a restore step that
throws away every write the kernel was not told to make durable.
"""
from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

from harness import (
    SIM_TOKEN,
    Device,
    Ledger,
    LoadGenerator,
    check_store,
    explain_server_errors,
    make_device,
    random_kill_delay,
    run_uplink_until_drained,
    sim_hash_counts,
    start_sim,
    stored_hashes,
)


def run_crash_cycles(device: Device, cycles: int, *, seed: int, after_kill: Callable[[int], None] | None = None,
                     workers: int = 3) -> tuple[Ledger, dict[str, int]]:
    """Kill/restart loop with the invariant check after every kill; returns the ledger and stats."""
    rng = random.Random(seed)
    ledger = Ledger()
    load = LoadGenerator(device, ledger, workers=workers, pause_s=0.005)
    validated: set[int] = set()
    stats = {"startup_kills": 0, "serving_kills": 0, "max_rows": 0}
    load.start()
    try:
        for cycle in range(cycles):
            where, delay = random_kill_delay(rng)
            device.start(wait=False)
            if where == "serving":
                device.wait_healthy()
            time.sleep(delay)
            device.kill()
            stats[f"{where}_kills"] += 1
            if after_kill is not None:
                after_kill(cycle)
            check = check_store(device.db, ledger.snapshot(), sent=set(ledger.sent), validated_ids=validated) \
                if device.db.exists() else None
            if check is not None:
                assert not check.problems, f"cycle {cycle} ({where}, {delay:.2f}s): {check.problems[:5]}"
                stats["max_rows"] = check.rows
            assert not ledger.errors, f"cycle {cycle}: non-201 answers: {ledger.errors[:5]}\n{device.errors_in_logs()}"
        # a final run: let every client finish its in-flight request, so every key sent is acknowledged
        device.start()
        load.stop()
        assert not ledger.errors, ledger.errors[:5]
        device.stop()
    finally:
        load.stop(timeout_s=1)
        device.kill()
    check = check_store(device.db, ledger.snapshot(), sent=set(ledger.sent), validated_ids=validated)
    assert not check.problems, check.problems[:5]
    assert check.rows == len(ledger.acked) == len(ledger.sent), (check.rows, len(ledger.acked), len(ledger.sent))
    stats["rows"] = check.rows
    return ledger, stats


def assert_all_in_ksef_once(device: Device, sim, tmp_path: Path) -> None:
    token_file = tmp_path / "runner-ksef-token"  # the runner's plain-text token, outside the device dir
    token_file.write_text(SIM_TOKEN)
    token_file.chmod(0o600)
    result = run_uplink_until_drained(device.db, sim, token_file, timeout_s=240)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    stored = stored_hashes(device.db)
    states = {s for _, _, s in stored.values()}
    assert states == {"confirmed"}, {s: sum(1 for v in stored.values() if v[2] == s) for s in states}
    in_ksef = sim_hash_counts(sim)
    twice = {h: n for h, n in in_ksef.items() if n != 1}
    assert not twice, f"in KSeF more than once: {list(twice.items())[:5]}"
    assert set(in_ksef) == set(stored), (len(in_ksef), len(stored))


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path, scale):
    sim = start_sim(tmp_path, "--processing-delay", "0.01")
    device = make_device(tmp_path / "device", sim=sim)
    try:
        ledger, stats = run_crash_cycles(device, scale.crash_cycles, seed=1234)
        assert stats["rows"] > scale.crash_cycles, stats  # the load really ran
        assert stats["serving_kills"] and stats["startup_kills"], stats
        assert_all_in_ksef_once(device, sim, tmp_path)
    finally:
        device.kill()
        sim.stop()
    print(f"crash consistency: {scale.crash_cycles} SIGKILL cycles, {stats}")
    explain_server_errors(device, ledger.server_errors)
