"""Fixtures and helpers for the Anthropic and Gemini tests (imported, not a conftest).

Each test gets fresh in-memory OTel providers and an instrumentor that is
uninstrumented afterwards, and real SDK clients pointed at the wire server.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from google import genai
from google.genai import types as genai_types
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
from tests.sdk_versions import anthropic_tracing_option, genai_retry_options

SONNET = "claude-sonnet-4-20250514"
#: USD per token for claude-sonnet-4: input, output, cache read, 5m write, 1h write.
SONNET_RATES = tuple(Decimal(x) / 1_000_000 for x in ("3.00", "15.00", "0.30", "3.75", "6.00"))


class Otel:
    """In-memory trace and metric pipelines."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self, scope: str = semconv.SCOPE_NAME) -> list[Any]:
        return [s for s in self.exporter.get_finished_spans() if s.instrumentation_scope.name == scope]

    def span(self) -> Any:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_sum(self, name: str) -> float:
        data = self.reader.get_metrics_data()
        total = 0.0
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        total += sum(getattr(p, "value", 0) or getattr(p, "sum", 0) for p in metric.data.data_points)
        return total


def sonnet_cost(uncached: int, output: int, read: int = 0, write_5m: int = 0, write_1h: int = 0) -> Decimal:
    inp, out, rd, w5, w1 = SONNET_RATES
    return uncached * inp + output * out + read * rd + write_5m * w5 + write_1h * w1


def usd(span: Any) -> Decimal:
    return Decimal(span.attributes[semconv.LLM_COST_USD])


@pytest.fixture
def otel() -> Otel:
    return Otel()


def _instrumented(otel: Otel, instrumentor_cls: type) -> Iterator[Otel]:
    inst = instrumentor_cls()
    inst.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    yield otel
    inst.uninstrument()


@pytest.fixture
def anthropic_on(otel: Otel) -> Iterator[Otel]:
    """Our Anthropic instrumentation, on ``otel``'s providers, for the test."""
    yield from _instrumented(otel, AnthropicInstrumentor)


@pytest.fixture
def gemini_on(otel: Otel) -> Iterator[Otel]:
    yield from _instrumented(otel, GeminiInstrumentor)


def anthropic_client(wire: Any, otel: Otel | None = None, *, is_async: bool = False,
                     native: bool = False) -> Any:
    """A real client on the wire server; ``native`` turns the SDK's own tracing on into ``otel``."""
    option: Any = {"tracer_provider": otel.tracer_provider} if native and otel else False
    cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    return cls(base_url=wire.base_url, api_key="test", max_retries=0, **anthropic_tracing_option(option))


def gemini_client(wire: Any) -> Any:
    options = genai_types.HttpOptions(base_url=wire.base_url, **genai_retry_options(1))
    return genai.Client(api_key="test", http_options=options)


USER = [{"role": "user", "content": "one two three"}]  # 10 + 3 = 13 input tokens on the wire


@pytest.fixture
def capture_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Content capture switched on (read at instrument time: request this fixture first)."""
    monkeypatch.setenv(semconv.ENV_CAPTURE_CONTENT, "true")
