"""``with_usage(runnable)``: tally each invocation of a LangChain Runnable on its own.

The numbers come from the session layer (a ``track()`` collector per invocation, fed
by the ``SessionSpanProcessor`` from the provider spans), never from LangChain's
``usage_metadata``: the provider span is the one record of a call, so nothing is
counted twice whatever LangChain reports alongside it.

Why a ``RunnableBinding`` subclass: a binding is transparent to LangChain — input and
output schemas, config specs and names are the wrapped runnable's, and
``astream_events``/``astream_log`` see the wrapped runnable as the root run, so a
LangServe stream carries exactly the events it would carry without us.

Why batches are run input by input: a ``RunnableSequence`` batches step by step, so
one provider call cannot be attributed to one input. Running each input as its own
``invoke`` (what ``Runnable.batch`` does, with the same ``max_concurrency``) gives
every input its own tally and the same outputs.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

from langchain_core.runnables import Runnable, RunnableBinding
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from ..sessions import current_usage, track

__all__ = ["with_usage", "UsageBinding", "RequestTally", "REQUEST"]

_log = logging.getLogger("otel_llm_cost")


class RequestTally:
    """What one HTTP request's wrapped invocations cost, filled in as each one ends."""

    __slots__ = ("runs", "ran")

    def __init__(self) -> None:
        #: run_id (as LangServe put it in the config) -> UsageSummary of that invocation.
        self.runs: dict[str, Any] = {}
        #: True once a wrapped runnable was invoked in this request.
        self.ran = False


#: The request being served, set by the ASGI middleware; None outside of it.
REQUEST: ContextVar[RequestTally | None] = ContextVar("otel_llm_cost_langserve_request", default=None)


class _Tally:
    """A ``track()`` collector held open in a private context, entered around each step.

    A generator cannot keep a context attached across its ``yield``s: it would leak
    into the consumer between items, and a generator closed by the garbage collector
    would detach it from another context. So the collector lives in a copied context,
    and each step of the wrapped call attaches that context's OpenTelemetry context and
    detaches it before handing the item out.
    """

    __slots__ = ("_ctx", "_scope", "_otel", "_run_id")

    def __init__(self, config: Any) -> None:
        self._ctx = contextvars.copy_context()
        self._scope = track()
        self._ctx.run(self._scope.__enter__)
        self._otel = self._ctx.run(otel_context.get_current)
        run_id = config.get("run_id") if isinstance(config, dict) else None
        self._run_id = str(run_id) if run_id is not None else None
        request = REQUEST.get()
        if request is not None:
            request.ran = True

    @classmethod
    def open(cls, config: Any) -> _Tally | None:
        try:
            return cls(config)
        except Exception:  # noqa: BLE001 - never break the chain over our bookkeeping
            _log.exception("otel_llm_cost: could not open a usage tally (call runs untracked)")
            return None

    def enter(self) -> Token[Context]:
        return otel_context.attach(self._otel)

    @staticmethod
    def leave(token: Token[Context]) -> None:
        otel_context.detach(token)

    def close(self) -> None:
        """Close the collector and hand its summary to the request being served, if any."""
        try:
            summary = self._ctx.run(current_usage)
            self._ctx.run(self._scope.__exit__, None, None, None)
            request = REQUEST.get()
            if request is not None and self._run_id is not None:
                request.runs[self._run_id] = summary
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: could not close a usage tally (ignored)")


def _tracked_call(fn: Callable[..., Any], config: Any, *args: Any, **kwargs: Any) -> Any:
    tally = _Tally.open(config)
    if tally is None:
        return fn(*args, **kwargs)
    token = tally.enter()
    try:
        return fn(*args, **kwargs)
    finally:
        tally.leave(token)
        tally.close()


async def _atracked_call(fn: Callable[..., Any], config: Any, *args: Any, **kwargs: Any) -> Any:
    tally = _Tally.open(config)
    if tally is None:
        return await fn(*args, **kwargs)
    token = tally.enter()
    try:
        return await fn(*args, **kwargs)
    finally:
        tally.leave(token)
        tally.close()


def _tracked_iter(make: Callable[[], Iterator[Any]], config: Any) -> Iterator[Any]:
    tally = _Tally.open(config)
    if tally is None:
        yield from make()
        return
    it: Any = None
    try:
        token = tally.enter()
        try:
            it = iter(make())
        finally:
            tally.leave(token)
        while True:
            token = tally.enter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                tally.leave(token)
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            token = tally.enter()
            try:
                close()
            finally:
                tally.leave(token)
        tally.close()


async def _atracked_iter(make: Callable[[], AsyncIterator[Any]], config: Any) -> AsyncIterator[Any]:
    tally = _Tally.open(config)
    if tally is None:
        async for item in make():
            yield item
        return
    it: Any = None
    try:
        token = tally.enter()
        try:
            it = make().__aiter__()
        finally:
            tally.leave(token)
        while True:
            token = tally.enter()
            try:
                item = await it.__anext__()
            except StopAsyncIteration:
                return
            finally:
                tally.leave(token)
            yield item
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            token = tally.enter()
            try:
                await aclose()
            finally:
                tally.leave(token)
        tally.close()


class UsageBinding(RunnableBinding):
    """A transparent binding whose every invocation (each batch input apart) is tallied."""

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        return _tracked_call(super().invoke, config, input, config, **kwargs)

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        return await _atracked_call(super().ainvoke, config, input, config, **kwargs)

    def batch(self, inputs: list, config: Any = None, *, return_exceptions: bool = False,
              **kwargs: Any) -> list:
        return Runnable.batch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    async def abatch(self, inputs: list, config: Any = None, *, return_exceptions: bool = False,
                     **kwargs: Any) -> list:
        return await Runnable.abatch(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    def batch_as_completed(self, inputs: Any, config: Any = None, *, return_exceptions: bool = False,
                           **kwargs: Any) -> Any:
        # Runnable's overloads key on a Literal for return_exceptions; a bool passed
        # through picks one of them at run time, which the type checker cannot see.
        as_completed: Any = Runnable.batch_as_completed
        return as_completed(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    def abatch_as_completed(self, inputs: Any, config: Any = None, *, return_exceptions: bool = False,
                            **kwargs: Any) -> Any:
        as_completed: Any = Runnable.abatch_as_completed  # see batch_as_completed
        return as_completed(self, inputs, config, return_exceptions=return_exceptions, **kwargs)

    def stream(self, input: Any, config: Any = None, **kwargs: Any) -> Iterator[Any]:
        parent = super().stream
        return _tracked_iter(lambda: parent(input, config, **kwargs), config)

    def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        parent = super().astream
        return _atracked_iter(lambda: parent(input, config, **kwargs), config)

    def transform(self, input: Iterator[Any], config: Any = None, **kwargs: Any) -> Iterator[Any]:
        parent = super().transform
        return _tracked_iter(lambda: parent(input, config, **kwargs), config)

    def atransform(self, input: AsyncIterator[Any], config: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        parent = super().atransform
        return _atracked_iter(lambda: parent(input, config, **kwargs), config)

    def stream_events(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        parent = super().stream_events
        if {**self.kwargs, **kwargs}.get("version") == "v3":
            return parent(input, config, **kwargs)  # a typed stream object, not an iterator
        return _tracked_iter(lambda: parent(input, config, **kwargs), config)

    def astream_events(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        parent = super().astream_events
        if {**self.kwargs, **kwargs}.get("version") == "v3":
            return parent(input, config, **kwargs)  # an awaitable, not an iterator
        return _atracked_iter(lambda: parent(input, config, **kwargs), config)


def with_usage(runnable: Runnable) -> UsageBinding:
    """Wrap ``runnable`` so each invocation's LLM usage and cost is tallied on its own.

    Serving it with LangServe and ``LangServeUsageMiddleware`` (or this module's
    ``add_routes``) puts the tallies into the responses. Already wrapped: returned as is.
    """
    if isinstance(runnable, UsageBinding):
        return runnable
    return UsageBinding(bound=runnable)
