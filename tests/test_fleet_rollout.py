"""Rolling updates over real SSH with ansible-core: two provisioned "devices" (root prefixes) behind a
real sshd on 127.0.0.1, each running a real `ksef-edge run` under scripts/fleet/dev-supervisor (the
stand-in for systemd here). A good release reaches both and invoices issued meanwhile are all kept
exactly once; a broken release (self-check fails, or it crashes at start) is rolled back on the
canary, the rollout stops, and the old version keeps serving.

Releases are built by scripts/fleet/build-release from a copy of this checkout with
`--no-dependency-wheels` (compiling tpm2-pytss/systemd-python would take minutes); the device
virtualenvs reach the test venv's site-packages through `ksef_edge_venv_shared_site_packages`.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from daemon_fixtures import SELLER_NIP, VALID_BODY
from sshd_fixtures import SshServer, running_sshd

REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "scripts" / "fleet"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
SUPERVISOR = FLEET / "dev-supervisor"
BASE_PYTHON = Path(sys._base_executable) if hasattr(sys, "_base_executable") else Path(sys.executable)

pytestmark = [
    pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core not installed in the test venv"),
    pytest.mark.timeout(400),
]

BROKEN_SELFCHECK = '''"""A release whose self-check fails (as a release with a bad migration or signer would)."""
def register(sub):
    p = sub.add_parser("selfcheck")
    p.add_argument("--config", required=True)
    p.set_defaults(func=lambda args: print("FAIL store: this release cannot read the database") or 1)
'''
CRASHING_RUN = '''"""A release that passes its self-check but dies at start, before READY."""
import sys
def register(sub):
    p = sub.add_parser("run")
    p.add_argument("--config", required=True)
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=lambda args: print("ksef-edge: cannot start: broken release", file=sys.stderr) or 1)
'''

MIGRATE_THEN_CRASH_RUN = '''"""A release that migrates the schema (past what the old release reads) and then dies at start."""
import sqlite3
import sys
def register(sub):
    p = sub.add_parser("run")
    p.add_argument("--config", required=True)
    p.add_argument("--log-level", default="info")
    def run(args):
        from ksef_edge.config import load_config
        con = sqlite3.connect(load_config(args.config).store.path)
        con.execute("CREATE TABLE IF NOT EXISTS future_feature (x)")
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        print("ksef-edge: cannot start: crashed right after migrating the database", file=sys.stderr)
        return 1
    p.set_defaults(func=run)
'''
DIES_AFTER_S = 25


def _dies_later_run() -> str:
    """The real `run`, dying DIES_AFTER_S after start: it passes READY and /healthz first."""
    real = (REPO / "daemon/ksef_edge/commands/run.py").read_text()
    head = "def main(args: argparse.Namespace) -> int:\n"
    assert head in real
    return real.replace(head, head + f"    import os, threading\n    threading.Timer({DIES_AFTER_S}, lambda: os._exit(1)).start()\n", 1)


@dataclass
class Device:
    name: str
    prefix: Path
    port: int
    token: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.prefix / "var/lib/ksef-edge/outbox.sqlite3"

    def running_version(self) -> str:
        with urllib.request.urlopen(self.base_url + "/metrics", timeout=5) as resp:
            text = resp.read().decode()
        line = next(ln for ln in text.splitlines() if ln.startswith("ksef_edge_build_info{"))
        return line.split('version="', 1)[1].split('"', 1)[0]

    def current_release(self) -> str:
        return os.readlink(self.prefix / "opt/ksef-edge/current")


@dataclass
class Fleet:
    ssh: SshServer
    devices: list[Device]
    inventory: Path
    releases: dict[str, Path]
    env: dict[str, str]

    def playbook(self, name: str, release: str | None = None, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["-e", f"ksef_edge_release={self.releases[release]}"] if release else []
        for e in extra:
            args += ["-e", e]
        return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(self.inventory), str(FLEET / name), *args],
                              capture_output=True, text=True, env=self.env, cwd=FLEET, timeout=200)

    @property
    def workdir(self) -> Path:
        return self.inventory.parent


def _build_release(tmp: Path, version: str, patch: dict[str, str]) -> Path:
    src = tmp / f"src-{version}"
    shutil.copytree(REPO / "daemon", src / "daemon", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for rel, text in patch.items():
        (src / rel).write_text(text)
    out = subprocess.run([sys.executable, str(FLEET / "build-release"), "--source", str(src), "--out", str(tmp / "dist"),
                          "--version", version, "--no-dependency-wheels"],
                         capture_output=True, text=True, check=True, timeout=120)
    return Path(out.stdout.strip().splitlines()[-1])


def _run_ok(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{' '.join(cmd[:5])} failed:\n{proc.stdout}\n{proc.stderr}"


def _provision(prefix: Path, port: int, pos: str) -> Device:
    ke = [sys.executable, "-m", "ksef_edge", "provision"]
    _run_ok([*ke, "init", "--root", str(prefix), "--nip", SELLER_NIP, "--seller-name", "Piekarnia Testowa",
             "--address-line1", "ul. Kwiatowa 1", "--address-line2", "00-001 Warszawa", "--pos-id", pos,
             "--backend", "file", "--listen-port", str(port)])
    from cryptography import x509

    from ksef_edge.keystore.devcert import make_test_certificate

    csr = x509.load_der_x509_csr((prefix / "var/lib/ksef-edge/offline.csr").read_bytes())
    cert = prefix / "offline-cert.pem"
    cert.write_bytes(make_test_certificate(csr.public_key(), nip=SELLER_NIP))
    _run_ok([*ke, "finish", "--root", str(prefix), "--certificate", str(cert)])
    token = (prefix / "etc/ksef-edge/credentials/ksef-api-token").read_text().strip()
    return Device(pos, prefix, port, token)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inventory(path: Path, ssh: SshServer, devices: list[Device]) -> None:
    site = sysconfig.get_paths()["purelib"]
    hosts = {}
    for d in devices:
        sup = f"{BASE_PYTHON} {SUPERVISOR} --prefix {d.prefix} --start-timeout-s 60"
        hosts[d.name] = {
            "ansible_host": ssh.host, "ansible_port": ssh.port, "ansible_user": ssh.user,
            "ansible_ssh_private_key_file": str(ssh.key_file),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_python_interpreter": sys.executable,
            "ansible_remote_tmp": str(d.prefix / "tmp/ansible"),
            "ksef_edge_prefix": str(d.prefix),
            "ksef_edge_python": str(BASE_PYTHON),
            "ksef_edge_venv_shared_site_packages": [site],
            "ksef_edge_venv_args": ["--without-pip"],  # pip comes from the shared site-packages
            "ksef_edge_restart_cmd": f"{sup} restart",
            "ksef_edge_stop_cmd": f"{sup} stop",
            "ksef_edge_ready_cmd": f"{sup} status",
            "ksef_edge_cli_cmd": f"CREDENTIALS_DIRECTORY={d.prefix}/etc/ksef-edge/credentials RELEASE_BIN/ksef-edge",
            "ksef_edge_config_src": str(path.parent / "configs" / f"{d.name}.toml"),
            "ksef_edge_certificate_src": str(path.parent / "certs" / f"{d.name}.crt"),
            "ksef_edge_csr_dir": str(path.parent / "csr"),
            "ksef_edge_backup_passphrase_dir": str(path.parent / "backup-passphrases"),
            "ksef_edge_ready_timeout_s": 10,
            "ksef_edge_healthz_timeout_s": 40,
            "ksef_edge_soak_s": 0,  # the soak tests set it with -e
        }
    path.write_text(json.dumps({"ksef_edge": {"hosts": hosts}}))  # JSON is valid YAML inventory


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("fleet")
    short = Path(tempfile.mkdtemp(prefix="ans-", dir="/tmp"))  # ssh ControlPath must stay short
    with running_sshd(tmp / "sshd") as ssh, ThreadPoolExecutor(max_workers=4) as pool:
        builds = {
            "good-1": pool.submit(_build_release, tmp, "0.9.0", {}),
            "good-2": pool.submit(_build_release, tmp, "0.9.1", {}),
            "broken-selfcheck": pool.submit(_build_release, tmp, "0.9.2",
                                            {"daemon/ksef_edge/commands/selfcheck.py": BROKEN_SELFCHECK}),
            "crash-at-start": pool.submit(_build_release, tmp, "0.9.3",
                                          {"daemon/ksef_edge/commands/run.py": CRASHING_RUN}),
            "migrate-then-crash": pool.submit(_build_release, tmp, "0.9.4",
                                              {"daemon/ksef_edge/commands/run.py": MIGRATE_THEN_CRASH_RUN}),
            "dies-later": pool.submit(_build_release, tmp, "0.9.5",
                                      {"daemon/ksef_edge/commands/run.py": _dies_later_run()}),
        }
        devices = list(pool.map(lambda a: _provision(tmp / a[0], _free_port(), a[0]),
                                [("till-a", None), ("till-b", None)]))
        releases = {k: f.result() for k, f in builds.items()}
        inventory = tmp / "inventory.yml"
        _inventory(inventory, ssh, devices)
        env = {**os.environ, "ANSIBLE_CONFIG": str(FLEET / "ansible.cfg"), "ANSIBLE_HOME": str(short / "home"),
               "ANSIBLE_LOCAL_TEMP": str(short / "local"), "ANSIBLE_SSH_CONTROL_PATH_DIR": str(short / "cp"),
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
        f = Fleet(ssh, devices, inventory, releases, env)
        first = f.playbook("install.yml", "good-1")
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        list(pool.map(lambda d: _run_ok([str(BASE_PYTHON), str(SUPERVISOR), "--prefix", str(d.prefix), "start"]),
                      devices))
        assert [d.running_version() for d in devices] == ["0.9.0", "0.9.0"]
        try:
            yield f
        finally:
            for d in devices:
                subprocess.run([str(BASE_PYTHON), str(SUPERVISOR), "--prefix", str(d.prefix), "stop"],
                               capture_output=True, timeout=60)
            shutil.rmtree(short, ignore_errors=True)


class InvoiceClient:
    """A till that keeps invoicing through the rollout: same Idempotency-Key until it gets an answer."""

    def __init__(self, devices: list[Device]) -> None:
        self.devices = devices
        self.issued: dict[str, dict[str, int]] = {d.name: {} for d in devices}  # key -> invoice id
        self.retries = 0
        self.errors: list[str] = []  # a till that got no answer within 60 s (or a refusal)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(d,), daemon=True) for d in devices]

    def _post(self, d: Device, key: str) -> int:
        body = json.dumps(VALID_BODY).encode()
        deadline = time.monotonic() + 60
        while True:
            req = urllib.request.Request(d.base_url + "/v1/invoices", data=body, method="POST", headers={
                "Authorization": f"Bearer {d.token}", "Idempotency-Key": key, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    assert resp.status == 201
                    return json.loads(resp.read())["id"]
            except urllib.error.HTTPError as exc:
                if exc.code != 503:
                    raise AssertionError(f"{d.name}: HTTP {exc.code}: {exc.read()[:300]!r}") from None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass  # daemon restarting: the POS retries with the same key
            if time.monotonic() > deadline:
                raise AssertionError(f"{d.name}: no answer for invoice {key} within 60 s")
            self.retries += 1
            time.sleep(0.05)

    def _loop(self, d: Device) -> None:
        while not self._stop.is_set():
            key = f"{d.name}-{uuid.uuid4()}"
            try:
                self.issued[d.name][key] = self._post(d, key)
            except AssertionError as exc:
                self.errors.append(str(exc))
                return
            time.sleep(0.1)

    def __enter__(self) -> "InvoiceClient":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=90)


def _versions(fleet: Fleet) -> dict[str, str]:
    return {d.name: d.running_version() for d in fleet.devices}


def test_install_gives_each_device_a_backup_passphrase_whose_copy_the_controller_keeps(fleet: Fleet):
    """install.yml made each device's backup passphrase (the unit's ksef-edge-backup credential; here the
    dev-supervisor's CREDENTIALS_DIRECTORY) and kept a copy on the controller: the copy opens a backup
    the device writes, a re-run keeps the device's passphrase, and a device whose passphrase nobody off
    the device knows is refused."""
    copies = fleet.workdir / "backup-passphrases"
    secrets = {}
    for d in fleet.devices:
        cred = d.prefix / "etc/ksef-edge/credentials/ksef-edge-backup"
        copy = copies / f"{d.name}.passphrase"
        assert cred.stat().st_mode & 0o777 == 0o600 and copy.stat().st_mode & 0o777 == 0o600
        assert cred.read_text().strip() == copy.read_text().strip() and len(copy.read_text().strip()) >= 12
        secrets[d.name] = cred.read_bytes()
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(cred.parent)}  # what LoadCredentialEncrypted= gives
        ke = [sys.executable, "-m", "ksef_edge", "backup"]
        made = subprocess.run([*ke, "create", "--config", str(d.prefix / "etc/ksef-edge/device.toml"),
                               "--dir", str(d.prefix / "media/ksef-backup")], capture_output=True, text=True,
                              env=env, timeout=60)
        assert made.returncode == 0, made.stderr
        [backup] = (d.prefix / "media/ksef-backup").glob("*.kebak")
        opened = subprocess.run([*ke, "verify", str(backup), "--passphrase-file", str(copy)],
                                capture_output=True, text=True, timeout=60)
        assert opened.returncode == 0, opened.stderr  # the shop can open it without the device
    assert len(set(secrets.values())) == len(fleet.devices)  # one passphrase per device

    running = fleet.devices[0].current_release().rsplit("/", 1)[-1]
    release = next(k for k, path in fleet.releases.items() if f"-{running}.tar.gz" in path.name)
    lost = copies / f"{fleet.devices[0].name}.passphrase"
    lost.rename(lost.with_suffix(".away"))
    try:
        again = fleet.playbook("install.yml", release)
    finally:
        lost.with_suffix(".away").rename(lost)
    assert again.returncode != 0 and "the controller has no copy" in " ".join(again.stdout.split()), again.stdout[-3000:]
    for d in fleet.devices:  # never replaced: its backups need the passphrase they were made with
        assert (d.prefix / "etc/ksef-edge/credentials/ksef-edge-backup").read_bytes() == secrets[d.name]


def test_broken_selfcheck_release_is_rolled_back_and_the_rollout_stops(fleet: Fleet):
    before = _versions(fleet)
    canary, other = fleet.devices
    run = fleet.playbook("update.yml", "broken-selfcheck")
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "Self-check the new release" in out and "this release cannot read the database" in out, out[-5000:]
    final = out[out.rindex("Fail this host"):]  # the play's final message names the self-check's reason
    assert "this release cannot read the database" in final, final[-3000:]
    assert _versions(fleet) == before                     # both still serve the old version
    assert canary.current_release() == f"releases/{before[canary.name]}"
    assert not (other.prefix / "opt/ksef-edge/releases/0.9.2").exists()  # never reached the second batch


def test_release_that_crashes_at_start_is_rolled_back_on_the_canary(fleet: Fleet):
    before = _versions(fleet)
    canary, other = fleet.devices
    run = fleet.playbook("update.yml", "crash-at-start")
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "Restart the service" in out and "rolled back to " + before[canary.name] in out
    assert _versions(fleet) == before
    assert canary.current_release() == f"releases/{before[canary.name]}"
    assert not (other.prefix / "opt/ksef-edge/releases/0.9.3").exists()


def test_good_release_reaches_every_device_and_no_invoice_is_lost_or_doubled(fleet: Fleet):
    with InvoiceClient(fleet.devices) as till:
        time.sleep(0.5)
        run = fleet.playbook("update.yml", "good-2")
        time.sleep(0.5)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert _versions(fleet) == {d.name: "0.9.1" for d in fleet.devices}
    for d in fleet.devices:
        assert d.current_release() == "releases/0.9.1"
        keys = till.issued[d.name]
        assert len(keys) >= 5
        with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as con:
            rows = dict(con.execute("SELECT idempotency_key, id FROM invoices"))
            numbers = [n for (n,) in con.execute("SELECT number FROM invoices ORDER BY id")]
        assert {k: rows.get(k) for k in keys} == keys        # every acknowledged invoice, under its id
        assert len(rows) == len(keys)                         # and nothing else (no duplicates)
        assert len(set(numbers)) == len(numbers)
        backups = list((d.prefix / "var/backups/ksef-edge").glob("before-0.9.1-*.sqlite"))
        assert len(backups) == 1


def _assert_every_acknowledged_invoice_kept(d: Device, keys: dict[str, int]) -> None:
    with sqlite3.connect(f"file:{d.db}?mode=ro", uri=True) as con:
        rows = dict(con.execute("SELECT idempotency_key, id FROM invoices"))
    assert {k: rows.get(k) for k in keys} == keys  # every invoice the till got an answer for, under its id
    assert len(rows) == len(set(rows.values()))


def test_release_that_migrates_and_crashes_leaves_the_canary_on_the_old_release_issuing(fleet: Fleet):
    """The backup is taken with the old daemon stopped, so the rollback can restore the old schema:
    nothing the till was told about is lost, and the old release serves again."""
    before = _versions(fleet)
    canary, other = fleet.devices
    with InvoiceClient([canary]) as till:
        time.sleep(0.5)
        run = fleet.playbook("update.yml", "migrate-then-crash")
        time.sleep(1.0)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "rolled back to " + before[canary.name] in out, out[-4000:]
    assert till.errors == [], till.errors
    assert _versions(fleet) == before and canary.current_release() == f"releases/{before[canary.name]}"
    assert len(till.issued[canary.name]) >= 5
    _assert_every_acknowledged_invoice_kept(canary, till.issued[canary.name])
    with sqlite3.connect(f"file:{canary.db}?mode=ro", uri=True) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] < 99  # the old schema is back
    assert _post_invoice(canary)["number"]  # issuing again
    assert not (other.prefix / "opt/ksef-edge/releases/0.9.4").exists()


def test_release_that_dies_after_25s_is_stopped_at_the_canary_by_the_soak(fleet: Fleet):
    before = _versions(fleet)
    canary, other = fleet.devices
    with InvoiceClient([canary]) as till:
        run = fleet.playbook("update.yml", "dies-later", f"ksef_edge_soak_s={DIES_AFTER_S + 10}",
                             "ksef_edge_soak_require_invoice=true")
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    final = out[out.rindex("Fail this host"):]
    assert "Canary soak" in out and "stopped serving" in final, final[-3000:]
    assert "rolled back to " + before[canary.name] in final
    assert _versions(fleet) == before and canary.current_release() == f"releases/{before[canary.name]}"
    assert not (other.prefix / "opt/ksef-edge/releases/0.9.5").exists()  # the rest of the fleet never got it
    assert till.errors == [], till.errors
    _assert_every_acknowledged_invoice_kept(canary, till.issued[canary.name])


def _post_invoice(d: Device) -> dict:
    req = urllib.request.Request(d.base_url + "/v1/invoices", data=json.dumps(VALID_BODY).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {d.token}", "Idempotency-Key": str(uuid.uuid4()),
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.slow  # ~20 s more: two playbook runs; the default run keeps the fleet module near 2 minutes
def test_config_update_refuses_a_bad_config_and_applies_a_good_one(fleet: Fleet):
    configs = fleet.workdir / "configs"
    configs.mkdir(exist_ok=True)
    live = {d.name: (d.prefix / "etc/ksef-edge/device.toml").read_text() for d in fleet.devices}
    for d in fleet.devices:  # an invalid NIP: the running release's self-check refuses it
        (configs / f"{d.name}.toml").write_text(live[d.name].replace(f'nip = "{SELLER_NIP}"', 'nip = "1234567890"'))
    run = fleet.playbook("config.yml")
    assert run.returncode != 0
    assert "1234567890" in run.stdout and "not a valid NIP" in run.stdout, run.stdout[-3000:]
    assert {d.name: (d.prefix / "etc/ksef-edge/device.toml").read_text() for d in fleet.devices} == live
    assert all(_post_invoice(d)["number"].startswith("FV/") for d in fleet.devices)

    for d in fleet.devices:  # a new invoice series: applied, daemon restarted, new numbers use it
        (configs / f"{d.name}.toml").write_text(
            live[d.name].replace("[device]\n", '[device]\nseries_pattern = "PAR/{pos}/{yyyy}/{seq:06}"\n'))
    run = fleet.playbook("config.yml")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    for d in fleet.devices:
        assert _post_invoice(d)["number"].startswith(f"PAR/{d.name}/")
        assert list((d.prefix / "etc/ksef-edge").glob("device.toml.before-*"))  # the old file is kept


def _serial(d: Device) -> str:
    req = urllib.request.Request(d.base_url + "/v1/status", headers={"Authorization": f"Bearer {d.token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["certificate"]["serial"]


@pytest.mark.slow  # ~25 s more: three playbook runs; the default run keeps the fleet module near 2 minutes
def test_certificate_rotation_refuses_a_foreign_certificate_then_installs_the_enrolled_one(fleet: Fleet):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from ksef_edge.keystore.devcert import make_test_certificate

    certs = fleet.workdir / "certs"
    certs.mkdir(exist_ok=True)
    before = {d.name: _serial(d) for d in fleet.devices}
    stranger = ec.generate_private_key(ec.SECP256R1())  # a certificate for some other key
    for d in fleet.devices:
        (certs / f"{d.name}.crt").write_bytes(make_test_certificate(stranger.public_key(), nip=SELLER_NIP))
    run = fleet.playbook("rotate-certificate.yml", None, "ksef_edge_cert_phase=install")
    assert run.returncode != 0
    assert {d.name: _serial(d) for d in fleet.devices} == before

    run = fleet.playbook("rotate-certificate.yml", None, "ksef_edge_cert_phase=csr")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    import base64
    for d in fleet.devices:
        csr = x509.load_der_x509_csr(base64.b64decode((fleet.workdir / "csr" / f"{d.name}.csr").read_bytes()))
        (certs / f"{d.name}.crt").write_bytes(make_test_certificate(csr.public_key(), nip=SELLER_NIP))
    run = fleet.playbook("rotate-certificate.yml", None, "ksef_edge_cert_phase=install")
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    after = {d.name: _serial(d) for d in fleet.devices}
    assert all(after[n] != before[n] for n in after)
