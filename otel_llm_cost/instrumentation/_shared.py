"""The one span/stream/safety machinery every provider instrumentation uses.

A provider module says *what* to wrap and *how to read* its objects (a
:class:`CallSpec`); everything about *when* a span starts and ends, how a stream is
proxied, how usage becomes cost, and how our own errors are kept away from the
application lives here (with :mod:`._call` and :mod:`._streams`, re-exported from
this module, which is what providers import), once:

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

from collections.abc import Callable
from contextvars import Token
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from .. import observers, semconv
from ._call import OBSERVED_ATTRIBUTES, LLMCall, Telemetry, _log, safely
from ._contract import CallSpec, Spec, StreamAccumulator
from ._endpoints import Endpoints, server_attributes
from ._streams import AsyncStreamProxy, StreamProxy, proxy_stream

__all__ = [
    "Telemetry",
    "LLMCall",
    "CallSpec",
    "Spec",
    "StreamAccumulator",
    "StreamProxy",
    "AsyncStreamProxy",
    "sync_wrapper",
    "async_wrapper",
    "safely",
    "proxy_stream",
    "server_attributes",
    "Endpoints",
    "quiet_while",
    "quiet_end",
]

_IN_CALL = otel_context.create_key("otel_llm_cost.in_llm_call")


def _enter(telemetry: Telemetry, spec: CallSpec, instance: Any, args: tuple, kwargs: dict):
    """Decide whether to trace this call; returns (call, context token) or (None, None)."""
    current = otel_context.get_current()
    outer = current.get(_IN_CALL)
    if not telemetry.active or not is_instrumentation_enabled() or (isinstance(outer, _Sending) and outer.sending):
        return None, None
    # An observer may refuse the call (a hard budget): raised on purpose, before anything is sent.
    observed = OBSERVED_ATTRIBUTES.set((observers.before_call(kwargs) or None, current))
    try:
        call = spec.start(telemetry, instance, args, kwargs)
    except Exception:  # noqa: BLE001 - safely(), inline: never let our bug reach the application
        _log.exception("otel_llm_cost: error in %s (the application call is unaffected)", "span start")
        call = None
    finally:
        OBSERVED_ATTRIBUTES.reset(observed)
        held = observers.take_held()  # a hard budget's reservation: settled when the call ends
    if call is None:
        if held is not None:
            safely("reservation release", held.release)
        return None, None
    call.held = held
    return call, _attach(call, current)


class _Sending:
    """The marker a call puts in the context while its request is sent (see :func:`_attach`).

    ``sending`` and ``token`` are set where it is made (no ``__init__``: one Python call
    less per LLM call)."""

    __slots__ = ("sending", "token")

    sending: bool
    token: Token[otel_context.Context] | None


def _attach(call: LLMCall, current: otel_context.Context) -> _Sending:
    """Make ``call`` current (over ``current``, the context it is made in) while the SDK
    sends its request; undo with :func:`_detach`.

    Spans started inside (HTTP client spans, an SDK's own tracing such as the Anthropic
    SDK's ``com.anthropic.sdk.python`` spans) become children of our LLM span, and a
    nested SDK method that is wrapped too produces no second span. The marker says
    "sending" only until :func:`_detach`: another instrumentation wrapped inside ours may
    attach a context during our call and restore it when its stream ends (the contrib
    GenAI instrumentations do), leaking our context past the call; a leaked marker no
    longer silences the application's next calls.
    """
    global _last_stripped
    marker = _Sending()
    marker.sending = True
    marker.token = None
    seen, base = _last_stripped
    if seen is not current:
        base = _without_our_baggage(current)
        _last_stripped = (current, base)
    ctx = otel_context.set_value(_IN_CALL, marker, trace.set_span_in_context(call.span, base))
    call.span_in_context = ctx
    marker.token = otel_context.attach(ctx)
    return marker


#: The context the last call was made in, and that context less our baggage. Calls made
#: one after another in one block (a session, a request) see the very same ``Context``
#: object, so the copy without our baggage is made once for them, not once per call.
_last_stripped: tuple[Any, Any] = (None, None)


def quiet_while(call: LLMCall) -> _Sending:
    """Mark ``call`` as sending again (undo with :func:`_detach`): for a wrapper whose SDK
    sends lazily, when its stream is first read (LiteLLM's), so that an SDK it calls
    underneath is still no second span."""
    return _attach(call, otel_context.get_current())


def quiet_end(marker: _Sending) -> None:
    """Undo :func:`quiet_while`."""
    _detach(marker)


def _detach(marker: _Sending) -> None:
    marker.sending = False
    if marker.token is not None:
        otel_context.detach(marker.token)


_OUR_BAGGAGE = (semconv.SESSION_ID, semconv.USER_ID)


def _without_our_baggage(ctx: otel_context.Context) -> otel_context.Context:
    """``ctx`` less the ``session.id``/``user.id`` baggage entries.

    They are how sessions reach *our* next services; an HTTP client instrumentation
    would also send them to the LLM provider, a third party that has no use for our
    users' ids. So they are dropped from the context the SDK sends its request in.
    The application's other baggage entries are its own business and stay.
    """
    entries = baggage.get_all(ctx)
    if not entries:
        return ctx
    for key in _OUR_BAGGAGE:
        if key in entries:
            ctx = baggage.remove_baggage(key, ctx)
    return ctx


def _failed(call: LLMCall, exc: BaseException, spec: CallSpec | None = None) -> None:
    # Some SDK errors carry a response that was billed (openai's parse() raises
    # LengthFinishReasonError with the completion, usage included): read it first.
    if spec is not None:
        safely("error reading", spec.read_error, call, exc)
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
            _failed(call, exc, spec)
            raise
        finally:
            _detach(token)
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
            _failed(call, exc, spec)
            raise
        finally:
            _detach(token)
        return _result(spec, call, value)

    return wrapper


def _result(spec: CallSpec, call: LLMCall, value: Any) -> Any:
    try:
        return spec.result(call, value)
    except Exception:  # noqa: BLE001
        _log.exception("otel_llm_cost: error reading a response (the application call is unaffected)")
        safely("span end", call.end)
        return value
