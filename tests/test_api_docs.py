"""docs/api.md documents every route the daemon serves and every error code the API and page answer with."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO / "daemon/ksef_edge/api/app.py", REPO / "daemon/ksef_edge/web/routes.py",
           REPO / "daemon/ksef_edge/api/report_routes.py"]
CODE_SOURCES = (sorted((REPO / "daemon/ksef_edge/api").glob("*.py")) + sorted((REPO / "daemon/ksef_edge/issuing").glob("*.py"))
                + [REPO / "daemon/ksef_edge/web/routes.py"] + sorted((REPO / "daemon/ksef_edge/reports").glob("*.py")))
# an error code is written where the refusal is raised: with its HTTP status at the API, the page and the
# KOR services (ApiError, Refusal, CorrectionRefusedError), without one in the request readers (issuing.errors)
CODE_PATTERN = (r'(?:(?:ApiError|error_response|Refusal|CorrectionRefusedError)\(\s*\d{3},\s*'
                r'|(?:MalformedRequestError|InvalidRequestError)\(\s*)"([a-z_]+)"')


def test_every_route_is_documented_with_a_curl_example() -> None:
    doc = (REPO / "docs/api.md").read_text(encoding="utf-8")
    routes = {(m.group(1).upper(), m.group(2)) for src in SOURCES
              for m in re.finditer(r'add_(get|post)\(r?"([^"]+)"', src.read_text(encoding="utf-8"))}
    assert len(routes) >= 15, routes
    curls = "\n".join(line for line in doc.splitlines() if "curl " in line or line.startswith("  "))
    for method, path in sorted(routes):
        if path == "/ui/{name}":  # the page's static files, each by name
            from ksef_edge.web.routes import STATIC_FILES

            assert all(f"/ui/{name}" in doc for name in STATIC_FILES), "a page file is not in docs/api.md"
            continue
        if path.startswith("/ui") or path == "/":  # the page: for browsers, described, no curl needed
            assert f"`{path}`" in doc or f"/{path.strip('/')}/" in doc or f"http://127.0.0.1:8787{path}" in doc, path
            continue
        pattern = re.escape(path).replace(r"\{id\}", r"(\{id\}|\d+)")
        assert re.search(pattern, doc), f"{method} {path} is not in docs/api.md"
        example = re.escape(path.replace("{id}", "ID")).replace("ID", r"\d+")
        assert re.search(example + r"(\b|$|\?)", curls), f"{method} {path} has no curl example in docs/api.md"


def test_every_error_code_is_documented() -> None:
    doc = (REPO / "docs/api.md").read_text(encoding="utf-8")
    codes = {m.group(1) for src in CODE_SOURCES
             for m in re.finditer(CODE_PATTERN, src.read_text(encoding="utf-8"))}
    assert {"invalid_json", "missing_field", "no_upo", "receipt_unavailable"} <= codes
    missing = sorted(c for c in codes if f"`{c}`" not in doc)
    assert not missing, f"error codes not in docs/api.md: {missing}"
