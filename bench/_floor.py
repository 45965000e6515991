"""The OpenTelemetry SDK's own cost of our telemetry: the ``sdk-*`` rows of the bench.

``sdk-floor`` emits, for each workload, exactly the span ours emits (captured from a
real span of ours when the bench starts) and exactly the metric points ours records
(the semantic-convention histograms and our cost counters, captured the same way),
through the plain SDK instruments, with none of our code; ``sdk-span`` the span alone;
``sdk-bare`` a span with its name and nothing else. Runs with our interpreter only
(it imports ``otel_llm_cost`` to capture the span).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench._transport import CannedTransport, anthropic_client, openai_client
from bench.workloads import WORKLOADS, _Impl, _ours, _version

__all__ = ["floor_impl", "floor_templates"]


class _FloorInstrumentor:
    """The OTel SDK's own cost of *our* telemetry, with none of our code around it.

    ``instrument()`` wraps the SDK methods the workloads call with a plain wrapt
    wrapper that starts a CLIENT span with the request attributes our span of that
    workload had at its start, makes it current for the call, sets the rest of our
    span's attributes, records every metric point ours records for that workload (in
    the span's context, as ours does) and ends the span. No pricing, no sessions, no
    usage reading, no stream following (a stream's span ends when ``create``
    returns; the span costs the same). What it adds is the floor for any
    instrumentation that emits this span and these points through the SDK.
    With ``points=False`` (``sdk-span``) it records no metric at all: the floor for
    the span alone. ``attributes=False`` as well
    (``sdk-bare``, not run by default) leaves a span with a name and nothing else.
    """

    _METHODS = {
        "openai": (("openai.resources.chat.completions", "Completions", "create"),
                   ("openai.resources.embeddings", "Embeddings", "create")),
        "anthropic": (("anthropic.resources.messages", "Messages", "create"),),
    }

    def __init__(self, provider: str, templates: dict[str, Any], current: Callable[[], str],
                 points: bool = True, attributes: bool = True) -> None:
        self._provider = provider
        self._points = points
        self._attributes = attributes
        self._templates = templates  # workload -> (span name, start attrs, end attrs, metric attr sets)
        self._current = current
        self._saved: list[tuple[Any, str, Any]] = []

    def instrument(self, tracer_provider: Any = None, meter_provider: Any = None, **_: Any) -> None:
        import importlib

        import wrapt
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind

        from otel_llm_cost import semconv

        tracer = tracer_provider.get_tracer("bench.sdk_floor")
        meter = meter_provider.get_meter("bench.sdk_floor")
        # The same instruments as ours (names, units, bucket boundaries).
        instruments = {
            semconv.METRIC_OPERATION_DURATION: meter.create_histogram(
                semconv.METRIC_OPERATION_DURATION, unit=semconv.UNIT_SECONDS,
                explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS)).record,
            semconv.METRIC_TOKEN_USAGE: meter.create_histogram(
                semconv.METRIC_TOKEN_USAGE, unit=semconv.UNIT_TOKEN,
                explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS)).record,
            semconv.METRIC_SPEND: meter.create_counter(semconv.METRIC_SPEND, unit=semconv.UNIT_USD).add,
            semconv.METRIC_CACHE_SAVINGS: meter.create_counter(semconv.METRIC_CACHE_SAVINGS,
                                                               unit=semconv.UNIT_USD).add,
            semconv.METRIC_CALLS: meter.create_counter(semconv.METRIC_CALLS, unit=semconv.UNIT_CALL).add,
        }
        templates, current, points = self._templates, self._current, self._points
        with_attributes = self._attributes

        def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
            name, start, end, recorded = templates[current()]
            if not with_attributes:
                start = end = None
            span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=start)
            span_context = trace.set_span_in_context(span)
            token = context.attach(span_context)
            try:
                result = wrapped(*args, **kwargs)
            finally:
                context.detach(token)
            if end:
                span.set_attributes(end)
            if points:
                for metric, attrs, value in recorded:
                    instruments[metric](value, attrs, context=span_context)
            span.end()
            return result

        for module, cls_name, method in self._METHODS[self._provider]:
            cls = getattr(importlib.import_module(module), cls_name)
            self._saved.append((cls, method, cls.__dict__[method]))
            wrapt.wrap_function_wrapper(cls, method, wrapper)

    def uninstrument(self) -> None:
        for cls, method, original in self._saved:
            setattr(cls, method, original)
        self._saved = []


def floor_templates() -> dict[str, Any]:
    """Our span of each workload (start and end attributes) and the metric points it records:
    ``(metric name, attributes, value)`` for each point of one call."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import SpanProcessor as _Processor
    from opentelemetry.sdk.trace import TracerProvider

    seen: dict[str, Any] = {}

    class _Capture(_Processor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            seen["start"] = dict(span.attributes)

        def on_end(self, span: Any) -> None:
            seen["end"] = (span.name, dict(span.attributes))

    provider = TracerProvider()
    provider.add_span_processor(_Capture())
    ours = _ours(provider, {"tracer_provider": provider, "meter_provider": None})
    transport = CannedTransport()
    client, aclient = openai_client(transport), anthropic_client(transport)
    templates = {}
    for name, (fn, sdk, _) in WORKLOADS.items():
        instrumentor = ours.instrumentors[sdk]
        reader = InMemoryMetricReader()
        instrumentor.instrument(tracer_provider=provider, meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            with ours.scope():
                fn(client, aclient)
        finally:
            instrumentor.uninstrument()
        span_name, attrs = seen["end"]
        start = seen["start"]
        end = {k: v for k, v in attrs.items() if k not in start}
        points = []
        for rm in reader.get_metrics_data().resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for p in metric.data.data_points:
                        points.append((metric.name, dict(p.attributes), getattr(p, "value", None) or p.sum))
        templates[name] = (span_name, start, end, points)
    return templates


def floor_impl(kwargs: dict[str, Any], *, points: bool, attributes: bool) -> _Impl:
    """An implementation for ``bench.workloads.run`` replaying our span of each workload."""
    templates = floor_templates()
    impl = _Impl({}, kwargs, versions={"opentelemetry-sdk": _version("opentelemetry-sdk")})
    impl.instrumentors = {sdk: _FloorInstrumentor(sdk, templates, lambda: impl.workload, points, attributes)
                          for sdk in _FloorInstrumentor._METHODS}
    return impl
