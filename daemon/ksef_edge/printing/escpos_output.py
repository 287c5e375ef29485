"""Receipt blocks -> ESC/POS bytes (python-escpos), and the bytes -> a real printer.

Rendering happens into python-escpos' `Dummy`, so one byte string is what a file sink, a test and a printer
receive; sending is one write, and any failure surfaces as `PrinterError` for the queue to retry.
A network printer's receipt counts as sent only when the printer ended the job (`_end_of_network_job`):
a successful `send()` on a socket only means the bytes reached our own kernel's buffer.
"""
from __future__ import annotations

import fcntl
import socket
import struct
import termios
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, cast

import segno
from PIL import Image

from . import PrinterConfig, PrinterError, escpos_kwargs, open_printer
from .receipt_layout import Block, QrBlock, TextLine, UnprintableTextError

QUIET_ZONE = 4  # modules, the ISO/IEC 18004 default (protocol.md §6.3)
MAX_MODULE_DOTS = 8  # 1 mm modules at 203 dpi; bigger only wastes paper
MIN_MODULE_DOTS = 3  # 0.375 mm: below this phone cameras struggle with thermal print
END_OF_JOB_WAIT_S = 5.0  # at most this long for a network printer to close its side after the receipt


class QrTooLargeError(ValueError):
    """A QR code cannot fit the paper width at a scannable module size."""


@lru_cache(maxsize=16)
def qr_modules(payload: str, encoder: str = "auto") -> Image.Image:
    """The QR symbol at ECC level M exactly, one pixel per module, no quiet zone ("L" image, 0 = dark).

    zxing-cpp (C++) encodes a KOD II link in ~1.5 ms against segno's ~25 ms (platform-notes.md),
    so it is preferred; segno is the pure-Python fallback (with `boost_error=False`: ECC stays M)."""
    if encoder in ("auto", "zxing"):
        try:
            import zxingcpp
        except ImportError:
            if encoder == "zxing":
                raise
        else:
            code = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
            image = code.to_image(scale=1, add_quiet_zones=False)  # a 2-D uint8 buffer
            height, width = image.shape
            pixels = memoryview(cast(Any, image))  # zxingcpp.Image is a buffer; its stub does not say so
            return Image.frombytes("L", (width, height), pixels.tobytes())
    matrix = segno.make(payload, error="m", boost_error=False, micro=False).matrix
    img = Image.new("L", (len(matrix), len(matrix)), 255)
    img.putdata([0 if dark else 255 for row in matrix for dark in row])
    return img


def qr_version(payload: str) -> int:
    return (qr_modules(payload).width - 17) // 4


def qr_module_dots(payload: str, width_dots: int) -> int:
    """Module size in dots so the code plus its quiet zone fits `width_dots`, capped at `MAX_MODULE_DOTS`."""
    modules = qr_modules(payload).width + 2 * QUIET_ZONE
    size = min(MAX_MODULE_DOTS, width_dots // modules)
    if size < MIN_MODULE_DOTS:
        raise QrTooLargeError(
            f"a {len(payload)}-character QR link needs version {qr_version(payload)} ({modules} modules with the quiet "
            f"zone), which does not fit {width_dots} dots at {MIN_MODULE_DOTS} dots per module; use 80 mm paper or an "
            "EC P-256 Offline certificate (its KOD II link is about 215 characters instead of 470)")
    return size


def qr_image(payload: str, module_dots: int, width_dots: int | None = None, *, encoder: str = "auto") -> Image.Image:
    """The QR code as a 1-bit image with its quiet zone, centred on a `width_dots`-wide white strip."""
    modules = qr_modules(payload, encoder)
    side = modules.width + 2 * QUIET_ZONE
    framed = Image.new("L", (side, side), 255)
    framed.paste(modules, (QUIET_ZONE, QUIET_ZONE))
    img = framed.resize((side * module_dots, side * module_dots), Image.Resampling.NEAREST).convert("1")
    if width_dots is None or width_dots <= img.width:
        return img
    strip = Image.new("1", (width_dots - width_dots % 8, img.height), 1)
    strip.paste(img, ((strip.width - img.width) // 2, 0))
    return strip


def raster_command(img: Image.Image) -> bytes:
    """`GS v 0` for a 1-bit image (python-escpos' `image()` would print warnings to stdout for unknown widths)."""
    from escpos.image import EscposImage

    im = EscposImage(img)
    return (b"\x1dv0\x00" + im.width_bytes.to_bytes(2, "little") + im.height.to_bytes(2, "little")
            + im.to_raster_format())


def _check_encodable(text: str, codec: str) -> None:
    try:
        text.encode(codec)
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise UnprintableTextError(
            f"character {bad!r} (U+{ord(bad):04X}) in {text!r} cannot be printed in code page {codec}") from None


def render(blocks: Iterable[Block], cfg: PrinterConfig) -> bytes:
    """ESC/POS bytes of a receipt: reset, forced code page, text, QR codes (native or raster), cut."""
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy

    codec = cfg.python_codec
    width = cfg.print_width_dots
    native = cfg.use_native_qr
    p = Dummy(**escpos_kwargs(cfg))
    p.hw("INIT")  # resets a code page or style left over by another program
    p.charcode(cfg.encoding_name)  # ESC t <slot> once; text is then encoded only in this page
    style: tuple[bool, str, bool] | None = None
    for block in blocks:
        if isinstance(block, TextLine):
            _check_encodable(block.text, codec)  # python-escpos would print "?" silently
            wanted = (block.bold, block.align, block.double_height)
            if wanted != style:
                p.set(bold=block.bold, align=block.align, normal_textsize=not block.double_height,
                      double_height=block.double_height)
                style = wanted
            p.textln(block.text)
        elif isinstance(block, QrBlock):
            size = qr_module_dots(block.payload, width)
            p.set(align="center", bold=False, normal_textsize=True)
            style = None
            if native:
                p.qr(block.payload, ec=QR_ECLEVEL_M, size=size, native=True)
                p.ln()
            else:
                p._raw(raster_command(qr_image(block.payload, size, width)))
        else:  # pragma: no cover - Block is a closed union
            raise TypeError(f"unknown receipt block {block!r}")
    p.set(align="left", bold=False, normal_textsize=True)
    if cfg.use_cut:
        p.cut()  # feeds past the cutter, then GS V
    else:
        p.ln(4)  # tear-off margin
    return bytes(p.output)


def send(cfg: PrinterConfig, data: bytes) -> None:
    """Write a rendered receipt to the printer in one go; any failure becomes `PrinterError` with the cause."""
    printer = open_printer(cfg)
    try:
        printer.open()
        printer._raw(data)  # python-escpos' raw write (the bytes are already complete ESC/POS)
        if hasattr(printer, "flush"):
            printer.flush()
        sock = getattr(printer, "device", None) if cfg.connection == "network" else None
        if isinstance(sock, socket.socket):
            _end_of_network_job(sock, min(cfg.timeout_s, END_OF_JOB_WAIT_S))
    except Exception as exc:  # DeviceNotFoundError, OSError, USBError, SerialException ...
        raise PrinterError(f"{_where(cfg)}: {type(exc).__name__}: {str(exc).strip()}") from exc
    finally:
        try:
            printer.close()
        except Exception:  # closing a broken connection must not hide the real error
            printer._device = False  # or python-escpos retries the close in __del__


def _end_of_network_job(sock: socket.socket, wait_s: float) -> None:
    """Half-close and wait for the printer to close its side (EOF: it read the whole receipt).

    A printer that dropped the connection mid-receipt answers with a reset (raised here, so the job is
    retried, never recorded as printed). A printer that keeps the connection open past `wait_s` is
    accepted only if its TCP stack acknowledged every byte.
    """
    sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + wait_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(4096):  # status bytes a printer may send (ASB) are not needed here
                return
    except TimeoutError:
        pass
    unacked = _unacknowledged_bytes(sock)
    if unacked:
        raise ConnectionError(f"the printer did not take the last {unacked} bytes of the receipt within {wait_s:g} s")


def _unacknowledged_bytes(sock: socket.socket) -> int:
    """Bytes sent but not yet acknowledged by the peer (Linux SIOCOUTQ); 0 where it cannot be asked."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
    except OSError:
        return 0


def _where(cfg: PrinterConfig) -> str:
    return {
        "usb": f"USB printer {cfg.usb_vendor or 0:04x}:{cfg.usb_product or 0:04x}",
        "network": f"network printer {cfg.host}:{cfg.port}",
        "serial": f"serial printer {cfg.serial_device}",
        "file": f"printer device {cfg.file_path}",
    }.get(cfg.connection, "printer")


def print_blocks(cfg: PrinterConfig, blocks: Iterable[Block]) -> None:
    send(cfg, render(blocks, cfg))


__all__ = ["QrTooLargeError", "print_blocks", "qr_image", "qr_module_dots", "qr_modules", "qr_version",
           "raster_command", "render", "send"]
