"""Thermal receipt printing: printer configuration and the connection to a python-escpos printer.

The layout (`receipt_layout`), bytes (`escpos_output`), preview (`preview`) and worker (`print_queue`)
all take a `PrinterConfig`, so the device config embeds one object and every key has one name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from . import capabilities_cache

capabilities_cache.configure()  # before python-escpos is first imported (its printer database cache)

Connection = Literal["usb", "network", "serial", "file", "none"]
Paper = Literal["58mm", "80mm"]

# Printable dots at 203 dpi when the profile does not say: 48 mm of a 58 mm roll, 64 mm of an 80 mm roll
# (72 mm printers have 576 dots; 512 is what the common TM-T88 family prints, so it is the safe default).
_DEFAULT_DOTS = {"58mm": 384, "80mm": 512}
_DEFAULT_COLUMNS = {"58mm": 32, "80mm": 42}


class PrinterError(Exception):
    """The printer could not take the receipt now (off, unplugged, out of paper, write failed): retry later."""


class PrinterConfigError(ValueError):
    """A printer setting is wrong; the message names the `printer.*` key and how to fix it."""


@dataclass(frozen=True)
class PrinterConfig:
    """How to reach the printer and what it can do. Defaults suit an Epson-compatible 80 mm printer."""

    connection: Connection = "none"
    usb_vendor: int | None = None  # e.g. 0x04B8 (Epson)
    usb_product: int | None = None  # e.g. 0x0E15 (TM-T20II)
    host: str | None = None
    port: int = 9100
    serial_device: str | None = None  # e.g. /dev/ttyUSB0
    serial_baudrate: int = 9600
    file_path: str | None = None  # e.g. /dev/usb/lp0, or a plain file as a sink
    profile: str = "default"  # python-escpos profile name, e.g. "TM-T20II", "POS-5890"
    paper: Paper = "80mm"
    columns: int | None = None  # characters per line in font A; default 32 (58 mm) / 42 (80 mm)
    width_dots: int | None = None  # printable width in dots; default from the profile or the paper
    codepage: str = "CP852"  # code page for Polish letters (CP852, CP1250 or ISO_8859-2)
    codepage_slot: int | None = None  # ESC t n for that code page; default from the profile
    native_qr: bool | None = None  # GS ( k on the printer; default from the profile, else raster image
    cut: bool | None = None  # cut at the end; default from the profile
    timeout_s: float = 10.0  # network connect/write timeout
    realtime_status: bool = True  # ask DLE EOT status on usb/network/serial (false: a printer that misreads it)

    def __post_init__(self) -> None:
        _check(self.connection in ("usb", "network", "serial", "file", "none"), "connection",
               f"unknown connection {self.connection!r}; use usb, network, serial, file or none")
        _check(self.paper in _DEFAULT_DOTS, "paper", f"unknown paper {self.paper!r}; use 58mm or 80mm")
        if self.connection == "usb":
            _check(self.usb_vendor is not None and self.usb_product is not None, "usb_vendor",
                   "a USB printer needs usb_vendor and usb_product (see `lsusb`, e.g. 04b8:0e15)")
        if self.connection == "network":
            _check(bool(self.host), "host", "a network printer needs host (its IP address); port defaults to 9100")
        if self.connection == "serial":
            _check(bool(self.serial_device), "serial_device", "a serial printer needs serial_device, e.g. /dev/ttyUSB0")
        if self.connection == "file":
            _check(bool(self.file_path), "file_path", "a file/device printer needs file_path, e.g. /dev/usb/lp0")
        if self.columns is not None:
            _check(16 <= self.columns <= 64, "columns", f"columns={self.columns} is out of range; use 32 for 58 mm, 42 or 48 for 80 mm")
        if self.codepage_slot is not None:
            _check(0 <= self.codepage_slot <= 255, "codepage_slot", "codepage_slot is the n of ESC t n (0-255)")
        self.encoding_name  # validates codepage
        try:
            self._profile()
        except Exception as exc:  # python-escpos raises its own NotSupported error
            raise PrinterConfigError(f"printer.profile: unknown printer profile {self.profile!r} ({exc}); "
                                     "use 'default' for Epson-compatible printers or a model name such as TM-T20II") from None

    def _profile(self) -> Any:
        from escpos.capabilities import get_profile

        return get_profile(self.profile)

    @property
    def line_columns(self) -> int:
        return self.columns if self.columns is not None else _DEFAULT_COLUMNS[self.paper]

    @property
    def print_width_dots(self) -> int:
        """Dots available for a QR image: the configured width, else the profile's, capped by the paper."""
        if self.width_dots is not None:
            return self.width_dots
        pixels = self._profile().profile_data.get("media", {}).get("width", {}).get("pixels")
        default = _DEFAULT_DOTS[self.paper]
        return min(int(pixels), default) if isinstance(pixels, int) else default

    @property
    def encoding_name(self) -> str:
        """python-escpos' canonical name of the configured code page (e.g. "CP852")."""
        from escpos.codepages import CodePages

        try:
            name = CodePages.get_encoding_name(self.codepage)
            CodePages.get_encoding(name)["python_encode"]
        except (KeyError, LookupError, ValueError):
            raise PrinterConfigError(f"printer.codepage: unknown code page {self.codepage!r}; "
                                     "use CP852 (most printers), CP1250 or ISO_8859-2") from None
        return name

    @property
    def python_codec(self) -> str:
        from escpos.codepages import CodePages

        return CodePages.get_encoding(self.encoding_name)["python_encode"]

    @property
    def escpos_codepage_slot(self) -> int:
        """The n of `ESC t n` that selects the code page: configured, else from the profile."""
        if self.codepage_slot is not None:
            return self.codepage_slot
        for slot, name in self._profile().profile_data.get("codePages", {}).items():
            if name == self.encoding_name:
                return int(slot)
        raise PrinterConfigError(
            f"printer.codepage_slot: profile {self.profile!r} does not list {self.encoding_name}; "
            f"set codepage_slot to the ESC t number your printer's self-test page shows for {self.encoding_name}")

    @property
    def use_native_qr(self) -> bool:
        if self.native_qr is not None:
            return self.native_qr
        return bool(self._profile().supports("qrCode"))

    @property
    def use_cut(self) -> bool:
        if self.cut is not None:
            return self.cut
        profile = self._profile()
        return bool(profile.supports("paperFullCut") or profile.supports("paperPartCut"))


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise PrinterConfigError(f"printer.{key}: {message}")


def escpos_kwargs(cfg: PrinterConfig) -> dict[str, Any]:
    """Arguments for any python-escpos printer class: the profile and an encoder limited to our code page,
    so text can never switch silently to another page (e.g. CP1257 on cheap clones)."""
    from escpos.magicencode import Encoder

    return {"profile": cfg.profile,
            "magic_encode_args": {"encoder": Encoder({cfg.encoding_name: cfg.escpos_codepage_slot})}}


def open_printer(cfg: PrinterConfig) -> Any:
    """A python-escpos printer for `cfg`, not yet connected (it connects on `open()` or the first write)."""
    from escpos import printer

    kwargs = escpos_kwargs(cfg)
    if cfg.connection == "usb":
        if not printer.Usb.is_usable():
            raise PrinterConfigError("printer.connection: USB printing needs the pyusb package (pip install pyusb) and libusb-1.0")
        return printer.Usb(cfg.usb_vendor, cfg.usb_product, timeout=int(cfg.timeout_s * 1000), **kwargs)
    if cfg.connection == "network":
        return printer.Network(cfg.host, cfg.port, timeout=cfg.timeout_s, **kwargs)
    if cfg.connection == "serial":
        if not printer.Serial.is_usable():
            raise PrinterConfigError("printer.connection: serial printing needs the pyserial package (pip install pyserial)")
        return printer.Serial(cfg.serial_device, baudrate=cfg.serial_baudrate, timeout=cfg.timeout_s, **kwargs)
    if cfg.connection == "file":
        return printer.File(cfg.file_path, **kwargs)
    raise PrinterConfigError("printer.connection: no printer is configured (connection = 'none'); "
                             "set usb, network, serial or file, or use the PNG preview")


__all__ = ["PrinterConfig", "PrinterConfigError", "PrinterError", "escpos_kwargs", "open_printer"]
