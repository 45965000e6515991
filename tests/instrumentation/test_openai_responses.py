"""Responses API, embeddings and legacy completions through the real openai SDK."""

from __future__ import annotations

import asyncio

import openai
import pydantic

from otel_llm_cost import semconv as s
from tests.sdk_versions import needs_openai_responses
from tests.wire import Reply

from ._openai_expect import assert_hello_metrics, assert_metrics, assert_span, async_client, priced, sync_client


def hello_response(wire, **extra):
    # input "hi there": 10 + 2 words; output 1 delta.
    return priced(wire, response_id="resp_wire000001", inp=12, out=1, usd="0.00004",
                  components={"input": "0.00003", "output": "0.00001"}, **extra)


@needs_openai_responses
def test_responses_create(wire, otel):
    response = sync_client(wire).responses.create(model="gpt-4o", input="hi there", max_output_tokens=64)
    assert response.output_text == "Hello!"
    assert_span(otel, hello_response(wire, **{s.GEN_AI_REQUEST_MAX_TOKENS: 64}))
    assert_hello_metrics(otel)


@needs_openai_responses
def test_responses_reasoning_tokens(wire, otel):
    wire.enqueue(Reply(thinking="let me think"))
    sync_client(wire).responses.create(model="o3-mini", input="hi there")
    # output = 1 delta + 3 reasoning words: 12 × 1.10 + 4 × 4.40 per 1M
    assert_span(otel, priced(wire, model="o3-mini", response_id="resp_wire000001", inp=12, out=4,
                             usd="0.0000308", components={"input": "0.0000132", "output": "0.0000176"},
                             **{s.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 3}), name="chat o3-mini")


@needs_openai_responses
def test_responses_stream(wire, otel):
    stream = sync_client(wire).responses.create(model="gpt-4o", input="hi there", stream=True)
    events = [e.type for e in stream]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert_span(otel, hello_response(wire))
    assert_hello_metrics(otel)


@needs_openai_responses
def test_responses_stream_async(wire, otel):
    async def main():
        stream = await async_client(wire).responses.create(model="gpt-4o", input="hi there", stream=True)
        return [e async for e in stream]

    assert asyncio.run(main())[-1].response.usage.total_tokens == 13
    assert_span(otel, hello_response(wire))


class Answer(pydantic.BaseModel):
    answer: str


@needs_openai_responses
def test_responses_parse(wire, otel):
    wire.enqueue(Reply(text='{"answer": "42"}'))
    parsed = sync_client(wire).responses.parse(model="gpt-4o", input="hi there", text_format=Answer)
    assert parsed.output_parsed == Answer(answer="42")
    assert_span(otel, priced(wire, response_id="resp_wire000001", inp=12, out=2, usd="0.00005",
                             components={"input": "0.00003", "output": "0.00002"}))


@needs_openai_responses
def test_responses_stream_helper(wire, otel):
    client = sync_client(wire)
    with client.responses.stream(model="gpt-4o", input="hi there", instructions="be brief") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["Hello!"] and final.output_text == "Hello!"
    # "be brief" adds two prompt words on the wire: 14 in.
    assert_span(otel, priced(wire, response_id="resp_wire000001", inp=14, out=1, usd="0.000045",
                             components={"input": "0.000035", "output": "0.00001"}))


@needs_openai_responses
def test_responses_stream_helper_async(wire, otel):
    async def main():
        async with async_client(wire).responses.stream(model="gpt-4o", input="hi there") as stream:
            async for _ in stream:
                pass
            return await stream.get_final_response()

    assert asyncio.run(main()).usage.total_tokens == 13
    assert_span(otel, hello_response(wire))


def test_embeddings(wire, otel):
    result = sync_client(wire).embeddings.create(model="text-embedding-3-small", input=["a b", "c"],
                                                 encoding_format="float")
    assert len(result.data) == 2
    # 10 + 3 words = 13 tokens × 0.02 per 1M
    assert_span(otel, priced(wire, operation="embeddings", model="text-embedding-3-small", finish=None,
                             inp=13, out=0, usd="0.00000026",
                             components={"input": "0.00000026", "output": "0"},
                             **{s.GEN_AI_REQUEST_ENCODING_FORMATS: ("float",)}),
                name="embeddings text-embedding-3-small")
    assert_metrics(otel, model="text-embedding-3-small", operation="embeddings", spend={"input": 0.00000026},
                   inp=13, out=0, response_model="text-embedding-3-small")


def test_embeddings_async(wire, otel):
    async def main():
        return await async_client(wire).embeddings.create(model="text-embedding-3-small", input="a b")

    asyncio.run(main())
    assert otel.span().attributes[s.LLM_COST_USD] == "0.00000024"


def test_legacy_completions(wire, otel):
    result = sync_client(wire).completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    assert type(result) is openai.types.Completion and result.choices[0].text == "Hello!"
    # 12 × 1.50 + 1 × 2.00 per 1M
    assert_span(otel, priced(wire, operation="text_completion", model="gpt-3.5-turbo-instruct",
                             response_id="cmpl-wire000001", inp=12, out=1, usd="0.00002",
                             components={"input": "0.000018", "output": "0.000002"}),
                name="text_completion gpt-3.5-turbo-instruct")
    assert_metrics(otel, model="gpt-3.5-turbo-instruct", operation="text_completion",
                   spend={"input": 0.000018, "output": 0.000002}, inp=12, out=1,
                   response_model="gpt-3.5-turbo-instruct")


def test_legacy_completions_stream_with_usage(wire, otel):
    wire.enqueue(Reply(text="Hi you", include_usage_in_stream=True))
    chunks = list(sync_client(wire).completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi",
                                                       stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "Hi you"
    assert_span(otel, priced(wire, operation="text_completion", model="gpt-3.5-turbo-instruct",
                             response_id="cmpl-wire000001", inp=12, out=2, usd="0.000022",
                             components={"input": "0.000018", "output": "0.000004"}),
                name="text_completion gpt-3.5-turbo-instruct")
