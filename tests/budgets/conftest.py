"""Fixtures: the real OpenAI SDK, instrumented, talking to the wire server, with its spans
written to a ledger (SQLite here; the fleet tests use PostgreSQL) — the way an
application runs declared budgets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import budgets
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.ledger import LedgerSpanExporter
from tests.ledger.conftest import pg_server, pg_url  # noqa: F401 - the real PostgreSQL fixtures
from tests.wire import Reply, WireServer

#: gpt-4o at $2.50 / $10 per 1M: 1000 input + 100 output tokens.
ONE_CALL_USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}


class Clock:
    """An injectable clock for the budgets (tests move it across period boundaries)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class App:
    wire: WireServer
    ledger: Any
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    meter_provider: MeterProvider
    client: Any

    def call(self, usage: dict[str, int] | None = None) -> Any:
        self.wire.enqueue(Reply(usage=usage or ONE_CALL_USAGE))
        return self.client.chat.completions.create(
            model="gpt-4o", max_tokens=100, messages=[{"role": "user", "content": "hello"}])

    def points(self, name: str) -> list[tuple[dict, Any]]:
        out = []
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        out.extend((dict(p.attributes), p.value) for p in metric.data.data_points)
        return out


@pytest.fixture
def clock() -> Clock:
    """Now, until a test moves it (the ledger stamps rows with the real time)."""
    return Clock(datetime.now(UTC))


@pytest.fixture
def app(wire: WireServer, tmp_path) -> Iterator[Callable[..., App]]:
    """Factory: an instrumented OpenAI client whose spans go to the ledger at ``target``
    (default: a SQLite file in ``tmp_path``), synchronously (``SimpleSpanProcessor``)."""
    import openai

    made: list[tuple[TracerProvider, MeterProvider]] = []
    instrumentor = OpenAIInstrumentor()

    def make(target: Any = None, service: str = "chat") -> App:
        target = target or tmp_path / "ledger.db"
        spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
        tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(target)))
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        made.append((tracer_provider, meter_provider))
        client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)
        return App(wire, target, spans, reader, meter_provider, client)

    yield make
    budgets.clear_budgets()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    for tracer_provider, meter_provider in made:
        tracer_provider.shutdown()
        meter_provider.shutdown()
