"""Fixtures: SDK providers with in-memory readers and the session processor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.instrumentation._shared import LLMCall, Spec, Telemetry, _detach, _enter
from otel_llm_cost.sessions import install
from otel_llm_cost.usage import Usage


class _ChatSpec(Spec):
    """A chat call whose request names only its model (the test sets the response)."""

    def __init__(self, model: str | None) -> None:
        self.model = model

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall:
        return LLMCall(telemetry, "chat", "openai", self.model, {})

    def result(self, call: LLMCall, value: Any) -> Any:
        return value


@dataclass
class Otel:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    telemetry: Telemetry

    def points(self, name: str) -> list[tuple[str, dict, Any]]:
        """(unit, attributes, data point) of metric ``name``."""
        out = []
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend((metric.unit, dict(p.attributes), p) for p in metric.data.data_points)
        return out

    def call(self, model: str | None = "gpt-4o", input_tokens: int = 1000, output_tokens: int = 100,
             *, usage: Usage | None = None, error: BaseException | None = None,
             estimate: Usage | None = None) -> LLMCall:
        """One LLM call through the shared machinery every instrumentation uses: the
        wrappers' own opening (the observers' pre-call hook: ids on the span, hard
        budgets), then the response and the end."""
        call, sending = _enter(self.telemetry, _ChatSpec(model), None, (), {})
        assert call is not None
        _detach(sending)
        if error is not None:
            call.fail(error)
        elif estimate is not None:
            call.estimate_with(lambda: estimate)
        else:
            call.set_response(model=model, usage=usage or Usage(input_tokens, output_tokens))
        call.end()
        return call


@pytest.fixture
def otel() -> Iterator[Otel]:
    # The store starts empty with default limits: tests/conftest.py puts it back after each test.
    tracer_provider = TracerProvider()
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    processor = install(tracer_provider, meter_provider)
    assert processor is not None
    yield Otel(tracer_provider, meter_provider, spans, reader, Telemetry(tracer_provider, meter_provider))
    tracer_provider.shutdown()
    meter_provider.shutdown()
