"""A small, strict ESC/POS reader for tests: what a printer would do with the bytes we send.

It knows the commands python-escpos emits for receipts and fails loudly on anything else, so an unexpected
byte sequence is a test failure rather than garbage on paper. Text is decoded with the code page the
bytes selected (`ESC t n`), using the slot -> codec map the test says the printer has.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

ESC, GS, LF = 0x1B, 0x1D, 0x0A

# ESC commands followed by one parameter byte (bold, underline, print mode, align, font, feed, ...).
_ESC_ONE = {ord(c) for c in "E-!aMdJ3{rGV"}
_GS_ONE = {ord(c) for c in "!B|bHhwf"}


@dataclass
class Text:
    text: str
    bold: bool
    align: str
    double_height: bool
    codepage: int | None


@dataclass
class Qr:
    payload: str
    module_size: int | None
    ecc: str | None  # "L", "M", "Q", "H"


@dataclass
class Raster:
    image: Image.Image


@dataclass
class Cut:
    mode: int


@dataclass
class Parsed:
    events: list = field(default_factory=list)
    codepages: list[int] = field(default_factory=list)

    @property
    def lines(self) -> list[Text]:
        return [e for e in self.events if isinstance(e, Text)]

    @property
    def text(self) -> str:
        return "\n".join(e.text for e in self.lines)

    @property
    def qr_payloads(self) -> list[str]:
        return [e.payload for e in self.events if isinstance(e, Qr)]

    @property
    def rasters(self) -> list[Image.Image]:
        return [e.image for e in self.events if isinstance(e, Raster)]

    @property
    def cuts(self) -> list[Cut]:
        return [e for e in self.events if isinstance(e, Cut)]


class EscPosParseError(ValueError):
    pass


def parse(data: bytes, codepages: dict[int, str] | None = None) -> Parsed:
    """Parse receipt bytes; `codepages` maps ESC t slots to Python codecs (default: 0 cp437, 18 cp852)."""
    pages = {0: "cp437", 18: "cp852"} if codepages is None else codepages
    out = Parsed()
    bold, align, dh, page = False, "left", False, 0
    line = bytearray()
    qr_size: int | None = None
    qr_ecc: str | None = None
    i, n = 0, len(data)

    def need(k: int) -> bytes:
        if i + k > n:
            raise EscPosParseError(f"truncated command at offset {i}")
        return data[i:i + k]

    def flush() -> None:
        if page not in pages and any(b >= 0x80 for b in line):
            raise EscPosParseError(f"text uses code page slot {page}, which this printer map does not know")
        out.events.append(Text(bytes(line).decode(pages.get(page, "ascii")), bold, align, dh, page))
        line.clear()

    while i < n:
        b = data[i]
        if b == LF:
            flush()
            i += 1
        elif b == ESC:
            cmd = need(2)[1]
            if cmd == ord("@"):
                bold, align, dh, page = False, "left", False, 0
                i += 2
            elif cmd == ord("t"):
                page = need(3)[2]
                out.codepages.append(page)
                i += 3
            elif cmd == ord("2"):
                i += 2
            elif cmd in _ESC_ONE:
                arg = need(3)[2]
                if cmd == ord("E"):
                    bold = bool(arg & 1)
                elif cmd == ord("!"):
                    bold, dh = bool(arg & 0x08), bool(arg & 0x10)
                elif cmd == ord("a"):
                    align = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}[arg]
                elif cmd == ord("d"):
                    for _ in range(arg):
                        flush()
                i += 3
            else:
                raise EscPosParseError(f"unknown command ESC 0x{cmd:02x} at offset {i}")
        elif b == GS:
            cmd = need(2)[1]
            if cmd == ord("V"):
                mode = need(3)[2]
                i += 4 if mode in (65, 66) else 3
                out.events.append(Cut(mode))
            elif cmd == ord("("):
                kind = need(3)[2]
                length = int.from_bytes(need(5)[3:5], "little")
                body = need(5 + length)[5:]
                if kind == ord("k") and body[0] == 49:  # cn=49: QR code
                    fn = body[1]
                    if fn == 67:
                        qr_size = body[2]
                    elif fn == 69:
                        qr_ecc = "LMQH"[body[2] - 48]
                    elif fn == 80:
                        out.events.append(Qr(body[3:].decode("utf-8"), qr_size, qr_ecc))
                elif kind != ord("L"):
                    raise EscPosParseError(f"unknown command GS ( {chr(kind)} at offset {i}")
                i += 5 + length
            elif cmd == ord("v"):
                head = need(8)
                width_bytes = int.from_bytes(head[4:6], "little")
                height = int.from_bytes(head[6:8], "little")
                raster = need(8 + width_bytes * height)[8:]
                img = Image.frombytes("1", (width_bytes * 8, height), raster)
                # ESC/POS: bit set = black dot; PIL "1": bit set = white. Invert.
                out.events.append(Raster(Image.eval(img.convert("L"), lambda v: 255 - v)))
                i += 8 + width_bytes * height
            elif cmd in _GS_ONE:
                i += 3
            else:
                raise EscPosParseError(f"unknown command GS 0x{cmd:02x} at offset {i}")
        elif b < 0x20 and b not in (0x0D,):
            raise EscPosParseError(f"unexpected control byte 0x{b:02x} at offset {i}")
        else:
            line.append(b)
            i += 1
    if line:
        flush()
    return out
