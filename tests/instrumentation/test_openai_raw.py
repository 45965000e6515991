"""``.with_raw_response`` and ``.with_streaming_response``: raw objects, exact same types."""

from __future__ import annotations

import asyncio
import gc

import openai
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse, AsyncAPIResponse

from otel_llm_cost import semconv as s
from tests.sdk_versions import needs_openai_responses

from ._openai_expect import HELLO, assert_hello_metrics, assert_span, async_client, gpt4o_hello, sync_client

TIER = {s.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: "default"}
USAGE = {"include_usage": True}


def test_raw_response_plain_as_langchain_uses_it(wire, otel):
    raw = sync_client(wire).chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    assert type(raw) is LegacyAPIResponse
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))  # ended before parse()
    completion = raw.parse()
    assert completion is raw.parse() and completion.usage.total_tokens == 13
    assert raw.headers["x-request-id"] == "req_wire000001"
    assert_hello_metrics(otel)


def test_raw_response_async(wire, otel):
    async def main():
        raw = await async_client(wire).chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
        return raw, raw.parse()

    raw, completion = asyncio.run(main())
    assert type(raw) is LegacyAPIResponse and completion.choices[0].message.content == "Hello!"
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))


def test_raw_response_stream(wire, otel):
    raw = sync_client(wire).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=HELLO, stream=True, stream_options=USAGE)
    assert isinstance(raw, LegacyAPIResponse) and raw.http_response.status_code == 200
    stream = raw.parse()
    assert isinstance(stream, openai.Stream) and stream.response is raw.http_response
    assert otel.spans() == []
    assert len(list(stream)) == 4
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))
    assert_hello_metrics(otel)


def test_raw_response_stream_async(wire, otel):
    async def main():
        raw = await async_client(wire).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options=USAGE)
        stream = raw.parse()
        assert isinstance(stream, openai.AsyncStream)
        return [c async for c in stream]

    assert len(asyncio.run(main())) == 4
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))


def test_raw_response_stream_never_parsed_ends_on_gc(wire, otel):
    raw = sync_client(wire).chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO,
                                                                      stream=True)
    raw.http_response.close()
    del raw
    gc.collect()
    span = otel.span()
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE
    assert s.LLM_COST_USD not in span.attributes


def test_streaming_response_plain_parse(wire, otel):
    client = sync_client(wire)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=HELLO) as response:
        assert isinstance(response, APIResponse)
        assert otel.spans() == []  # the body is not read yet
        completion = response.parse()
        assert completion.usage.total_tokens == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))
    assert_hello_metrics(otel)


def test_streaming_response_json_then_close(wire, otel):
    client = sync_client(wire)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=HELLO) as response:
        assert response.json()["usage"]["total_tokens"] == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))


def test_streaming_response_read_bytes_priced_at_close(wire, otel):
    client = sync_client(wire)
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=HELLO) as response:
        assert b'"usage"' in response.read()
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", **TIER))


def test_streaming_response_stream(wire, otel):
    client = sync_client(wire)
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options=USAGE) as response:
        stream = response.parse()
        assert isinstance(stream, openai.Stream)
        chunks = list(stream)
    assert chunks[-1].usage.total_tokens == 13
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001"))


def test_streaming_response_lines_unparsed_closed_without_usage(wire, otel):
    client = sync_client(wire)
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options=USAGE) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    span = otel.span()  # ended by the context manager's close
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE


def test_streaming_response_async_plain_and_stream(wire, otel):
    async def main():
        client = async_client(wire)
        async with client.chat.completions.with_streaming_response.create(
                model="gpt-4o", messages=HELLO) as response:
            assert isinstance(response, AsyncAPIResponse)
            first = await response.parse()
        async with client.chat.completions.with_streaming_response.create(
                model="gpt-4o", messages=HELLO, stream=True, stream_options=USAGE) as response:
            chunks = [c async for c in await response.parse()]
        return first, chunks

    first, chunks = asyncio.run(main())
    assert first.usage.total_tokens == 13 and chunks[-1].usage.total_tokens == 13
    assert [sp.attributes[s.LLM_COST_USD] for sp in otel.spans()] == ["0.00004", "0.00004"]


@needs_openai_responses
def test_raw_responses_api(wire, otel):
    raw = sync_client(wire).responses.with_raw_response.create(model="gpt-4o", input="hi there")
    assert raw.parse().output_text == "Hello!"
    assert otel.span().attributes[s.LLM_COST_USD] == "0.00004"
