"""Chat Completions through the real openai SDK: create, streams, parse, the stream helper."""

from __future__ import annotations

import asyncio

import openai
import pydantic

from otel_llm_cost import semconv as s
from tests.sdk_versions import needs_openai_chat_helpers
from tests.wire import Reply

from ._openai_expect import (
    HELLO,
    assert_hello_metrics,
    assert_metrics,
    assert_span,
    async_client,
    gpt4o_hello,
    priced,
    sync_client,
)

TIER = {s.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: "default"}


def test_create_sync_exact_span_and_metrics(wire, otel):
    reply = sync_client(wire).chat.completions.create(
        model="gpt-4o", messages=HELLO, temperature=0.2, top_p=0.9, max_tokens=50, seed=7, n=1,
        stop=["END"], frequency_penalty=0.1, presence_penalty=0.3, service_tier="auto")
    assert type(reply) is openai.types.chat.ChatCompletion
    assert reply.choices[0].message.content == "Hello!"
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER, **{
        s.GEN_AI_REQUEST_TEMPERATURE: 0.2, s.GEN_AI_REQUEST_TOP_P: 0.9, s.GEN_AI_REQUEST_MAX_TOKENS: 50,
        s.GEN_AI_REQUEST_SEED: 7, s.GEN_AI_REQUEST_CHOICE_COUNT: 1, s.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        s.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.1, s.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.3,
        s.GEN_AI_OPENAI_REQUEST_SERVICE_TIER: "auto"}))
    assert_hello_metrics(otel)


def test_create_async(wire, otel):
    async def main():
        return await async_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)

    reply = asyncio.run(main())
    assert reply.usage.total_tokens == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))
    assert_hello_metrics(otel)


def test_cached_tokens_priced_at_cache_rate(wire, otel):
    wire.enqueue(Reply(usage={"prompt_tokens": 2000, "completion_tokens": 500, "total_tokens": 2500,
                              "prompt_tokens_details": {"cached_tokens": 1200}}))
    sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)
    # 800 × 2.50 + 1200 × 1.25 + 500 × 10.00 per 1M = 0.002 + 0.0015 + 0.005
    assert_span(otel, priced(wire, response_id="chatcmpl-wire000001", inp=2000, out=500, usd="0.0085",
                             components={"input": "0.002", "cache_read": "0.0015", "output": "0.005"},
                             **TIER, **{s.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1200}))
    assert_metrics(otel, spend={"input": 0.002, "cache_read": 0.0015, "output": 0.005}, inp=2000, out=500,
                   response_model="gpt-4o")


def test_reasoning_tokens(wire, otel):
    wire.enqueue(Reply(usage={"prompt_tokens": 100, "completion_tokens": 300, "total_tokens": 400,
                              "completion_tokens_details": {"reasoning_tokens": 200}}))
    sync_client(wire).chat.completions.create(model="o3-mini", messages=HELLO)
    # 100 × 1.10 + 300 × 4.40 per 1M (reasoning is billed as output)
    assert_span(otel, priced(wire, model="o3-mini", response_id="chatcmpl-wire000001", inp=100, out=300,
                             usd="0.00143", components={"input": "0.00011", "output": "0.00132"}, **TIER,
                             **{s.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 200}), name="chat o3-mini")


def test_response_tier_not_request_tier_decides_the_price(wire, otel):
    # Asked for priority; the API answered on "default" (the wire's service_tier), so the
    # standard rates apply: 1000 × 2.50 + 100 × 10.00 per 1M.
    wire.enqueue(Reply(usage={"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}))
    sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, service_tier="priority")
    assert_span(otel, priced(wire, response_id="chatcmpl-wire000001", inp=1000, out=100, usd="0.0035",
                             components={"input": "0.0025", "output": "0.001"}, **TIER,
                             **{s.GEN_AI_OPENAI_REQUEST_SERVICE_TIER: "priority"}))


def test_stream_with_include_usage_uses_reported_usage(wire, otel):
    stream = sync_client(wire).chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    assert [c.choices[0].delta.content for c in chunks[:2]] == ["", "Hello!"]
    assert chunks[-1].usage.total_tokens == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))
    assert_hello_metrics(otel)


def test_stream_without_usage_is_estimated_and_request_untouched(wire, otel):
    wire.enqueue(Reply(text="Hello there friend"))
    with sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "Hello there friend"
    assert "stream_options" not in wire.requests[-1].body
    # tiktoken o200k: prompt 3 + 3 per message + "user" 1 + "hello there" 2 = 9; output 3.
    assert_span(otel, priced(wire, response_id="chatcmpl-wire000001", inp=9, out=3, usd="0.0000525",
                             components={"input": "0.0000225", "output": "0.00003"}, source="estimated"))
    assert_metrics(otel, spend={"input": 0.0000225, "output": 0.00003}, inp=9, out=3, source="estimated",
                   response_model="gpt-4o")


def test_include_usage_opt_in_injects_stream_options(wire, instrumented, monkeypatch):
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    monkeypatch.setenv(s.ENV_INCLUDE_USAGE, "true")
    otel = instrumented(OpenAIInstrumentor)
    chunks = list(sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert wire.requests[-1].body["stream_options"] == {"include_usage": True}
    assert chunks[-1].usage.total_tokens == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))


def test_async_stream(wire, otel):
    async def main():
        client = async_client(wire)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True})
        assert isinstance(stream, openai.AsyncStream)
        return [c async for c in stream]

    chunks = asyncio.run(main())
    assert len(chunks) == 4
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))
    assert_hello_metrics(otel)


class Answer(pydantic.BaseModel):
    answer: str


@needs_openai_chat_helpers
def test_parse_one_span(wire, otel):
    wire.enqueue(Reply(text='{"answer": "42"}'))
    completion = sync_client(wire).chat.completions.parse(model="gpt-4o", messages=HELLO,
                                                          response_format=Answer)
    assert completion.choices[0].message.parsed == Answer(answer="42")
    # output: '{"answer": "42"}' is two word deltas on the wire.
    assert_span(otel, priced(wire, response_id="chatcmpl-wire000001", inp=12, out=2, usd="0.00005",
                             components={"input": "0.00003", "output": "0.00002"}, **TIER))


@needs_openai_chat_helpers
def test_parse_async(wire, otel):
    wire.enqueue(Reply(text='{"answer": "42"}'))

    async def main():
        return await async_client(wire).chat.completions.parse(model="gpt-4o", messages=HELLO,
                                                               response_format=Answer)

    assert asyncio.run(main()).choices[0].message.parsed.answer == "42"
    assert otel.span().attributes[s.LLM_COST_USD] == "0.00005"


@needs_openai_chat_helpers
def test_stream_helper_events_and_final_completion(wire, otel):
    wire.enqueue(Reply(text="Hello there", include_usage_in_stream=True))
    client = sync_client(wire)
    with client.chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert deltas == ["", "Hello ", "there"]
    assert final.choices[0].message.content == "Hello there"
    assert_span(otel, priced(wire, response_id="chatcmpl-wire000001", inp=12, out=2, usd="0.00005",
                             components={"input": "0.00003", "output": "0.00002"}))


@needs_openai_chat_helpers
def test_stream_helper_exited_early_ends_span_at_exit(wire, otel):
    wire.enqueue(Reply(text="one two three four five"))
    with sync_client(wire).chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        for event in stream:
            if event.type == "content.delta" and event.delta:
                break
        assert otel.spans() == []
    span = otel.span()  # ended by the helper's close, while `stream` is still referenced
    assert span.attributes[s.LLM_COST_PARTIAL] is True
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == "estimated"
    assert span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS] == 2  # "one " seen so far: "one", " "
    assert stream is not None


@needs_openai_chat_helpers
def test_async_stream_helper(wire, otel):
    wire.enqueue(Reply(text="Hello there", include_usage_in_stream=True))

    async def main():
        async with async_client(wire).chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
            deltas = [e.delta async for e in stream if e.type == "content.delta"]
            return deltas, await stream.get_final_completion()

    deltas, final = asyncio.run(main())
    assert deltas == ["", "Hello ", "there"] and final.usage.total_tokens == 14
    assert otel.span().attributes[s.LLM_COST_USD] == "0.00005"
