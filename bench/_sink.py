"""A local OTLP/HTTP sink: accepts and discards POSTs to ``/v1/traces`` and ``/v1/metrics``.

The exporters in the benchmark do all their real work — batch, serialise to
protobuf, POST over a socket — and this answers ``200`` without parsing. It runs in
the *parent* process of the benchmark (which only waits on its children), so its
CPU never competes for the GIL of the process being measured.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["OTLPSink"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        stats = self.server.stats  # type: ignore[attr-defined]
        stats[self.path] = stats.get(self.path, 0) + 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # silence per-request logging
        pass


class OTLPSink:
    """``with OTLPSink() as sink: sink.endpoint`` → ``http://127.0.0.1:PORT``."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stats = {}  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-sink", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def stats(self) -> dict[str, int]:
        """POSTs received per path."""
        return dict(self._server.stats)  # type: ignore[attr-defined]

    def __enter__(self) -> OTLPSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
