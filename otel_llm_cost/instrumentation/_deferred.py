"""SDK objects that hand out the response *later*, for any provider.

Two shapes recur in the Stainless-generated SDKs (Anthropic, OpenAI):

* a **stream manager** — ``client.messages.stream(...)`` returns a context manager
  that sends its own request in ``__enter__`` and returns the stream from it, so
  wrapping ``create`` never sees it. :class:`StreamManagerProxy` /
  :class:`AsyncStreamManagerProxy` send that request inside our span's context (so
  nested spans are children of ours and no wrapped method opens a second span), let
  the provider proxy what ``__enter__`` returns, and end the span on exit at the
  latest.
* a **raw response** — ``.with_raw_response.create(...)`` returns an HTTP response
  wrapper whose ``parse()`` gives the typed result. :func:`raw_response_result`
  reads it without taking anything from the caller: a complete body is parsed once
  (the SDK caches ``parse()``), a streamed one is proxied so that the stream the
  caller gets from ``parse()`` is followed like any other.

Both end the span exactly once, through :class:`~._shared.LLMCall`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import wrapt

from ._handoff import ensure_worker, run_or_hand_off
from ._shared import LLMCall, _detach, _failed, _log, quiet_while, safely

__all__ = [
    "StreamManagerProxy",
    "AsyncStreamManagerProxy",
    "DeferredResponse",
    "AsyncDeferredResponse",
    "is_raw_response",
    "raw_response_result",
]

#: ``on_enter(call, entered) -> what the caller gets``: proxy the stream, or return it as is.
OnEnter = Callable[[LLMCall, Any], Any]


def _end_response(call: LLMCall, wrapped: Any, adopt: Any) -> None:
    """End a raw response's call with whatever body was read (none of a stream)."""
    if not _is_streamed(wrapped):
        body = _body_json(wrapped)
        if isinstance(body, dict):
            safely("response read", adopt, call, body)
    _end_open(call)


def _end_open(call: LLMCall | None) -> None:
    """End a call that nothing else ended (the stream was never read to its end)."""
    if call is not None and not call._ended:
        call.partial = True
        safely("span end", call.end)


class _ManagerBase(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: LLMCall, on_enter: OnEnter) -> None:
        super().__init__(wrapped)
        ensure_worker()
        self._self_call = call
        self._self_on_enter = on_enter

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """The request is sent in our span's context; a failure there ends the call."""
        token = quiet_while(self._self_call)
        try:
            yield
        except BaseException as exc:
            _failed(self._self_call, exc)
            raise
        finally:
            _detach(token)

    def _entered(self, value: Any) -> Any:
        return safely("stream start", self._self_on_enter, self._self_call, value, default=value)

    def _exited(self) -> None:
        _end_open(self._self_call)

    def __del__(self) -> None:
        if not self._self_call._ended:
            run_or_hand_off(_end_open, self._self_call)


class StreamManagerProxy(_ManagerBase):
    """A sync stream manager whose ``__enter__`` sends the request."""

    def __enter__(self) -> Any:
        with self._sending():
            value = self.__wrapped__.__enter__()
        return self._entered(value)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._exited()


class AsyncStreamManagerProxy(_ManagerBase):
    """An async stream manager whose ``__aenter__`` sends the request."""

    async def __aenter__(self) -> Any:
        with self._sending():
            value = await self.__wrapped__.__aenter__()
        return self._entered(value)

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._exited()


def is_raw_response(value: Any) -> bool:
    """A Stainless SDK's raw HTTP response wrapper (``with_raw_response``)."""
    return hasattr(value, "http_response") and callable(getattr(value, "parse", None))


def _is_streamed(raw: Any) -> bool:
    headers = getattr(raw, "headers", None) or {}
    return "text/event-stream" in str(headers.get("content-type", ""))


def _body_json(raw: Any) -> Any:
    """The JSON body of an already-read raw response, else None (never reads the network)."""
    try:
        return json.loads(raw.http_response.content)  # raises if the body was never read
    except Exception:  # noqa: BLE001 - unread, not JSON: there is just no usage
        return None


#: ``adopt(call, parsed) -> what the caller gets``: a spec's ``result`` — proxies a
#: stream, or reads a complete response and ends the call.
Adopt = Callable[[LLMCall, Any], Any]


class DeferredResponse(wrapt.ObjectProxy):
    """A raw response whose typed result comes later, from ``parse()`` or ``json()``.

    The first result is handed to ``adopt`` (which proxies a stream or reads usage and
    ends the span); the SDK caches ``parse()``, so a second call gets the same object —
    and from us the same proxy. A response nobody parses ends its span on ``close()``
    or garbage collection, with whatever body was already read.
    """

    def __init__(self, wrapped: Any, call: LLMCall, adopt: Adopt) -> None:
        super().__init__(wrapped)
        ensure_worker()
        self._self_call: LLMCall | None = call  # None once adopted or ended
        self._self_adopt_fn = adopt
        self._self_seen: tuple[Any, Any] | None = None

    def _self_adopt(self, value: Any) -> Any:
        seen = self._self_seen
        if seen is not None and value is seen[0]:
            return seen[1]
        call = self._self_call
        if call is None:
            return value
        self._self_call = None
        out = safely("response read", self._self_adopt_fn, call, value, default=value)
        self._self_seen = (value, out)
        return out

    def _self_end(self) -> None:
        call = self._self_call
        if call is None:
            return
        self._self_call = None
        _end_response(call, self.__wrapped__, self._self_adopt_fn)

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = self.__wrapped__.parse(*args, **kwargs)
        return safely("response parse", self._self_adopt, value, default=value)

    def json(self, *args: Any, **kwargs: Any) -> Any:
        value = self.__wrapped__.json(*args, **kwargs)
        safely("response json", self._self_adopt, value)
        return value

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            safely("response end", self._self_end)

    def __del__(self) -> None:
        call, self._self_call = self._self_call, None
        if call is not None:
            run_or_hand_off(safely, "response end", _end_response, call, self.__wrapped__, self._self_adopt_fn)


class AsyncDeferredResponse(DeferredResponse):
    """The async clients' raw response: the same, with awaitable methods."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = await self.__wrapped__.parse(*args, **kwargs)
        return safely("response parse", self._self_adopt, value, default=value)

    async def json(self, *args: Any, **kwargs: Any) -> Any:
        value = await self.__wrapped__.json(*args, **kwargs)
        safely("response json", self._self_adopt, value)
        return value

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            safely("response end", self._self_end)


def raw_response_result(call: LLMCall, raw: Any, adopt: Adopt, *, streamed: bool | None = None) -> Any:
    """What the caller of ``.with_raw_response`` / ``.with_streaming_response`` gets.

    A complete body with a synchronous ``parse()`` is read at once (the SDK caches the
    result, so nothing is taken from the caller) and the raw object is returned as is;
    anything else — a stream, a body not yet read, an awaitable ``parse()`` — is
    proxied so the span ends when the caller reads it, closes it, or drops it.
    """
    if inspect.iscoroutinefunction(raw.parse):
        return AsyncDeferredResponse(raw, call, adopt)
    if (_is_streamed(raw) if streamed is None else streamed) or _body_json(raw) is None:
        return DeferredResponse(raw, call, adopt)
    try:
        parsed = raw.parse()
    except Exception as exc:  # noqa: BLE001 - e.g. response_format output that fails validation
        # The body was billed and carries its usage whatever its content: read that.
        # Not logged with the exception: a validation error quotes the completion text.
        _log.debug("otel_llm_cost: raw response parse failed (%s); usage read from the body",
                   type(exc).__qualname__)
        safely("response read", adopt, call, _body_json(raw))
        _end_open(call)
        return raw
    if parsed is None:
        _end_open(call)
    else:
        safely("response read", adopt, call, parsed)
    return raw
