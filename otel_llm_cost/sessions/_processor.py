"""``SessionSpanProcessor``: the one place where a finished LLM call is added to sessions.

It reads the ended span's attributes alone — ``llm_cost.usd`` when our
instrumentation priced the call, else the ``gen_ai.usage.*`` tokens priced here —
so spans from other GenAI instrumentations count too. Which sessions: those open in
the context the span *started* in (noted at ``on_start``, keyed by span id, dropped
at ``on_end``; the ended span no longer knows its context), else the ``session.id``
attribute (a span that got it from baggage or set it itself).

``on_end`` runs synchronously inside ``span.end()``, so ``s.cost`` includes a call as
soon as its span has ended. Every error is logged and swallowed.
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import StatusCode

from .. import semconv
from .._metrics import CallMetrics
from ..cost import Cost, price_usage
from ..foreign_spans import should_count, usage_from_foreign_span
from ..usage import Usage
from ._budget import announce
from ._context import _KEY
from ._metrics import SessionMetrics
from ._store import STORE

__all__ = ["SessionSpanProcessor"]

_log = logging.getLogger("otel_llm_cost")
_OPERATION = semconv.GEN_AI_OPERATION_NAME
_INPUT = semconv.GEN_AI_USAGE_INPUT_TOKENS
_OUTPUT = semconv.GEN_AI_USAGE_OUTPUT_TOKENS
#: Keep at most this many started-but-not-ended spans (a span never ended must not leak).
_MAX_PENDING = 100_000


def _should_count(span: ReadableSpan) -> bool:
    """Is this ended span one LLM call to add to sessions? (The rule lives in foreign_spans.)"""
    attrs = span.attributes
    if not attrs or _OPERATION not in attrs:
        return False
    return should_count(span)


def _foreign_usage(span: ReadableSpan, attrs: Any) -> Usage | None:
    """Usage of another tool's span, read in that tool's counting convention."""
    scope = span.instrumentation_scope
    return usage_from_foreign_span(scope.name if scope is not None else None, attrs)


def _model(attrs: Any) -> str | None:
    return attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)


class SessionSpanProcessor(SpanProcessor):
    """Adds each LLM span's cost and tokens to its sessions; records session metrics.

    Add it to the SDK ``TracerProvider`` (``configure()`` and the zero-code hook do).
    Session metrics go to ``meter_provider`` (default: the global one).
    """

    def __init__(self, meter_provider: Any = None) -> None:
        self._session_metrics = SessionMetrics(meter_provider)
        self._call_metrics = CallMetrics(meter_provider)
        STORE.metrics = self._session_metrics
        from . import _install_hooks

        _install_hooks()

    # --- span lifecycle -----------------------------------------------------------------

    def on_start(self, span: Any, parent_context: otel_context.Context | None = None) -> None:
        try:
            chain = otel_context.get_value(_KEY, parent_context)
            if not chain:
                attrs = span.attributes
                if not attrs or _OPERATION not in attrs:
                    return
                sid = baggage.get_baggage(semconv.SESSION_ID, parent_context)
                if not sid:
                    return
                uid = baggage.get_baggage(semconv.USER_ID, parent_context)
                chain = STORE.lookup(str(sid), str(uid) if uid else None)
            pending = STORE.pending
            if len(pending) >= _MAX_PENDING:
                del pending[next(iter(pending))]
            pending[span.context.span_id] = [chain, None, None]
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in the session processor (ignored)")

    def on_end(self, span: ReadableSpan) -> None:
        try:
            entry = STORE.pending.pop(span.context.span_id, None)
            if _should_count(span):
                self._count(span, entry)
            elif entry is not None and entry[1] is not None:
                STORE.release(entry[0], entry[1])
        except Exception:  # noqa: BLE001
            _log.exception("otel_llm_cost: error in the session processor (ignored)")

    def _count(self, span: ReadableSpan, entry: list | None) -> None:
        attrs = span.attributes
        ours = span.instrumentation_scope is not None and span.instrumentation_scope.name == semconv.SCOPE_NAME
        known = None
        if entry is not None:
            chain, reserved, known = entry
        else:
            sid = attrs.get(semconv.SESSION_ID)
            if not sid:
                if not ours:
                    self._record_foreign(span, attrs)
                return
            uid = attrs.get(semconv.USER_ID)
            chain, reserved = STORE.lookup(str(sid), str(uid) if uid else None), None
        error = semconv.ERROR_TYPE in attrs or span.status.status_code is StatusCode.ERROR
        if ours:
            if known is not None:  # handed over by our before-end hook: the same figures
                usage, cost, text = known
                status, model = cost.status, cost.model
            else:
                usage = Usage.from_span_attributes(attrs) if (_INPUT in attrs or _OUTPUT in attrs) else None
                text = attrs.get(semconv.LLM_COST_USD)
                status, model = attrs.get(semconv.LLM_COST_STATUS), attrs.get(semconv.LLM_COST_MODEL)
            usd = None
            if text is not None:
                try:
                    usd = Decimal(text)
                except (InvalidOperation, TypeError):
                    usd = None
            model = model or _model(attrs) or "unknown"
            reason = None if usd is not None else f"{status}: {model}"
        else:
            usage, cost = self._record_foreign(span, attrs)
            usd, reason = cost.usd, cost.reason
            model = cost.model or _model(attrs) or "unknown"
        if usd is None and reason is None:
            reason = semconv.STATUS_NO_USAGE
        crossings = STORE.add(chain, usd, usage, model, error, reason, reserved)
        if crossings:
            announce(crossings)

    def _record_foreign(self, span: ReadableSpan, attrs: Any) -> tuple[Usage | None, Cost]:
        """Price a foreign span and record its per-call metrics (ours already did)."""
        usage = _foreign_usage(span, attrs)
        provider = attrs.get(semconv.GEN_AI_PROVIDER_NAME) or attrs.get(semconv.GEN_AI_SYSTEM)
        cost = price_usage(_model(attrs), usage, provider=provider)
        duration = None
        if span.end_time is not None and span.start_time is not None:
            duration = (span.end_time - span.start_time) / 1e9
        self._call_metrics.record(attrs, usage, cost, duration, span.context)
        return usage, cost

    def shutdown(self) -> None:
        if STORE.metrics is self._session_metrics:
            STORE.metrics = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
