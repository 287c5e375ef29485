"""Device configuration: one TOML file -> frozen dataclasses.

Every problem becomes a `ConfigError` naming the key (`[api] token_file`) and the fix, so a shop
owner or the fleet updater sees one actionable line instead of a traceback. Secrets are never
inline in the TOML: the POS token is read from a file or a systemd credential.
"""
from __future__ import annotations

import dataclasses
import enum
import os
import re
import string
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from .archive.settings import BackupConfig
from .config_error import ConfigError
from .domain.nip import is_valid_nip
from .keystore import KeystoreConfig
from .ksef.settings import KsefConfig, KsefEnvironment, OutageOverride, finish_ksef, parse_outages
from .loopback import is_loopback
from .printing import PrinterConfig

__all__ = ["Config", "ConfigError", "KsefConfig", "KsefEnvironment", "OutageOverride", "load_config", "parse_config"]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")

TOKEN_MIN_CHARS = 16
SERIES_FIELDS = frozenset({"pos", "yyyy", "yy", "mm", "dd", "seq"})


@dataclass(frozen=True)
class DeviceConfig:
    pos_id: str
    series_pattern: str = "FV/{pos}/{yyyy}/{mm}/{seq:06}"
    place_of_issue: str | None = None
    correction_series_pattern: str = "KOR/{pos}/{yyyy}/{mm}/{seq:06}"  # correction invoices (KOR), own numbering


@dataclass(frozen=True)
class SellerConfig:
    nip: str
    name: str
    address_line1: str
    address_line2: str | None = None
    country: str = "PL"


@dataclass(frozen=True)
class ApiConfig:
    token: str = field(repr=False)  # read from token_file / credential, never from the TOML itself
    listen_host: str = "127.0.0.1"
    listen_port: int = 8787
    unix_socket: Path | None = None
    body_bytes_max: int = 65536
    shutdown_timeout_s: float = 10.0
    # bounded resources (api/connections.py): a cap, request-head/body deadlines, keep-alive limits
    connections_max: int = 256
    header_timeout_s: float = 10.0  # a complete request head within this (also the keep-alive idle limit)
    body_timeout_s: float = 30.0
    keepalive_requests_max: int = 1000
    # the shop's LAN (api/tls.py, api/host_check.py; docs/api.md "On the shop's LAN")
    tls_cert_file: Path | None = None  # with tls_key_file: the API speaks only TLS
    tls_key_file: Path | None = None
    allowed_hosts: tuple[str, ...] = ()  # names/addresses a POS may use in Host (loopback ones always allowed)
    allow_plain_http_on_lan: bool = False  # a non-loopback listen_host without TLS: refused unless this is true
    metrics_token: str | None = field(default=None, repr=False)  # read from metrics_token_file; /metrics needs it


@dataclass(frozen=True)
class StoreConfig:
    path: Path
    busy_timeout_ms: int = 5000


@dataclass(frozen=True)
class ClockConfig:
    floor_tolerance_s: float = 2.0
    require_sync: bool = False


@dataclass(frozen=True)
class Config:
    source: Path
    device: DeviceConfig
    seller: SellerConfig
    api: ApiConfig
    store: StoreConfig
    keystore: KeystoreConfig
    printer: PrinterConfig | None  # None when [printer] is absent
    ksef: KsefConfig
    clock: ClockConfig
    backup: BackupConfig | None = None  # None when [backup] is absent
    reprint_on_accept: bool = False  # [printer] reprint_on_accept: reprint with the KSeF number under KOD I


# --------------------------------------------------------------------------------------------- load


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check the device TOML; raises ConfigError naming the first bad key."""
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("config", f"file {source} does not exist; copy firmware-config/device.example.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"cannot read {source}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{source} is not valid TOML: {exc}") from None
    return parse_config(raw, base_dir=source.parent, source=source)


def parse_config(raw: Mapping[str, Any], *, base_dir: Path, source: Path | None = None) -> Config:
    known = {"device", "seller", "api", "store", "keystore", "printer", "ksef", "clock", "backup"}
    for name in raw:
        if name not in known:
            raise ConfigError(name, f"unknown section; expected one of {', '.join(sorted(known))}")
        if not isinstance(raw[name], dict):
            raise ConfigError(name, "must be a table, e.g. [" + name + "]")
    for required in ("device", "seller", "api", "store", "keystore"):
        if required not in raw:
            raise ConfigError(required, "section is missing")

    device = _build(DeviceConfig, raw["device"], "device", base_dir)
    _check_series_pattern(device.series_pattern)
    _check_series_pattern(device.correction_series_pattern, "device.correction_series_pattern")
    if _series_text(device.correction_series_pattern) == _series_text(device.series_pattern):
        raise ConfigError("device.correction_series_pattern",
                          "must differ from device.series_pattern before {seq} (e.g. \"KOR/{pos}/{yyyy}/{mm}/{seq:06}\"), "
                          "so corrections are numbered in their own series")
    if not device.pos_id.strip() or any(c in device.pos_id for c in "/\\ "):
        raise ConfigError("device.pos_id", "must be a short non-empty id without spaces or slashes, e.g. \"KASA1\"")

    seller = _build(SellerConfig, raw["seller"], "seller", base_dir)
    if not is_valid_nip(seller.nip):
        raise ConfigError("seller.nip", f"{seller.nip!r} is not a valid NIP (10 digits with a correct checksum)")

    api_raw = dict(raw["api"])
    token = _read_token(api_raw, base_dir)
    metrics_token = _read_metrics_token(api_raw, base_dir)
    secrets_ = {"token": token, **({"metrics_token": metrics_token} if metrics_token is not None else {})}
    api = _build(ApiConfig, {**api_raw, **secrets_}, "api", base_dir)
    if not 0 < api.listen_port < 65536:
        raise ConfigError("api.listen_port", "must be 1..65535")
    if not 1024 <= api.body_bytes_max <= 1 << 20:
        raise ConfigError("api.body_bytes_max", "must be between 1024 and 1048576 bytes")
    _check_api_limits(api)
    _check_api_lan(api)

    store = _build(StoreConfig, raw["store"], "store", base_dir)

    ksef_raw = dict(raw.get("ksef", {}))
    outages = parse_outages(ksef_raw.pop("outages", []))
    ksef = _build(KsefConfig, ksef_raw, "ksef", base_dir)
    ksef = finish_ksef(dataclasses.replace(ksef, outages=outages), ksef_raw, seller.nip)

    clock = _build(ClockConfig, raw.get("clock", {}), "clock", base_dir)
    if clock.floor_tolerance_s < 0:
        raise ConfigError("clock.floor_tolerance_s", "must be >= 0 seconds")

    keystore = _build(KeystoreConfig, raw["keystore"], "keystore", base_dir)
    printer_raw = dict(raw.get("printer", {}))
    reprint_on_accept = _coerce(printer_raw.pop("reprint_on_accept", False), bool, "printer.reprint_on_accept", base_dir)
    printer = (
        _build(PrinterConfig, printer_raw, "printer", base_dir)
        if "printer" in raw
        else None
    )
    backup = (
        _build(BackupConfig, raw["backup"], "backup", base_dir)
        if "backup" in raw
        else None
    )
    return Config(
        source=source or base_dir,
        device=device,
        seller=seller,
        api=api,
        store=store,
        keystore=keystore,
        printer=printer,
        ksef=ksef,
        clock=clock,
        backup=backup,
        reprint_on_accept=reprint_on_accept,
    )


# ------------------------------------------------------------------------------------------ helpers


def _check_api_lan(api: ApiConfig) -> None:
    if (api.tls_cert_file is None) != (api.tls_key_file is None):
        raise ConfigError("api.tls_cert_file", "set both tls_cert_file and tls_key_file (ksef-edge tls init), or neither")
    if api.unix_socket is None and not is_loopback(api.listen_host) and api.tls_cert_file is None \
            and not api.allow_plain_http_on_lan:
        raise ConfigError(
            "api.listen_host",
            f"{api.listen_host} is reachable from the LAN but the API has no TLS: the POS token would cross the network "
            "in clear text. Run `ksef-edge tls init` and set tls_cert_file/tls_key_file (or, knowingly, "
            "allow_plain_http_on_lan = true)",
        )


def _check_api_limits(api: ApiConfig) -> None:
    if not 16 <= api.connections_max <= 16384:
        raise ConfigError("api.connections_max", "must be 16..16384 (the unit's LimitNOFILE must exceed it by 256)")
    for name in ("header_timeout_s", "body_timeout_s"):
        if not 1 <= getattr(api, name) <= 600:
            raise ConfigError(f"api.{name}", "must be 1..600 seconds")
    if not 1 <= api.keepalive_requests_max <= 1_000_000:
        raise ConfigError("api.keepalive_requests_max", "must be 1..1000000")


def _read_metrics_token(api_raw: dict[str, Any], base_dir: Path) -> str | None:
    """`[api] metrics_token_file`: Prometheus on the LAN sends it as a bearer token to /metrics."""
    if "metrics_token" in api_raw:
        raise ConfigError("api.metrics_token", "secrets are not allowed inline; set metrics_token_file")
    raw = api_raw.pop("metrics_token_file", None)
    if raw is None:
        return None
    path = _path(raw, "api.metrics_token_file", base_dir)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError("api.metrics_token_file", f"cannot read {path}: {exc}") from None
    if len(token) < TOKEN_MIN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError("api.metrics_token_file", f"token in {path} must be at least {TOKEN_MIN_CHARS} printable characters")
    return token


def _read_token(api_raw: dict[str, Any], base_dir: Path) -> str:
    """The POS bearer token: from `token_file` or a systemd credential (`token_credential`)."""
    if "token" in api_raw:
        raise ConfigError("api.token", "secrets are not allowed inline; put the token in a file and set token_file")
    token_file = api_raw.pop("token_file", None)
    credential = api_raw.pop("token_credential", None)
    if token_file is None and credential is None:
        raise ConfigError("api.token_file", "missing; set token_file = \"/etc/ksef-edge/pos-token\" (or token_credential)")
    if credential is not None:
        if not isinstance(credential, str) or not credential or "/" in credential:
            raise ConfigError("api.token_credential", "must be a systemd credential name such as \"pos-token\"")
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        if cred_dir and (Path(cred_dir) / credential).exists():
            path, key = Path(cred_dir) / credential, "api.token_credential"
        elif token_file is None:
            raise ConfigError(
                "api.token_credential",
                f"credential {credential!r} not found ($CREDENTIALS_DIRECTORY unset or missing it; "
                "add LoadCredential=pos-token:/etc/ksef-edge/pos-token to the unit)",
            )
        else:
            path, key = _path(token_file, "api.token_file", base_dir), "api.token_file"
    else:
        path, key = _path(token_file, "api.token_file", base_dir), "api.token_file"
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(key, f"file {path} does not exist; create it with e.g. `openssl rand -hex 24 > {path}`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.__class__.__name__}") from None
    if len(token) < TOKEN_MIN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(key, f"token in {path} must be at least {TOKEN_MIN_CHARS} printable characters without spaces")
    return token


def _series_text(pattern: str) -> str:
    """The pattern with {seq} blanked: two patterns with the same text would share one numbering."""
    return re.sub(r"\{seq(:[^}]*)?\}", "#", pattern)


def _check_series_pattern(pattern: str, key: str = "device.series_pattern") -> None:
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ConfigError(key, f"not a valid pattern: {exc}") from None
    names = [name for _, name, _, _ in parsed if name is not None]
    unknown = [n for n in names if n not in SERIES_FIELDS]
    if unknown:
        raise ConfigError(
            key, f"unknown placeholder {{{unknown[0]}}}; use {{pos}} {{yyyy}} {{yy}} {{mm}} {{dd}} {{seq}}"
        )
    if names.count("seq") != 1:
        raise ConfigError(key, "must contain {seq} exactly once (e.g. {seq:06})")
    try:
        rendered = pattern.format(pos="P", yyyy="2026", yy="26", mm="01", dd="01", seq=999999)
    except (ValueError, IndexError, KeyError) as exc:
        raise ConfigError(key, f"cannot be rendered: {exc}") from None
    if len(rendered) > 200:
        raise ConfigError(key, "renders too long (FA(3) P_2 allows 256 characters)")


def _build(cls: type[D], section: Mapping[str, Any], prefix: str, base_dir: Path) -> D:
    """Map a TOML table onto a dataclass, coercing by annotation; unknown/missing keys are errors."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for name, value in section.items():
        if name not in fields:
            raise ConfigError(f"{prefix}.{name}", f"unknown key; known keys: {', '.join(sorted(fields))}")
        kwargs[name] = _coerce(value, hints[name], f"{prefix}.{name}", base_dir)
    for name, f in fields.items():
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}.{name}", "missing (required)")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except Exception as exc:  # the other layer's own check (KeystoreError, PrinterConfigError, ValueError)
        message = str(getattr(exc, "message", None) or exc)
        named = re.match(rf"^{re.escape(prefix)}\.(\w+):\s*(.*)$", message, re.S)
        if named:
            raise ConfigError(f"{prefix}.{named.group(1)}", named.group(2)) from None
        field_name = getattr(exc, "field", None)
        first, _, rest = message.partition(" ")
        if not field_name and first.rstrip(":") in fields and rest:  # "backend must be ..." names its key
            field_name, message = first.rstrip(":"), rest
        raise ConfigError(f"{prefix}.{field_name}" if field_name else prefix, message) from None


def _coerce(value: Any, hint: Any, key: str, base_dir: Path) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return _coerce(value, options[0], key, base_dir)
        return value
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, not {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"must be a number, not {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, not {value!r}")
        return value
    if hint is Path:
        return _path(value, key, base_dir)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(key, f"{value!r} is not allowed; use one of {allowed}") from None
    if origin in (tuple, list) and isinstance(value, list):
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{key}[{i}]", base_dir) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    return value


def _path(value: Any, key: str, base_dir: Path) -> Path:
    """Relative paths are relative to the config file, so a config dir is self-contained."""
    if not isinstance(value, str) or not value:
        raise ConfigError(key, f"must be a path string, not {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
