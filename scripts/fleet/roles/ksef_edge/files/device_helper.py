#!/usr/bin/env python3
"""Device-side steps of the fleet plays that need more than a shell one-liner.

Copied to <prefix>/opt/ksef-edge/fleet/device_helper.py by the plays; standard library only (Python
3.11+, for tomllib), so it runs before any release is installed. Every subcommand prints one JSON
object on stdout and exits non-zero with a one-line reason on stderr when it cannot do its job.

  facts --config C              database path and API address from the device TOML, current release
  backup --db D --out F         online copy of the SQLite database (backup API: safe while the daemon writes)
  rollback-db --db D --backup F after a failed update: keep the live database when the old release can
                                read it; restore the backup only if the new release migrated the schema
                                and issued nothing since the backup; otherwise stop for a human
  wait-healthz --url U [--version V] [--timeout-s T]
                                poll GET /healthz (http://host:port/healthz or unix:/path.sock) until it
                                answers 200 (and reports version V)
  soak --url U --version V --seconds S [--db D --since-id N --require-invoice]
                                the canary's soak: /healthz answers 200 from version V for S seconds
                                (a few seconds' blip allowed), and with --require-invoice the database
                                holds an invoice newer than id N (the new release really issued)
  prune --releases DIR --keep N --protect V...
                                delete all but the N newest release directories, never a protected one
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import shutil
import socket
import sqlite3
import sys
import time
import tomllib
from pathlib import Path

DEFAULT_LISTEN_HOST = "127.0.0.1"  # ksef_edge.config.ApiConfig defaults
DEFAULT_LISTEN_PORT = 8787


class HelperError(Exception):
    pass


def _resolve(path: str, base: Path) -> Path:
    """Relative paths in the device TOML are relative to the file (ksef_edge.config semantics)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def facts(config: Path) -> dict:
    try:
        raw = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HelperError(f"device config {config} does not exist: provision the device first") from None
    except tomllib.TOMLDecodeError as exc:
        raise HelperError(f"device config {config} is not valid TOML: {exc}") from None
    base = config.parent
    store = raw.get("store", {})
    if "path" not in store:
        raise HelperError(f"{config}: [store] path is missing")
    api = raw.get("api", {})
    if api.get("unix_socket"):
        url = f"unix:{_resolve(api['unix_socket'], base)}"
    else:
        host = api.get("listen_host", DEFAULT_LISTEN_HOST)
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        url = f"http://{host}:{api.get('listen_port', DEFAULT_LISTEN_PORT)}/healthz"
    return {"db_path": str(_resolve(store["path"], base)), "healthz_url": url}


def _db_info(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        has_invoices = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='invoices'").fetchone() is not None
        count, max_id = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM invoices").fetchone() \
            if has_invoices else (0, 0)
    finally:
        conn.close()
    return {"schema_version": version, "invoices": count, "max_invoice_id": max_id}


def _copy_db(src: Path, dst: Path) -> None:
    """SQLite online backup of src into dst (a consistent snapshot even while the daemon writes)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".partial")
    tmp.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(tmp)
    try:
        source.backup(target)
        if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise HelperError(f"backup copy {tmp} fails PRAGMA integrity_check")
    finally:
        target.close()
        source.close()
    os.chmod(tmp, 0o600)
    st = src.stat()
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, dst)


def backup(db: Path, out: Path) -> dict:
    if not db.exists():
        return {"backup": None, "reason": f"no database at {db} yet (fresh device)"}
    _copy_db(db, out)
    return {"backup": str(out), **_db_info(out)}


def rollback_db(db: Path, backup_file: Path) -> dict:
    if not backup_file.exists():
        return {"action": "kept", "reason": "no backup was taken (no database before the update)"}
    if not db.exists():
        _copy_db(backup_file, db)
        return {"action": "restored", "reason": "the live database disappeared; restored the backup"}
    live, saved = _db_info(db), _db_info(backup_file)
    if live["schema_version"] == saved["schema_version"]:
        return {"action": "kept", "reason": "schema unchanged: the previous release reads the live database",
                "live": live}
    if live["max_invoice_id"] > saved["max_invoice_id"] or live["invoices"] != saved["invoices"]:
        raise HelperError(
            f"the new release migrated {db} (schema {saved['schema_version']} -> {live['schema_version']}) and "
            f"issued invoices after the backup ({live['invoices']} now, {saved['invoices']} in {backup_file}); "
            "restoring the backup would lose them. Keep the new release's database and fix forward, "
            "or export those invoices before restoring by hand.")
    aside = db.with_name(f"{db.name}.rolled-back-{dt.datetime.now():%Y%m%dT%H%M%S}")
    shutil.move(str(db), aside)
    for suffix in ("-wal", "-shm"):
        side = db.with_name(db.name + suffix)
        if side.exists():
            shutil.move(str(side), aside.with_name(aside.name + suffix))
    _copy_db(backup_file, db)
    return {"action": "restored", "reason": f"schema {live['schema_version']} -> {saved['schema_version']}; "
            f"no invoice issued since the backup; migrated copy kept as {aside}", "live": _db_info(db)}


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    if url.startswith("unix:"):
        conn: http.client.HTTPConnection = _UnixHTTPConnection(url[5:], timeout)
        path = "/metrics" if url.endswith("#metrics") else "/healthz"
        conn._path = url[5:].split("#", 1)[0]
    else:
        from urllib.parse import urlsplit
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        path = parts.path or "/healthz"
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _running_version(url: str, doc: dict) -> str | None:
    """The version /healthz reports, else the one in /metrics (`ksef_edge_build_info{version="..."}`)."""
    if doc.get("version"):
        return str(doc["version"])
    status, body = _get(url.rsplit("/healthz", 1)[0] + "/metrics" if url.startswith("http") else url + "#metrics",
                        timeout=2.0)
    m = re.search(r'ksef_edge_build_info\{[^}]*version="([^"]+)"', body.decode(errors="replace")) if status == 200 else None
    return m.group(1) if m else None


def wait_healthz(url: str, version: str | None, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while True:
        try:
            status, body = _get(url, timeout=2.0)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            running = _running_version(url, doc) if status == 200 else None
            if status == 200 and (version is None or running == version):
                return {"url": url, "status": status, "version": running, "health": doc}
            last = f"HTTP {status}, version {running!r}: {body[:300].decode(errors='replace')}"
        except OSError as exc:
            last = f"{exc.__class__.__name__}: {exc}"
        if time.monotonic() >= deadline:
            want = f" from version {version}" if version else ""
            raise HelperError(f"{url} did not answer 200{want} within {timeout_s:.0f}s; last: {last}")
        time.sleep(0.25)


def _max_invoice_id(db: Path) -> int:
    return int(_db_info(db)["max_invoice_id"]) if db.exists() else 0


def soak(url: str, version: str, seconds: float, *, db: Path | None, since_id: int, require_invoice: bool,
         blip_s: float = 3.0) -> dict:
    """Watch the new release for `seconds`: a release that dies after 25 s passed every start-up check."""
    started = time.monotonic()
    unhealthy_since: float | None = None
    polls = 0
    last = ""
    while True:
        now = time.monotonic()
        try:
            status, body = _get(url, timeout=2.0)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            running = _running_version(url, doc) if status == 200 else None
            healthy = status == 200 and running == version
            last = f"HTTP {status}, version {running!r}: {body[:300].decode(errors='replace')}"
        except OSError as exc:
            healthy, last = False, f"{exc.__class__.__name__}: {exc}"
        polls += 1
        if healthy:
            unhealthy_since = None
        else:
            unhealthy_since = unhealthy_since if unhealthy_since is not None else now
            if now - unhealthy_since >= blip_s:
                raise HelperError(f"soak: {version} stopped serving {now - started:.0f}s after the start "
                                  f"(of {seconds:.0f}s); last answer: {last}")
        if now - started >= seconds:
            break
        time.sleep(1.0)
    newest = _max_invoice_id(db) if db is not None else 0
    if require_invoice and newest <= since_id:
        raise HelperError(f"soak: {version} stayed healthy for {seconds:.0f}s but issued no invoice (newest id "
                          f"{newest}, {since_id} before the update); is the till selling? lengthen "
                          "ksef_edge_soak_s or set ksef_edge_soak_require_invoice=false for a quiet shop")
    return {"url": url, "version": version, "seconds": seconds, "polls": polls,
            "invoices_issued": max(0, newest - since_id)}


def prune(releases: Path, keep: int, protect: list[str]) -> dict:
    dirs = [d for d in releases.iterdir() if d.is_dir() and not d.name.startswith(".")]
    dirs.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    removed = []
    for d in dirs[keep:]:
        if d.name not in protect:
            shutil.rmtree(d)
            removed.append(d.name)
    return {"removed": removed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="ksef-edge fleet helper (device side)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("facts")
    p.add_argument("--config", type=Path, required=True)
    p = sub.add_parser("backup")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("rollback-db")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--backup", type=Path, required=True)
    p = sub.add_parser("wait-healthz")
    p.add_argument("--url", required=True)
    p.add_argument("--version")
    p.add_argument("--timeout-s", type=float, default=60.0)
    p = sub.add_parser("soak")
    p.add_argument("--url", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--db", type=Path)
    p.add_argument("--since-id", type=int, default=0)
    p.add_argument("--require-invoice", action="store_true")
    p = sub.add_parser("prune")
    p.add_argument("--releases", type=Path, required=True)
    p.add_argument("--keep", type=int, required=True)
    p.add_argument("--protect", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        if args.cmd == "facts":
            result = facts(args.config)
        elif args.cmd == "backup":
            result = backup(args.db, args.out)
        elif args.cmd == "rollback-db":
            result = rollback_db(args.db, args.backup)
        elif args.cmd == "soak":
            result = soak(args.url, args.version, args.seconds, db=args.db, since_id=args.since_id,
                          require_invoice=args.require_invoice)
        elif args.cmd == "prune":
            result = prune(args.releases, args.keep, args.protect)
        else:
            result = wait_healthz(args.url, args.version or None, args.timeout_s)
    except (HelperError, sqlite3.Error, OSError) as exc:
        print(f"device_helper {args.cmd}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
