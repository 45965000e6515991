"""LiteLLM with the real ``litellm`` package over HTTP (wire server).

LiteLLM talks to the wire server with its own HTTP code (Anthropic, Gemini, Bedrock's
Converse API, OpenAI-compatible providers) or through the openai SDK underneath (Azure,
legacy completions), exactly as it talks to the providers: ``api_base`` /
``aws_bedrock_runtime_endpoint`` point it here. Every other instrumentation of ours is
on too, each on its own exporter: a LiteLLM call must leave exactly one span, one cost,
one session entry — ours from the LiteLLM instrumentor — whatever LiteLLM calls
underneath. Every expected cost is worked out by hand from the rates in the comment.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import litellm
import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost import session
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
from otel_llm_cost.instrumentation.litellm import PROVIDERS, LiteLLMInstrumentor, provider_name
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.pricing._snapshot import PROVIDERS as SNAPSHOT_PROVIDERS
from tests.wire import Reply

from ._helpers import value

M = Decimal(1_000_000)
MESSAGES = [{"role": "user", "content": "one two three"}]


def _anthropic(wire):
    return {"api_base": wire.base_url, "api_key": "test"}


def _gemini(wire):
    return {"api_base": wire.base_url + "/v1beta", "api_key": "test"}


def _bedrock(wire):
    return {"aws_bedrock_runtime_endpoint": wire.base_url, "aws_access_key_id": "AKIDWIRETEST",
            "aws_secret_access_key": "wire-secret", "aws_region_name": "us-east-1"}


def _openai_compatible(wire):
    return {"api_base": wire.openai_base_url, "api_key": "test"}


#: route -> (LiteLLM model, connection kwargs, provider usage, gen_ai.provider.name, response model,
#:           (input, output, cache read, cache write, reasoning) in our counting, exact USD)
ROUTES = {
    # claude-sonnet-4 (our list): 3 in, 0.30 cache read, 3.75 cache write, 15 out per 1M.
    # Anthropic's input_tokens excludes the cache: 100 + 1000 + 200 = 1300 input in all.
    "anthropic": ("anthropic/claude-sonnet-4-20250514", _anthropic,
                  {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 1000,
                   "cache_creation_input_tokens": 200},
                  "anthropic", "claude-sonnet-4-20250514", (1300, 50, 1000, 200, 0),
                  (100 * Decimal("3") + 1000 * Decimal("0.30") + 200 * Decimal("3.75") + 50 * Decimal("15")) / M),
    # gemini-2.5-flash (our list): 0.30 in, 0.03 cached, 2.50 out (thoughts too) per 1M.
    # Thoughts are billed on top of the candidates: 50 + 30 = 80 output.
    "gemini": ("gemini/gemini-2.5-flash", _gemini,
               {"promptTokenCount": 100, "candidatesTokenCount": 50, "thoughtsTokenCount": 30,
                "cachedContentTokenCount": 40, "totalTokenCount": 180},
               "gcp.gemini", "gemini-2.5-flash", (100, 80, 40, 0, 30),
               (60 * Decimal("0.30") + 40 * Decimal("0.03") + 80 * Decimal("2.50")) / M),
    # claude-3-5-haiku on Bedrock (our list): 0.80 in, 0.08 cache read, 1.00 cache write, 4 out per 1M.
    "bedrock": ("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", _bedrock,
                {"inputTokens": 100, "outputTokens": 50, "cacheReadInputTokens": 1000,
                 "cacheWriteInputTokens": 200, "totalTokens": 1350},
                "aws.bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", (1300, 50, 1000, 200, 0),
                (100 * Decimal("0.80") + 1000 * Decimal("0.08") + 200 * Decimal("1.00") + 50 * Decimal("4")) / M),
    # Groq's llama-3.3-70b-versatile (genai-prices 0.2.3): 0.59 in, 0.79 out per 1M.
    "groq": ("groq/llama-3.3-70b-versatile", _openai_compatible,
             {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
             "groq", "llama-3.3-70b-versatile", (100, 50, 0, 0, 0),
             (100 * Decimal("0.59") + 50 * Decimal("0.79")) / M),
}


@pytest.fixture
def everything(instrumented):
    """LiteLLM's instrumentor and every SDK instrumentor of ours, each on its own exporter."""
    ours = instrumented(LiteLLMInstrumentor)
    others = [instrumented(cls) for cls in (OpenAIInstrumentor, AnthropicInstrumentor, GeminiInstrumentor,
                                            BedrockInstrumentor)]
    return ours, others


def _call(route: str, wire, stream: bool, is_async: bool) -> None:
    model, connection, _, _, _, _, _ = ROUTES[route]
    kwargs = dict(model=model, messages=MESSAGES, max_tokens=64, **connection(wire))
    if stream and route == "groq":
        kwargs["stream_options"] = {"include_usage": True}  # an OpenAI-compatible stream reports usage only so
    if not is_async:
        response = litellm.completion(stream=stream, **kwargs)
        if stream:
            chunks = list(response)
            assert chunks and "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"
        else:
            assert response.choices[0].message.content == "Hello there!"
        return

    async def run() -> None:
        response = await litellm.acompletion(stream=stream, **kwargs)
        if stream:
            text = [c.choices[0].delta.content or "" async for c in response if c.choices]
            assert "".join(text) == "Hello there!"
        else:
            assert response.choices[0].message.content == "Hello there!"

    asyncio.run(run())


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("route", sorted(ROUTES))
def test_one_counted_span_with_exact_cost(route, stream, is_async, wire, everything):
    ours, others = everything
    _, _, usage, provider, response_model, tokens, usd = ROUTES[route]
    wire.enqueue(Reply(text="Hello there!", usage=usage, model=response_model))
    with session(f"litellm-{route}", end=False) as tally:
        _call(route, wire, stream, is_async)
    span = ours.span()
    a = span.attributes
    assert [other.spans() for other in others] == [[], [], [], []]  # LiteLLM's call, counted once
    assert (a[s.GEN_AI_OPERATION_NAME], a[s.GEN_AI_PROVIDER_NAME], a[s.GEN_AI_RESPONSE_MODEL]) == (
        "chat", provider, response_model)
    inp, out, cache_read, cache_write, reasoning = tokens
    assert (a[s.GEN_AI_USAGE_INPUT_TOKENS], a[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (inp, out)
    assert a.get(s.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0) == cache_read
    assert a.get(s.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, 0) == cache_write
    assert a.get(s.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, 0) == reasoning
    assert a[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_REPORTED
    assert (a[s.LLM_COST_STATUS], Decimal(a[s.LLM_COST_USD])) == (s.STATUS_PRICED, usd)
    assert s.LLM_COST_COST_SOURCE not in a  # our price: LiteLLM's is only a second opinion
    assert tally.calls == 1 and tally.cost == usd
    spend = [p for name, _, _, p in ours.metric_points() if name == s.METRIC_SPEND]
    calls = [p for name, _, _, p in ours.metric_points() if name == s.METRIC_OPERATION_DURATION]
    assert sum(value(p) for p in spend) == pytest.approx(float(usd)) and sum(p.count for p in calls) == 1


def test_litellm_own_cost_is_a_second_opinion(wire, everything):
    ours, _ = everything
    wire.enqueue(Reply(usage=ROUTES["bedrock"][2], model=ROUTES["bedrock"][4]))
    response = litellm.completion(model=ROUTES["bedrock"][0], messages=MESSAGES, **_bedrock(wire))
    a = ours.span().attributes
    theirs = response._hidden_params["response_cost"]
    assert isinstance(theirs, float) and Decimal(a[s.LLM_COST_LITELLM_USD]) == Decimal(str(theirs))
    assert Decimal(a[s.LLM_COST_USD]) == ROUTES["bedrock"][6] and s.LLM_COST_COST_SOURCE not in a


def test_a_provider_reported_cost_wins_over_both(wire, everything):
    # OpenRouter puts its own charge in usage.cost; LiteLLM passes it through.
    ours, _ = everything
    wire.enqueue(Reply(usage={"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
                              "cost": 0.0123}, model="openai/gpt-4o"))
    litellm.completion(model="openrouter/openai/gpt-4o", messages=MESSAGES, **_openai_compatible(wire))
    a = ours.span().attributes
    assert a[s.GEN_AI_PROVIDER_NAME] == "openrouter"
    assert (a[s.LLM_COST_USD], a[s.LLM_COST_COST_SOURCE]) == ("0.0123", s.COST_SOURCE_PROVIDER)


@pytest.mark.parametrize("call", ["text_completion", "embedding", "azure"])
def test_a_wrapped_sdk_underneath_adds_no_second_span(call, wire, everything):
    # These LiteLLM routes go through openai SDK methods we wrap (completions / embeddings /
    # chat.completions .with_raw_response.create): the LiteLLM call is the one counted.
    ours, others = everything
    wire.enqueue(Reply(usage={"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
                       model="gpt-4o-2024-11-20" if call == "azure" else None))
    with session(f"nested-{call}", end=False) as tally:
        if call == "text_completion":
            litellm.text_completion(model="openai/gpt-3.5-turbo-instruct", prompt="one two three",
                                    **_openai_compatible(wire))
        elif call == "embedding":
            litellm.embedding(model="openai/text-embedding-3-small", input=["one two three"],
                              encoding_format="float", **_openai_compatible(wire))
        else:
            litellm.completion(model="azure/my-gpt-4o", messages=MESSAGES, api_base=wire.base_url,
                               api_version="2024-10-21", api_key="test", base_model="gpt-4o")
    assert wire.requests, "LiteLLM sent nothing"
    assert [other.spans() for other in others] == [[], [], [], []]
    a = ours.span().attributes
    # gpt-3.5-turbo-instruct 1.50 / 2.00; text-embedding-3-small 0.02 (input only); gpt-4o 2.50 / 10.
    expected = {"text_completion": (100 * Decimal("1.50") + 50 * Decimal("2")) / M,
                "embedding": 100 * Decimal("0.02") / M,
                "azure": (100 * Decimal("2.50") + 50 * Decimal("10")) / M}[call]
    operation = {"text_completion": "text_completion", "embedding": "embeddings", "azure": "chat"}[call]
    assert a[s.GEN_AI_OPERATION_NAME] == operation
    if call == "azure":
        assert a[s.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
        assert wire.last_request.path.startswith("/openai/deployments/my-gpt-4o/")
    assert Decimal(a[s.LLM_COST_USD]) == expected and tally.calls == 1 and tally.cost == expected


def test_a_stream_without_usage_is_estimated_not_read_from_litellm_count(wire, everything):
    ours, _ = everything
    wire.enqueue(Reply(text="Hello there!", include_usage_in_stream=False))
    chunks = list(litellm.completion(model="openai/gpt-4o-mini", messages=MESSAGES, stream=True,
                                     **_openai_compatible(wire)))
    assert chunks
    a = ours.span().attributes
    assert a[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED and a[s.LLM_COST_STATUS] == s.STATUS_PRICED


def test_a_failed_call_is_one_failed_span_and_the_error_is_litellms(wire, everything):
    ours, others = everything
    wire.enqueue(Reply(status=400))
    with pytest.raises(litellm.BadRequestError):
        litellm.completion(model=ROUTES["anthropic"][0], messages=MESSAGES, max_tokens=8, **_anthropic(wire))
    a = ours.span().attributes
    assert a[s.ERROR_TYPE] == "BadRequestError" and a[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE
    assert [other.spans() for other in others] == [[], [], [], []]


def test_uninstrument_stops_tracing(wire, everything):
    ours, _ = everything
    ours.uninstrument()
    wire.enqueue(Reply())
    litellm.completion(model=ROUTES["anthropic"][0], messages=MESSAGES, max_tokens=8, **_anthropic(wire))
    assert ours.spans() == []


def test_provider_names_are_ours():
    # Every provider the price snapshot knows is named as our other instrumentations name it.
    for litellm_name, ours in SNAPSHOT_PROVIDERS.items():
        if litellm_name in PROVIDERS:
            assert provider_name(litellm_name) == ours, litellm_name
    assert provider_name("hosted_vllm") == "hosted_vllm" and provider_name(None) is None


def test_a_stream_closed_early_ends_its_span_partial(wire, everything):
    ours, _ = everything
    wire.enqueue(Reply(text="one two three four five", usage=ROUTES["anthropic"][2]))
    stream = litellm.completion(model=ROUTES["anthropic"][0], messages=MESSAGES, max_tokens=64, stream=True,
                                **_anthropic(wire))
    first = next(iter(stream))
    assert first.choices
    stream.close()
    a = ours.span().attributes
    assert a[s.LLM_COST_PARTIAL] is True and a[s.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_a_dropped_stream_raises_what_litellm_raises_and_is_one_failed_span(wire, everything):
    def scenario():
        wire.reset()
        wire.enqueue(Reply(text="one two three four five", fail_after_chunks=2, failure="drop"))
        stream = litellm.completion(model=ROUTES["anthropic"][0], messages=MESSAGES, max_tokens=64, stream=True,
                                    **_anthropic(wire))
        seen = []
        try:
            for chunk in stream:
                seen.append(chunk.choices[0].delta.content if chunk.choices else None)
        except Exception as exc:  # noqa: BLE001 - what the application sees is the point
            return seen, type(exc)
        return seen, None

    ours, others = everything
    ours.uninstrument()
    bare = scenario()
    ours.instrument()
    assert scenario() == bare and bare[1] is not None
    a = ours.span().attributes
    assert a[s.ERROR_TYPE] == bare[1].__qualname__
    assert [other.spans() for other in others] == [[], [], [], []]


def test_router_calls_are_one_span_each(wire, everything):
    # The Router looks litellm.acompletion / completion up at call time: our wrapper.
    ours, others = everything
    router = litellm.Router(model_list=[{"model_name": "claude", "litellm_params": {
        "model": ROUTES["anthropic"][0], **_anthropic(wire)}}])
    wire.enqueue_many([Reply(usage=ROUTES["anthropic"][2]), Reply(usage=ROUTES["anthropic"][2])])
    router.completion(model="claude", messages=MESSAGES, max_tokens=64)
    asyncio.run(router.acompletion(model="claude", messages=MESSAGES, max_tokens=64))
    spans = ours.spans()
    assert len(spans) == 2 and len(wire.requests) == 2
    assert {sp.attributes[s.GEN_AI_PROVIDER_NAME] for sp in spans} == {"anthropic"}
    assert [Decimal(sp.attributes[s.LLM_COST_USD]) for sp in spans] == [ROUTES["anthropic"][6]] * 2
    assert [other.spans() for other in others] == [[], [], [], []]



@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_text_completion_stream_and_async_embedding(is_async, wire, everything):
    # gpt-3.5-turbo-instruct 1.50 / 2.00 per 1M; text-embedding-3-small 0.02 per 1M (input only).
    ours, others = everything
    wire.enqueue_many([Reply(text="Hello there!", usage={"prompt_tokens": 100, "completion_tokens": 50,
                                                        "total_tokens": 150}, include_usage_in_stream=True),
                       Reply(usage={"prompt_tokens": 100, "total_tokens": 100})])
    text = dict(model="openai/gpt-3.5-turbo-instruct", prompt="one two three", stream=True,
                stream_options={"include_usage": True}, **_openai_compatible(wire))
    embed = dict(model="openai/text-embedding-3-small", input=["one two three"], **_openai_compatible(wire))

    with session(f"text-embed-{is_async}", end=False) as tally:
        if is_async:
            async def run() -> None:
                stream = await litellm.atext_completion(**text)
                assert [c async for c in stream]
                await litellm.aembedding(**embed)

            asyncio.run(run())
        else:
            assert list(litellm.text_completion(**text))
            litellm.embedding(**embed)
    spans = sorted(ours.spans(), key=lambda sp: sp.attributes[s.GEN_AI_OPERATION_NAME])
    assert [sp.attributes[s.GEN_AI_OPERATION_NAME] for sp in spans] == ["embeddings", "text_completion"]
    completion_usd = (100 * Decimal("1.50") + 50 * Decimal("2")) / M
    embedding_usd = 100 * Decimal("0.02") / M
    assert [Decimal(sp.attributes[s.LLM_COST_USD]) for sp in spans] == [embedding_usd, completion_usd]
    assert spans[1].attributes[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_REPORTED
    assert [other.spans() for other in others] == [[], [], [], []]
    assert tally.calls == 2 and tally.cost == completion_usd + embedding_usd


def test_litellms_own_otel_spans_are_not_counted_again(everything):
    # LiteLLM's OpenTelemetry callback traces under the scope "litellm" with gen_ai usage.
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm_cost import foreign_spans

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("litellm").start_as_current_span("litellm_request", attributes={
            s.GEN_AI_SYSTEM: "anthropic", s.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-20250514",
            s.GEN_AI_USAGE_INPUT_TOKENS: 13, s.GEN_AI_USAGE_OUTPUT_TOKENS: 1}):
        pass
    (span,) = exporter.get_finished_spans()
    ours, _ = everything
    assert not foreign_spans.should_count(span)  # ours is the one counted
    ours.uninstrument()
    assert foreign_spans.should_count(span)  # without ours, LiteLLM's span is the call's record
