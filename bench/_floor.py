"""The OpenTelemetry SDK's own cost of our telemetry: the ``sdk-*`` rows of the bench.

``sdk-floor`` emits, for each workload, exactly the span ours emits (captured from a
real span of ours when the bench starts) and the three semantic-convention histogram
points, through the SDK, with none of our code; ``sdk-span`` the span alone;
``sdk-bare`` a span with its name and nothing else. Runs with our interpreter only
(it imports ``otel_llm_cost`` to capture the span).
"""

from __future__ import annotations

from typing import Any, Callable

from bench._transport import CannedTransport, anthropic_client, openai_client
from bench.workloads import WORKLOADS, _Impl, _ours, _version

__all__ = ["floor_impl", "floor_templates"]


class _FloorInstrumentor:
    """The OTel SDK's own cost of *our* telemetry, with none of our code around it.

    ``instrument()`` wraps the SDK methods the workloads call with a plain wrapt
    wrapper that starts a CLIENT span with the request attributes our span of that
    workload had at its start, makes it current for the call, sets the rest of our
    span's attributes, records the three semantic-convention histogram points
    synchronously (the usual way) and ends the span. No pricing, no sessions, no
    usage reading, no stream following (a stream's span ends when ``create``
    returns; the span costs the same). What it adds is the floor for any
    instrumentation that emits this span and these points through the SDK.
    With ``points=False`` (``sdk-span``) it records no metric at all: the floor for
    the span alone, which is what stays on the caller's path once the points are
    deferred to the collection as ours are. ``attributes=False`` as well
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
        duration = meter.create_histogram(semconv.METRIC_OPERATION_DURATION, unit=semconv.UNIT_SECONDS,
                                          explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS))
        tokens = meter.create_histogram(semconv.METRIC_TOKEN_USAGE, unit=semconv.UNIT_TOKEN,
                                        explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS))
        templates, current, points = self._templates, self._current, self._points
        with_attributes = self._attributes

        def wrapper(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
            name, start, end, (timing, inp, out, n_in, n_out) = templates[current()]
            if not with_attributes:
                start = end = None
            span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=start)
            token = context.attach(trace.set_span_in_context(span))
            try:
                result = wrapped(*args, **kwargs)
            finally:
                context.detach(token)
            if end:
                span.set_attributes(end)
            if points:
                duration.record(0.001, timing)
                tokens.record(n_in, inp)
                tokens.record(n_out, out)
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
    """Our span of each workload (start and end attributes) and its metric attribute sets."""
    from opentelemetry.sdk.trace import SpanProcessor as _Processor
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm_cost import semconv

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
        instrumentor.instrument(tracer_provider=provider)
        try:
            with ours.scope():
                fn(client, aclient)
        finally:
            instrumentor.uninstrument()
        span_name, attrs = seen["end"]
        start = seen["start"]
        end = {k: v for k, v in attrs.items() if k not in start}
        timing = {k: attrs[k] for k in (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_OPERATION_NAME,
                                        semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_RESPONSE_MODEL) if k in attrs}
        points = (timing, {**timing, semconv.GEN_AI_TOKEN_TYPE: "input"},
                  {**timing, semconv.GEN_AI_TOKEN_TYPE: "output"},
                  attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS, 0), attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0))
        templates[name] = (span_name, start, end, points)
    return templates


def floor_impl(kwargs: dict[str, Any], *, points: bool, attributes: bool) -> _Impl:
    """An implementation for ``bench.workloads.run`` replaying our span of each workload."""
    templates = floor_templates()
    impl = _Impl({}, kwargs, versions={"opentelemetry-sdk": _version("opentelemetry-sdk")})
    impl.instrumentors = {sdk: _FloorInstrumentor(sdk, templates, lambda: impl.workload, points, attributes)
                          for sdk in _FloorInstrumentor._METHODS}
    return impl
