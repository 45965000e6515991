"""Reading the usage a LangServe server reported, from a ``RemoteRunnable`` client.

``RemoteRunnable`` returns only the ``output`` of a response and skips metadata
events, so the usage never reaches its caller. ``capture_usage(remote)`` listens on
the httpx clients the ``RemoteRunnable`` owns (response event hooks, a public httpx
API): a JSON body is read (httpx keeps it, so ``RemoteRunnable`` reads it again
unchanged) and an SSE body is watched as the ``RemoteRunnable`` consumes it. Nothing
the ``RemoteRunnable`` sees changes.

Which capture a response belongs to is a context variable, so two coroutines or
threads capturing on the same ``RemoteRunnable`` each get only their own requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._langserve_asgi import USAGE_KEY

__all__ = ["capture_usage", "UsageCapture", "RemoteUsage"]

_log = logging.getLogger("otel_llm_cost")
_ENDPOINTS = ("/invoke", "/batch", "/stream", "/stream_log", "/stream_events")
_HOOKED = "_otel_llm_cost_usage_hooks"


@dataclass(frozen=True)
class RemoteUsage:
    """The usage one LangServe response reported (the dicts are ``UsageSummary.as_dict()``)."""

    #: ``invoke``, ``batch``, ``stream``, ``stream_log`` or ``stream_events``.
    endpoint: str
    #: The request's total: ``cost_usd`` (a decimal string, or None if a call was
    #: unpriced), ``tokens`` by type, ``calls``, ``unpriced_calls``, ``estimated_calls`` …
    usage: dict
    #: For ``batch``: one entry per input, in input order (None where missing).
    per_input: list = field(default_factory=list)


class UsageCapture:
    """The usage of every LangServe response received inside a ``capture_usage`` block."""

    def __init__(self) -> None:
        self.responses: list[RemoteUsage] = []

    @property
    def last(self) -> RemoteUsage | None:
        return self.responses[-1] if self.responses else None

    def _add_json(self, endpoint: str, body: bytes) -> None:
        obj = json.loads(body)
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get(USAGE_KEY), dict):
            return
        per_input = [r.get(USAGE_KEY) if isinstance(r, dict) else None
                     for r in metadata.get("responses") or ()]
        self.responses.append(RemoteUsage(endpoint, metadata[USAGE_KEY], per_input))

    def _add_event(self, endpoint: str, event: str, data: str) -> None:
        if event != "metadata":
            return
        obj = json.loads(data)
        if isinstance(obj, dict) and isinstance(obj.get(USAGE_KEY), dict):
            self.responses.append(RemoteUsage(endpoint, obj[USAGE_KEY]))


_CURRENT: ContextVar[UsageCapture | None] = ContextVar("otel_llm_cost_usage_capture", default=None)


class _SSEWatcher:
    """An incremental SSE line reader: hands each complete event to the capture."""

    def __init__(self, capture: UsageCapture, endpoint: str) -> None:
        self._capture = capture
        self._endpoint = endpoint
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> None:
        try:
            lines = (self._pending + chunk).split(b"\n")
            self._pending = lines.pop()
            for raw in lines:
                self._line(raw.rstrip(b"\r").decode("utf-8"))
        except Exception:  # noqa: BLE001 - a malformed stream is the client's business, not ours
            _log.exception("otel_llm_cost: could not read a LangServe usage event (ignored)")

    def _line(self, line: str) -> None:
        if not line:
            if self._data:
                self._capture._add_event(self._endpoint, self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
        elif line.startswith("event:"):
            self._event = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].lstrip(" "))


class _SyncTee(httpx.SyncByteStream):
    def __init__(self, stream: Any, watcher: _SSEWatcher) -> None:
        self._stream, self._watcher = stream, watcher

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            self._watcher.feed(chunk)
            yield chunk

    def close(self) -> None:
        self._stream.close()


class _AsyncTee(httpx.AsyncByteStream):
    def __init__(self, stream: Any, watcher: _SSEWatcher) -> None:
        self._stream, self._watcher = stream, watcher

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self._watcher.feed(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def _target(response: httpx.Response) -> tuple[UsageCapture, str, bool] | None:
    """(capture, endpoint, is_sse) when this response is one to read, else None."""
    capture = _CURRENT.get()
    if capture is None:
        return None
    path = response.request.url.path
    if not path.endswith(_ENDPOINTS):
        return None
    endpoint = path.rsplit("/", 1)[-1]
    return capture, endpoint, "text/event-stream" in response.headers.get("content-type", "")


def _on_response(response: httpx.Response) -> None:
    try:
        target = _target(response)
        if target is None:
            return
        capture, endpoint, sse = target
        if sse:
            response.stream = _SyncTee(response.stream, _SSEWatcher(capture, endpoint))
        elif response.is_success:
            capture._add_json(endpoint, response.read())
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: could not read LangServe usage (ignored)")


async def _aon_response(response: httpx.Response) -> None:
    try:
        target = _target(response)
        if target is None:
            return
        capture, endpoint, sse = target
        if sse:
            response.stream = _AsyncTee(response.stream, _SSEWatcher(capture, endpoint))
        elif response.is_success:
            capture._add_json(endpoint, await response.aread())
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: could not read LangServe usage (ignored)")


def _install(remote: Any) -> None:
    """Hook the ``RemoteRunnable``'s two httpx clients, once."""
    if getattr(remote, _HOOKED, False):
        return
    for client, hook in ((remote.sync_client, _on_response), (remote.async_client, _aon_response)):
        hooks = client.event_hooks
        hooks["response"] = [*hooks.get("response", []), hook]
        client.event_hooks = hooks
    object.__setattr__(remote, _HOOKED, True)


@contextmanager
def capture_usage(remote: Any) -> Iterator[UsageCapture]:
    """Collect the usage LangServe reports for the calls ``remote`` makes in this block.

    ``remote`` is a ``langserve.RemoteRunnable``; works for sync and async calls::

        with capture_usage(remote) as usage:
            answer = remote.invoke({"question": "..."})
        usage.last.usage["cost_usd"]     # "0.000731"
    """
    _install(remote)
    capture = UsageCapture()
    token = _CURRENT.set(capture)
    try:
        yield capture
    finally:
        _CURRENT.reset(token)
