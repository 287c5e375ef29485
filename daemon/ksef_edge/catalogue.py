"""The shop's own product list for the till page: `products.csv` next to the device config.

The owner edits it in a spreadsheet (semicolon or comma separated, UTF-8, a header row):

    name;price;vat;unit;exemption_basis;ean;plu
    Chleb żytni 800 g;12,90;5;szt;;5901234123457;101
    Panel podłogowy dąb;59,90;23;m²;;;
    Lekcja gry na pianinie;120,00;zw;h;art. 43 ust. 1 pkt 28 ustawy o VAT;;

`price` is the gross shelf price; `vat` one of 23, 8, 5, 0, zw (needs `exemption_basis`), oo, np.
The file is read again whenever it changes (no restart). A wrong row is left out and reported with
its line number and column, in Polish, so the owner knows what to fix; the good rows still show.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "products.csv"
FIELDS = ("name", "price", "vat", "unit", "exemption_basis", "ean", "plu")
RATES = ("23", "8", "5", "0", "zw", "oo", "np")
_PRICE = re.compile(r"^\d{1,8}([.,]\d{1,2})?$")
_DIGITS = re.compile(r"^\d{1,20}$")
MAX_BYTES = 2_000_000


@dataclass(frozen=True)
class Product:
    name: str
    price: str  # gross, plain decimal with a dot ("12.90")
    vat: str
    unit: str
    exemption_basis: str | None = None
    ean: str | None = None
    plu: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class CatalogueError:
    line: int
    field: str | None
    message: str  # Polish, for the shop owner

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


def parse_catalogue(text: str) -> tuple[list[Product], list[CatalogueError]]:
    """Rows -> products; every problem is an error naming the line (1 = header) and the column."""
    text = text.lstrip("\ufeff")  # spreadsheets save a BOM
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    products: list[Product] = []
    errors: list[CatalogueError] = []
    header: list[str] | None = None
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            unknown = [h for h in header if h not in FIELDS]
            missing = [f for f in ("name", "price", "vat") if f not in header]
            if unknown or missing:
                msg = "nagłówek musi zawierać kolumny name;price;vat (opcjonalnie unit;exemption_basis;ean;plu)"
                if unknown:
                    msg += f"; nieznana kolumna: {', '.join(unknown)}"
                return [], [CatalogueError(line, unknown[0] if unknown else missing[0], msg)]
            continue
        cells = {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)}
        product, error = _product(cells, line)
        if error is not None:
            errors.append(error)
        elif product is not None:
            products.append(product)
    if header is None:
        errors.append(CatalogueError(1, None, "plik jest pusty: pierwszy wiersz to nagłówek name;price;vat;unit"))
    return products, errors


def _product(c: dict[str, str], line: int) -> tuple[Product | None, CatalogueError | None]:
    def err(field: str, message: str) -> tuple[None, CatalogueError]:
        return None, CatalogueError(line, field, message)

    name = " ".join(c.get("name", "").split())
    if not name:
        return err("name", "brak nazwy towaru")
    if len(name) > 256:
        return err("name", "nazwa dłuższa niż 256 znaków")
    price = c.get("price", "").replace(" ", "")
    if not _PRICE.match(price) or float(price.replace(",", ".")) <= 0:
        return err("price", f"cena {price!r} nie jest kwotą brutto w złotych, np. 12,90")
    vat = c.get("vat", "").lower().removesuffix("%").strip()
    if vat not in RATES:
        return err("vat", f"stawka {c.get('vat', '')!r} nieznana; użyj 23, 8, 5, 0, zw, oo lub np")
    basis = c.get("exemption_basis") or None
    if vat == "zw" and not basis:
        return err("exemption_basis", "towar zwolniony (zw) wymaga podstawy zwolnienia, np. art. 43 ust. 1 pkt 19 ustawy o VAT")
    if vat != "zw" and basis:
        return err("exemption_basis", "podstawę zwolnienia podaje się tylko przy stawce zw")
    unit = c.get("unit") or "szt"
    if len(unit) > 20:
        return err("unit", "jednostka dłuższa niż 20 znaków")
    ean, plu = c.get("ean") or None, c.get("plu") or None
    if ean is not None and not (_DIGITS.match(ean) and len(ean) in (8, 12, 13, 14)):
        return err("ean", f"EAN {ean!r} musi mieć 8, 12, 13 lub 14 cyfr")
    if plu is not None and not _DIGITS.match(plu):
        return err("plu", f"PLU {plu!r} musi składać się z cyfr")
    return Product(name, price.replace(",", "."), vat, unit, basis, ean, plu), None


class Catalogue:
    """`products.csv` read again when its size or modification time changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._cached: dict[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        """`GET /v1/catalogue`: products, errors (line/field/message) and the file it came from."""
        if self.path is None:
            return {"file": None, "products": [], "errors": []}
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp = None
            return {"file": str(self.path), "products": [], "errors": [
                {"line": 0, "field": None, "message": f"brak pliku {self.path}: dodaj listę towarów (wzór: products.example.csv)"}]}
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            products: list[Product]
            errors: list[CatalogueError]
            if st.st_size > MAX_BYTES:
                products, errors = [], [CatalogueError(0, None, f"plik większy niż {MAX_BYTES // 1_000_000} MB")]
            else:
                try:
                    products, errors = parse_catalogue(self.path.read_text(encoding="utf-8"))
                except UnicodeDecodeError:
                    products, errors = [], [CatalogueError(0, None, "plik nie jest w UTF-8: zapisz go jako „CSV UTF-8”")]
            self._cached = {"file": str(self.path), "products": [p.to_json() for p in products],
                            "errors": [e.to_json() for e in errors]}
            self._stamp = stamp
        return self._cached


__all__ = ["Catalogue", "CatalogueError", "FILE_NAME", "Product", "parse_catalogue"]
