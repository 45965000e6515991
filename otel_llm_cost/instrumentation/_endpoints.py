"""Where a client sends its calls: ``server.*`` attributes and the provider serving the host.

Split from :mod:`._shared` (which re-exports :func:`server_attributes`) so that
:class:`~._call.Telemetry` can keep one :class:`Endpoints` cache per instrumentor.
"""

from __future__ import annotations

from typing import Any

from .. import semconv
from ..pricing._providers import provider_for_host

__all__ = ["server_attributes", "Endpoints"]


def server_attributes(base_url: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of the endpoint a client sends to.

    ``base_url`` is an ``httpx.URL`` or ``httpx2.URL`` (OpenAI, Anthropic) or a URL string (google-genai);
    the port is the URL's, else the scheme's default.
    """
    if isinstance(base_url, str):
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        host, port, scheme = parts.hostname, parts.port, parts.scheme
    else:
        host, port, scheme = (getattr(base_url, "host", None), getattr(base_url, "port", None),
                              getattr(base_url, "scheme", ""))
    if not host:
        return {}
    return {semconv.SERVER_ADDRESS: host, semconv.SERVER_PORT: port or (443 if scheme == "https" else 80)}


class Endpoints:
    """``server.*`` attributes and the provider serving the host, per client base URL.

    Worked out once per base URL object (an ``httpx`` URL, immutable, or a string) and
    kept by its identity, not on every call: reading a URL's host and port and matching
    the host against the known providers is a dozen Python calls. One per instrumentor
    (its :class:`Telemetry`), bounded.
    """

    __slots__ = ("_by_id", "_hosts")

    def __init__(self, provider_hosts: Any = ()) -> None:
        self._by_id: dict[int, tuple[Any, dict[str, Any], str | None]] = {}
        self._hosts = tuple(provider_hosts)

    def of(self, base_url: Any) -> tuple[dict[str, Any], str | None]:
        """(``server.address``/``server.port``, the provider serving that host or None); never mutate the dict."""
        entry = self._by_id.get(id(base_url))
        if entry is not None and entry[0] is base_url:
            return entry[1], entry[2]
        attrs = server_attributes(base_url)
        served_by = provider_for_host(attrs.get(semconv.SERVER_ADDRESS), self._hosts)
        if len(self._by_id) >= _MAX_ENDPOINTS:
            self._by_id.clear()
        # The URL itself is kept: its id cannot be reused while it is in here.
        self._by_id[id(base_url)] = (base_url, attrs, served_by)
        return attrs, served_by


_MAX_ENDPOINTS = 64
