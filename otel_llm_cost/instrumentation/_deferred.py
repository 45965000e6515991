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

from contextlib import contextmanager
from typing import Any, Callable, Iterator

import wrapt
from opentelemetry import context as otel_context

from ._shared import LLMCall, _attach, _failed, safely

__all__ = ["StreamManagerProxy", "AsyncStreamManagerProxy", "is_raw_response", "raw_response_result"]

#: ``on_enter(call, entered) -> what the caller gets``: proxy the stream, or return it as is.
OnEnter = Callable[[LLMCall, Any], Any]


def _end_open(call: LLMCall | None) -> None:
    """End a call that nothing else ended (the stream was never read to its end)."""
    if call is not None and not call._ended:
        call.partial = True
        safely("span end", call.end)


class _ManagerBase(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, call: LLMCall, on_enter: OnEnter) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_on_enter = on_enter

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """The request is sent in our span's context; a failure there ends the call."""
        token = _attach(self._self_call)
        try:
            yield
        except BaseException as exc:
            _failed(self._self_call, exc)
            raise
        finally:
            otel_context.detach(token)

    def _entered(self, value: Any) -> Any:
        return safely("stream start", self._self_on_enter, self._self_call, value, default=value)

    def _exited(self) -> None:
        _end_open(self._self_call)

    def __del__(self) -> None:
        _end_open(self._self_call)


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


class _RawStreamResponse(wrapt.ObjectProxy):
    """A raw response to a streamed request: the stream from ``parse()`` is followed."""

    def __init__(self, wrapped: Any, call: LLMCall, read: Callable[[LLMCall, Any], Any]) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_read = read
        self._self_parsed: tuple[Any, Any] | None = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = self.__wrapped__.parse(*args, **kwargs)
        seen = self._self_parsed
        if seen is not None:  # the SDK caches parse(): hand out the same proxy again
            return seen[1] if seen[0] is value else value
        out = safely("response read", self._self_read, self._self_call, value, default=value)
        self._self_parsed = (value, out)
        return out

    def __del__(self) -> None:
        if self._self_parsed is None:
            _end_open(self._self_call)


def raw_response_result(call: LLMCall, raw: Any, read: Callable[[LLMCall, Any], Any]) -> Any:
    """Read a raw response with ``read(call, parsed)`` (a spec's ``result``); return what the caller gets."""
    if _is_streamed(raw):
        return _RawStreamResponse(raw, call, read)
    parsed = safely("raw response parse", raw.parse)
    if parsed is None:
        safely("span end", call.end)
    else:
        read(call, parsed)
    return raw
