"""File rules and XSD validation of documents KSeF receives (protocol.md §9.1, §10), written from
the official documents and run against ksef-sim's own copies of the official XSDs (schemas/SOURCES.md).

Why its own: the simulator is the referee for ksef-edge, so it must not share the product's reading
of the rules (issue 17). Each schema is compiled once per process; the parser never touches the
network and refuses DTDs and entities.
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from lxml import etree

FA3_NS = "http://crd.gov.pl/wzor/2025/06/25/13775/"
UPO_NS = "http://upo.schematy.mf.gov.pl/KSeF/v4-3"
AUTH_NS_21 = "http://ksef.mf.gov.pl/auth/token/2.1"
AUTH_NS_20 = "http://ksef.mf.gov.pl/auth/token/2.0"
_REMOTE_PREFIX = "http://crd.gov.pl/xml/schematy/dziedzinowe/mf/2022/01/05/eD/DefinicjeTypy/"
# protocol.md §9.1 (ksef-docs faktury/weryfikacja-faktury.md): discouraged Unicode characters.
_DISCOURAGED = re.compile("[\u007f-\u0084\u0086-\u009f\ufdd0-\ufdef]|[\U0001fffe-\U0001ffff]"
                          "|[\U0002fffe-\U0002ffff]|[\U0003fffe-\U0003ffff]|[\U0004fffe-\U0004ffff]"
                          "|[\U0005fffe-\U0005ffff]|[\U0006fffe-\U0006ffff]|[\U0007fffe-\U0007ffff]"
                          "|[\U0008fffe-\U0008ffff]|[\U0009fffe-\U0009ffff]|[\U000afffe-\U000affff]"
                          "|[\U000bfffe-\U000bffff]|[\U000cfffe-\U000cffff]|[\U000dfffe-\U000dffff]"
                          "|[\U000efffe-\U000effff]|[\U000ffffe-\U000fffff]|[\U0010fffe-\U0010ffff]")
_PROLOG = re.compile(rb"^<\?xml\s[^?]*\?>")
_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([^\"']+)[\"']")


class DocumentError(ValueError):
    """The document breaks a file rule or the schema; the message says which, in Polish."""


def schema_dir() -> Path:
    return Path(str(resources.files("ksef_sim").joinpath("schemas")))


class _LocalImports(etree.Resolver):
    """The crd.gov.pl import of schemat_FA(3) resolves to the bundled copy; nothing else remote."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object) -> object:
        if system_url and system_url.startswith(_REMOTE_PREFIX):
            local = schema_dir() / system_url[len(_REMOTE_PREFIX):]
            if local.is_file():
                return self.resolve_filename(str(local), context)
        return None


def safe_parser() -> etree.XMLParser:
    """No network, no DTD, no entity expansion, comments kept out of the way."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_blank_text=False)


@functools.cache
def _schema(name: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalImports())
    return etree.XMLSchema(etree.parse(str(schema_dir() / name), parser))


def fa3_schema() -> etree.XMLSchema:
    return _schema("schemat_FA(3)_v1-0E.xsd")


def upo_schema() -> etree.XMLSchema:
    return _schema("upo-v4-3.xsd")


def auth_schema() -> etree.XMLSchema:
    return _schema("schemat_auth_v2-1.xsd")


def parse_checked(xml: bytes) -> etree._Element:
    """Apply the file rules of protocol.md §9.1 and parse: UTF-8 without BOM, a prolog (if any)
    declaring UTF-8, no DOCTYPE, no processing instructions, no discouraged characters."""
    if xml.startswith(b"\xef\xbb\xbf"):
        raise DocumentError("Plik zaczyna się znacznikiem BOM; KSeF wymaga UTF-8 bez BOM.")
    prolog = _PROLOG.match(xml)
    if prolog:
        enc = _ENCODING.search(prolog.group(0))
        if enc and enc.group(1).decode("ascii", "replace").lower() not in ("utf-8", "utf8"):
            raise DocumentError(f"Prolog XML deklaruje kodowanie {enc.group(1).decode('ascii', 'replace')};"
                                " dozwolone jest tylko UTF-8.")
    try:
        text = xml.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"Plik nie jest poprawnym UTF-8 (bajt {exc.start}).") from None
    bad = _DISCOURAGED.search(text)
    if bad:
        raise DocumentError(f"Plik zawiera niedozwolony znak U+{ord(bad.group(0)):04X}.")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise DocumentError("Plik zawiera deklarację DOCTYPE/ENTITY; KSeF jej nie przyjmuje.")
    try:
        root = etree.fromstring(xml, safe_parser())
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"Plik nie jest poprawnym XML: {exc.msg} (wiersz {exc.lineno}).") from None
    siblings = [*_walk(root, "getprevious"), *_walk(root, "getnext")]
    for node in [*siblings, *root.iter(etree.ProcessingInstruction)]:
        if isinstance(node, etree._ProcessingInstruction):
            raise DocumentError(f"Plik zawiera instrukcję przetwarzania <?{node.target}?>; KSeF jej nie przyjmuje.")
    return root


def _walk(node: etree._Element, step: str) -> list[etree._Element]:
    out = []
    nxt = getattr(node, step)()
    while nxt is not None:
        out.append(nxt)
        nxt = getattr(nxt, step)()
    return out


def validate(root: etree._Element, schema: etree.XMLSchema, what: str) -> None:
    if not schema.validate(root):
        errors = [f"{e.message} (wiersz {e.line})" for e in list(schema.error_log)[:5]]
        raise DocumentError(f"{what} niezgodny ze schematem: " + "; ".join(errors))


def parse_fa3(xml: bytes) -> etree._Element:
    """An invoice file as KSeF verifies it (status 430 on DocumentError)."""
    root = parse_checked(xml)
    if root.tag != f"{{{FA3_NS}}}Faktura":
        raise DocumentError(f"Element główny {root.tag} nie jest Faktura w przestrzeni nazw FA(3) {FA3_NS}.")
    validate(root, fa3_schema(), "Dokument FA(3)")
    return root
