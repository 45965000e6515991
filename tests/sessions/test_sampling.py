"""Tracing may sample; accounting must not.

Sessions, budgets and ``current_usage()`` count our calls from the call's record, not
from its span, so a call whose span is not sampled — a ratio sampler, or a parent-based
sampler behind an inbound ``traceparent`` with the sampled flag off — is still counted,
priced and held to its budget. Real openai SDK over HTTP to the wire server.
"""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import otel_llm_cost
from otel_llm_cost import BudgetExceeded, semconv
from otel_llm_cost.sessions import install
from otel_llm_cost.sessions._reserve import worst_case
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

MESSAGES = [{"role": "user", "content": "one two three four five"}]  # 15 input tokens
ONE_CALL = Decimal(15) * Decimal("0.15") / 10**6 + Decimal(3) * Decimal("0.6") / 10**6  # gpt-4o-mini, 3 out


def _pipeline(sampler):
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    install(tracer_provider, meter_provider)
    return tracer_provider, meter_provider, spans, reader


def _calls_metric(reader) -> int:
    data = reader.get_metrics_data()
    return sum(p.count for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
               if m.name == semconv.METRIC_OPERATION_DURATION for p in m.data.data_points)


@pytest.mark.parametrize("sampler", [ALWAYS_OFF, TraceIdRatioBased(0.1)], ids=["always_off", "ratio_0.1"])
def test_unsampled_calls_are_counted_in_sessions_and_metrics(wire, sampler):
    tracer_provider, meter_provider, spans, reader = _pipeline(sampler)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)
    calls = 40
    wire.enqueue_many([Reply(text="a b c") for _ in range(calls)])
    with instrumented_openai(tracer_provider, meter_provider), otel_llm_cost.session() as s:
        for _ in range(calls):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(spans.get_finished_spans()) < calls  # tracing did sample …
    assert s.calls == calls and s.cost == calls * ONE_CALL  # … accounting did not
    assert _calls_metric(reader) == calls


def test_a_hard_budget_holds_behind_an_unsampled_traceparent(wire):
    tracer_provider, meter_provider, spans, _ = _pipeline(ParentBased(ALWAYS_OFF))
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)
    wire.enqueue_many([Reply(text="a b c") for _ in range(10)])
    # An inbound request whose traceparent says "not sampled" (flags 00).
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}
    token = otel_context.attach(TraceContextTextMapPropagator().extract(carrier))
    sent = 0
    request = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 3}
    worst, _ = worst_case(request)  # reserved by each call: the third still fits, the fourth not
    try:
        with instrumented_openai(tracer_provider, meter_provider), \
                otel_llm_cost.session(budget_usd=ONE_CALL * 2 + worst, hard=True) as s:
            with pytest.raises(BudgetExceeded):
                for _ in range(10):
                    client.chat.completions.create(**request)
                    sent += 1
    finally:
        otel_context.detach(token)
    assert spans.get_finished_spans() == ()
    assert sent == 3 and len(wire.requests) == 3
    assert s.calls == 3 and s.cost == 3 * ONE_CALL
