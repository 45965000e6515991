"""The Gemini instrumentation with the real ``google-genai`` SDK over HTTP (wire server)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from google.genai import errors
from google.genai import types as genai_types
from opentelemetry.trace import StatusCode

from otel_llm_cost import semconv as A
from tests.sdk_versions import (
    GENAI_EMBED_USAGE,
    needs_genai_stream_error_chunks,
    needs_genai_streamed_afc_round_trips,
    needs_genai_thoughts,
)
from tests.wire import Reply

from ._provider_fixtures import gemini_client, gemini_on, otel, usd  # noqa: F401 - fixtures

PROMPT = "one two three"  # 10 + 3 = 13 prompt tokens on the wire
FLASH_IN, FLASH_OUT = Decimal("0.10") / 10**6, Decimal("0.40") / 10**6


def test_generate_content_exact(wire, gemini_on):
    wire.enqueue(Reply(text="a b c"))
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    response = client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert response.text == "a b c"
    span = gemini_on.span()
    attrs = span.attributes
    assert span.name == "chat gemini-2.0-flash"
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "gcp.gemini"
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
    assert usd(span) == 13 * FLASH_IN + 3 * FLASH_OUT == Decimal("0.0000025")


def test_stream_keeps_last_cumulative_usage(wire, gemini_on):
    wire.enqueue(Reply(text="a b c d e"))
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    assert "".join(c.text for c in chunks) == "a b c d e"
    attrs = gemini_on.span().attributes
    # Chunks report 1, 2, 3, 4, 5 cumulative candidates: 5, never 15.
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 5)
    assert A.LLM_COST_PARTIAL not in attrs


def test_async_generate_and_stream(wire, gemini_on):
    client = gemini_client(wire)

    async def run():
        wire.enqueue(Reply(text="a b"))
        await client.aio.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
        wire.enqueue(Reply(text="a b c"))
        stream = await client.aio.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT)
        return [c.text async for c in stream]

    assert "".join(asyncio.run(run())) == "a b c"
    spans = gemini_on.spans()
    assert [s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans] == [2, 3]


@needs_genai_thoughts
def test_thoughts_billed_as_output_and_long_prompt_tier(wire, gemini_on):
    wire.enqueue(Reply(text="ok", thinking="step one step two", usage={"promptTokenCount": 250_000}))
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT)
    attrs = gemini_on.span().attributes
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 250_000
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 5  # 1 candidate + 4 thoughts
    assert attrs[A.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 4
    # Above 200k prompt tokens gemini-2.5-pro costs 2.50 in / 15.00 out per 1M (not 1.25 / 10.00).
    assert usd(gemini_on.span()) == (250_000 * Decimal("2.50") + 5 * Decimal("15.00")) / 10**6


def test_short_prompt_lower_tier(wire, gemini_on):
    wire.enqueue(Reply(text="ok", usage={"promptTokenCount": 200_000}))
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT)
    assert usd(gemini_on.span()) == (200_000 * Decimal("1.25") + 1 * Decimal("10.00")) / 10**6


def test_early_break_ends_span_partial(wire, gemini_on):
    wire.enqueue(Reply(text="a b c d e"))
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    stream = client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT)
    for _ in stream:
        break
    stream.close()
    attrs = gemini_on.span().attributes
    assert attrs[A.LLM_COST_PARTIAL] is True
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 1  # what the first chunk reported


@pytest.mark.parametrize("failure", [pytest.param("error_event", marks=needs_genai_stream_error_chunks), "drop"])
def test_mid_stream_failure(wire, gemini_on, failure):
    wire.enqueue(Reply(text="a b c d", fail_after_chunks=2, failure=failure))
    got = []
    with pytest.raises(Exception) as info:
        client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
        for chunk in client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT):
            got.append(chunk.text)
    assert got == ["a ", "b "]
    span = gemini_on.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.ERROR_TYPE] == type(info.value).__qualname__


def test_http_error_unchanged(wire, gemini_on):
    wire.enqueue(Reply(status=429))
    with pytest.raises(errors.ClientError) as info:
        client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
        client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert info.value.code == 429
    span = gemini_on.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.LLM_COST_STATUS] == A.STATUS_NO_USAGE


def test_embed_content_usage(wire, gemini_on):
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    result = client.models.embed_content(model="gemini-embedding-001", contents=["a b", "c"])
    assert len(result.embeddings) == 2
    span = gemini_on.span()
    assert span.attributes[A.GEN_AI_OPERATION_NAME] == "embeddings"
    if not GENAI_EMBED_USAGE:  # the SDK drops the usage: an honest "no usage", never a made-up cost
        assert span.attributes[A.LLM_COST_STATUS] == A.STATUS_NO_USAGE and A.LLM_COST_USD not in span.attributes
        return
    assert span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 13
    assert usd(span) == 13 * Decimal("0.15") / 10**6


def get_weather(city: str) -> str:
    """The weather in a city (a tool the SDK calls itself: automatic function calling)."""
    return f"sunny in {city}"


# Real types, not the strings ``from __future__ import annotations`` leaves: google-genai
# 1.0 cannot read a string annotation when it builds the tool's declaration.
get_weather.__annotations__ = {"city": str, "return": str}


#: Two requests for one call: the model asks for the tool, then answers with its result.
AFC_REPLIES = [Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}], text="",
                     usage={"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25}),
               Reply(text="sunny", usage={"promptTokenCount": 40, "candidatesTokenCount": 7, "totalTokenCount": 47})]
#: Both round trips billed: (20 + 40) × 0.10 + (5 + 7) × 0.40 per 1M.
AFC_USD = Decimal("0.0000108")


def test_automatic_function_calling_counts_every_round_trip(wire, gemini_on):
    client = gemini_client(wire)
    wire.enqueue_many(AFC_REPLIES)
    config = genai_types.GenerateContentConfig(tools=[get_weather])
    response = client.models.generate_content(model="gemini-2.0-flash", contents="weather in Paris?", config=config)
    assert response.text == "sunny" and len(wire.requests) == 2
    assert response.usage_metadata.prompt_token_count == 40  # the SDK reports the last request only
    span = gemini_on.span()  # one call, one span, one cost: the sum of both requests
    assert (span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (60, 12)
    assert usd(span) == AFC_USD


def test_automatic_function_calling_async(wire, gemini_on):
    client = gemini_client(wire)
    wire.enqueue_many(AFC_REPLIES)
    config = genai_types.GenerateContentConfig(tools=[get_weather])
    asyncio.run(client.aio.models.generate_content(model="gemini-2.0-flash", contents="weather?", config=config))
    assert len(wire.requests) == 2 and usd(gemini_on.span()) == AFC_USD


@needs_genai_streamed_afc_round_trips
def test_automatic_function_calling_stream_counts_every_round_trip(wire, gemini_on):
    client = gemini_client(wire)
    wire.enqueue_many([Reply(response_id=f"r{i}", **{k: getattr(r, k) for k in ("tool_calls", "text", "usage")})
                       for i, r in enumerate(AFC_REPLIES)])
    config = genai_types.GenerateContentConfig(tools=[get_weather])
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="weather?", config=config))
    assert chunks and len(wire.requests) == 2
    span = gemini_on.span()
    assert (span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (60, 12)
    assert usd(span) == AFC_USD
