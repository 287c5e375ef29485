"""PNG picture of exactly what the printer gets: the same blocks, the same QR module size, DejaVu Sans Mono.

For support, the demo, and shops without a printer (`ksef-edge receipt ID --png out.png`).
"""
from __future__ import annotations

import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from . import PrinterConfig
from .escpos_output import qr_image, qr_module_dots
from .receipt_layout import Block, QrBlock, TextLine

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_REGULAR = FONT_DIR / "DejaVuSansMono.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSansMono-Bold.ttf"
MARGIN = 16  # white border so the picture reads like a slip of paper


@lru_cache(maxsize=8)
def _fonts(columns: int, width: int) -> tuple[ImageFont.FreeTypeFont, ImageFont.FreeTypeFont]:
    """The largest font size at which `columns` characters fit `width` pixels, as the printer's font A does."""
    for path in (FONT_REGULAR, FONT_BOLD):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; install the Debian package fonts-dejavu-core")
    size = 40
    while size > 6 and ImageFont.truetype(str(FONT_BOLD), size).getlength("M" * columns) > width:
        size -= 1
    return ImageFont.truetype(str(FONT_REGULAR), size), ImageFont.truetype(str(FONT_BOLD), size)


def render_preview(blocks: Iterable[Block], cfg: PrinterConfig) -> Image.Image:
    """The receipt as a 1-bit image `cfg.print_width_dots` wide (plus margins), one pixel per printer dot."""
    columns, width = cfg.line_columns, cfg.print_width_dots
    regular, bold = _fonts(columns, width)
    ascent, descent = bold.getmetrics()
    line_height = ascent + descent + 2
    char_width = bold.getlength("M")
    pieces: list[Image.Image] = []
    for block in blocks:
        if isinstance(block, TextLine):
            piece = Image.new("1", (width, line_height), 1)
            text = block.text
            pad = columns - len(text)
            offset = {"left": 0, "center": pad // 2, "right": pad}[block.align] if pad > 0 else 0
            ImageDraw.Draw(piece).text((offset * char_width, 1), text, font=bold if block.bold else regular, fill=0)
            if block.double_height:
                piece = piece.resize((width, line_height * 2), Image.Resampling.NEAREST)
            pieces.append(piece)
        elif isinstance(block, QrBlock):
            pieces.append(qr_image(block.payload, qr_module_dots(block.payload, width), width))
    height = sum(p.height for p in pieces)
    sheet = Image.new("1", (width + 2 * MARGIN, height + 2 * MARGIN), 1)
    y = MARGIN
    for piece in pieces:
        sheet.paste(piece, (MARGIN + (width - piece.width) // 2, y))
        y += piece.height
    return sheet


def preview_png(blocks: Iterable[Block], cfg: PrinterConfig) -> bytes:
    buf = io.BytesIO()
    render_preview(blocks, cfg).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_preview(blocks: Iterable[Block], cfg: PrinterConfig, path: str | Path) -> Path:
    """Write the PNG atomically (temp file + rename), so a reader never sees half a picture."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(preview_png(blocks, cfg))
    tmp.replace(target)
    return target


__all__ = ["preview_png", "render_preview", "write_preview"]
