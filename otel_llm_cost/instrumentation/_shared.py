"""The one span/stream/safety machinery every provider instrumentation uses.

A provider module says *what* to wrap and *how to read* its objects (a
:class:`CallSpec`); everything about *when* a span starts and ends, how a stream is
proxied, how usage becomes cost, and how our own errors are kept away from the
application lives here, once:

* :class:`LLMCall` — one CLIENT span for one LLM call; ends exactly once, prices the
  usage, sets the cost attributes and records the call's metrics.
* :class:`StreamProxy` / :class:`AsyncStreamProxy` — ``wrapt.ObjectProxy`` around the
  SDK's stream: the user keeps the SDK's type, methods and ``isinstance``; each item
  is shown to a provider accumulator and passed on untouched; the span ends when the
  stream is exhausted, closed, exited, fails, or is garbage-collected.
* :func:`sync_wrapper` / :func:`async_wrapper` — wrapt wrappers that never let an
  exception of ours reach the caller, and that make nested SDK calls (a helper that
  calls ``create`` internally) produce no second span.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping, Protocol

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import semconv
from .._metrics import CallMetrics
from ..cost import Cost, format_usd, price_usage
from ..usage import Usage
from . import _hooks

__all__ = [
    "Telemetry",
    "LLMCall",
    "CallSpec",
    "StreamAccumulator",
    "StreamProxy",
    "AsyncStreamProxy",
    "sync_wrapper",
    "async_wrapper",
    "safely",
    "proxy_stream",
]

_log = logging.getLogger("otel_llm_cost")
_IN_CALL = otel_context.create_key("otel_llm_cost.in_llm_call")


def safely(what: str, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Run our code; on any exception log it (once per call site) and return ``default``."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - never let our bug reach the application
        _log.exception("otel_llm_cost: error in %s (the application call is unaffected)", what)
        return default


class Telemetry:
    """Tracer and instruments of one instrumentor; built once at ``instrument()``."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None,
                 capture_content: bool = False) -> None:
        from .. import __version__

        self.tracer = trace.get_tracer(semconv.SCOPE_NAME, __version__, tracer_provider)
        self.metrics = CallMetrics(meter_provider)
        self.capture_content = capture_content
        #: Cleared by ``uninstrument()``: SDK objects that cached a bound wrapper before
        #: then (e.g. ``client.chat.completions.with_raw_response``) stop tracing too.
        self.active = True


class LLMCall:
    """One LLM call: its span, what was learnt of the response, and ending it once."""

    __slots__ = ("telemetry", "span", "attributes", "usage", "partial", "_start", "_ended",
                 "service_tier", "_estimate", "state", "_sent")

    def __init__(self, telemetry: Telemetry, operation: str, provider: str, request_model: str | None,
                 attributes: Mapping[str, Any]) -> None:
        self.telemetry = telemetry
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_PROVIDER_NAME: provider,
        }
        if request_model:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = request_model
        for key, value in attributes.items():
            if value is not None:
                attrs[key] = value
        for key, value in _hooks.span_attributes().items():
            attrs.setdefault(key, value)
        self.attributes = attrs
        self._sent = dict(attrs)  # the end sets only what is new since (the SDK re-checks all)
        name = f"{operation} {request_model}" if request_model else operation
        self.span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        self.usage: Usage | None = None
        self.partial = False
        self.service_tier: str | None = None
        #: Called at the end when no usage was reported: returns an estimated Usage.
        self._estimate: Callable[[], Usage | None] | None = None
        #: Whatever the provider spec keeps between ``start`` and ``result`` (the prompt …).
        self.state: Any = None
        self._start = time.perf_counter()
        self._ended = False

    def set(self, key: str, value: Any) -> None:
        if value is not None and value != "" and value != []:
            self.attributes[key] = value

    def set_response(self, *, model: str | None = None, response_id: str | None = None,
                     finish_reasons: list[str] | None = None, usage: Usage | None = None) -> None:
        """Record what the response said; later values win (streams repeat them)."""
        if isinstance(model, str):
            self.set(semconv.GEN_AI_RESPONSE_MODEL, model)
        if isinstance(response_id, str):
            self.set(semconv.GEN_AI_RESPONSE_ID, response_id)
        if finish_reasons:
            self.set(semconv.GEN_AI_RESPONSE_FINISH_REASONS, [str(r) for r in finish_reasons if r])
        if usage is not None:
            self.usage = usage

    def estimate_with(self, estimator: Callable[[], Usage | None]) -> None:
        """Use ``estimator`` for usage if the provider reports none by the end."""
        self._estimate = estimator

    def fail(self, exc: BaseException) -> None:
        self.fail_with(_error_type(exc), str(exc))

    def fail_with(self, error_type: str, message: str = "") -> None:
        """Mark the call failed without an exception (e.g. an error event inside a stream).

        Providers quote the offending input in error messages ("invalid content: …"), so
        the message is content: the status says only the error type unless content
        capture is on.
        """
        self.attributes[semconv.ERROR_TYPE] = error_type
        detail = message[:500] if self.telemetry.capture_content else error_type
        self.span.set_status(Status(StatusCode.ERROR, detail))

    def end(self) -> None:
        """End the span once: price, set attributes, record metrics. Safe to call again."""
        if self._ended:
            return
        self._ended = True
        try:
            self._finish()
        finally:
            self.span.end()

    def _finish(self) -> None:
        attrs = self.attributes
        usage = self.usage
        if usage is None and self._estimate is not None:
            usage = safely("token estimation", self._estimate)
            self.usage = usage
        model = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)
        if usage is None and semconv.ERROR_TYPE in attrs:
            cost = Cost(semconv.STATUS_NO_USAGE, None, reason="the call failed before usage was reported")
        else:
            # A pricing failure (a bug of ours, a broken custom catalog) must not lose the
            # call: it is still counted, with its tokens, and its cost marked unknown.
            cost = safely("pricing", _pricing, model, usage, attrs.get(semconv.GEN_AI_PROVIDER_NAME),
                          self.service_tier, default=None) or _UNPRICEABLE
        # A failed attempt that reported nothing costs nothing, and says so honestly.
        if usage is not None:
            attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cache_read_tokens:
                attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
            if usage.cache_write_tokens:
                attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
            if usage.cache_write_1h_tokens:
                attrs[semconv.LLM_COST_CACHE_CREATION_1H_TOKENS] = usage.cache_write_1h_tokens
            if usage.reasoning_tokens:
                attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
            attrs[semconv.LLM_COST_USAGE_SOURCE] = usage.source
        attrs[semconv.LLM_COST_STATUS] = cost.status
        if cost.model:
            attrs[semconv.LLM_COST_MODEL] = cost.model
        if cost.catalog:
            attrs[semconv.LLM_COST_CATALOG] = cost.catalog
        if self.service_tier:
            attrs[semconv.LLM_COST_SERVICE_TIER] = self.service_tier
        if cost.usd is not None:
            attrs[semconv.LLM_COST_USD] = format_usd(cost.usd)
            attrs[semconv.GEN_AI_USAGE_COST] = float(cost.usd)
            for component, usd in cost.components.items():
                attrs[semconv.LLM_COST_COMPONENT_PREFIX + component] = format_usd(usd)
        if self.partial:
            attrs[semconv.LLM_COST_PARTIAL] = True
        _hooks.before_end(self.span, attrs, cost, usage)
        sent = self._sent  # itself the "absent" marker: never one of its own values
        self.span.set_attributes({k: v for k, v in attrs.items() if sent.get(k, sent) is not v})
        self.telemetry.metrics.record(attrs, usage, cost, time.perf_counter() - self._start)


_UNPRICEABLE = Cost(semconv.STATUS_UNKNOWN_MODEL, None, reason="pricing failed (see the otel_llm_cost log)")


def _pricing(model: Any, usage: Any, provider: Any, service_tier: Any) -> Cost:
    return price_usage(model, usage, provider=provider, service_tier=service_tier)


def _error_type(exc: BaseException) -> str:
    return type(exc).__qualname__


class StreamAccumulator(Protocol):
    """What a provider supplies to follow one stream: see each item, then conclude."""

    def on_item(self, item: Any) -> None: ...

    def finish(self, call: LLMCall, completed: bool) -> None:
        """Write the response attributes and usage (or an estimator) into ``call``."""


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
    def observe(proxy: Any, item: Any) -> None:
        try:
            proxy._self_acc.on_item(item)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error reading a stream item (the stream is unaffected)")


class StreamProxy(wrapt.ObjectProxy):
    """The SDK's sync stream, seen item by item; behaves exactly as the SDK's object."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        self._self_iter = None

    def __iter__(self) -> StreamProxy:
        return self

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
        _StreamState.observe(self, item)
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
        _StreamState.end(self, completed=False)


class AsyncStreamProxy(wrapt.ObjectProxy):
    """The SDK's async stream, seen item by item; behaves exactly as the SDK's object."""

    def __init__(self, wrapped: Any, call: LLMCall, accumulator: StreamAccumulator) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_acc = accumulator
        self._self_iter = None

    def __aiter__(self) -> AsyncStreamProxy:
        return self

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
        _StreamState.observe(self, item)
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
        _StreamState.end(self, completed=False)


def proxy_stream(stream: Any, call: LLMCall, accumulator: StreamAccumulator) -> Any:
    """The right proxy for an SDK stream: async when it iterates asynchronously."""
    if hasattr(stream, "__aiter__") and not hasattr(stream, "__iter__"):
        return AsyncStreamProxy(stream, call, accumulator)
    return StreamProxy(stream, call, accumulator)


class CallSpec(Protocol):
    """What a provider module says about one wrapped method."""

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall | None:
        """Open the span from the request (never reads the network)."""

    def result(self, call: LLMCall, value: Any) -> Any:
        """Read a non-stream result and end the call, or return a proxied stream."""


def _enter(telemetry: Telemetry, spec: CallSpec, instance: Any, args: tuple, kwargs: dict):
    """Decide whether to trace this call; returns (call, context token) or (None, None)."""
    if not telemetry.active or not is_instrumentation_enabled() or otel_context.get_value(_IN_CALL):
        return None, None
    _hooks.before_call()  # may raise BudgetExceeded on purpose: before anything is sent
    call = safely("span start", spec.start, telemetry, instance, args, kwargs)
    if call is None:
        return None, None
    return call, _attach(call)


def _attach(call: LLMCall) -> object:
    """Make ``call`` current while the SDK sends its request.

    Spans started inside (HTTP client spans, an SDK's own tracing such as the Anthropic
    SDK's ``com.anthropic.sdk.python`` spans) become children of our LLM span, and a
    nested SDK method that is wrapped too produces no second span.
    """
    ctx = otel_context.set_value(_IN_CALL, True, trace.set_span_in_context(call.span))
    return otel_context.attach(ctx)


def _failed(call: LLMCall, exc: BaseException) -> None:
    safely("error recording", call.fail, exc)
    safely("span end", call.end)


def sync_wrapper(telemetry: Telemetry, spec: CallSpec) -> Callable[..., Any]:
    """A wrapt wrapper tracing a sync SDK method described by ``spec``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        call, token = _enter(telemetry, spec, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            value = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        finally:
            otel_context.detach(token)
        return _result(spec, call, value)

    return wrapper


def async_wrapper(telemetry: Telemetry, spec: CallSpec) -> Callable[..., Any]:
    """A wrapt wrapper tracing an ``async def`` SDK method described by ``spec``."""

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        call, token = _enter(telemetry, spec, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            value = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        finally:
            otel_context.detach(token)
        return _result(spec, call, value)

    return wrapper


def _result(spec: CallSpec, call: LLMCall, value: Any) -> Any:
    try:
        return spec.result(call, value)
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: error reading a response (the application call is unaffected)")
        safely("span end", call.end)
        return value
