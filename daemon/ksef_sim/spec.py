"""What the simulator reads from the official open-api.json: operations, their rate limits
(`x-rate-limits`) and rate-limit groups (last column of the 429 description table)."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

SPEC_FILE = "open-api.json"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str                   # template, e.g. /sessions/{referenceNumber}
    regex: re.Pattern
    group: str                  # rate-limit group, or "METHOD path" when the spec names none
    limits: dict[str, int]      # perSecond / perMinute / perHour present in the spec
    public: bool                # no bearer security


@functools.cache
def load_spec() -> dict:
    return json.loads(resources.files("ksef_sim").joinpath(SPEC_FILE).read_text(encoding="utf-8"))


def _group_of(operation: dict) -> str | None:
    text = operation.get("responses", {}).get("429", {}).get("description", "")
    for line in text.splitlines():
        if "Limity" in line:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells and cells[-1] not in ("", "-"):
                return cells[-1]
    return None


@functools.cache
def operations() -> tuple[Operation, ...]:
    ops = []
    for path, item in load_spec()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            group = _group_of(op) or f"{method.upper()} {path}"
            ops.append(Operation(method.upper(), path, re.compile(pattern), group,
                                 dict(op.get("x-rate-limits", {})), not op.get("security")))
    # literal paths before templated ones (/sessions/{ref}/invoices/failed vs /{invoiceRef})
    ops.sort(key=lambda o: o.path.count("{"))
    return tuple(ops)


def find_operation(method: str, api_path: str) -> Operation | None:
    for op in operations():
        if op.method == method and op.regex.match(api_path):
            return op
    return None


def production_group_limits() -> dict[str, dict[str, int]]:
    """Group -> limits as KSeF PRD publishes them (GET /rate-limits example in open-api.json)."""
    example = load_spec()["paths"]["/rate-limits"]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    return {k: dict(v) for k, v in example.items()}


def path_exists(api_path: str) -> bool:
    """Whether some official operation (any method) has this path."""
    return any(op.regex.match(api_path) for op in operations())
