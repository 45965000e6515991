"""The ASGI middleware that writes each LangServe request's usage into its response.

LangServe builds its responses itself and has no hook for extra fields, so the
numbers are added on the way out, and only where LangServe leaves room for them:

* ``/invoke`` and ``/batch`` (JSON): ``metadata.usage`` — the request's total — and,
  for a batch, ``metadata.responses[i].usage`` per input. ``output`` is untouched, so
  the output schema and every client that ignores unknown metadata keys still work.
* ``/stream``, ``/stream_log``, ``/stream_events`` (SSE): one more ``event: metadata``
  with ``data: {"usage": {...}}`` right before the closing ``end`` (or ``error``)
  event. LangServe already uses ``metadata`` for out-of-band data (the run id), and
  its Python ``RemoteRunnable.stream`` skips metadata events silently.

Opt-in (``budgets=True``), where the request's calls stand against the declared budgets
they fell under (``otel_llm_cost.budgets``) goes beside the usage: ``metadata.budgets``,
and a ``budgets`` key in the SSE event — a list of ``budgets.standing`` objects (the
user's spend, limit and remaining amount this period, read from the ledger once the
request's calls have ended). A ledger that cannot be read leaves the key out (a warning
is logged); the read is bounded by the budgets' timeout.

Only responses of runnables wrapped by ``with_usage`` are touched: everything else
passes through byte for byte. Each request has its own tallies (a context variable
set here), so concurrent requests never mix their numbers.
"""

from __future__ import annotations

import contextvars
import logging
from contextlib import nullcontext
from typing import Any

import orjson

from ..budgets import watching
from ..sessions import UsageSummary, current_usage, track
from ._langchain_runnable import REQUEST, RequestTally

__all__ = ["LangServeUsageMiddleware", "USAGE_KEY", "BUDGETS_KEY"]

_log = logging.getLogger("otel_llm_cost")

#: The key under which the usage summary appears in metadata (body and SSE event).
USAGE_KEY = "usage"
#: The key under which the declared budgets' standings appear (opt-in, ``budgets=True``).
BUDGETS_KEY = "budgets"
_ENDPOINTS = ("/invoke", "/batch", "/stream", "/stream_log", "/stream_events")
_TERMINAL = (b"event: end", b"event: error")


def _report(summary: Any) -> dict:
    """The JSON the client gets: a ``UsageSummary`` (a collector has no id, user or duration)."""
    return UsageSummary.as_dict(summary)


def _terminal_offset(body: bytes) -> int | None:
    """Where the closing ``end``/``error`` event starts in an SSE chunk, if it is there."""
    for marker in _TERMINAL:
        if body.startswith(marker):
            return 0
        at = body.find(b"\n" + marker)
        if at >= 0:
            return at + 1
    return None


def _usage_event(summary: Any, chunk: bytes, standings: list[dict] | None = None) -> bytes:
    """An SSE ``metadata`` event, in the line separator the stream already uses."""
    sep = b"\r\n" if b"\r\n" in chunk else b"\n"
    data = orjson.dumps({USAGE_KEY: _report(summary), **({BUDGETS_KEY: standings} if standings is not None else {})})
    return b"event: metadata" + sep + b"data: " + data + sep + sep


def _with_usage(body: bytes, total: Any, request: RequestTally, standings: list[dict] | None = None) -> bytes | None:
    """The JSON body with the usage added to its metadata; None to leave it as it was."""
    obj = orjson.loads(body)
    if not isinstance(obj, dict) or "output" not in obj or not isinstance(obj.get("metadata"), dict):
        return None
    metadata = obj["metadata"]
    metadata[USAGE_KEY] = _report(total)
    if standings is not None:
        metadata[BUDGETS_KEY] = standings
    for response in metadata.get("responses") or ():
        if isinstance(response, dict):
            run = request.runs.get(str(response.get("run_id")))
            if run is not None:
                response[USAGE_KEY] = _report(run)
    return orjson.dumps(obj)


class _Responder:
    """Wraps ``send`` for one request: passes, buffers (JSON) or extends (SSE) the response."""

    __slots__ = ("_send", "_request", "_total", "_mode", "_start", "_parts", "_done", "_seen")

    def __init__(self, send: Any, request: RequestTally, total: Any,
                 seen: set[tuple[str, str | None]] | None = None) -> None:
        self._send = send
        self._request = request
        self._total = total  # () -> UsageSummary of the whole request
        #: The budgets the request's calls fell under, when the app asked for their standings.
        self._seen = seen
        self._mode = "pass"
        self._start: dict | None = None
        self._parts: list[bytes] = []
        self._done = False

    async def __call__(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            self._mode = self._choose(message)
            if self._mode == "json":
                self._start = message
                return
        elif kind == "http.response.body":
            if self._mode == "json":
                await self._json_body(message)
                return
            if self._mode == "sse" and not self._done and self._request.ran:
                await self._sse_body(message)
        await self._send(message)

    def _choose(self, start: dict) -> str:
        headers = {k.lower(): v for k, v in start.get("headers") or ()}
        if b"content-encoding" in headers:
            return "pass"  # compressed by an inner middleware: not ours to edit
        ctype = headers.get(b"content-type", b"")
        if ctype.startswith(b"text/event-stream"):
            return "sse"  # the chain has not run yet; decided at the closing event
        if ctype.startswith(b"application/json") and self._request.ran:
            return "json"
        return "pass"

    async def _json_body(self, message: dict) -> None:
        self._parts.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(self._parts)
        start = self._start or {}
        standings = await self._standings()
        try:
            new = _with_usage(body, self._total(), self._request, standings)
        except Exception:  # noqa: BLE001 - an unreadable body goes out as it came
            _log.exception("otel_llm_cost: could not add usage to a LangServe response (ignored)")
            new = None
        if new is not None:
            body = new
            headers = [(k, v) for k, v in start.get("headers") or () if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            start = {**start, "headers": headers}
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _sse_body(self, message: dict) -> None:
        chunk = message.get("body", b"")
        at = _terminal_offset(chunk)
        if at is None:
            return
        self._done = True
        standings = await self._standings()
        try:
            event = _usage_event(self._total(), chunk, standings)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: could not write the usage event (ignored)")
            return
        if at:  # the closing event shares a chunk with earlier events: split it
            await self._send({"type": "http.response.body", "body": chunk[:at], "more_body": True})
            message["body"] = chunk[at:]
        await self._send({"type": "http.response.body", "body": event, "more_body": True})


    async def _standings(self) -> list[dict] | None:
        """Where the request's budgets stand, read in a worker thread (the ledger is
        blocking I/O); None when not asked for or when the ledger cannot be read."""
        if self._seen is None:
            return None
        from anyio import to_thread

        from ..budgets import standings

        try:
            return await to_thread.run_sync(standings, set(self._seen))
        except Exception as exc:  # noqa: BLE001 - the response goes out without them
            _log.warning("otel_llm_cost: the budgets could not be read for a LangServe response (%s); "
                         "it goes out without them", exc)
            return None


class LangServeUsageMiddleware:
    """Add the usage of ``with_usage``-wrapped runnables to LangServe responses, and with
    ``budgets=True`` where the declared budgets the request's calls fell under stand.

    Plain ASGI (not ``BaseHTTPMiddleware``), so the endpoint runs in the context this
    sets up, and streaming responses are not buffered.
    """

    def __init__(self, app: Any, budgets: bool = False) -> None:
        self.app = app
        self.budgets = budgets

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or not str(
            scope.get("path", "")
        ).endswith(_ENDPOINTS):
            await self.app(scope, receive, send)
            return
        request = RequestTally()
        token = REQUEST.set(request)
        try:
            with track(), (watching() if self.budgets else nullcontext()) as seen:
                # The request's collector is innermost in this copy for good: reading it
                # here later gives the running total whatever context ``send`` runs in.
                here = contextvars.copy_context()
                responder = _Responder(send, request, lambda: here.run(current_usage), seen)
                await self.app(scope, receive, responder)
        finally:
            REQUEST.reset(token)
