"""The HTTP server: a stdlib `ThreadingHTTPServer` on 127.0.0.1 in a thread.

Stdlib rather than uvicorn because failure injection needs the raw socket:
we write the chunked body ourselves, so "drop" can shut the TCP connection
down in the middle of a chunked body, which an ASGI server would paper over.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import traceback
from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import _anthropic, _bedrock, _cohere, _gemini, _ollama, _openai
from ._common import RecordedRequest, Reply, WireResponse, json_response

#: Vertex AI publisher models: ``…/publishers/{anthropic|google}/models/{model}:{method}``.
_VERTEX = re.compile(r"^/(?:v1|v1beta1)?/?projects/[^/]+/locations/[^/]+/publishers/(anthropic|google)/models/"
                     r"([^/:]+):(\w+)$")


class WireServer:
    """A scripted fake of the OpenAI, Anthropic, Gemini and Bedrock HTTP APIs (and Cohere / Ollama chat)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.wire = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="wire-server", daemon=True)

    # -- lifecycle -----------------------------------------------------------
    @classmethod
    def start(cls) -> WireServer:
        """Bind a free port and serve in a background thread."""
        server = cls()
        server._thread.start()
        return server

    def stop(self) -> None:
        """Stop serving, cut open connections and join every handler thread."""
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()  # joins handler threads (block_on_close)
        self._thread.join(5)

    def __enter__(self) -> WireServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -----------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def enqueue(self, reply: Reply) -> Reply:
        """Queue a reply for the next matching request (FIFO)."""
        with self._lock:
            self._queue.append(reply)
        return reply

    def enqueue_many(self, replies: Iterable[Reply]) -> None:
        for reply in replies:
            self.enqueue(reply)

    def reset(self) -> None:
        """Forget queued replies and recorded requests (between tests)."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            return self._requests[-1]

    @property
    def pending(self) -> int:
        """How many queued replies no request has consumed yet."""
        with self._lock:
            return len(self._queue)

    # -- internals -----------------------------------------------------------
    def _record(self, req: RecordedRequest) -> tuple[Reply, int]:
        full = req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query.items()) if req.query else "")
        with self._lock:
            self._requests.append(req)
            seq = len(self._requests)
            for i, reply in enumerate(self._queue):
                if reply.path_contains is None or reply.path_contains in full:
                    del self._queue[i]  # by position: equal dataclasses are distinct replies
                    return reply, seq
        return Reply(), seq

    def _respond(self, req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
        if req.path.startswith("/v1/messages") and req.path.rstrip("/") == "/v1/messages":
            return _anthropic.handle(req, reply, seq)
        vertex = _VERTEX.match(req.path)
        if vertex and vertex.group(1) == "anthropic":  # Anthropic on Vertex AI: the Messages API
            return _anthropic.handle(req, replace(reply, model=reply.model or vertex.group(2)), seq)
        if vertex:  # Gemini on Vertex AI: the Gemini API's formats
            return _gemini.handle(vertex.group(2), vertex.group(3), req, reply, seq)
        bedrock = _bedrock.ROUTE.match(req.path)
        if bedrock:
            return _bedrock.handle(bedrock.group(1), bedrock.group(2), req, reply, seq)
        gemini = _gemini.ROUTE.match(req.path)
        if gemini:
            return _gemini.handle(gemini.group(2), gemini.group(3), req, reply, seq)
        if req.path == _cohere.ROUTE:
            return _cohere.handle(req, reply, seq)
        if req.path == _ollama.ROUTE:
            return _ollama.handle(req, reply, seq)
        endpoint = _openai.route(req.path)
        if endpoint:
            return _openai.handle(endpoint, req, reply, seq)
        return json_response({"error": {"message": f"wire: no route {req.path}", "type": "invalid_request_error",
                                        "code": "not_found"}}, 404)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins handler threads: no leaks
    request_queue_size = 128  # listen backlog: many clients connect at once in the concurrency tests
    block_on_close = True
    wire: WireServer

    def process_request(self, request: Any, client_address: Any) -> None:
        """Register the socket before its thread starts, so stop() can always cut it."""
        with self.wire._lock:
            self.wire._conns.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, dropped streams) are expected, not errors."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive + chunked streams, as SDKs expect
    server: _HTTPServer
    timeout = 30  # idle keep-alive connections end on their own

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus
        # the client's delayed ACK stall each keep-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        with self.server.wire._lock:
            self.server.wire._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _handle(self) -> None:
        wire = self.server.wire
        raw = self._read_body()
        parts = urlsplit(self.path)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = RecordedRequest(self.command, parts.path, dict(parse_qsl(parts.query)),
                              {k.lower(): v for k, v in self.headers.items()}, body, raw)
        reply, seq = wire._record(req)
        if reply.delay and wire._stopping.wait(reply.delay):
            self.close_connection = True
            return
        try:
            out = wire._respond(req, reply, seq)
        except Exception as exc:  # a bug in the fake must show, not look like a network error
            traceback.print_exc()
            out = json_response({"error": {"message": f"wire: internal error: {exc!r}", "type": "wire_bug",
                                           "code": None}}, 500)
        try:
            if out.frames is None:
                self._send_json(out)
            else:
                self._send_stream(out, reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timeout)

    def _send_head(self, out: WireResponse, extra: dict[str, str]) -> None:
        self.send_response(out.status)
        for key, value in {**out.headers, **extra}.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_json(self, out: WireResponse) -> None:
        body = out.body or b""
        self._send_head(out, {"content-length": str(len(body))})
        self.wfile.write(body)

    def _send_stream(self, out: WireResponse, reply: Reply) -> None:
        self._send_head(out, {"transfer-encoding": "chunked", "cache-control": "no-cache"})
        # The failure fires right after the n-th text delta (before the first
        # one for n == 0), or at the end when the stream has fewer deltas.
        n, sent = reply.fail_after_chunks, 0
        for frame in out.frames or []:
            if frame.delta and n is not None and sent == n:
                self._fail(out, reply)
                return
            if reply.chunk_delay and frame.delta and self.server.wire._stopping.wait(reply.chunk_delay):
                break
            self._chunk(frame.data)
            sent += frame.delta
            if frame.delta and n is not None and sent == n:
                self._fail(out, reply)
                return
        if n is not None:
            self._fail(out, reply)
            return
        self.wfile.write(b"0\r\n\r\n")

    def _fail(self, out: WireResponse, reply: Reply) -> None:
        if reply.failure == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: no terminating chunk
            return
        if reply.failure == "malformed_json":
            self._chunk(out.malformed_frame)
        else:
            for frame in out.error_frames:
                self._chunk(frame)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
