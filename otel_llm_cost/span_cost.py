"""Cost on every GenAI span, whoever wrote it: :class:`CostSpanExporter`.

Our own spans leave priced. A span another instrumentation wrote (OpenLLMetry,
OpenInference, an SDK tracing itself) is priced for sessions, metrics and the ledger
by :func:`otel_llm_cost.foreign_spans.record_of_span`, but nothing could write that
cost *onto* it: in opentelemetry-sdk 1.45.2 ``SpanProcessor._on_ending`` runs after
``Span.end()`` froze the attributes (opentelemetry-python issue 5614, contrary to the
specification), and ``on_end`` sees a read-only span. So the cost is added on the way
out: this exporter wraps the application's exporter and, for each foreign GenAI span
that counts (:func:`~otel_llm_cost.foreign_spans.should_count` — one span per call),
hands it a copy built with ``ReadableSpan``'s public constructor carrying
``gen_ai.usage.cost`` and our ``llm_cost.*`` attributes. Every other span passes
through as the same object. Nothing of the SDK is patched.

When an SDK release makes ``_on_ending`` writable, a span processor can call
:func:`foreign_cost_attributes` there and ``span.set_attributes(...)`` instead, and
every exporter (and every other processor's ``on_end``) sees the cost; the wrapper then
has nothing left to add (a span that already has ``llm_cost.status`` is passed through).

Where the wrapper is put: ``configure()`` builds its processors with it; under
``opentelemetry-instrument`` our configurator does (:mod:`otel_llm_cost.configurator`);
a hand-built pipeline wraps its exporter itself:
``BatchSpanProcessor(CostSpanExporter(OTLPSpanExporter()))``. For a provider someone
else built, :func:`wrap_exporters` wraps what public API allows (a
``SimpleSpanProcessor``'s ``span_exporter``) and says once which exporters it cannot
reach (a ``BatchSpanProcessor`` keeps its exporter in SDK internals, which we never
write).
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from . import config, semconv
from .cost import cost_attributes
from .foreign_spans import may_be_a_call, record_of_span, should_count

__all__ = ["CostSpanExporter", "foreign_cost_attributes", "wrap_exporters"]

_log = logging.getLogger("otel_llm_cost")


def foreign_cost_attributes(span: Any) -> dict[str, Any]:
    """The attributes that price a foreign GenAI span; empty when it is not one that counts.

    Empty for our own spans (already priced), for a span already priced (it carries
    ``llm_cost.status``), for spans without model-call tokens and for the second span of
    a call another span already counts.
    """
    attributes = getattr(span, "attributes", None) or {}
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    if (scope == semconv.SCOPE_NAME or semconv.LLM_COST_STATUS in attributes
            or not may_be_a_call(scope, attributes) or not should_count(span)):
        return {}
    record = record_of_span(span)
    extra = cost_attributes(record.cost, proposed=config.load().proposed_cost_attributes)
    if record.usage is not None:
        extra[semconv.LLM_COST_USAGE_SOURCE] = record.usage.source
    return extra


def _priced(span: ReadableSpan) -> ReadableSpan:
    try:
        extra = foreign_cost_attributes(span)
        if not extra:
            return span
        return ReadableSpan(
            name=span.name, context=span.context, parent=span.parent, resource=span.resource,
            attributes={**(span.attributes or {}), **extra}, events=span.events, links=span.links,
            kind=span.kind, status=span.status, start_time=span.start_time, end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
    except Exception:  # noqa: BLE001 - never lose a span over its cost
        _log.exception("otel_llm_cost: could not price a foreign span; exported as it was")
        return span


class CostSpanExporter(SpanExporter):
    """Wraps a ``SpanExporter``: foreign GenAI spans leave with our cost attributes."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([_priced(span) for span in spans])

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Shut the wrapped exporter down, passing the batch processor's deadline on if it takes one."""
        if timeout_millis is not None and "timeout_millis" in inspect.signature(self.exporter.shutdown).parameters:
            self.exporter.shutdown(timeout_millis=timeout_millis)  # type: ignore[call-arg]
        else:
            self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def needs_wrapping(exporter: Any) -> bool:
    """Ours are not wrapped: the ledger prices foreign spans itself, and a wrapper once is enough."""
    return exporter is not None and not type(exporter).__module__.startswith("otel_llm_cost.")


#: The tracer providers already warned about (one warning each, however often they are wrapped).
_warned: weakref.WeakSet[Any] = weakref.WeakSet()


def _warn_unwrapped(tracer_provider: Any, processors: list[Any]) -> None:
    """One warning per provider: these processors' exports leave foreign GenAI spans without cost."""
    try:
        if tracer_provider in _warned:
            return
        _warned.add(tracer_provider)
    except TypeError:  # not weak-referenceable: warn each time rather than never
        pass
    _log.warning(
        "otel_llm_cost: GenAI spans of other instrumentations leave %s without cost (sessions, metrics and the "
        "ledger still price them): a BatchSpanProcessor's exporter cannot be wrapped once it is built. Under "
        "opentelemetry-instrument set OTEL_PYTHON_CONFIGURATOR=otel_llm_cost; in code build the processor as "
        "BatchSpanProcessor(CostSpanExporter(exporter)) (docs/foreign-spans.md)",
        ", ".join(type(p.span_exporter).__name__ for p in processors))


def wrap_exporters(tracer_provider: Any) -> int:
    """Wrap the exporter of each ``SimpleSpanProcessor`` of ``tracer_provider``; how many.

    The processors are read where the session set-up reads them (the provider's active
    multi-processor). A ``SimpleSpanProcessor``'s exporter is its public ``span_exporter``
    attribute. A ``BatchSpanProcessor`` keeps its exporter in its batch worker, an SDK
    internal we never write: one whose exporter is not already wrapped is left alone and
    named in one warning (foreign spans leave it without cost).
    """
    multi = getattr(tracer_provider, "_active_span_processor", None)
    wrapped = 0
    unwrapped = []
    for processor in getattr(multi, "_span_processors", ()):
        exporter: Any = getattr(processor, "span_exporter", None)
        if not needs_wrapping(exporter):
            continue
        if isinstance(processor, SimpleSpanProcessor):
            processor.span_exporter = CostSpanExporter(exporter)
            wrapped += 1
        elif isinstance(processor, BatchSpanProcessor):
            unwrapped.append(processor)
    if unwrapped:
        _warn_unwrapped(tracer_provider, unwrapped)
    return wrapped
