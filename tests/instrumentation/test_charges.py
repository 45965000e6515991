"""Charges that are not text tokens, and the tier that served the call, through the real SDKs.

Every expected cost is worked out by hand from the documented rates (``prices.json``, or
genai-prices 0.2.3 where our list has no entry) and compared as an exact Decimal; the
components must add up to ``llm_cost.usd`` exactly.

* OpenAI web search tool calls: $10.00 per 1,000; file search: $2.50 per 1,000.
* Anthropic web search: $10 per 1,000 searches; web fetch: its tokens only.
* claude-sonnet-4-5: 3.00 / 15.00 per 1M; Message Batches 1.50 / 7.50; Priority Tier by contract.
* gpt-4o-audio-preview: text 2.50 / 10.00, audio 40.00 in / 80.00 out per 1M.
* gemini-2.5-flash: 0.30 in (text, image, video), 1.00 audio in, 2.50 out per 1M.
* gemini-2.5-flash-image (genai-prices): 0.30 in, 2.50 text out, 30.00 image out per 1M.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from otel_llm_cost import semconv as s
from tests.sdk_versions import needs_openai_responses
from tests.wire import Reply

from ._openai_expect import async_client, sync_client
from ._provider_fixtures import (  # noqa: F401 - fixtures
    USER,
    anthropic_client,
    anthropic_on,
    gemini_client,
    gemini_on,
    otel,
)

SONNET_45 = "claude-sonnet-4-5"
SEARCH = {"type": "web_search_call", "action": {"type": "search", "query": "weather in Paris"}}
FILES = {"type": "file_search_call", "queries": ["refund policy"], "results": None}


def _components(span) -> dict[str, Decimal]:
    prefix = s.LLM_COST_COMPONENT_PREFIX
    return {k[len(prefix):]: Decimal(v) for k, v in span.attributes.items() if k.startswith(prefix)}


def _assert_cost(span, usd: str, components: dict[str, str]) -> None:
    a = span.attributes
    assert a[s.LLM_COST_STATUS] == s.STATUS_PRICED
    assert Decimal(a[s.LLM_COST_USD]) == Decimal(usd)
    assert _components(span) == {k: Decimal(v) for k, v in components.items()}
    assert sum(_components(span).values()) == Decimal(a[s.LLM_COST_USD])


# --- OpenAI Responses: web_search_call / file_search_call output items --------------------

#: gpt-4o, "hi there" = 12 input tokens, 1 output token; 2 searches and 1 file search.
_RESPONSES_COST = ("0.02254", {"input": "0.00003", "output": "0.00001", "web_search": "0.02",
                               "file_search": "0.0025"})


@needs_openai_responses
def test_responses_web_search_calls_are_priced_per_call(wire, otel):
    wire.enqueue(Reply(output_items=[SEARCH, SEARCH, FILES]))
    with _openai(otel):
        response = sync_client(wire).responses.create(model="gpt-4o", input="hi there",
                                                      tools=[{"type": "web_search"}])
    assert [item.type for item in response.output] == ["web_search_call", "web_search_call",
                                                       "file_search_call", "message"]
    span = otel.span()
    _assert_cost(span, *_RESPONSES_COST)
    assert span.attributes[s.LLM_COST_WEB_SEARCH_CALLS] == 2
    assert span.attributes[s.LLM_COST_FILE_SEARCH_CALLS] == 1
    assert s.LLM_COST_UNPRICED not in span.attributes


@needs_openai_responses
@pytest.mark.parametrize("is_async", [False, True])
def test_responses_stream_counts_the_completed_output(wire, otel, is_async):
    wire.enqueue(Reply(output_items=[SEARCH, SEARCH, FILES]))

    async def consume_async():
        stream = await async_client(wire).responses.create(model="gpt-4o", input="hi there", stream=True)
        return [e.type async for e in stream]

    with _openai(otel):
        if is_async:
            events = asyncio.run(consume_async())
        else:
            events = [e.type for e in sync_client(wire).responses.create(model="gpt-4o", input="hi there",
                                                                          stream=True)]
    assert "response.web_search_call.completed" in events and events[-1] == "response.completed"
    span = otel.span()
    _assert_cost(span, *_RESPONSES_COST)
    assert span.attributes[s.LLM_COST_WEB_SEARCH_CALLS] == 2


@needs_openai_responses
def test_responses_stream_helper_and_raw_response(wire, otel):
    wire.enqueue_many([Reply(output_items=[SEARCH]), Reply(output_items=[SEARCH])])
    with _openai(otel):
        with sync_client(wire).responses.stream(model="gpt-4o", input="hi there") as stream:
            assert stream.get_final_response().output[0].type == "web_search_call"
        sync_client(wire).responses.with_raw_response.create(model="gpt-4o", input="hi there").parse()
    spans = otel.spans()
    assert [sp.attributes[s.LLM_COST_WEB_SEARCH_CALLS] for sp in spans] == [1, 1]
    for span in spans:  # 12 × 2.50 + 1 × 10 per 1M, and one search at $10 per 1,000
        _assert_cost(span, "0.01004", {"input": "0.00003", "output": "0.00001", "web_search": "0.01"})


@needs_openai_responses
@pytest.mark.parametrize(("model", "tools", "counted", "per_search"), [
    # the web_search_preview tool: $25 per 1,000 on non-reasoning models, $10 on reasoning ones
    ("gpt-4o-mini", [{"type": "web_search_preview"}], s.LLM_COST_WEB_SEARCH_PREVIEW_CALLS, "0.025"),
    ("gpt-4o-mini", [{"type": "web_search_preview_2025_03_11"}], s.LLM_COST_WEB_SEARCH_PREVIEW_CALLS, "0.025"),
    ("o4-mini", [{"type": "web_search_preview"}], s.LLM_COST_WEB_SEARCH_PREVIEW_CALLS, "0.01"),
    # web_search, or both declared (the item does not say which): $10
    ("gpt-4o-mini", [{"type": "web_search"}], s.LLM_COST_WEB_SEARCH_CALLS, "0.01"),
    ("gpt-4o-mini", [{"type": "web_search"}, {"type": "web_search_preview"}], s.LLM_COST_WEB_SEARCH_CALLS, "0.01"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_the_search_tool_declared_picks_the_price(wire, otel, model, tools, counted, per_search, stream):
    wire.enqueue(Reply(output_items=[SEARCH, SEARCH], model=model))
    with _openai(otel):
        result = sync_client(wire).responses.create(model=model, input="hi there", tools=tools, stream=stream)
        if stream:
            list(result)
    span = otel.span()
    a = span.attributes
    assert a[counted] == 2
    other = ({s.LLM_COST_WEB_SEARCH_CALLS, s.LLM_COST_WEB_SEARCH_PREVIEW_CALLS} - {counted}).pop()
    assert other not in a  # each search counted once, under the tool that made it
    charge = "web_search_preview" if counted == s.LLM_COST_WEB_SEARCH_PREVIEW_CALLS else "web_search"
    assert _components(span)[charge] == 2 * Decimal(per_search)
    assert sum(_components(span).values()) == Decimal(a[s.LLM_COST_USD])


@needs_openai_responses
def test_web_search_without_a_price_is_counted_and_said_unpriced(wire, otel):
    # gpt-4.1-nano: no web search price in our list: never invented, the span says so.
    wire.enqueue(Reply(output_items=[SEARCH], model="gpt-4.1-nano"))
    with _openai(otel):
        sync_client(wire).responses.create(model="gpt-4.1-nano", input="hi there")
    span = otel.span()
    # 12 × 0.10 + 1 × 0.40 per 1M
    _assert_cost(span, "0.0000016", {"input": "0.0000012", "output": "0.0000004"})
    assert span.attributes[s.LLM_COST_WEB_SEARCH_CALLS] == 1
    assert span.attributes[s.LLM_COST_UNPRICED] == ("web_search",)


# --- Anthropic: server_tool_use.web_search_requests and usage.service_tier ----------------

_SEARCHES = {"input_tokens": 1000, "output_tokens": 500,
             "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 2}}
# 1000 × 3 + 500 × 15 per 1M, and 3 searches × $10 / 1,000 (fetches: tokens only)
_SEARCHES_COST = ("0.0405", {"input": "0.003", "output": "0.0075", "web_search": "0.03"})


def test_anthropic_web_search_requests(wire, anthropic_on):
    wire.enqueue(Reply(usage=_SEARCHES))
    message = anthropic_client(wire).messages.create(model=SONNET_45, max_tokens=100, messages=USER)
    assert message.usage.server_tool_use.web_search_requests == 3
    span = anthropic_on.span()
    _assert_cost(span, *_SEARCHES_COST)
    assert span.attributes[s.LLM_COST_WEB_SEARCH_CALLS] == 3


@pytest.mark.parametrize("helper", [False, True])
def test_anthropic_web_search_requests_streamed(wire, anthropic_on, helper):
    # message_start says 0 searches; the final message_delta carries the count.
    wire.enqueue(Reply(usage=_SEARCHES))
    client = anthropic_client(wire)
    if helper:
        with client.messages.stream(model=SONNET_45, max_tokens=100, messages=USER) as stream:
            final = stream.get_final_message()
        assert final.usage.server_tool_use.web_search_requests == 3
    else:
        events = list(client.messages.create(model=SONNET_45, max_tokens=100, messages=USER, stream=True))
        assert events[0].message.usage.server_tool_use.web_search_requests == 0
    span = anthropic_on.span()
    _assert_cost(span, *_SEARCHES_COST)
    assert span.attributes[s.LLM_COST_WEB_SEARCH_CALLS] == 3


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_batch_tier_is_priced_at_the_batch_rate(wire, anthropic_on, stream):
    wire.enqueue(Reply(usage={"input_tokens": 1000, "output_tokens": 500, "service_tier": "batch"}))
    result = anthropic_client(wire).messages.create(model=SONNET_45, max_tokens=100, messages=USER, stream=stream)
    if stream:
        list(result)
    span = anthropic_on.span()
    # 1000 × 1.50 + 500 × 7.50 per 1M
    _assert_cost(span, "0.00525", {"input": "0.0015", "output": "0.00375"})
    assert span.attributes[s.LLM_COST_SERVICE_TIER] == "batch"
    assert s.LLM_COST_UNPRICED not in span.attributes


def test_anthropic_priority_tier_without_a_rate_is_priced_standard_and_says_so(wire, anthropic_on):
    wire.enqueue(Reply(usage={"input_tokens": 1000, "output_tokens": 500, "service_tier": "priority"}))
    anthropic_client(wire).messages.create(model=SONNET_45, max_tokens=100, messages=USER)
    span = anthropic_on.span()
    _assert_cost(span, "0.0105", {"input": "0.003", "output": "0.0075"})
    assert span.attributes[s.LLM_COST_SERVICE_TIER] == "priority"
    assert span.attributes[s.LLM_COST_UNPRICED] == ("service_tier",)


def test_anthropic_standard_tier_is_the_list_price(wire, anthropic_on):
    wire.enqueue(Reply(usage={"input_tokens": 1000, "output_tokens": 500, "service_tier": "standard"}))
    anthropic_client(wire).messages.create(model=SONNET_45, max_tokens=100, messages=USER)
    span = anthropic_on.span()
    _assert_cost(span, "0.0105", {"input": "0.003", "output": "0.0075"})
    assert s.LLM_COST_SERVICE_TIER not in span.attributes and s.LLM_COST_UNPRICED not in span.attributes


# --- OpenAI audio tokens ------------------------------------------------------------------

_AUDIO = {"prompt_tokens": 1000, "completion_tokens": 600, "total_tokens": 1600,
          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 400},
          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 500}}


@pytest.mark.parametrize("stream", [False, True])
def test_openai_audio_tokens_at_their_own_rates(wire, otel, stream):
    wire.enqueue(Reply(usage=_AUDIO, model="gpt-4o-audio-preview"))
    with _openai(otel):
        extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        result = sync_client(wire).chat.completions.create(
            model="gpt-4o-audio-preview", messages=[{"role": "user", "content": "hi"}], **extra)
        if stream:
            list(result)
    span = otel.span()
    # text 600 × 2.50 + audio 400 × 40 in; text 100 × 10 + audio 500 × 80 out, per 1M
    _assert_cost(span, "0.0585", {"input": "0.0015", "input_audio": "0.016", "output": "0.001",
                                  "output_audio": "0.04"})
    a = span.attributes
    assert (a[s.GEN_AI_USAGE_INPUT_TOKENS], a[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (1000, 600)
    assert (a[s.LLM_COST_AUDIO_INPUT_TOKENS], a[s.LLM_COST_AUDIO_OUTPUT_TOKENS]) == (400, 500)


# --- Gemini modality details ----------------------------------------------------------------

_GEMINI_AUDIO = {"promptTokenCount": 1000, "candidatesTokenCount": 200, "totalTokenCount": 1200,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 400},
                                         {"modality": "AUDIO", "tokenCount": 600}]}


@pytest.mark.parametrize("stream", [False, True])
def test_gemini_audio_input_at_its_own_rate(wire, gemini_on, stream):
    wire.enqueue(Reply(usage=_GEMINI_AUDIO, model="gemini-2.5-flash"))
    client = gemini_client(wire)  # kept: a client that is garbage collected closes its connection
    if stream:
        list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    else:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    span = gemini_on.span()
    # 400 × 0.30 + 600 × 1.00 in, 200 × 2.50 out, per 1M
    _assert_cost(span, "0.00122", {"input": "0.00012", "input_audio": "0.0006", "output": "0.0005"})
    assert span.attributes[s.LLM_COST_AUDIO_INPUT_TOKENS] == 600


def test_gemini_image_output_at_its_own_rate(wire, gemini_on):
    # Not in our list: priced by genai-prices (in the test extra), which lists the image rate.
    wire.enqueue(Reply(model="gemini-2.5-flash-image", usage={
        "promptTokenCount": 100, "candidatesTokenCount": 1300, "totalTokenCount": 1400,
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 10},
                                    {"modality": "IMAGE", "tokenCount": 1290}]}))
    client = gemini_client(wire)
    client.models.generate_content(model="gemini-2.5-flash-image", contents="draw a cat")
    span = gemini_on.span()
    # 100 × 0.30 in; 10 × 2.50 text and 1290 × 30 image out, per 1M
    _assert_cost(span, "0.038755", {"input": "0.00003", "output": "0.000025", "output_image": "0.0387"})
    assert span.attributes[s.LLM_COST_IMAGE_OUTPUT_TOKENS] == 1290


# --- helpers ------------------------------------------------------------------------------


class _openai:  # noqa: N801 - used as a context manager, like the fixtures
    """The OpenAI instrumentation on ``otel``'s providers for a block."""

    def __init__(self, otel) -> None:
        from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

        self.instrumentor = OpenAIInstrumentor()
        self.otel = otel

    def __enter__(self):
        self.instrumentor.instrument(tracer_provider=self.otel.tracer_provider,
                                     meter_provider=self.otel.meter_provider)
        return self

    def __exit__(self, *exc) -> None:
        self.instrumentor.uninstrument()
