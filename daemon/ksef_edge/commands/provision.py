"""`ksef-edge provision init|finish|status`: first boot of a new till, idempotent.

init    service user + directories (systemd-sysusers/tmpfiles, else useradd/mkdir), the systemd unit,
        the device config from parameters, the POS API token, the offline key (TPM when present,
        else an encrypted file) and the CSR the shop owner enrols in KSeF as an *Offline* certificate.
finish  installs the certificate KSeF returned (every check of `ksef-edge cert install` applies) and
        the KSeF token (`ksef-edge token set`), then enables the service.
status  what is done and what comes next.

Re-running never replaces the key (only `--force-new-key` does: the old certificate becomes useless)
and never rewrites an existing config (only `--overwrite-config`). `--root DIR` provisions into a
directory tree instead of `/` (tests, staging): paths in the written config are then relative to
the config file, so the tree runs in place, and files stay owned by the invoking user.
Keystore steps run the keystore's own commands (`ksef-edge key|cert|token`), on a real root as the
service user with the passphrase handed over the way systemd's LoadCredential= does.
"""
from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from ..api.tls import create_device_certificate, fingerprint
from ..command_args.guard import guarded
from ..command_args.provision_layout import (
    API_CREDENTIAL,
    KEY_CREDENTIAL,
    SERVICE_GROUPS,
    SERVICE_USER,
    TPM_DEVICE,
    Layout,
    ProvisionError,
)
from ..config import KsefEnvironment
from ..domain.nip import is_valid_nip
from ..keystore.systemd_creds import (
    CredentialError,
    decrypt_into,
    encrypt_existing,
    encrypt_new,
    private_tmp_base,
    shred,
    systemd_creds_available,
)

# ------------------------------------------------------------------------------------------- steps


def _say(step: str, outcome: str) -> None:
    print(f"{step:<16} {outcome}")


def _find_share(explicit: Path | None) -> Path:
    """The directory holding systemd/ (a release's share/, or the source checkout)."""
    candidates = [explicit] if explicit else []
    if os.environ.get("KSEF_EDGE_SHARE"):
        candidates.append(Path(os.environ["KSEF_EDGE_SHARE"]))
    candidates += [Path(sys.prefix).parent / "share", Path("/opt/ksef-edge/current/share"),
                   Path(__file__).resolve().parents[3]]
    for c in candidates:
        if c and (c / "systemd" / "ksef-edge.service").is_file():
            return c
    raise ProvisionError("cannot find systemd/ksef-edge.service; pass --share-dir (a release's share/ directory)")


def ensure_service_user(layout: Layout, share: Path, *, use_systemd_tools: bool) -> None:
    passwd = layout.at("/etc/passwd")
    if passwd.exists() and any(line.startswith(f"{SERVICE_USER}:") for line in passwd.read_text().splitlines()):
        _say("service user", f"{SERVICE_USER} exists")
        return
    layout.at("/etc").mkdir(parents=True, exist_ok=True)
    conf = share / "systemd" / "ksef-edge.sysusers.conf"
    if use_systemd_tools and shutil.which("systemd-sysusers"):
        target = layout.at("/usr/lib/sysusers.d/ksef-edge.conf")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(conf, target)
        _run(["systemd-sysusers", f"--root={layout.root}", str(target)], "systemd-sysusers")
        _say("service user", f"{SERVICE_USER} created (systemd-sysusers)")
        return
    for name in ("passwd", "group", "shadow", "gshadow"):
        layout.at(f"/etc/{name}").touch(exist_ok=True)
    root_args = [] if layout.real_root else ["--root", str(layout.root)]
    _run(["useradd", *root_args, "--system", "--user-group", "--home-dir", "/var/lib/ksef-edge", "--no-create-home",
          "--shell", "/usr/sbin/nologin", "--comment", "ksef-edge invoicing daemon", SERVICE_USER], "useradd")
    groups = layout.at("/etc/group").read_text()
    for group in SERVICE_GROUPS:
        if not any(line.startswith(f"{group}:") for line in groups.splitlines()):
            _run(["groupadd", *root_args, "--system", group], "groupadd")
    _run(["usermod", *root_args, "--append", "--groups", ",".join(SERVICE_GROUPS), SERVICE_USER], "usermod")
    _say("service user", f"{SERVICE_USER} created (useradd)")


def _service_ids(layout: Layout) -> tuple[int, int] | None:
    """uid/gid to own the daemon's files: only on a real root; under --root files stay the caller's."""
    if not layout.real_root:
        return None
    try:
        pw = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return pw.pw_uid, pw.pw_gid


def ensure_directories(layout: Layout, share: Path, *, use_systemd_tools: bool) -> None:
    ids = _service_ids(layout)
    # Same modes as the unit's StateDirectory=/ConfigurationDirectory=/LogsDirectory= (systemd makes
    # them at start too, but provisioning writes the key and config before the first start).
    for path, mode, service_owned in (
        (layout.state_dir, 0o700, True),
        (layout.keystore_dir, 0o700, True),
        (layout.config_dir, 0o750, False),
        (layout.credentials, 0o700, False),
        (layout.at("/var/log/ksef-edge"), 0o750, True),
        (layout.at("/var/backups/ksef-edge"), 0o700, True),
    ):
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if ids and service_owned:
            os.chown(path, *ids)
        elif ids and path == layout.config_dir:
            os.chown(path, 0, ids[1])
    conf = share / "systemd" / "ksef-edge.tmpfiles.conf"
    target = layout.at("/usr/lib/tmpfiles.d/ksef-edge.conf")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(conf, target)
    if use_systemd_tools and shutil.which("systemd-tmpfiles"):
        _run(["systemd-tmpfiles", f"--root={layout.root}", "--create", str(target)], "systemd-tmpfiles")
        _say("directories", "ready (systemd-tmpfiles + state/config/log dirs)")
    else:
        _say("directories", "ready (mkdir)")


def install_unit(layout: Layout, share: Path) -> None:
    src = share / "systemd" / "ksef-edge.service"
    layout.unit.parent.mkdir(parents=True, exist_ok=True)
    new = src.read_bytes()
    if layout.unit.exists() and layout.unit.read_bytes() == new:
        _say("systemd unit", f"{layout.unit} up to date")
    else:
        layout.unit.write_bytes(new)
        _say("systemd unit", f"installed {layout.unit}")
    # Without `systemd-creds` (or when provisioning a tree for another machine) the secrets stay plain
    # root-only files: a drop-in swaps LoadCredentialEncrypted= for LoadCredential= on those files.
    dropin = layout.at("/etc/systemd/system/ksef-edge.service.d/credentials.conf")
    encrypted = all((layout.credentials / f"{n}.cred").exists() for n in (KEY_CREDENTIAL, API_CREDENTIAL))
    if encrypted:
        dropin.unlink(missing_ok=True)
        return
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text(
        "# Written by `ksef-edge provision`: secrets are plain root-only files (no systemd-creds here).\n"
        "# Re-run provisioning on the device to encrypt them (TPM-bound) and remove this drop-in.\n"
        "[Service]\nLoadCredentialEncrypted=\n"
        f"LoadCredential={KEY_CREDENTIAL}:/etc/ksef-edge/credentials/{KEY_CREDENTIAL}\n"
        f"LoadCredential={API_CREDENTIAL}:/etc/ksef-edge/credentials/{API_CREDENTIAL}\n"
    )


def ensure_secret(layout: Layout, name: str, what: str, *, encrypt: bool = False) -> Path:
    """A random secret in the credentials dir (0600, root); kept if present. Its value is never printed.
    Encrypted (`NAME.cred`, no plain copy left: commands/credentials.py) when systemd-creds can be used."""
    path = layout.credentials / name
    cred = path.with_name(f"{name}.cred")
    if encrypt or (layout.real_root and systemd_creds_available() and Path("/run/systemd/system").is_dir()):
        try:
            if cred.exists():
                _say(what, f"kept {cred} (encrypted)")
                if path.exists():
                    shred(path)
                    _say(what, f"removed the plain-text copy {path}")
            elif path.exists():
                encrypt_existing(path, cred, name)
                _say(what, f"encrypted {path} to {cred}; the plain-text file is removed")
            else:
                encrypt_new(cred, name)
                _say(what, f"created {cred} (encrypted; no plain-text copy)")
        except CredentialError as exc:
            raise ProvisionError(str(exc)) from None
        return cred
    if path.exists():
        _say(what, f"kept {path}")
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        _say(what, f"created {path}")
    return path


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(layout: Layout, args: argparse.Namespace, backend: str) -> str:
    p = layout.config_path
    lines = [
        "# Written by `ksef-edge provision init`; documented key by key in firmware-config/device.example.toml.",
        "[device]",
        f"pos_id = {_toml_str(args.pos_id)}",
        "",
        "[seller]",
        f"nip = {_toml_str(args.nip)}",
        f"name = {_toml_str(args.seller_name)}",
        f"address_line1 = {_toml_str(args.address_line1)}",
    ]
    if args.address_line2:
        lines.append(f"address_line2 = {_toml_str(args.address_line2)}")
    lines += [
        "",
        "[api]",
        'listen_host = "127.0.0.1"',
        f"listen_port = {args.listen_port}",
        "# The POS bearer token: the systemd credential when running under the unit, else this file.",
        f"token_credential = {_toml_str(API_CREDENTIAL)}",
        f"token_file = {_toml_str(p('/etc/ksef-edge/credentials/' + API_CREDENTIAL))}",
        "",
        "[store]",
        f"path = {_toml_str(p('/var/lib/ksef-edge/outbox.sqlite3'))}",
        "",
        "[keystore]",
        f"backend = {_toml_str(backend)}",
        f"key_path = {_toml_str(p('/var/lib/ksef-edge/keystore/offline-key.pem'))}",
        f"cert_path = {_toml_str(p('/var/lib/ksef-edge/keystore/offline-cert.pem'))}",
        f"token_path = {_toml_str(p('/var/lib/ksef-edge/keystore/ksef-token.json'))}",
        f"passphrase_credential = {_toml_str(KEY_CREDENTIAL)}",
    ]
    if backend == "tpm":
        lines.append(f"tcti = {_toml_str(args.tcti or 'device:' + str(TPM_DEVICE))}")
    lines += ["", "[ksef]", f"environment = {_toml_str(args.environment)}"]
    if args.api_base_url:
        lines.append(f"api_base_url = {_toml_str(args.api_base_url)}")
    return "\n".join(lines) + "\n"


def write_config(layout: Layout, args: argparse.Namespace, backend: str) -> None:
    text = render_config(layout, args, backend)
    if layout.config.exists() and not args.overwrite_config:
        same = layout.config.read_text() == text
        _say("device config", f"kept {layout.config}" + ("" if same else
             " (differs from these parameters; --overwrite-config replaces it)"))
        return
    tmp = layout.config.with_name(".device.toml.tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o640)
    ids = _service_ids(layout)
    if ids:
        os.chown(tmp, 0, ids[1])
    os.replace(tmp, layout.config)
    _say("device config", f"written {layout.config}")


def _configured_backend(layout: Layout) -> str:
    import tomllib

    return tomllib.loads(layout.config.read_text()).get("keystore", {}).get("backend", "tpm")


def _ksef_edge(layout: Layout, argv: list[str], what: str, *, stdin: bytes | None = None,
              check: bool = True, readable: Path | None = None) -> str:
    """Run a command of this same ksef-edge with `--config`; on a real root as the service user.

    `readable` is an input file the command needs (e.g. the certificate in root's home): on a real
    root it is copied where the service user can read it, and the placeholder {file} in `argv` is
    replaced with the path to use.
    """
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    ids = _service_ids(layout)
    encrypted_only = [c for c in layout.credentials.glob("*.cred") if not c.with_suffix("").exists()]
    with tempfile.TemporaryDirectory(prefix="ksef-edge-creds-", dir=private_tmp_base()) as creds:
        file_arg = str(readable) if readable else ""
        if ids is None and not encrypted_only:
            env["CREDENTIALS_DIRECTORY"] = str(layout.credentials)
            prefix: list[str] = []
        else:  # what LoadCredential= does: private copies readable by the service user only
            for src in layout.credentials.iterdir():
                if src.is_file() and not src.name.endswith(".cred"):
                    copy = Path(creds) / src.name
                    shutil.copyfile(src, copy)
                    os.chmod(copy, 0o400)
                    if ids is not None:
                        os.chown(copy, *ids)
            for cred in encrypted_only:  # decrypted only for this step, in RAM when /dev/shm exists
                copy = Path(creds) / cred.stem
                try:
                    decrypt_into(cred, cred.stem, copy)
                except CredentialError as exc:
                    raise ProvisionError(str(exc)) from None
                if ids is not None:
                    os.chown(copy, *ids)
            if readable and ids is not None:
                copy = Path(creds) / f"input-{readable.name}"
                shutil.copyfile(readable, copy)
                os.chmod(copy, 0o400)
                os.chown(copy, *ids)
                file_arg = str(copy)
            env["CREDENTIALS_DIRECTORY"] = creds
            prefix = []
            if ids is not None:
                os.chown(creds, *ids)
                prefix = ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--init-groups", "--"]
        cmd = [*prefix, sys.executable, "-m", "ksef_edge", *[file_arg if a == "{file}" else a for a in argv],
               "--config", str(layout.config)]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, env=env)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0 and check:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ProvisionError(f"{what} failed: {err[-1] if err else out.strip()}")
    if proc.returncode != 0:
        raise ProvisionError(out.strip() or proc.stderr.decode(errors="replace").strip())
    return out


def ensure_key(layout: Layout, *, force: bool) -> None:
    key = layout.keystore_dir / "offline-key.pem"
    if key.exists() and not force:
        _say("offline key", f"kept {key} (never replaced without --force-new-key)")
        return
    _ksef_edge(layout, ["key", "generate", *(["--force"] if force else [])], "key generation")
    _say("offline key", f"generated ({_configured_backend(layout)}) {key}")


def ensure_tls(layout: Layout) -> None:
    """The API's own TLS key and certificate (for a POS on the LAN; `ksef-edge tls`), kept if present."""
    tls_dir = layout.state_dir / "tls"
    cert, key = tls_dir / "api-cert.pem", tls_dir / "api-key.pem"
    if cert.exists():
        fp = fingerprint(cert)
        _say("API TLS certificate", f"kept {cert}")
    else:
        fp = create_device_certificate(key, cert, [socket.gethostname(), "localhost", "127.0.0.1"])
        ids = _service_ids(layout)
        if ids is not None:
            for path in (tls_dir, key, cert):
                os.chown(path, *ids)
        _say("API TLS certificate", f"created {cert} (set [api] tls_cert_file/tls_key_file to use it on the LAN)")
    _say("API TLS fingerprint", f"SHA-256 {fp} (wpisz go w ustawieniach kasy/POS przy połączeniu przez sieć)")


def write_csr(layout: Layout) -> None:
    _ksef_edge(layout, ["key", "csr", "--out", str(layout.csr)], "CSR")
    b64 = layout.csr.with_name("offline.csr.b64")
    _ksef_edge(layout, ["key", "csr", "--base64", "--out", str(b64)], "CSR (Base64)")
    _say("CSR", f"{layout.csr} (DER), {b64} (Base64)")


# -------------------------------------------------------------------------------------- commands


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ProvisionError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


def _choose_backend(args: argparse.Namespace) -> str:
    if args.backend != "auto":
        return args.backend
    return "tpm" if args.tcti or TPM_DEVICE.exists() else "file"


def cmd_init(args: argparse.Namespace) -> int:
    if not is_valid_nip(args.nip):
        raise ProvisionError(f"--nip {args.nip!r} is not a valid NIP (10 digits with a correct checksum)")
    if not args.pos_id.strip() or any(c in args.pos_id for c in "/\\ "):
        raise ProvisionError("--pos-id must be a short id without spaces or slashes, e.g. KASA1")
    if args.environment == "simulator" and not args.api_base_url:
        raise ProvisionError("--environment simulator needs --api-base-url (e.g. http://127.0.0.1:8900/v2)")
    layout = Layout(args.root.resolve())
    share = _find_share(args.share_dir)
    tools = not args.no_systemd_tools
    ensure_service_user(layout, share, use_systemd_tools=tools)
    ensure_directories(layout, share, use_systemd_tools=tools)
    encrypt = bool(args.encrypt_credentials)
    if encrypt and not systemd_creds_available():
        raise ProvisionError("--encrypt-credentials needs systemd-creds (Debian package: systemd)")
    ensure_secret(layout, API_CREDENTIAL, "POS API token", encrypt=encrypt)
    backend = _configured_backend(layout) if layout.config.exists() and not args.overwrite_config \
        else _choose_backend(args)
    if backend == "file":
        ensure_secret(layout, KEY_CREDENTIAL, "key passphrase", encrypt=encrypt)
    write_config(layout, args, backend)
    install_unit(layout, share)
    ensure_key(layout, force=args.force_new_key)
    write_csr(layout)
    ensure_tls(layout)
    print()
    print("Next: the shop owner enrols the CSR in KSeF (Certificates -> enrol, type: Offline),")
    print("      then on this device: ksef-edge provision finish --certificate FILE --ksef-token-file FILE"
          + ("" if layout.real_root else f" --root {layout.root}"))
    return 0


def cmd_finish(args: argparse.Namespace) -> int:
    layout = Layout(args.root.resolve())
    if not layout.config.exists():
        raise ProvisionError(f"{layout.config} does not exist: run `ksef-edge provision init` first")
    if args.certificate:
        if not args.certificate.is_file():
            raise ProvisionError(f"--certificate {args.certificate} does not exist")
        out = _ksef_edge(layout, ["cert", "install", "{file}", *(["--type", args.type] if args.type else [])],
                         "certificate install", readable=args.certificate)
        _say("certificate", out.strip().splitlines()[0] if out.strip() else "installed")
    if args.ksef_token_file:
        data = sys.stdin.buffer.read() if str(args.ksef_token_file) == "-" else args.ksef_token_file.read_bytes()
        _ksef_edge(layout, ["token", "set"], "KSeF token", stdin=data)
        _say("KSeF token", "stored")
    try:
        out = _ksef_edge(layout, ["selfcheck"], "selfcheck", check=False)
    except ProvisionError as exc:
        for line in str(exc).splitlines():
            _say("selfcheck", line)
        raise ProvisionError("the device is not ready yet (see the FAIL lines above)") from None
    for line in out.splitlines():
        _say("selfcheck", line)
    if layout.real_root and Path("/run/systemd/system").is_dir():
        _run(["systemctl", "daemon-reload"], "systemctl daemon-reload")
        _run(["systemctl", "enable", "--now", "ksef-edge.service"], "systemctl enable --now")
        _say("service", "enabled and started")
    else:
        _say("service", "not started (no systemd here); start it with your supervisor")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    layout = Layout(args.root.resolve())
    steps = [
        ("device config", layout.config.exists()),
        ("offline key", (layout.keystore_dir / "offline-key.pem").exists()),
        ("CSR", layout.csr.exists()),
        ("certificate", (layout.keystore_dir / "offline-cert.pem").exists()),
        ("KSeF token", (layout.keystore_dir / "ksef-token.json").exists()),
        ("systemd unit", layout.unit.exists()),
    ]
    for name, done in steps:
        _say(name, "done" if done else "missing")
    return 0 if all(done for _, done in steps) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    prov = subparsers.add_parser("provision", help="first-boot set-up of a device (idempotent)")
    sub = prov.add_subparsers(dest="provision_command", metavar="STEP", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--root", type=Path, default=Path("/"),
                       help="provision into this directory tree instead of / (tests, staging)")

    init = sub.add_parser("init", help="user, directories, unit, config, key, CSR")
    common(init)
    init.add_argument("--nip", required=True, help="seller NIP (10 digits)")
    init.add_argument("--seller-name", required=True, help="seller name as on the invoice")
    init.add_argument("--address-line1", required=True, help='street and number, e.g. "ul. Kwiatowa 1"')
    init.add_argument("--address-line2", help='postcode and town, e.g. "00-001 Warszawa"')
    init.add_argument("--pos-id", required=True, help="till id used in invoice numbers, e.g. KASA1")
    init.add_argument("--environment", default="test", choices=[e.value for e in KsefEnvironment],
                      help="KSeF environment (default: test)")
    init.add_argument("--api-base-url", help="KSeF API base URL (required for the simulator)")
    init.add_argument("--listen-port", type=int, default=8787, help="local API port on 127.0.0.1 (default 8787)")
    init.add_argument("--backend", choices=("auto", "tpm", "file"), default="auto",
                      help="key custody: auto = TPM when /dev/tpmrm0 exists (or --tcti is given), else file")
    init.add_argument("--tcti", help="TPM TCTI (default device:/dev/tpmrm0)")
    init.add_argument("--force-new-key", action="store_true",
                      help="replace an existing offline key (its certificate becomes useless)")
    init.add_argument("--overwrite-config", action="store_true", help="rewrite an existing device config")
    init.add_argument("--share-dir", type=Path, help="directory with systemd/ (default: the release's share/)")
    init.add_argument("--encrypt-credentials", action="store_true",
                      help="encrypt the secrets with this machine's systemd-creds even under --root "
                           "(automatic on a real root with systemd); no plain-text copy is left")
    init.add_argument("--no-systemd-tools", action="store_true",
                      help="use useradd/mkdir even where systemd-sysusers/tmpfiles exist")
    init.set_defaults(func=guarded("ksef-edge provision", (ProvisionError,), cmd_init))

    fin = sub.add_parser("finish", help="install the KSeF certificate and token, start the service")
    common(fin)
    fin.add_argument("--certificate", type=Path, help="the Offline certificate KSeF issued for the CSR")
    fin.add_argument("--type", help="'Offline' if the certificate lacks the Offline key usage")
    fin.add_argument("--ksef-token-file", type=Path, help="file with the KSeF token ('-' = stdin); never argv")
    fin.set_defaults(func=guarded("ksef-edge provision", (ProvisionError,), cmd_finish))

    st = sub.add_parser("status", help="which provisioning steps are done (exit 0 when all)")
    common(st)
    st.set_defaults(func=guarded("ksef-edge provision", (ProvisionError,), cmd_status))
