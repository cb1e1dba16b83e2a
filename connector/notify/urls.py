"""URL helpers of the channels that need no HTTP library (listings import them cheaply)."""

from __future__ import annotations

from urllib.parse import urlsplit


def url_host(url: str) -> str:
    """The host (and a port other than the scheme's) of a webhook URL, for listings."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host
