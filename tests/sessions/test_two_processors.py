"""The session processor added by hand and again by ``configure()``/the zero-code hook.

``install()`` finds the processor the application added and adds none; and where two
session processors do end up on one provider (added twice by hand), a foreign GenAI
span is still counted once — in its session and in the per-call metrics.
"""

from __future__ import annotations

from decimal import Decimal

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import otel_llm_cost
from otel_llm_cost import semconv
from otel_llm_cost.sessions import SessionSpanProcessor, install


def _foreign_call(provider: TracerProvider) -> None:
    """A GenAI span written by another instrumentation (its own scope, usage reported)."""
    tracer = trace.get_tracer("another-genai-instrumentation", tracer_provider=provider)
    with tracer.start_as_current_span("chat gpt-4o", attributes={
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100}):
        pass


def _calls_metric(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    return sum(p.count for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
               if m.name == semconv.METRIC_OPERATION_DURATION for p in m.data.data_points) if data else 0


def test_install_after_a_hand_added_processor_adds_none():
    provider = TracerProvider()
    mine = SessionSpanProcessor(MeterProvider())
    provider.add_span_processor(mine)
    assert install(provider) is mine
    assert install(provider) is mine
    assert provider._active_span_processor._span_processors == (mine,)


def test_two_processors_on_one_provider_count_a_foreign_span_once():
    provider = TracerProvider()
    reader = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[reader])
    provider.add_span_processor(SessionSpanProcessor(meters))
    provider.add_span_processor(SessionSpanProcessor(meters))
    with otel_llm_cost.session("twice") as tally:
        _foreign_call(provider)
        _foreign_call(provider)
    assert tally.calls == 2 and tally.cost == Decimal("0.007")
    assert _calls_metric(reader) == 2
