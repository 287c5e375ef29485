"""The local HTTP API the POS calls (aiohttp): issue, read, reprint, status, health, metrics."""
