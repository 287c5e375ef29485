"""Encrypted online backups of the outbox: create, list, verify, restore, keep the N newest.

A backup file appears under its final name only after it was written, fsynced, read back and
decrypted successfully, so "a file with a backup name exists" means "a good backup existed when it
was written"; the status (`backup_status`) relies on that. Restore never deletes anything: a
non-empty outbox it replaces (only with `force`) is moved aside as `<name>.replaced-<time>`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import __version__
from .atomic import fsync_dir, private_temp, publish
from .errors import ArchiveError, BackupCorruptError, RestoreRefusedError
from .restore_policy import DeviceIdentity, RestorePlan, replaced_incarnation
from .sealed import SealedWriter, open_sealed, read_header
from .snapshot import (
    OutboxFacts,
    connect_existing,
    integrity_check,
    outbox_facts,
    snapshot_database,
)

BACKUP_PREFIX = "ksef-edge-backup-"
BACKUP_SUFFIX = ".kebak"
_NAME = re.compile(rf"^{re.escape(BACKUP_PREFIX)}(\d{{8}}T\d{{12}}Z){re.escape(BACKUP_SUFFIX)}$")
_STALE_TMP_S = 3600
_READ = 1 << 20


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created_at: dt.datetime | None
    kind: str  # "backup" (scheduled / on demand) or "migration" (migrate-out)
    facts: OutboxFacts
    size: int
    problem: str | None = None  # set when the header cannot be read (listed so the owner sees it)


@dataclass(frozen=True)
class RestoreResult:
    backup: BackupInfo
    target: Path
    replaced: Path | None  # where the previous outbox was moved, if there was one
    incarnation: int = 1  # numbering incarnation of the restored outbox (store/incarnation.py)
    new_incarnation: bool = False  # True: new series from now on (the file was a backup, or another device's)
    identity_problems: tuple[str, ...] = ()  # why it is another device's (accepted with --other-device)


@dataclass(frozen=True)
class BackupStatus:
    """For the status page and metrics: how old the newest backup is, and whether invoices are at risk."""

    last_backup_at: dt.datetime | None
    age_s: float | None
    unprotected: int  # unsent invoices (this device holds the only copy) issued after the last backup
    oldest_unprotected_at: dt.datetime | None
    alarm: bool
    message: str
    backups: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def backup_name(now: dt.datetime) -> str:
    return f"{BACKUP_PREFIX}{now.astimezone(dt.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')}{BACKUP_SUFFIX}"


# ------------------------------------------------------------------------------------------ create


def write_sealed_snapshot(
    db_path: Path,
    dest: Path,
    passphrase: bytes,
    *,
    kind: str = "backup",
    overwrite: bool = False,
    now: dt.datetime | None = None,
    source: sqlite3.Connection | None = None,
) -> BackupInfo:
    """Snapshot `db_path` (or the already-open `source`), seal it into `dest`, read it back, publish it."""
    db_path, dest = Path(db_path), Path(dest)
    now = now or utc_now()
    if dest.exists() and not overwrite:
        raise ArchiveError("exists", f"{dest} already exists; choose another file name (or --force to replace it)")
    # The plaintext copy stays next to the live database (same custody), never on the backup medium.
    with private_temp(db_path.parent, ".ksef-edge-snapshot-") as snap:
        if source is None:
            facts = snapshot_database(db_path, snap)
        else:
            facts = _snapshot_from(source, snap, db_path)
        digest, size = _sha256_file(snap)
        meta = {
            "kind": kind,
            "created_at": now.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
            "tool": f"ksef-edge {__version__}",
            "source": str(db_path),
            "snapshot_sha256": digest,
            "snapshot_bytes": size,
            **facts.to_meta(),
        }
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        except OSError as exc:
            raise ArchiveError(
                "backup_dir", f"cannot write to {dest.parent} ({exc.strerror}); is the backup medium mounted and writable?"
            ) from None
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out, snap.open("rb") as plain:
                writer = SealedWriter(out, passphrase, meta)
                while block := plain.read(_READ):
                    writer.write(block)
                writer.close()
                out.flush()
                os.fsync(out.fileno())
            _check_sealed(tmp, passphrase, digest, name=str(dest))  # read back what the medium stored
            publish(tmp, dest, overwrite=overwrite)
        except OSError as exc:
            raise ArchiveError(
                "backup_write", f"writing {dest} failed ({exc.strerror or exc}); check free space on the backup medium"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
    return BackupInfo(dest, now, kind, facts, dest.stat().st_size)


def _snapshot_from(source: sqlite3.Connection, snap: Path, db_path: Path) -> OutboxFacts:
    dst = sqlite3.connect(str(snap), isolation_level=None)
    try:
        source.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode = DELETE")
        integrity_check(dst, f"the snapshot of {db_path}")
        return outbox_facts(dst)
    finally:
        dst.close()


def create_backup(
    db_path: Path, backup_dir: Path, passphrase: bytes, *, keep: int = 14, now: dt.datetime | None = None
) -> BackupInfo:
    """One backup into `backup_dir`, then remove all but the `keep` newest (never the new one)."""
    now = now or utc_now()
    info = write_sealed_snapshot(Path(db_path), Path(backup_dir) / backup_name(now), passphrase, now=now)
    apply_retention(Path(backup_dir), keep)
    return info


def apply_retention(backup_dir: Path, keep: int) -> list[Path]:
    """Delete backup files beyond the `keep` newest (by the UTC time in their names); returns them."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    names = sorted((p for p in backup_dir.iterdir() if _NAME.match(p.name) and p.is_file()), key=lambda p: p.name)
    doomed = names[:-keep] if len(names) > keep else []
    for path in doomed:
        path.unlink(missing_ok=True)
    cutoff = time.time() - _STALE_TMP_S
    for stale in backup_dir.glob(f".{BACKUP_PREFIX}*.tmp"):  # left by a crash mid-write
        if stale.stat().st_mtime < cutoff:
            stale.unlink(missing_ok=True)
    if doomed:
        fsync_dir(backup_dir)
    return doomed


# ------------------------------------------------------------------------------------------- read


def backup_info(path: Path) -> BackupInfo:
    """Header facts of one backup file (no passphrase needed, not yet authenticated)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            header = read_header(f, name=str(path))
    except FileNotFoundError:
        raise ArchiveError("missing", f"backup {path} does not exist") from None
    meta = header.meta
    try:
        created = dt.datetime.fromisoformat(meta["created_at"])
    except (KeyError, TypeError, ValueError):
        created = None
    return BackupInfo(path, created, str(meta.get("kind", "backup")), OutboxFacts.from_meta(meta), path.stat().st_size)


def list_backups(backup_dir: Path) -> list[BackupInfo]:
    """Backups in `backup_dir`, newest first; unreadable ones are listed with `problem` set."""
    backup_dir = Path(backup_dir)
    if not backup_dir.is_dir():
        return []
    found = []
    for path in sorted(backup_dir.iterdir(), key=lambda p: p.name, reverse=True):
        match = _NAME.match(path.name)
        if not match or not path.is_file():
            continue
        try:
            found.append(backup_info(path))
        except ArchiveError as exc:
            stamp = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.timezone.utc)
            found.append(BackupInfo(path, stamp, "backup", OutboxFacts(0, 0, 0, None), path.stat().st_size, exc.message))
    return found


def last_good_backup(backup_dir: Path) -> BackupInfo | None:
    return next((b for b in list_backups(backup_dir) if b.problem is None), None)


def verify_backup(path: Path, passphrase: bytes, *, workdir: Path | None = None) -> BackupInfo:
    """Decrypt the whole backup, check its hash, and run SQLite's integrity check on the result."""
    info = backup_info(path)
    workdir = Path(workdir or tempfile.gettempdir())
    with private_temp(workdir, ".ksef-edge-verify-") as tmp:
        _decrypt_to(Path(path), passphrase, tmp)
    return info


def restore_backup(
    path: Path,
    passphrase: bytes,
    target_db: Path,
    *,
    force: bool = False,
    now: dt.datetime | None = None,
    prepare: Callable[[Path], None] | None = None,
    expected: DeviceIdentity | None = None,
    allow_other_device: bool = False,
) -> RestoreResult:
    """Put the backup's outbox at `target_db` (stop the daemon first; `force` to replace invoices).

    The copy is checked against `expected` (this device's NIP and till; refused otherwise unless
    `allow_other_device`) and, unless it is an exact `migrate-out` file of this device, given a new
    numbering incarnation so no number the lost device may have used is issued again
    (archive/restore_policy.py). `prepare(tmp)` may adjust the decrypted copy further before it takes
    the target's place (migrate-in clears the retirement marker there)."""
    path, target_db = Path(path), Path(target_db)
    info = backup_info(path)
    target_db.parent.mkdir(parents=True, exist_ok=True)
    plan = RestorePlan(kind=info.kind, source=str(path.resolve()), expected=expected,
                       allow_other_device=allow_other_device, floor=replaced_incarnation(target_db), now=now)
    with private_temp(target_db.parent, f".{target_db.name}.restore-") as tmp:
        _decrypt_to(path, passphrase, tmp)
        plan.prepare(tmp)
        if prepare is not None:
            prepare(tmp)
        _match_owner(tmp, target_db.parent)
        replaced = _move_target_aside(target_db, force=force, now=now or utc_now())
        os.replace(tmp, target_db)
        fsync_dir(target_db.parent)
    return RestoreResult(info, target_db, replaced, plan.incarnation, plan.new_incarnation, plan.identity_problems)


# -------------------------------------------------------------------------------------- internals


def _match_owner(path: Path, directory: Path) -> None:
    """Run as root (an installer), give the restored outbox to the owner of the state directory
    (the service user), or the daemon could not open it."""
    if os.geteuid() == 0:
        st = directory.stat()
        os.chown(path, st.st_uid, st.st_gid)


def _sha256_file(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(_READ):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _check_sealed(path: Path, passphrase: bytes, expected_sha256: str, *, name: str) -> None:
    h = hashlib.sha256()
    with path.open("rb") as f:
        _, plain = open_sealed(f, passphrase, name=name)
        for block in plain:
            h.update(block)
    if h.hexdigest() != expected_sha256:
        raise BackupCorruptError("mismatch", f"{name}: the decrypted data does not match its recorded hash")


def _decrypt_to(path: Path, passphrase: bytes, dest: Path) -> OutboxFacts:
    """Decrypt into `dest` and prove it is a sound outbox this release can open."""
    from ..store.migrations import (
        latest_version,  # read-only use of the store's schema version
    )

    h = hashlib.sha256()
    with path.open("rb") as f, dest.open("wb") as out:
        header, plain = open_sealed(f, passphrase, name=str(path))
        for block in plain:
            h.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if h.hexdigest() != header.meta.get("snapshot_sha256"):
        raise BackupCorruptError("mismatch", f"{path}: the decrypted database does not match its recorded hash")
    con = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        try:
            integrity_check(con, f"the database inside {path}")
            facts = outbox_facts(con)
        except sqlite3.DatabaseError as exc:
            raise BackupCorruptError("not_a_database", f"{path} does not hold an outbox database ({exc})") from None
    finally:
        con.close()
    if facts.schema_version > latest_version():
        raise ArchiveError(
            "too_new",
            f"{path} holds schema v{facts.schema_version}, newer than this release (v{latest_version()}); "
            "update ksef-edge on this device before restoring",
        )
    return facts


def _move_target_aside(target: Path, *, force: bool, now: dt.datetime) -> Path | None:
    """Refuse if the outbox is in use or holds invoices (unless `force`); else move its files aside."""
    sidecars = [Path(f"{target}{s}") for s in ("", "-wal", "-shm")]
    if not any(p.exists() for p in sidecars):
        return None
    if target.exists():
        facts = _lock_and_inspect(target)
        if facts is not None and facts.invoices and not force:
            raise RestoreRefusedError(
                "not_empty",
                f"{target} already holds {facts.invoices} invoice(s) ({facts.unsent} not yet in KSeF); restoring "
                "would replace them. Check you are on the right device; to replace them anyway pass --force "
                "(the current outbox is kept as a .replaced-* file next to it)",
            )
        if facts is None and not force:
            raise RestoreRefusedError(
                "not_an_outbox", f"{target} exists but is not a readable outbox; move it away or pass --force"
            )
    aside = Path(f"{target}.replaced-{now.astimezone(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}")
    for src in sidecars:
        if src.exists():
            os.replace(src, Path(f"{aside}{src.name[len(target.name):]}"))
    fsync_dir(target.parent)
    return aside


def _lock_and_inspect(target: Path) -> OutboxFacts | None:
    """Take the database exclusively (fails while any daemon/uplink has it open), fold in its WAL."""
    try:
        con = sqlite3.connect(str(target), timeout=0.2, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        try:
            con.execute("PRAGMA locking_mode = EXCLUSIVE")
            con.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise RestoreRefusedError(
                    "in_use",
                    f"{target} is in use by a running process (the daemon?); stop it first "
                    "(`systemctl stop ksef-edge`) and run this again",
                ) from None
            return None
        except sqlite3.DatabaseError:
            return None
        try:
            facts = outbox_facts(con)
        except sqlite3.DatabaseError:
            facts = None
        con.execute("COMMIT")
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.DatabaseError:
            pass
        return facts
    finally:
        con.close()


def lock_exclusive(db_path: Path) -> sqlite3.Connection:
    """An exclusive connection to the outbox (for migrate-out): refuses while the daemon has it open."""
    con = connect_existing(db_path, timeout_s=0.2)
    try:
        con.execute("PRAGMA locking_mode = EXCLUSIVE")
        con.execute("BEGIN EXCLUSIVE")
        con.execute("COMMIT")  # exclusive locking mode keeps the lock until close
    except sqlite3.OperationalError as exc:
        con.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise RestoreRefusedError(
                "in_use",
                f"{db_path} is in use by a running process (the daemon?); stop it first "
                "(`systemctl stop ksef-edge`) so no invoice is issued after the snapshot",
            ) from None
        raise
    return con


# ----------------------------------------------------------------------------------------- status


def backup_status(
    db_path: Path, backup_dir: Path, *, grace_s: float = 0.0, now: dt.datetime | None = None
) -> BackupStatus:
    """Age of the last good backup, and the alarm: unsent invoices newer than it (older than `grace_s`).

    "Unsent" = issued/sending/rejected: KSeF does not hold them, so losing this device loses them.
    Cheap (one indexed query + a directory listing): fine for every status call, off the event loop.
    """
    now = now or utc_now()
    backups = list_backups(backup_dir)
    last = next((b for b in backups if b.problem is None), None)
    after_id = last.facts.last_invoice_id if last else 0
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2) if Path(db_path).exists() else None
    count, oldest = 0, None
    if con is not None:
        try:
            marks = ",".join("?" for _ in ("issued", "sending", "rejected"))
            row = con.execute(
                f"SELECT COUNT(*), MIN(created_at) FROM invoices WHERE id > ? AND state IN ({marks})",
                (after_id, "issued", "sending", "rejected"),
            ).fetchone()
            count, oldest = int(row[0]), (dt.datetime.fromisoformat(row[1]) if row[1] else None)
        except sqlite3.Error:
            pass
        finally:
            con.close()
    age = (now - last.created_at).total_seconds() if last and last.created_at else None
    alarm = count > 0 and oldest is not None and (now - oldest).total_seconds() >= grace_s
    if alarm:
        message = (
            f"{count} invoice(s) not yet in KSeF are not in any backup"
            + (f" (last good backup {last.path.name})" if last else " (no backup found in " + str(backup_dir) + ")")
            + ": check the backup medium and run `ksef-edge backup create`"
        )
    elif last is None:
        message = f"no backup in {backup_dir} yet"
    else:
        message = f"last good backup {last.path.name}"
    return BackupStatus(last.created_at if last else None, age, count, oldest, alarm, message, len(backups))
