"""Provider-agnostic helpers for instrumentation tests: fresh SDK providers, lookups.

``Instrumented`` holds one instrumentor bound to an in-memory span exporter and metric
reader; the ``instrumented`` fixture in ``conftest.py`` builds one for any
``BaseInstrumentor`` class and uninstruments it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Instrumented:
    """An instrumentor wired to in-memory exporters; read spans and metric points."""

    def __init__(self, instrumentor_cls: type, **instrument_kwargs: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.instrumentor = instrumentor_cls()
        self.instrument_kwargs = instrument_kwargs
        self.instrument()

    def instrument(self) -> None:
        self.instrumentor.instrument(tracer_provider=self.tracer_provider,
                                     meter_provider=self.meter_provider, **self.instrument_kwargs)

    def uninstrument(self) -> None:
        self.instrumentor.uninstrument()

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        """The one finished span (fails if there is not exactly one)."""
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self) -> list[tuple[str, str, Mapping[str, Any], Any]]:
        """All (metric name, unit, attributes, point) collected so far."""
        data = self.reader.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        out.append((metric.name, metric.unit, dict(point.attributes), point))
        return out

    def metrics(self, name: str) -> dict[frozenset, tuple[str, Any]]:
        """Points of metric ``name`` keyed by their attribute items: {attrs: (unit, point)}."""
        return {frozenset(attrs.items()): (unit, point)
                for n, unit, attrs, point in self.metric_points() if n == name}

    def point(self, name: str, attributes: Mapping[str, Any]) -> tuple[str, Any]:
        """(unit, point) of metric ``name`` with exactly ``attributes``; fails if absent."""
        points = self.metrics(name)
        key = frozenset(attributes.items())
        assert key in points, f"no {name} point with {dict(attributes)}; have {[dict(k) for k in points]}"
        return points[key]


def value(point: Any) -> Any:
    """A counter's value or a histogram's sum."""
    return point.value if hasattr(point, "value") else point.sum


def all_attribute_text(spans: Iterable[ReadableSpan]) -> str:
    """Every attribute value and event attribute of ``spans`` as one string, for leak scans."""
    parts = []
    for span in spans:
        parts += [repr(v) for v in (span.attributes or {}).values()]
        for event in span.events:
            parts += [repr(v) for v in (event.attributes or {}).values()]
    return "\n".join(parts)
