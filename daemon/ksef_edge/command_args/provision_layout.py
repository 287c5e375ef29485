"""Where provisioning puts a device's files, seen from the machine that provisions it (`/` or a --root tree),
and the names the systemd unit expects: shared by the provisioning steps and their tests."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "ksef-edge"
SERVICE_GROUPS = ("tss", "lp")
KEY_CREDENTIAL = "ksef-key-passphrase"  # names used by systemd/ksef-edge.service
API_CREDENTIAL = "ksef-api-token"
TPM_DEVICE = Path("/dev/tpmrm0")


class ProvisionError(Exception):
    """A provisioning step cannot proceed; the message says what to do."""


@dataclass(frozen=True)
class Layout:
    """Where everything goes, as seen from the machine running provisioning."""

    root: Path

    def at(self, device_path: str) -> Path:
        return self.root / device_path.lstrip("/")

    @property
    def real_root(self) -> bool:
        return self.root == Path("/")

    @property
    def config_dir(self) -> Path:
        return self.at("/etc/ksef-edge")

    @property
    def config(self) -> Path:
        return self.config_dir / "device.toml"

    @property
    def credentials(self) -> Path:
        return self.config_dir / "credentials"

    @property
    def state_dir(self) -> Path:
        return self.at("/var/lib/ksef-edge")

    @property
    def keystore_dir(self) -> Path:
        return self.state_dir / "keystore"

    @property
    def csr(self) -> Path:
        return self.state_dir / "offline.csr"

    @property
    def unit(self) -> Path:
        return self.at("/etc/systemd/system/ksef-edge.service")

    def config_path(self, device_path: str) -> str:
        """A path for the config text: absolute on `/`, relative to the config dir under --root."""
        return device_path if self.real_root else os.path.relpath(self.at(device_path), self.config_dir)
