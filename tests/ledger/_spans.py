"""Making real SDK spans, with the attributes our instrumentations set, for the ledger tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

from otel_llm_cost import semconv as s


def provider_with(exporter: SpanExporter, service: str = "test-svc") -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({s.SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def unix_nano(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()) * 1_000_000_000


def llm_span(tracer: Any, *, model: str, provider: str = "openai", cost: str | None = None,
             inp: int | None = 0, out: int | None = 0, cache_read: int = 0, cache_write: int = 0,
             cache_write_1h: int = 0, reasoning: int = 0, status: str | None = None,
             source: str = s.SOURCE_REPORTED, session: str | None = None, user: str | None = None,
             error: str | None = None, end_ns: int | None = None, operation: str = "chat",
             catalog_model: str | None = None, attributes: dict[str, Any] | None = None) -> None:
    """One ended CLIENT span shaped like LLMCall's: only attributes that have a value."""
    attrs: dict[str, Any] = {
        s.GEN_AI_OPERATION_NAME: operation,
        s.GEN_AI_PROVIDER_NAME: provider,
        s.GEN_AI_REQUEST_MODEL: model,
        s.GEN_AI_RESPONSE_MODEL: model + "-resp",
        s.LLM_COST_STATUS: status or (s.STATUS_PRICED if cost is not None else s.STATUS_UNKNOWN_MODEL),
    }
    if inp is not None:
        attrs.update({s.GEN_AI_USAGE_INPUT_TOKENS: inp, s.GEN_AI_USAGE_OUTPUT_TOKENS: out,
                      s.LLM_COST_USAGE_SOURCE: source})
    optional = {
        s.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cache_read,
        s.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: cache_write,
        s.LLM_COST_CACHE_CREATION_1H_TOKENS: cache_write_1h,
        s.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning,
        s.LLM_COST_USD: cost,
        s.LLM_COST_MODEL: catalog_model,
        s.SESSION_ID: session,
        s.USER_ID: user,
        s.ERROR_TYPE: error,
    }
    attrs.update({k: v for k, v in optional.items() if v})
    attrs.update(attributes or {})
    start = None if end_ns is None else end_ns - 1_000_000
    span = tracer.start_span(f"{operation} {model}", attributes=attrs, start_time=start,
                             kind=SpanKind.CLIENT)
    span.end(end_time=end_ns)
