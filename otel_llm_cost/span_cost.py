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

``configure()`` and the ``opentelemetry-instrument`` entry point wrap the exporters of
the tracer provider's span processors (:func:`wrap_exporters`); a hand-built pipeline
wraps its exporter itself: ``BatchSpanProcessor(CostSpanExporter(OTLPSpanExporter()))``.
"""

from __future__ import annotations

import inspect
import logging
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


def _needs_wrapping(exporter: Any) -> bool:
    """Ours are not wrapped: the ledger prices foreign spans itself, and a wrapper once is enough."""
    return exporter is not None and not type(exporter).__module__.startswith("otel_llm_cost.")


def wrap_exporters(tracer_provider: Any) -> int:
    """Wrap the exporter of each Simple/Batch span processor of ``tracer_provider``; how many.

    The processors are read where the session set-up reads them (the provider's active
    multi-processor). ``SimpleSpanProcessor.span_exporter`` is a public attribute; a
    ``BatchSpanProcessor`` keeps its exporter in its batch worker, which is the one SDK
    detail relied on here — checked through the public ``span_exporter`` property
    afterwards, and left alone (with a warning) if the layout differs.
    """
    multi = getattr(tracer_provider, "_active_span_processor", None)
    wrapped = 0
    for processor in getattr(multi, "_span_processors", ()):
        exporter: Any = getattr(processor, "span_exporter", None)
        if not _needs_wrapping(exporter):
            continue
        if isinstance(processor, SimpleSpanProcessor):
            processor.span_exporter = CostSpanExporter(exporter)
        elif isinstance(processor, BatchSpanProcessor):
            worker = getattr(processor, "_batch_processor", None)
            if worker is None or getattr(worker, "_exporter", None) is not exporter:
                _log.warning("otel_llm_cost: cannot wrap the exporter of %r; wrap it with CostSpanExporter "
                             "by hand to put cost on other instrumentations' spans", processor)
                continue
            worker._exporter = CostSpanExporter(processor.span_exporter)
        else:
            continue
        wrapped += 1
    return wrapped
