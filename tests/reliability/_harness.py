"""The fault-matrix harness: run a scenario bare, then instrumented, and compare.

Every reliability case is "the app sees exactly what it would have seen without us,
and the recorded cost is exactly right (or exactly marked unknown)". So a case is a
*scenario* — a function that drives a real SDK against the wire server and returns a
plain description of everything the application observed (return value, chunks,
exception type and message) — run twice on identically scripted replies: once with
no instrumentation, once with ours. The two descriptions must be equal.

The wire server numbers response ids by request count, so it is reset before each
run; the scripted replies are enqueued afresh each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import anthropic
import boto3
import openai
from botocore.config import Config as BotoConfig
from google import genai
from google.genai import types as genai_types

from otel_llm_cost import semconv as s
from otel_llm_cost.cost import format_usd, price_usage
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.usage import Usage
from tests.instrumentation._helpers import Instrumented
from tests.sdk_versions import anthropic_tracing_option, genai_retry_options
from tests.wire import Reply, WireServer

SONNET = "claude-sonnet-4-20250514"
FLASH = "gemini-2.0-flash"
#: Claude Sonnet 4 through a cross-region inference profile: priced as claude-sonnet-4.
BEDROCK_SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"
#: What each provider is asked, and how (model, instrumentor).
PROVIDERS = ("openai", "anthropic", "gemini", "bedrock")
INSTRUMENTORS = {"openai": OpenAIInstrumentor, "anthropic": AnthropicInstrumentor, "gemini": GeminiInstrumentor,
                 "bedrock": BedrockInstrumentor}
MODELS = {"openai": "gpt-4o", "anthropic": SONNET, "gemini": FLASH, "bedrock": BEDROCK_SONNET}
#: Providers whose SDK has an asyncio client (botocore has none: boto3 is sync only).
ASYNC_PROVIDERS = ("openai", "anthropic", "gemini")
#: Providers whose streams report usage only at their end: a stream cut short (or never
#: read) is priced from a tokenizer estimate, marked ``estimated``.
USAGE_AT_STREAM_END = ("openai", "bedrock")
PROMPT = "one two three"  # 10 + 3 = 13 input tokens on the wire


# -- what the application observed ----------------------------------------------------

def _undated(node: Any) -> Any:
    """Drop the HTTP ``date`` header (google-genai keeps headers on its responses): it
    is the wall clock, the one thing two otherwise identical runs may differ in."""
    if isinstance(node, dict):
        # Any case: google-genai's async client sends through aiohttp when it is installed
        # (litellm brings it), and aiohttp keeps the server's spelling, ``Date``.
        return {k: _undated(v) for k, v in node.items()
                if not (isinstance(k, str) and k.lower() == "date" and isinstance(v, str))}
    if isinstance(node, list):
        return [_undated(v) for v in node]
    return node


def describe(value: Any) -> Any:
    """A comparable, plain description of an SDK value (pydantic models dumped; boto3's
    dicts with their values described, so a ``StreamingBody`` shows as its type)."""
    if hasattr(value, "model_dump"):
        return (type(value).__module__, type(value).__qualname__, _undated(value.model_dump(mode="json")))
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {k: describe(v) for k, v in _undated(value).items()}
    if isinstance(value, (str, int, float, bool, type(None), bytes)):
        return value
    return (type(value).__module__, type(value).__qualname__)


def describe_exc(exc: BaseException) -> tuple[Any, ...]:
    """Exception class (exactly), message, and the HTTP details the SDK attached."""
    return (type(exc).__module__, type(exc).__qualname__, str(exc), getattr(exc, "status_code", None),
            getattr(exc, "code", None), getattr(exc, "body", None))


def outcome(fn: Callable[[], Any]) -> tuple[Any, ...]:
    """("returned", description) or ("raised", exception description)."""
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - the exception *is* the observed outcome
        return ("raised", describe_exc(exc))
    return ("returned", describe(value))


async def aoutcome(awaitable: Any) -> tuple[Any, ...]:
    try:
        value = await awaitable
    except Exception as exc:  # noqa: BLE001
        return ("raised", describe_exc(exc))
    return ("returned", describe(value))


def consume(stream: Iterable[Any]) -> tuple[Any, ...]:
    """Iterate a stream to its end or its error: (items, exception or None)."""
    items: list[Any] = []
    try:
        for item in stream:
            items.append(describe(item))
    except Exception as exc:  # noqa: BLE001
        return (items, describe_exc(exc))
    return (items, None)


async def aconsume(stream: Any) -> tuple[Any, ...]:
    items: list[Any] = []
    try:
        async for item in stream:
            items.append(describe(item))
    except Exception as exc:  # noqa: BLE001
        return (items, describe_exc(exc))
    return (items, None)


# -- real clients on the wire server ---------------------------------------------------

def client(provider: str, wire: WireServer, *, retries: int = 0, timeout: float | None = None,
           api_key: str = "test", is_async: bool = False) -> Any:
    """A real SDK client on the wire server; ``retries`` = the SDK's own retry count."""
    if provider == "openai":
        cls = openai.AsyncOpenAI if is_async else openai.OpenAI
        return cls(base_url=wire.openai_base_url, api_key=api_key, max_retries=retries,
                   **({"timeout": timeout} if timeout else {}))
    if provider == "anthropic":
        cls = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
        return cls(base_url=wire.base_url, api_key=api_key, max_retries=retries, **anthropic_tracing_option(False),
                   **({"timeout": timeout} if timeout else {}))
    if provider == "bedrock":
        # botocore signs locally with fake credentials (the access key id is the one part of
        # them on the wire, so it stands for the API key); ``retries`` as botocore counts them.
        config = BotoConfig(retries={"total_max_attempts": retries + 1, "mode": "standard"},
                            read_timeout=timeout or 60, connect_timeout=timeout or 60)
        return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=wire.base_url,
                            aws_access_key_id=api_key, aws_secret_access_key="wire-secret", config=config)
    options = genai_types.HttpOptions(base_url=wire.base_url, **genai_retry_options(retries + 1),
                                      timeout=int(timeout * 1000) if timeout else None)
    return genai.Client(api_key=api_key, http_options=options)


def call(provider: str, sdk: Any, *, stream: bool = False, model: str | None = None,
         prompt: str = PROMPT) -> Any:
    """The provider's chat call (a stream when ``stream``)."""
    model = model or MODELS[provider]
    if provider == "openai":
        return sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                           stream=stream)
    if provider == "anthropic":
        return sdk.messages.create(model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}],
                                   stream=stream)
    if provider == "bedrock":  # a stream is the EventStream the application iterates
        messages = [{"role": "user", "content": [{"text": prompt}]}]
        if stream:
            return sdk.converse_stream(modelId=model, messages=messages)["stream"]
        return sdk.converse(modelId=model, messages=messages)
    if stream:
        return sdk.models.generate_content_stream(model=model, contents=prompt)
    return sdk.models.generate_content(model=model, contents=prompt)


async def acall(provider: str, sdk: Any, *, stream: bool = False, model: str | None = None,
                prompt: str = PROMPT) -> Any:
    model = model or MODELS[provider]
    if provider == "gemini":
        models = sdk.aio.models
        if stream:
            return await models.generate_content_stream(model=model, contents=prompt)
        return await models.generate_content(model=model, contents=prompt)
    return await call(provider, sdk, stream=stream, model=model, prompt=prompt)


# -- the comparison -----------------------------------------------------------------------

def run(wire: WireServer, replies: Sequence[Reply], scenario: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``scenario`` on freshly scripted replies: (what it observed, requests sent)."""
    wire.reset()
    wire.enqueue_many(replies)
    seen = scenario()
    return seen, len(wire.requests)


def bare_then_instrumented(wire: WireServer, make: Callable[..., Instrumented], provider: str,
                           replies: Sequence[Reply], scenario: Callable[[], Any],
                           **instrument_kwargs: Any) -> tuple[Instrumented, Any, int]:
    """Assert the app-visible outcome is identical with and without our instrumentation.

    Returns the instrumented pipelines (spans, metrics), the outcome and the number of
    HTTP requests the instrumented run sent (equal to the bare run's, asserted).
    """
    bare, bare_requests = run(wire, replies, scenario)
    inst = make(INSTRUMENTORS[provider], **instrument_kwargs)
    seen, requests = run(wire, replies, scenario)
    assert seen == bare
    assert requests == bare_requests
    return inst, seen, requests


# -- what was recorded ---------------------------------------------------------------------

def our_spans(inst: Instrumented) -> list[Any]:
    return [sp for sp in inst.spans() if sp.instrumentation_scope.name == s.SCOPE_NAME]


def usd(span: Any) -> Decimal | None:
    text = span.attributes.get(s.LLM_COST_USD)
    return None if text is None else Decimal(text)


def assert_cost_consistent(span: Any) -> None:
    """The span's cost is exactly the catalog price of the tokens it reports, or absent
    with an honest status; never a number for an unknown model or missing usage."""
    attrs = span.attributes
    status = attrs[s.LLM_COST_STATUS]
    usage = Usage.from_span_attributes(attrs)
    if status == s.STATUS_PRICED:
        model = attrs.get(s.GEN_AI_RESPONSE_MODEL) or attrs.get(s.GEN_AI_REQUEST_MODEL)
        expected = price_usage(model, usage, provider=attrs.get(s.GEN_AI_PROVIDER_NAME))
        assert attrs[s.LLM_COST_USD] == format_usd(expected.usd)
    else:
        assert status in (s.STATUS_NO_USAGE, s.STATUS_UNKNOWN_MODEL)
        assert s.LLM_COST_USD not in attrs and s.GEN_AI_USAGE_COST not in attrs


def calls_metric(inst: Instrumented) -> int:
    """Calls counted in the metrics: the duration histogram's count of our calls."""
    return sum(p.count for name, _, attrs, p in inst.metric_points()
               if name == s.METRIC_OPERATION_DURATION and s.LLM_COST_STATUS in attrs)


def spend_metric(inst: Instrumented) -> float:
    return sum(p.value for name, _, _, p in inst.metric_points() if name == s.METRIC_SPEND)
