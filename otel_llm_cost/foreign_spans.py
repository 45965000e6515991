"""Which finished GenAI spans to count, so that every LLM call is counted exactly once.

Some SDKs trace themselves: the ``anthropic`` SDK (2.x) emits its own CLIENT span,
scope ``com.anthropic.sdk.python``, for every API call as soon as a tracer provider
exists, with usage attributes and no cost. With our instrumentation on as well, each
call has two GenAI spans, and anything that sums spans counts the money twice.

The rule (see ``docs/anthropic-native-spans.md`` for the why):

1. Our spans (scope :data:`~otel_llm_cost.semconv.SCOPE_NAME`) are the priced ones and
   always count.
2. A span from another scope counts only if it reports ``gen_ai.usage.*`` tokens and
   our instrumentation for its provider is **not** active. The provider of a known
   self-tracing SDK, or of a peer instrumentation of an SDK we wrap, is taken from its
   instrumentation scope (:data:`SELF_TRACING_SCOPES`, :data:`PEER_SCOPE_PREFIXES`),
   never from the span name; any other span's from its ``gen_ai.provider.name`` (or the
   older ``gen_ai.system``).
3. A counted foreign span becomes a :class:`~otel_llm_cost.record.CallRecord` through
   :func:`record_of_span` — usage read in the counting convention of the tool that
   wrote it, priced by the same catalog as our calls — the one function every
   consumer (sessions, metrics, the ledger) prices foreign spans with.

We never switch an SDK's own tracing off: the user's ``ANTHROPIC_OPEN_TELEMETRY`` /
``open_telemetry`` choice stands, and while our instrumentation is on, the SDK's span
is a child of ours that carries no cost and is not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import semconv
from .cost import price_usage
from .record import CallRecord
from .usage import Usage

__all__ = [
    "SELF_TRACING_SCOPES",
    "PEER_SCOPE_PREFIXES",
    "mark_provider_instrumented",
    "is_provider_instrumented",
    "any_provider_instrumented",
    "should_count",
    "usage_from_foreign_span",
    "record_of_span",
]

#: Instrumentation scope of an SDK's own tracing -> the provider key our instrumentor marks.
SELF_TRACING_SCOPES: Mapping[str, str] = {semconv.ANTHROPIC_SDK_SCOPE: "anthropic"}

#: Instrumentation scope prefix of a peer instrumentation -> the provider key of ours that
#: wraps the same calls. Contrib's botocore instrumentation names its tracer
#: ``opentelemetry.instrumentation.botocore.<service>`` (``.bedrock-runtime`` for the
#: calls ours prices): its ``aws.bedrock`` spans are the same calls as ours, while the
#: ``aws.bedrock`` name alone is shared by clients we do not wrap (below).
PEER_SCOPE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("opentelemetry.instrumentation.botocore", "botocore_bedrock"),
)

#: ``gen_ai.provider.name`` / ``gen_ai.system`` values -> the provider key that covers them.
#: Bedrock and Vertex AI are left out on purpose: those names are shared by SDKs we do not
#: wrap (boto3, other clients), so such spans keep counting.
_PROVIDER_KEYS: Mapping[str, str] = {
    "anthropic": "anthropic",
    "openai": "openai",
    "gcp.gemini": "google_genai",
    "gemini": "google_genai",
}

#: How to read usage from a self-tracing SDK's span, by provider key.
_USAGE_READERS: Mapping[str, Callable[[Mapping[str, Any]], Usage | None]] = {
    "anthropic": Usage.from_anthropic_span_attributes,
}

_instrumented: set[str] = set()


def mark_provider_instrumented(provider: str, active: bool) -> None:
    """Called by our instrumentors in ``_instrument`` (True) and ``_uninstrument`` (False)."""
    if active:
        _instrumented.add(provider)
    else:
        _instrumented.discard(provider)


def is_provider_instrumented(provider: str) -> bool:
    return provider in _instrumented


def any_provider_instrumented() -> bool:
    """Whether any instrumentor of ours is on (sessions warn when none is)."""
    return bool(_instrumented)


def _provider_key(scope_name: str | None, attributes: Mapping[str, Any]) -> str | None:
    key = SELF_TRACING_SCOPES.get(scope_name or "")
    if key is not None:
        return key
    if scope_name:
        for prefix, peer_key in PEER_SCOPE_PREFIXES:
            if scope_name == prefix or scope_name.startswith(prefix + "."):
                return peer_key
    name = attributes.get(semconv.GEN_AI_PROVIDER_NAME) or attributes.get(semconv.GEN_AI_SYSTEM)
    return _PROVIDER_KEYS.get(str(name)) if name else None


def usage_from_foreign_span(scope_name: str | None, attributes: Mapping[str, Any]) -> Usage | None:
    """Usage of a span another tool wrote, read in that tool's counting; None without usage."""
    reader = _USAGE_READERS.get(SELF_TRACING_SCOPES.get(scope_name or "", ""), Usage.from_span_attributes)
    return reader(attributes)


def should_count(span: Any) -> bool:
    """Whether a finished span (an SDK ``ReadableSpan``) is the one that counts for its call."""
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    attributes = getattr(span, "attributes", None) or {}
    if scope == semconv.SCOPE_NAME:
        return True
    if usage_from_foreign_span(scope, attributes) is None:
        return False
    key = _provider_key(scope, attributes)
    return key is None or key not in _instrumented


def record_of_span(span: Any) -> CallRecord:
    """A finished foreign span (an SDK ``ReadableSpan``) as a priced :class:`CallRecord`."""
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    attributes = getattr(span, "attributes", None) or {}
    usage = usage_from_foreign_span(scope, attributes)
    model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(semconv.GEN_AI_REQUEST_MODEL)
    provider = attributes.get(semconv.GEN_AI_PROVIDER_NAME) or attributes.get(semconv.GEN_AI_SYSTEM)
    cost = price_usage(model, usage, provider=provider)
    start, end = getattr(span, "start_time", None), getattr(span, "end_time", None)
    duration = (end - start) / 1e9 if start is not None and end is not None else None
    return CallRecord(attributes, usage, cost, duration, span_context=getattr(span, "context", None),
                      ours=False)
