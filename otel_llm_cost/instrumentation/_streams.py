"""Stream proxies: the SDK's own stream object, watched item by item.

``wrapt.ObjectProxy`` keeps the SDK's type, methods and ``isinstance``; each item is
shown to the provider's :class:`StreamAccumulator` and passed on untouched; the span
ends exactly once — when the stream is exhausted, closed, exited, fails, or is
garbage-collected. Split from :mod:`._shared` (which re-exports these) to keep each
module small.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import wrapt

from ._call import LLMCall, safely
from ._contract import StreamAccumulator
from ._handoff import ensure_worker, run_or_hand_off

__all__ = ["StreamAccumulator", "StreamProxy", "AsyncStreamProxy", "proxy_stream"]

_log = logging.getLogger("otel_llm_cost")


class _StreamState:
    """Ending logic shared by the sync and async proxies."""

    @staticmethod
    def end(proxy: Any, completed: bool, exc: BaseException | None = None) -> None:
        call: LLMCall | None = proxy._self_call
        if call is None or call._ended:
            return
        proxy._self_call = None
        if exc is not None and not isinstance(exc, (GeneratorExit, StopIteration, StopAsyncIteration)):
            safely("stream error", call.fail, exc)
        if not completed:
            call.partial = True
        safely("stream finish", proxy._self_acc.finish, call, completed)
        safely("span end", call.end)

    @staticmethod
    def collected(proxy: Any) -> None:
        """From ``__del__``: end the call now, or hand it off during a cyclic collection
        (the collector may have run inside a lock of ours: see :mod:`._handoff`)."""
        call: LLMCall | None = proxy._self_call
        if call is None or call._ended:
            return
        proxy._self_call = None
        run_or_hand_off(_end_abandoned, call, proxy._self_acc)


def _end_abandoned(call: LLMCall, accumulator: StreamAccumulator) -> None:
    if call._ended:
        return
    call.partial = True
    safely("stream finish", accumulator.finish, call, False)
    safely("span end", call.end)


class StreamProxy(wrapt.ObjectProxy):
    """The SDK's sync stream, seen item by item; behaves exactly as the SDK's object."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        self._self_iter: Iterator[Any] | None = None

    def __iter__(self) -> Iterator[Any]:
        """A ``for`` loop's iterator: a generator over the same items as :meth:`__next__`
        (one underlying iterator, so loops and ``next()`` calls can be mixed), because
        resuming a generator costs less per item than a call of ``__next__`` through
        the proxy. Leaving a loop early ends nothing: the stream can still be read, and
        its span ends when it is closed, exited or collected."""
        if self._self_iter is None:
            self._self_iter = iter(self.__wrapped__)
        return self._self_items(self._self_iter)

    def _self_items(self, items: Iterator[Any]) -> Iterator[Any]:
        on_item = self._self_acc.on_item
        try:
            for item in items:
                try:  # inline, not a helper: once per item
                    on_item(item)
                except Exception:  # noqa: BLE001
                    _log.exception("otel_llm_cost: error reading a stream item (the stream is unaffected)")
                yield item
        except GeneratorExit:  # the loop was left (break, or the loop's frame went away)
            raise
        except BaseException as exc:
            _StreamState.end(self, completed=False, exc=exc)
            raise
        _StreamState.end(self, completed=True)

    def __next__(self) -> Any:
        if self._self_iter is None:
            self._self_iter = iter(self.__wrapped__)
        try:
            item = next(self._self_iter)
        except StopIteration:
            _StreamState.end(self, completed=True)
            raise
        except BaseException as exc:
            _StreamState.end(self, completed=False, exc=exc)
            raise
        try:  # inline, not a helper: once per item
            self._self_acc.on_item(item)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error reading a stream item (the stream is unaffected)")
        return item

    def __enter__(self) -> StreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            _StreamState.end(self, completed=False, exc=exc)

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            _StreamState.end(self, completed=False)

    def __del__(self) -> None:
        _StreamState.collected(self)


class AsyncStreamProxy(wrapt.ObjectProxy):
    """The SDK's async stream, seen item by item; behaves exactly as the SDK's object."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        self._self_iter: AsyncIterator[Any] | None = None

    def __aiter__(self) -> AsyncIterator[Any]:
        """An ``async for`` loop's iterator: an async generator over the same items as
        :meth:`__anext__` (one underlying iterator), as :meth:`StreamProxy.__iter__`.
        Leaving the loop early ends nothing; the event loop closes the generator."""
        if self._self_iter is None:
            self._self_iter = self.__wrapped__.__aiter__()
        return self._self_items(self._self_iter)

    async def _self_items(self, items: AsyncIterator[Any]) -> AsyncIterator[Any]:
        on_item = self._self_acc.on_item
        try:
            async for item in items:
                try:  # inline, not a helper: once per item
                    on_item(item)
                except Exception:  # noqa: BLE001
                    _log.exception("otel_llm_cost: error reading a stream item (the stream is unaffected)")
                yield item
        except GeneratorExit:  # the loop was left, and the generator closed
            raise
        except BaseException as exc:
            _StreamState.end(self, completed=False, exc=exc)
            raise
        _StreamState.end(self, completed=True)

    async def __anext__(self) -> Any:
        if self._self_iter is None:
            self._self_iter = self.__wrapped__.__aiter__()
        try:
            item = await self._self_iter.__anext__()
        except StopAsyncIteration:
            _StreamState.end(self, completed=True)
            raise
        except BaseException as exc:
            _StreamState.end(self, completed=False, exc=exc)
            raise
        try:  # inline, not a helper: once per item
            self._self_acc.on_item(item)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error reading a stream item (the stream is unaffected)")
        return item

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            _StreamState.end(self, completed=False, exc=exc)

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            _StreamState.end(self, completed=False)

    async def aclose(self) -> Any:
        try:
            closer = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            return await closer()
        finally:
            _StreamState.end(self, completed=False)

    def __del__(self) -> None:
        _StreamState.collected(self)


def proxy_stream(stream: Any, call: LLMCall, accumulator: StreamAccumulator) -> Any:
    """The right proxy for an SDK stream: async when it iterates asynchronously."""
    ensure_worker()
    if hasattr(stream, "__aiter__") and not hasattr(stream, "__iter__"):
        return AsyncStreamProxy(stream, call, accumulator)
    return StreamProxy(stream, call, accumulator)
