"""What ``otel-llm-cost demo`` prints, read from the spans the instrumentation produced.

The demo shows what the telemetry recorded, not what it expected: every per-call
number comes from the call's ended span (its ``gen_ai.usage.*`` and ``llm_cost.*``
attributes), so a wrong attribute would show up on screen.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from . import semconv
from .cost import format_usd

__all__ = ["CallLog", "call_record", "call_line", "session_lines"]


class CallLog(SpanProcessor):
    """Keeps each of our LLM spans as it ends (``on_end`` runs inside ``span.end()``)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == semconv.SCOPE_NAME:
            with self._lock:
                self.spans.append(span)


def call_record(turn: Any, span: ReadableSpan | None) -> dict[str, Any]:
    """One call as plain data (tokens as ints, cost as exact decimal text or None)."""
    attrs: Mapping[str, Any] = (span.attributes or {}) if span is not None else {}
    return {
        "sdk": turn.sdk,
        "model": turn.model,
        "shows": turn.shows,
        "span": span is not None,
        "input_tokens": int(attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, 0)),
        "cache_read_tokens": int(attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0)),
        "cache_write_tokens": int(attrs.get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, 0)),
        "output_tokens": int(attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0)),
        "usage_source": attrs.get(semconv.LLM_COST_USAGE_SOURCE),
        "status": attrs.get(semconv.LLM_COST_STATUS),
        "cost_usd": attrs.get(semconv.LLM_COST_USD),
        "session_id": attrs.get(semconv.SESSION_ID),
    }


def _tokens(record: Mapping[str, Any]) -> str:
    cache = []
    if record["cache_read_tokens"]:
        cache.append(f"{record['cache_read_tokens']} cached")
    if record["cache_write_tokens"]:
        cache.append(f"{record['cache_write_tokens']} cache write")
    detail = f" ({', '.join(cache)})" if cache else ""
    return f"{record['input_tokens']:>4} in{detail}, {record['output_tokens']} out"


def _cost(record: Mapping[str, Any]) -> str:
    if not record["span"]:
        return "no span recorded"
    if record["cost_usd"] is None:
        if record["status"] == semconv.STATUS_UNKNOWN_MODEL:
            return "cost unknown: no price for this model"
        return f"cost unknown ({record['status']})"
    suffix = "  (estimated: no usage reported)" if record["usage_source"] == semconv.SOURCE_ESTIMATED else ""
    return f"{record['cost_usd']} USD{suffix}"


def call_line(n: int, total: int, record: Mapping[str, Any]) -> str:
    """``[2/6] openai  gpt-4o-mini  stream + usage …  84 in (40 cached), 27 out  0.0000… USD``"""
    head = f"  [{n}/{total}] {record['sdk']:<9} {record['model']:<17} {record['shows']:<29}"
    return f"{head} {_tokens(record):<36} {_cost(record)}"


def session_lines(summary: Any) -> list[str]:
    """The session roll-up: calls, tokens, and an honest total.

    ``summary`` is a :class:`~otel_llm_cost.sessions.SessionSummary`. Its ``cost`` is
    None when a call had no price; then the priced part is shown as a lower bound with
    the number of unpriced calls, never as the whole.
    """
    if summary is None:  # only if the session was evicted before it ended
        return ["Session: no summary (the session was no longer live when the demo ended)"]
    u = summary.usage
    notes = [f"{summary.unpriced_calls} unpriced"] if summary.unpriced_calls else []
    if summary.estimated_calls:
        notes.append(f"{summary.estimated_calls} estimated")
    if summary.errors:
        notes.append(f"{summary.errors} failed")
    user = f", user {summary.user_id}" if summary.user_id else ""
    head = f"Session {summary.session_id}{user}: {summary.calls} calls in {summary.duration_s:.2f}s"
    if notes:
        head += f" ({', '.join(notes)})"
    tokens = (f"  tokens  {u.input_tokens:,} in ({u.cache_read_tokens:,} cache read, "
              f"{u.cache_write_tokens:,} cache write), {u.output_tokens:,} out")
    priced = format_usd(summary.priced_cost)
    if summary.cost is not None:
        cost = f"  cost    {priced} USD (exact)"
    else:
        cost = (f"  cost    ≥ {priced} USD ({summary.unpriced_calls} unpriced) — a lower bound "
                f"({summary.unpriced_reason or 'some calls have no price'})")
    models = " · ".join(f"{name} {'unknown' if m.cost is None else format_usd(m.cost)}"
                        for name, m in summary.by_model.items())
    return [head, tokens, cost, f"  models  {models}"] if models else [head, tokens, cost]
