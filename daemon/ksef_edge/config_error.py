"""The one error a bad device config raises, shared by `config` and the parts whose settings it reads."""
from __future__ import annotations


class ConfigError(Exception):
    """Invalid device configuration; `key` is the dotted TOML key (`api.token_file`)."""

    def __init__(self, key: str, reason: str) -> None:
        section, _, name = key.partition(".")
        where = f"[{section}] {name}" if name else f"[{section}]"
        super().__init__(f"{where}: {reason}")
        self.key = key
        self.reason = reason
