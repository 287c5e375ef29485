"""Power-cut realism: the crash cycles of test_rel_crash.py, but after every SIGKILL the database
directory is rolled back to what the daemon had made durable — each file's content at its last
fsync()/fdatasync() (fsync_shadow.c, LD_PRELOAD into the daemon), files never synced removed, the
-shm always lost. A kill without this step keeps the page cache (a process crash); with it, every
write the kernel had not been told to persist is gone (a power cut). Acknowledged invoices must
survive both, because the API answers 201 only after the fsync'd commit.

What is NOT simulated (see docs/benchmarks.md): torn or reordered writes *within* one fsync interval
(all-or-nothing per fsync here), a disk that lies about flushing, directory-entry loss (unlink and
create are taken as durable at once), and power loss of the simulator's own state.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from harness import explain_server_errors, make_device, start_sim
from test_rel_crash import assert_all_in_ksef_once, run_crash_cycles

SHIM_SOURCE = Path(__file__).with_name("fsync_shadow.c")


def build_shim(out_dir: Path) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("power-cut test needs a C compiler (gcc) to build the fsync_shadow LD_PRELOAD shim")
    lib = out_dir / "fsync_shadow.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(SHIM_SOURCE), "-ldl", "-lpthread"],
                   check=True, capture_output=True)
    return lib


def restore_durable(db_dir: Path, shadow_dir: Path) -> dict[str, int]:
    """Replace the database files by their content at the last fsync; drop files never synced."""
    kept = {}
    for path in db_dir.iterdir():
        if path.is_file() and not (shadow_dir / path.name).exists():
            path.unlink()
    for copy in shadow_dir.iterdir():
        if copy.name.startswith("."):
            continue
        shutil.copyfile(copy, db_dir / copy.name)
        kept[copy.name] = copy.stat().st_size
    return kept


def test_power_cut_after_every_kill_loses_no_acknowledged_invoice(tmp_path, scale):
    shim = build_shim(tmp_path)
    device_dir = tmp_path / "device"
    db_dir, shadow_dir = device_dir / "db", tmp_path / "durable"
    db_dir.mkdir(parents=True)
    shadow_dir.mkdir()
    # keep any preload already there (libfaketime in scripts/test-calendar --suite: one clock for every process)
    preload = ":".join(p for p in (str(shim), os.environ.get("LD_PRELOAD", "")) if p)
    env = {"LD_PRELOAD": preload, "FSYNC_SHADOW_DIR": str(shadow_dir), "FSYNC_SHADOW_WATCH": str(db_dir)}
    sim = start_sim(tmp_path, "--processing-delay", "0.01")
    device = make_device(device_dir, sim=sim, store_path="db/outbox.sqlite3", env=env)
    rolled_back: list[int] = []
    synced: set[str] = set()

    def power_cut(cycle: int) -> None:
        synced.update(p.name for p in shadow_dir.iterdir() if not p.name.startswith("."))
        before = {p.name: p.read_bytes() for p in db_dir.iterdir() if p.is_file() and not p.name.endswith("-shm")}
        restore_durable(db_dir, shadow_dir)
        after = {p.name: p.read_bytes() for p in db_dir.iterdir() if p.is_file()}
        if before != after:  # un-synced database/WAL bytes were thrown away
            rolled_back.append(cycle)

    try:
        ledger, stats = run_crash_cycles(device, scale.powercut_cycles, seed=4321, after_kill=power_cut)
        # the shim saw the commits (WAL) and checkpoints (database file); with WAL + synchronous=FULL the
        # un-synced window is narrow, so most cuts lose only the -shm (the WAL index, rebuilt on open)
        assert {"outbox.sqlite3", "outbox.sqlite3-wal"} <= synced, synced
        assert_all_in_ksef_once(device, sim, tmp_path)
    finally:
        device.kill()
        sim.stop()
    print(f"power cut: {scale.powercut_cycles} cycles, {len(rolled_back)} threw away un-synced database/WAL bytes "
          f"(every one lost the -shm), {stats}")
    explain_server_errors(device, ledger.server_errors)
