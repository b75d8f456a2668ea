"""The HTTP proxy the environment names for a URL, read once at the edge of a process.

``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``NO_PROXY``, as curl and most HTTP clients honour
them. A command resolves its store's proxy here at start-up and passes it in; the stores
themselves read no environment.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

__all__ = ["proxy_for"]


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None (none named, or ``NO_PROXY``
    covers its host)."""
    parts = urlsplit(url)
    if parts.hostname and proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)
