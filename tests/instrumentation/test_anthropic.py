"""The Anthropic instrumentation with the real ``anthropic`` SDK over HTTP (wire server)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import anthropic
import httpx2
import pytest
from anthropic import AnthropicBedrock
from anthropic._streaming import AsyncStream, Stream
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from opentelemetry.trace import StatusCode

from otel_llm_cost import semconv
from tests.wire import Reply

from ._provider_fixtures import (  # noqa: F401 - fixtures
    SONNET,
    USER,
    anthropic_client,
    anthropic_on,
    otel,
    sonnet_cost,
    usd,
)

A = semconv


def _create(client, **kw):
    return client.messages.create(model=SONNET, max_tokens=100, messages=USER, **kw)


def test_plain_create_exact_tokens_cost_and_metrics(wire, anthropic_on):
    wire.enqueue(Reply(text="a b c d"))
    message = _create(anthropic_client(wire))
    assert isinstance(message, anthropic.types.Message)
    span = anthropic_on.span()
    attrs = span.attributes
    assert span.name == f"chat {SONNET}"
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[A.GEN_AI_REQUEST_MAX_TOKENS] == 100
    assert attrs[A.GEN_AI_RESPONSE_ID] == message.id
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 4)
    assert attrs[A.LLM_COST_MODEL] == "claude-sonnet-4"
    assert usd(span) == sonnet_cost(13, 4) == Decimal("0.000099")
    assert anthropic_on.metric_sum(A.METRIC_SPEND) == pytest.approx(0.000099)


@pytest.mark.parametrize("stream", [False, True])
def test_cache_read_and_5m_1h_writes_priced_apart(wire, anthropic_on, stream):
    wire.enqueue(Reply(text="x y", usage={
        "input_tokens": 7, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 300,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}))
    result = _create(anthropic_client(wire), stream=stream)
    if stream:
        list(result)
    attrs = anthropic_on.span().attributes
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1307
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 300
    assert attrs[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 300  # the renamed attribute too
    assert attrs[A.LLM_COST_CACHE_CREATION_1H_TOKENS] == 200
    assert A.GEN_AI_USAGE_COST_AMOUNT not in attrs  # the proposed cost attributes are opt-in
    expected = sonnet_cost(7, 2, read=1000, write_5m=100, write_1h=200)
    assert usd(anthropic_on.span()) == expected
    assert expected == Decimal("0.001926")  # 21 + 30 + 300 + 375 + 1200 micro-USD


def test_stream_true_keeps_type_items_and_takes_latest_output(wire, anthropic_on):
    wire.enqueue(Reply(text="one two three four five"))
    stream = _create(anthropic_client(wire), stream=True)
    assert isinstance(stream, Stream)
    events = [e.type for e in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    attrs = anthropic_on.span().attributes
    # message_start said output 1, message_delta 5 (cumulative): 5, not 6.
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 5)
    assert A.LLM_COST_PARTIAL not in attrs
    assert usd(anthropic_on.span()) == sonnet_cost(13, 5)


@pytest.mark.parametrize("reader", ["text_stream", "get_final_message", "until_done", "iterate"])
def test_helper_stream_every_reader(wire, anthropic_on, reader):
    wire.enqueue(Reply(text="alpha beta gamma"))
    with anthropic_client(wire).messages.stream(model=SONNET, max_tokens=50, messages=USER) as stream:
        assert type(stream) is MessageStream
        if reader == "text_stream":
            assert "".join(stream.text_stream) == "alpha beta gamma"
        elif reader == "get_final_message":
            assert stream.get_final_message().usage.output_tokens == 3
        elif reader == "until_done":
            stream.until_done()
        else:
            assert [e.type for e in stream][-1] == "message_stop"
        assert stream.get_final_text() == "alpha beta gamma"
    span = anthropic_on.span()
    assert (span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
    assert usd(span) == sonnet_cost(13, 3)
    assert len(wire.requests) == 1


def test_helper_stream_left_unread_ends_partial(wire, anthropic_on):
    wire.enqueue(Reply(text="alpha beta gamma"))
    with anthropic_client(wire).messages.stream(model=SONNET, max_tokens=50, messages=USER):
        pass
    attrs = anthropic_on.span().attributes
    assert attrs[A.LLM_COST_PARTIAL] is True


def test_async_create_stream_and_helper(wire, anthropic_on):
    client = anthropic_client(wire, is_async=True)

    async def run():
        wire.enqueue(Reply(text="a b"))
        await client.messages.create(model=SONNET, max_tokens=10, messages=USER)
        wire.enqueue(Reply(text="a b c"))
        stream = await client.messages.create(model=SONNET, max_tokens=10, messages=USER, stream=True)
        assert isinstance(stream, AsyncStream)
        assert [e.type async for e in stream][-1] == "message_stop"
        wire.enqueue(Reply(text="a b c d"))
        async with client.messages.stream(model=SONNET, max_tokens=10, messages=USER) as helper:
            assert type(helper) is AsyncMessageStream
            assert "".join([t async for t in helper.text_stream]) == "a b c d"
            assert (await helper.get_final_message()).usage.output_tokens == 4

    asyncio.run(run())
    spans = anthropic_on.spans()
    assert [s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans] == [2, 3, 4]
    assert [usd(s) for s in spans] == [sonnet_cost(13, n) for n in (2, 3, 4)]


def test_thinking_billed_as_output(wire, anthropic_on):
    wire.enqueue(Reply(text="answer", thinking="let me think hard"))
    message = _create(anthropic_client(wire), thinking={"type": "enabled", "budget_tokens": 1024})
    assert message.content[0].type == "thinking"
    assert anthropic_on.span().attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 5  # 4 thinking + 1 text
    assert usd(anthropic_on.span()) == sonnet_cost(13, 5)


def test_early_break_ends_span_partial_with_reported_input(wire, anthropic_on):
    wire.enqueue(Reply(text="w1 w2 w3 w4 w5 w6"))
    stream = _create(anthropic_client(wire), stream=True)
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    attrs = anthropic_on.span().attributes
    assert attrs[A.LLM_COST_PARTIAL] is True
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 13  # from message_start


@pytest.mark.parametrize("failure, error", [("error_event", anthropic.APIStatusError),
                                            ("drop", (httpx2.HTTPError, anthropic.APIError))])
def test_mid_stream_failure_marks_error(wire, anthropic_on, failure, error):
    wire.enqueue(Reply(text="a b c d", fail_after_chunks=2, failure=failure))
    stream = _create(anthropic_client(wire), stream=True)
    seen = []
    with pytest.raises(error):
        for event in stream:
            seen.append(event.type)
    assert seen.count("content_block_delta") == 2
    span = anthropic_on.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.ERROR_TYPE]
    assert span.attributes[A.LLM_COST_PARTIAL] is True


def test_http_error_raises_the_sdk_exception_unchanged(wire, anthropic_on):
    wire.enqueue(Reply(status=429))
    with pytest.raises(anthropic.RateLimitError) as info:
        _create(anthropic_client(wire))
    assert info.value.status_code == 429
    span = anthropic_on.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[A.ERROR_TYPE] == "RateLimitError"
    assert span.attributes[A.LLM_COST_STATUS] == A.STATUS_NO_USAGE


def test_helper_stream_http_error(wire, anthropic_on):
    wire.enqueue(Reply(status=529))
    # The base class: 529 is an ``InternalServerError`` in later SDKs, not in anthropic 1.0.
    with pytest.raises(anthropic.APIStatusError) as info:
        with anthropic_client(wire).messages.stream(model=SONNET, max_tokens=5, messages=USER):
            pass
    assert info.value.status_code == 529
    assert anthropic_on.span().status.status_code is StatusCode.ERROR


def test_with_raw_response_plain_and_streamed(wire, anthropic_on):
    client = anthropic_client(wire)
    wire.enqueue(Reply(text="a b"))
    raw = client.messages.with_raw_response.create(model=SONNET, max_tokens=5, messages=USER)
    assert raw.headers["request-id"].startswith("req_wire")
    assert raw.parse().usage.output_tokens == 2
    wire.enqueue(Reply(text="a b c"))
    raw = client.messages.with_raw_response.create(model=SONNET, max_tokens=5, messages=USER, stream=True)
    stream = raw.parse()
    assert stream is raw.parse()
    assert [e.type for e in stream][-1] == "message_stop"
    assert [s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in anthropic_on.spans()] == [2, 3]


def test_async_raw_and_streaming_responses(wire, anthropic_on):
    """The async client's raw responses have an awaitable parse(): read when awaited."""
    client = anthropic_client(wire, is_async=True)

    async def run():
        wire.enqueue(Reply(text="a b"))
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=5, messages=USER)
        assert (await raw.parse()).usage.output_tokens == 2
        wire.enqueue(Reply(text="a b c"))
        raw = await client.messages.with_raw_response.create(
            model=SONNET, max_tokens=5, messages=USER, stream=True)
        assert [e.type async for e in await raw.parse()][-1] == "message_stop"
        wire.enqueue(Reply(text="a b c d"))
        async with client.messages.with_streaming_response.create(
                model=SONNET, max_tokens=5, messages=USER) as response:
            assert (await response.parse()).usage.output_tokens == 4

    asyncio.run(run())
    spans = anthropic_on.spans()
    assert [s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans] == [2, 3, 4]
    assert [usd(s) for s in spans] == [sonnet_cost(13, n) for n in (2, 3, 4)]


def test_beta_messages_and_parse(wire, anthropic_on):
    from pydantic import BaseModel

    class Answer(BaseModel):
        value: int

    client = anthropic_client(wire)
    wire.enqueue(Reply(text="a b c"))
    beta = client.beta.messages.create(model=SONNET, max_tokens=5, messages=USER)
    assert type(beta).__name__ == "BetaMessage"
    wire.enqueue(Reply(text="z", chunks=["z"]))
    with client.beta.messages.stream(model=SONNET, max_tokens=5, messages=USER) as stream:
        stream.until_done()
    wire.enqueue(Reply(text='{"value": 7}', chunks=['{"value": 7}']))
    parsed = client.messages.parse(model=SONNET, max_tokens=5, messages=USER, output_format=Answer)
    assert parsed.parsed_output == Answer(value=7)
    spans = anthropic_on.spans()
    assert [s.attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in spans] == [3, 1, 1]
    assert all(s.attributes[A.LLM_COST_STATUS] == A.STATUS_PRICED for s in spans)


def test_bedrock_client_is_provider_aws_bedrock(wire, anthropic_on):
    client = AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b",
                              base_url=wire.base_url, max_retries=0)
    wire.enqueue(Reply(text="a b c"))
    client.messages.create(model="us.anthropic.claude-sonnet-4-20250514-v1:0", max_tokens=5, messages=USER)
    assert wire.last_request.path == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke"
    attrs = anthropic_on.span().attributes
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == "us.anthropic.claude-sonnet-4-20250514-v1:0"
    assert attrs[A.LLM_COST_STATUS] == A.STATUS_PRICED  # the inference profile resolves to sonnet 4


def test_uninstrument_stops_tracing(wire, otel):
    from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor

    inst = AnthropicInstrumentor()
    inst.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    inst.uninstrument()
    _create(anthropic_client(wire))
    assert otel.spans() == []
