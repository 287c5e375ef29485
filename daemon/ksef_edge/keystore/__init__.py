"""Key custody: the offline key (TPM 2.0 or encrypted file), its KSeF certificate, the KSeF token.

`open_signer` is the only way the daemon gets a `domain.signer.Signer`: it loads the key and the
certificate and runs every check (type, NIP, validity, key match), so an invoice can never carry a
KOD II that KSeF would not verify.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .certificates import CertificateInfo, check_offline_certificate, load_certificate, normalize_certificate_type
from .errors import CertificateError, KeyFileError, KeystoreError, TokenError, TpmError
from .passphrase import PassphraseSource
from .signing import CertifiedSigner, KeyBackend

__all__ = [
    "KeystoreConfig",
    "open_signer",
    "open_key",
    "generate_key",
    "install_certificate",
    "installed_declared_type",
    "CertifiedSigner",
    "KeystoreError",
    "CertificateError",
    "KeyFileError",
    "TpmError",
    "TokenError",
]

DEFAULT_DIR = Path("/var/lib/ksef-edge/keystore")
BACKENDS = ("file", "tpm")


@dataclass(frozen=True)
class KeystoreConfig:
    """`[keystore]` of the device TOML. The passphrase itself is never part of the config."""

    backend: str = "tpm"  # "file" | "tpm"
    key_path: Path = DEFAULT_DIR / "offline-key.pem"
    cert_path: Path = DEFAULT_DIR / "offline-cert.pem"
    token_path: Path = DEFAULT_DIR / "ksef-token.json"
    passphrase_credential: str | None = "ksef-key-passphrase"  # systemd LoadCredential= name
    passphrase_file: Path | None = None  # explicit file instead of the credential
    tcti: str = "device:/dev/tpmrm0"
    declared_certificate_type: str | None = None  # "Offline" to accept a certificate without KSeF key usage
    key_algorithm: str = "ec"  # "ec" (P-256, recommended: smaller KOD II) | "rsa" (2048)

    def __post_init__(self) -> None:
        # ValueError (not KeystoreError): the config loader turns it into "[keystore] ..." naming the key.
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be \"file\" or \"tpm\", not {self.backend!r}")
        if self.key_algorithm not in ("ec", "rsa"):
            raise ValueError(f"key_algorithm must be \"ec\" (P-256) or \"rsa\" (2048), not {self.key_algorithm!r}")
        if self.declared_certificate_type not in (None, "", "Offline", "Authentication"):
            raise ValueError("declared_certificate_type must be \"Offline\" (or left out)")
        for name in ("key_path", "cert_path", "token_path", "passphrase_file"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    def passphrase_source(self) -> PassphraseSource:
        return PassphraseSource(credential=self.passphrase_credential, file=self.passphrase_file)


def _meta_path(cfg: KeystoreConfig) -> Path:
    return cfg.cert_path.with_name(cfg.cert_path.name + ".meta.json")


def installed_declared_type(cfg: KeystoreConfig) -> str | None:
    """The type declared at `cert install --type`, unless the config overrides it."""
    if cfg.declared_certificate_type:
        return normalize_certificate_type(cfg.declared_certificate_type)
    try:
        return normalize_certificate_type(json.loads(_meta_path(cfg).read_text()).get("declared_type"))
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def open_key(cfg: KeystoreConfig) -> KeyBackend:
    """The key in custody (caller must `close()` it)."""
    if not cfg.key_path.exists():
        raise KeyFileError(
            "no_key",
            f"no offline key at {cfg.key_path}; create one with `ksef-edge key generate --backend {cfg.backend}`",
        )
    if cfg.backend == "tpm":
        from .tpm_backend import load_tpm_key

        return load_tpm_key(cfg.tcti, cfg.key_path)
    from .file_backend import load_file_key

    return load_file_key(cfg.key_path, cfg.passphrase_source())


def generate_key(cfg: KeystoreConfig, *, algorithm: str | None = None, force: bool = False) -> KeyBackend:
    """New key in the configured backend; never replaces an existing key unless `force`."""
    algorithm = algorithm or cfg.key_algorithm
    backend: KeyBackend
    if cfg.backend == "tpm":
        from .tpm_backend import generate_tpm_key

        backend = generate_tpm_key(cfg.tcti, cfg.key_path, algorithm=algorithm, force=force)
    else:
        from .file_backend import generate_file_key

        backend = generate_file_key(cfg.key_path, cfg.passphrase_source(), algorithm=algorithm, force=force)
    from .sign_probe import probe_key

    try:  # a key whose KOD II KSeF would not verify is not kept (e.g. a TPM signing PSS with the maximum salt)
        probe_key(backend, backend_name="TPM" if cfg.backend == "tpm" else "pliku")
    except BaseException:
        backend.close()
        cfg.key_path.unlink(missing_ok=True)
        raise
    return backend


def read_installed_certificate(cfg: KeystoreConfig) -> CertificateInfo:
    try:
        data = cfg.cert_path.read_bytes()
    except FileNotFoundError:
        raise CertificateError(
            "no_certificate",
            f"no Offline certificate installed ({cfg.cert_path}); install the one KSeF issued for this device's key "
            "with `ksef-edge cert install FILE`",
        ) from None
    return load_certificate(data)


def open_signer(cfg: KeystoreConfig, *, seller_nip: str, now: datetime | None = None) -> CertifiedSigner:
    """A checked Signer, or a KeystoreError naming the problem and the fix (never a half-checked signer)."""
    now = now or datetime.now(timezone.utc)
    info = read_installed_certificate(cfg)
    backend = open_key(cfg)
    try:
        warnings = check_offline_certificate(
            info,
            seller_nip=seller_nip,
            public_key_of_private_key=backend.public_key(),
            now=now,
            declared_type=installed_declared_type(cfg),
        )
    except BaseException:
        backend.close()
        raise
    return CertifiedSigner(backend, info, warnings)


def install_certificate(
    cfg: KeystoreConfig,
    data: bytes,
    *,
    seller_nip: str,
    declared_type: str | None = None,
    now: datetime | None = None,
) -> tuple[CertificateInfo, list[str]]:
    """Run every check against the key in custody, then install the certificate (PEM) and its declared type."""
    from asn1crypto import pem as asn1_pem

    from .files import write_private_file

    now = now or datetime.now(timezone.utc)
    declared = normalize_certificate_type(declared_type) or (
        normalize_certificate_type(cfg.declared_certificate_type) if cfg.declared_certificate_type else None
    )
    info = load_certificate(data)
    backend = open_key(cfg)
    try:
        warnings = check_offline_certificate(
            info, seller_nip=seller_nip, public_key_of_private_key=backend.public_key(), now=now, declared_type=declared
        )
    finally:
        backend.close()
    write_private_file(cfg.cert_path, asn1_pem.armor("CERTIFICATE", info.der), overwrite=True, what="certificate", mode=0o644)
    meta = {"declared_type": declared, "serial": info.serial, "installed_at": now.isoformat()}
    write_private_file(_meta_path(cfg), json.dumps(meta).encode() + b"\n", overwrite=True, what="certificate metadata", mode=0o644)
    return info, warnings
