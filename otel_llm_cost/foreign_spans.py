"""Which finished GenAI spans to count, so that every LLM call is counted exactly once.

Some SDKs trace themselves: the ``anthropic`` SDK (2.x) emits its own CLIENT span,
scope ``com.anthropic.sdk.python``, for every API call as soon as a tracer provider
exists, with usage attributes and no cost. With our instrumentation on as well, each
call has two GenAI spans, and anything that sums spans counts the money twice.

The rule (see ``docs/anthropic-native-spans.md`` for the why):

1. Our spans (scope :data:`~otel_llm_cost.semconv.SCOPE_NAME`) are the priced ones and
   always count.
2. A span from another scope counts only if it reports tokens of a model call and the
   call is not covered by a span that counts already: our instrumentation for its
   provider is **not** active, and — for an SDK that traces itself *beside* another
   instrumentation (``mistralai``) — no instrumentation has wrapped that SDK. The
   provider of a known self-tracing SDK, or of a peer instrumentation of an SDK we
   wrap, is taken from its instrumentation scope (:data:`SELF_TRACING_SCOPES`,
   :data:`PEER_SCOPE_PREFIXES`), never from the span name; any other span's from its
   provider attribute. Agent and tool spans (``invoke_agent`` …) never count: their
   tokens are their model calls' tokens.
3. Tokens, model and provider are read in whichever vocabulary the span was written
   (:func:`genai_attributes`): the GenAI semantic conventions, OpenLLMetry's older
   names (``gen_ai.usage.prompt_tokens``, ``llm.request.type``, ``gen_ai.system =
   "MistralAI"``) and OpenInference's (``llm.token_count.*`` on ``LLM`` / ``EMBEDDING``
   spans). Provider spellings become ours (``MistralAI`` -> ``mistral_ai``), so a model
   is priced at its provider's rates whoever named the provider.
4. A counted foreign span becomes a :class:`~otel_llm_cost.record.CallRecord` through
   :func:`record_of_span` — usage read in the counting convention of the tool that
   wrote it, priced by the same catalog as our calls; a cost the span already carries
   (OpenInference ``llm.cost.total``, a ``gen_ai.usage.cost``) is kept as the cost,
   ours beside it — the one function every consumer (sessions, metrics, the ledger,
   the exporter wrapper of :mod:`otel_llm_cost.span_cost`) prices foreign spans with.

We never switch an SDK's own tracing off: the user's ``ANTHROPIC_OPEN_TELEMETRY`` /
``open_telemetry`` choice stands, and while our instrumentation is on, the SDK's span
is a child of ours that carries no cost and is not counted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

import wrapt

from . import semconv
from .cost import price_usage, reported_cost, with_reported_cost
from .record import CallRecord
from .usage import Usage

__all__ = [
    "SELF_TRACING_SCOPES",
    "PEER_SCOPE_PREFIXES",
    "mark_provider_instrumented",
    "is_provider_instrumented",
    "any_provider_instrumented",
    "should_count",
    "may_be_a_call",
    "genai_attributes",
    "normalise_provider",
    "usage_from_foreign_span",
    "record_of_span",
]

#: Instrumentation scope of an SDK's own tracing -> the provider key our instrumentor marks.
#: LiteLLM's own OpenTelemetry callback (``callbacks=["otel"]``) writes ``gen_ai.*`` spans
#: under the scope ``litellm`` for the calls our LiteLLM instrumentation already counts.
SELF_TRACING_SCOPES: Mapping[str, str] = {semconv.ANTHROPIC_SDK_SCOPE: "anthropic",
                                          semconv.MISTRALAI_SDK_SCOPE: "mistralai_sdk",
                                          "litellm": "litellm"}

#: SDKs that trace themselves *next to* an instrumentation of their own calls (their span
#: is a sibling or child of the instrumentation's, for the same call): provider key ->
#: (module, ``Class.method``) that every instrumentation of that SDK wraps. While it is
#: wrapped (a ``wrapt`` proxy — OpenLLMetry's and OpenInference's Mistral instrumentations
#: both wrap ``Chat.complete``), the instrumentation's span is the call's and the SDK's
#: own is not counted; without one, the SDK's span (when it has tokens) is the call's.
_WRAPPED_BY_PEERS: Mapping[str, tuple[str, str]] = {"mistralai_sdk": ("mistralai.chat", "Chat.complete")}

#: Instrumentation scope prefix of a peer instrumentation -> the provider key of ours that
#: wraps the same calls. Contrib's botocore instrumentation names its tracer
#: ``opentelemetry.instrumentation.botocore.<service>`` (``.bedrock-runtime`` for the
#: calls ours prices): its ``aws.bedrock`` spans are the same calls as ours, while the
#: ``aws.bedrock`` name alone is shared by clients we do not wrap (below).
PEER_SCOPE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("opentelemetry.instrumentation.botocore", "botocore_bedrock"),
)

#: Provider spellings of other tools (lower-cased) -> ours, the ``gen_ai.provider.name``
#: values of the conventions: OpenLLMetry's ``gen_ai.system`` (``MistralAI``, ``Cohere``,
#: ``Ollama``, ``Groq``, ``TogetherAI``), OpenInference's ``llm.provider`` / ``llm.system``
#: (``mistralai``, ``xai``, ``azure``). Other names are kept, lower-cased.
_PROVIDER_SPELLINGS: Mapping[str, str] = {
    "mistralai": "mistral_ai", "mistral": "mistral_ai", "xai": "x_ai", "x-ai": "x_ai",
    "togetherai": "together", "together_ai": "together", "azure": "azure.ai.openai",
    "fireworks_ai": "fireworks", "deepseek-ai": "deepseek", "moonshotai": "moonshot",
}

#: OpenLLMetry's ``llm.request.type`` / OpenInference's span kind -> ``gen_ai.operation.name``.
_OPERATIONS: Mapping[str, str] = {"chat": "chat", "completion": "text_completion", "embedding": "embeddings",
                                  "LLM": "chat", "EMBEDDING": "embeddings"}
_OPENINFERENCE_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})

#: Where each convention's name is read from, first found wins (ours, then older names).
_USAGE_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (semconv.GEN_AI_USAGE_INPUT_TOKENS, (semconv.GEN_AI_USAGE_PROMPT_TOKENS,)),
    (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, (semconv.GEN_AI_USAGE_COMPLETION_TOKENS,)),
    (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD,)),
    (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD,)),
)
#: OpenInference token counts (on ``LLM`` / ``EMBEDDING`` spans only: a chain or agent
#: span may carry its children's totals). ``llm.token_count.prompt`` includes the cache
#: reads and writes of ``prompt_details``, as ``gen_ai.usage.input_tokens`` does.
_OPENINFERENCE_USAGE: tuple[tuple[str, str], ...] = (
    (semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.LLM_TOKEN_COUNT_PROMPT),
    (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, semconv.LLM_TOKEN_COUNT_COMPLETION),
    (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, semconv.LLM_TOKEN_COUNT_CACHE_READ),
    (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, semconv.LLM_TOKEN_COUNT_CACHE_WRITE),
    (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, semconv.LLM_TOKEN_COUNT_REASONING),
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


def normalise_provider(name: Any) -> str | None:
    """A provider name in our vocabulary (``MistralAI`` -> ``mistral_ai``); None for none."""
    if name is None or name == "":
        return None
    text = str(name).strip()
    lower = text.lower()
    return _PROVIDER_SPELLINGS.get(lower, lower)


def genai_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A foreign span's attributes with the GenAI conventions' names filled in.

    Names the span already carries are kept; a missing one is taken from the older or
    other vocabulary (see the module docstring). The provider is always normalised.
    """
    view = dict(attributes)
    get = attributes.get
    for name, older in _USAGE_NAMES:
        if get(name) is None:
            for other in older:
                if get(other) is not None:
                    view[name] = get(other)
                    break
    kind = get(semconv.OPENINFERENCE_SPAN_KIND)
    if kind in _OPENINFERENCE_MODEL_KINDS:
        for name, theirs in _OPENINFERENCE_USAGE:
            if view.get(name) is None and get(theirs) is not None:
                view[name] = get(theirs)
        if get(semconv.GEN_AI_REQUEST_MODEL) is None and get(semconv.LLM_MODEL_NAME) is not None:
            view[semconv.GEN_AI_REQUEST_MODEL] = get(semconv.LLM_MODEL_NAME)
    if get(semconv.GEN_AI_OPERATION_NAME) is None:
        operation = _OPERATIONS.get(str(get(semconv.LLM_REQUEST_TYPE) or kind or ""))
        if operation is not None:
            view[semconv.GEN_AI_OPERATION_NAME] = operation
    provider = normalise_provider(get(semconv.GEN_AI_PROVIDER_NAME) or get(semconv.GEN_AI_SYSTEM)
                                  or get(semconv.LLM_PROVIDER) or get(semconv.LLM_SYSTEM))
    if provider is not None:
        view[semconv.GEN_AI_PROVIDER_NAME] = provider
    return view


#: Scopes whose spans name what they are only after they started (OpenInference sets
#: ``openinference.span.kind`` once the call is under way): followed from their start.
_LATE_NAMING_SCOPES: tuple[str, ...] = ("openinference.instrumentation.",)


def may_be_a_call(scope_name: str | None, attributes: Mapping[str, Any], *, starting: bool = False) -> bool:
    """Whether a span may be a model call in some vocabulary (cheap: no pricing).

    A GenAI operation, OpenLLMetry's ``llm.request.type``, an OpenInference ``LLM`` /
    ``EMBEDDING`` span, or a span of an SDK that traces itself; ``starting``: also any
    span of a scope that names its kind later. Whether it counts is decided when it
    ends (:func:`should_count`).
    """
    scope = scope_name or ""
    return (semconv.GEN_AI_OPERATION_NAME in attributes or semconv.LLM_REQUEST_TYPE in attributes
            or attributes.get(semconv.OPENINFERENCE_SPAN_KIND) in _OPENINFERENCE_MODEL_KINDS
            or scope in SELF_TRACING_SCOPES or (starting and scope.startswith(_LATE_NAMING_SCOPES)))


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


def _wrapped_by_a_peer(key: str) -> bool:
    """Whether an instrumentation has wrapped the SDK behind ``key`` (see :data:`_WRAPPED_BY_PEERS`).

    Never imports the SDK: if it is not imported, nothing has wrapped it.
    """
    where = _WRAPPED_BY_PEERS.get(key)
    module = sys.modules.get(where[0]) if where is not None else None
    if where is None or module is None:
        return False
    owner: Any = module
    *path, name = where[1].split(".")
    for part in path:
        owner = getattr(owner, part, None)
    found = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)
    # wrapt 2's ``ObjectProxy`` is no longer a base of ``FunctionWrapper``: ask for both.
    return isinstance(found, (wrapt.FunctionWrapper, getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)))


def _covered(key: str) -> bool:
    return key in _instrumented or _wrapped_by_a_peer(key)


def usage_from_foreign_span(scope_name: str | None, attributes: Mapping[str, Any]) -> Usage | None:
    """Usage of a span another tool wrote, read in that tool's counting; None without usage."""
    reader = _USAGE_READERS.get(SELF_TRACING_SCOPES.get(scope_name or "", ""), Usage.from_span_attributes)
    return reader(genai_attributes(attributes))


def should_count(span: Any) -> bool:
    """Whether a finished span (an SDK ``ReadableSpan``) is the one that counts for its call."""
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    attributes = getattr(span, "attributes", None) or {}
    if scope == semconv.SCOPE_NAME:
        return True
    view = genai_attributes(attributes)
    if view.get(semconv.GEN_AI_OPERATION_NAME) in semconv.NON_MODEL_OPERATIONS:
        return False
    reader = _USAGE_READERS.get(SELF_TRACING_SCOPES.get(scope or "", ""), Usage.from_span_attributes)
    if reader(view) is None:
        return False
    key = _provider_key(scope, view)
    return key is None or not _covered(key)


def _carried_cost(attributes: Mapping[str, Any]) -> Any:
    """The cost a foreign span states itself, unless it is one our exporter wrapper added."""
    if semconv.LLM_COST_STATUS in attributes:
        return None
    found = attributes.get(semconv.LLM_COST_TOTAL)
    return found if found is not None else attributes.get(semconv.GEN_AI_USAGE_COST)


def record_of_span(span: Any) -> CallRecord:
    """A finished foreign span (an SDK ``ReadableSpan``) as a priced :class:`CallRecord`.

    Its attributes are the span's in the conventions' names (:func:`genai_attributes`).
    """
    scope = getattr(getattr(span, "instrumentation_scope", None), "name", None)
    attributes = genai_attributes(getattr(span, "attributes", None) or {})
    reader = _USAGE_READERS.get(SELF_TRACING_SCOPES.get(scope or "", ""), Usage.from_span_attributes)
    usage = reader(attributes)
    model = attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(semconv.GEN_AI_REQUEST_MODEL)
    provider = attributes.get(semconv.GEN_AI_PROVIDER_NAME)
    cost = price_usage(model, usage, provider=provider)
    carried = reported_cost(_carried_cost(attributes))
    if carried is not None:
        cost = with_reported_cost(cost, carried, semconv.COST_SOURCE_SPAN)
    start, end = getattr(span, "start_time", None), getattr(span, "end_time", None)
    duration = (end - start) / 1e9 if start is not None and end is not None else None
    return CallRecord(attributes, usage, cost, duration, span_context=getattr(span, "context", None),
                      ours=False)
