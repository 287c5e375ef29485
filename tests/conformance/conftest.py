"""tests/conformance: official KSeF artifacts (see SOURCES.md) fed to the product's own readers."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # upo_signing, by name
