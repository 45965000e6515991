"""``SessionSpanProcessor``: sessions and metrics for spans that other tools wrote.

Our own calls reach sessions through the sessions observer
(:mod:`._observer`), from the call's record, before its span ends. What only a span
processor can see are the GenAI spans of *other* tools — an SDK that traces itself
(the ``anthropic`` SDK's own spans when our instrumentation is off), a peer
instrumentation of an SDK we do not wrap. For those, one rule
(:func:`otel_llm_cost.foreign_spans.should_count`) decides whether the span is the
one that counts for its call, and one function
(:func:`~otel_llm_cost.foreign_spans.record_of_span`) prices it; the priced call is
then recorded in the per-call metrics and added to its sessions like ours.

Which sessions: those open in the context the span *started* in (noted at
``on_start``, keyed by span id, dropped at ``on_end``; an ended span no longer knows
its context), else the ``session.id`` attribute. Installing the processor also
registers the sessions observer. Every error is logged and swallowed.

A foreign GenAI span started inside a session is one of its calls in flight, as ours
are (``Session.in_flight``): a session whose block exits while such a span is open (a
stream another tool traces, read after the block) ends when that span ends, with the
call in its metrics and summary, not before.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from .. import semconv
from .._metrics import CallMetrics
from ..config import load
from ..foreign_spans import may_be_a_call, record_of_span, should_count
from ._context import chain_of, current_chain
from ._metrics import SessionMetrics
from ._observer import count, ensure_observing
from ._store import STORE

__all__ = ["SessionSpanProcessor"]

_log = logging.getLogger("otel_llm_cost")
#: Keep at most this many started-but-not-ended spans (a span never ended must not leak).
_MAX_PENDING = 100_000


#: Foreign spans recently counted, by any session processor of this process. A second
#: processor on the same provider (added by hand, then again by ``configure()`` or the
#: zero-code hook) sees the very same span right after the first: it must not count it
#: again. Bounded: both see a span within one ``on_end`` pass.
_COUNTED: dict[tuple[int, int, int], None] = {}
_MAX_COUNTED = 1024


def _first_to_count(span: Any) -> bool:
    ctx = span.context
    key = (ctx.trace_id, ctx.span_id, id(span))
    if key in _COUNTED:
        return False
    _COUNTED[key] = None
    if len(_COUNTED) > _MAX_COUNTED:
        try:
            del _COUNTED[next(iter(_COUNTED))]
        except (KeyError, RuntimeError, StopIteration):  # another thread trimmed it first
            pass
    return True


def _ours(span: Any) -> bool:
    scope = getattr(span, "instrumentation_scope", None)
    if scope is None:
        return False
    # By scope object (a tracer's, shared by all its spans), not by name on every span.
    seen = _SCOPES.get(id(scope))
    if seen is not None and seen[0] is scope:
        return seen[1]
    ours = scope.name == semconv.SCOPE_NAME
    if len(_SCOPES) >= 256:
        _SCOPES.clear()
    _SCOPES[id(scope)] = (scope, ours)  # the scope is kept: its id is not reused meanwhile
    return ours


#: id(instrumentation scope) -> (the scope, whether it is ours).
_SCOPES: dict[int, tuple[Any, bool]] = {}


def _scope(span: Any) -> str | None:
    return getattr(getattr(span, "instrumentation_scope", None), "name", None)


class SessionSpanProcessor(SpanProcessor):
    """Adds foreign GenAI spans to sessions and metrics; owns the session metrics.

    Add it to the SDK ``TracerProvider`` (``configure()`` and the zero-code hook do).
    Session metrics go to ``meter_provider`` (default: the global one).
    """

    #: Set once any instance exists: sessions can then count other instrumentations'
    #: spans, so an empty session is not for want of instrumentation.
    created = False

    def __init__(self, meter_provider: Any = None) -> None:
        SessionSpanProcessor.created = True
        self._session_metrics = SessionMetrics(meter_provider)
        settings = load()
        self._call_metrics = CallMetrics(meter_provider, settings.metric_attributes, settings.metric_calls)
        #: span id -> (the tallies a foreign GenAI span counts in, the sessions open where
        #: it started, which count it in flight until it ends).
        self._pending: dict[int, tuple[Any, Any]] = {}
        STORE.metrics = self._session_metrics
        ensure_observing()

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        try:
            if _ours(span):
                return  # counted from its record (the sessions observer)
            attrs = span.attributes
            if not may_be_a_call(_scope(span), attrs or {}, starting=True):
                return
            chain = chain_of(parent_context)
            if not chain:
                return
            opened = current_chain(parent_context)
            pending = self._pending
            if len(pending) >= _MAX_PENDING:
                # A span never ended: stop waiting for it (its sessions may end).
                _, evicted = pending.pop(next(iter(pending)))
                if evicted:
                    STORE.call_ended(evicted)
            pending[span.context.span_id] = (chain, opened)
            if opened:
                STORE.call_started(opened)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in the session processor (ignored)")

    def on_end(self, span: ReadableSpan) -> None:
        opened = None
        try:
            if _ours(span):
                return  # counted from its record, before the span ended; never pending
            chain, opened = self._pending.pop(span.context.span_id, (None, None))
            self._count(span, chain)
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in the session processor (ignored)")
        finally:
            # After counting (and even if counting failed): a session waiting for this
            # span ends with it included, rather than at the idle timeout.
            if opened:
                try:
                    STORE.call_ended(opened)
                except Exception:  # noqa: BLE001
                    _log.exception("otel_llm_cost: error in the session processor (ignored)")

    def _count(self, span: ReadableSpan, chain: Any) -> None:
        if _ours(span):
            return  # counted from its record, before the span ended
        attrs = span.attributes
        if not attrs or not may_be_a_call(_scope(span), attrs) or not should_count(span):
            return
        if not _first_to_count(span):
            return  # a second session processor on the same provider
        record = record_of_span(span)
        self._call_metrics.on_call_end(record)
        if chain is None:
            sid = attrs.get(semconv.SESSION_ID)
            if not sid:
                return
            uid = attrs.get(semconv.USER_ID)
            chain = STORE.lookup(str(sid), str(uid) if uid else None)
        error = record.failed or span.status.status_code is StatusCode.ERROR
        count(record, chain, error=error)

    def shutdown(self) -> None:
        if STORE.metrics is self._session_metrics:
            STORE.metrics = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
