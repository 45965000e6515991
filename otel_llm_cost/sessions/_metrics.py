"""Session metrics: recorded once when a session ends, plus live-session and budget counts.

Attributes stay low-cardinality: the session's own ``attributes`` that the user
allow-listed in ``OTEL_LLM_COST_METRIC_ATTRIBUTES`` (a tenant, a plan) and, for the
cost histogram, whether every call was priced. Never the session or user id unless
the user allow-lists ``user.id`` on purpose; the service comes from the resource.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

from .. import semconv
from .._recording import GATE
from .._version import __version__
from ..config import load as load_settings
from ._store import Session

__all__ = ["SessionMetrics"]


class SessionMetrics:
    """The session instruments of one meter provider."""

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)
        self.cost = meter.create_histogram(
            semconv.METRIC_SESSION_COST, unit=semconv.UNIT_USD,
            description="Exact cost of a session (the priced part when some calls were unpriced).",
            explicit_bucket_boundaries_advisory=list(semconv.SESSION_COST_BUCKETS),
        )
        self.tokens = meter.create_histogram(
            semconv.METRIC_SESSION_TOKENS, unit=semconv.UNIT_TOKEN,
            description="Tokens used by a session, by token type.",
            explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS),
        )
        self.calls = meter.create_histogram(
            semconv.METRIC_SESSION_CALLS, unit=semconv.UNIT_CALL,
            description="LLM calls made in a session.",
            explicit_bucket_boundaries_advisory=list(semconv.SESSION_CALLS_BUCKETS),
        )
        self.active = meter.create_up_down_counter(
            semconv.METRIC_SESSIONS_ACTIVE, unit=semconv.UNIT_SESSION, description="Live sessions.",
        )
        self.crossings = meter.create_counter(
            semconv.METRIC_BUDGET_CROSSINGS, unit=semconv.UNIT_CROSSING,
            description="Budget thresholds crossed, by scope and threshold.",
        )
        self.allowed = frozenset(load_settings().metric_attributes)

    def attributes(self, session: Session) -> dict[str, Any]:
        attrs = session.attributes
        if not attrs or not self.allowed:
            return {}
        return {k: v for k, v in attrs.items() if k in self.allowed}

    def session_started(self, session: Session) -> None:
        attrs = self.attributes(session)
        with GATE:  # a fork waits for this recording: see otel_llm_cost._recording
            self.active.add(1, attrs)

    def session_ended(self, session: Session) -> None:
        attrs = self.attributes(session)
        status = semconv.STATUS_PRICED if not session.unpriced else semconv.STATUS_INCOMPLETE
        tokens = session.tokens
        with GATE:
            self.active.add(-1, attrs)
            if not session.uninstrumented:  # no instrumented call: no cost, not a zero
                self.cost.record(float(session.priced), {**attrs, semconv.LLM_COST_STATUS: status})
            self.tokens.record(tokens[0], {**attrs, semconv.GEN_AI_TOKEN_TYPE: "input"})
            self.tokens.record(tokens[1], {**attrs, semconv.GEN_AI_TOKEN_TYPE: "output"})
            self.calls.record(session.calls, attrs)

    def crossed(self, tally: Session, threshold: Any) -> None:
        attrs = self.attributes(tally) if tally.kind == "session" else {}
        attrs = {**attrs, semconv.LLM_COST_BUDGET_SCOPE: tally.kind,
                 semconv.LLM_COST_BUDGET_THRESHOLD: float(threshold)}
        with GATE:
            self.crossings.add(1, attrs)
