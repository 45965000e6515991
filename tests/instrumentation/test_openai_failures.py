"""Failures: broken and abandoned streams, stream errors, HTTP errors, unknown models,
and our own errors kept away from the application."""

from __future__ import annotations

import asyncio
import gc
import logging
from decimal import Decimal

import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_llm_cost import semconv as s
from tests.sdk_versions import needs_openai_chat_helpers, needs_openai_responses
from tests.wire import Reply

from ._openai_expect import HELLO, assert_metrics, assert_span, async_client, sync_client

BASE = {s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai", s.GEN_AI_REQUEST_MODEL: "gpt-4o"}


def test_stream_broken_early_is_partial_and_estimated(wire, otel):
    wire.enqueue(Reply(text="one two three four"))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    for chunk in stream:
        if chunk.choices[0].delta.content:
            break
    stream.close()
    span = otel.span()
    assert span.attributes[s.LLM_COST_PARTIAL] is True
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == "estimated"
    # estimated: 9 prompt tokens, "one " = 2 tokens → 9 × 2.50 + 2 × 10.00 per 1M
    assert (span.attributes[s.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS],
            span.attributes[s.LLM_COST_USD]) == (9, 2, "0.0000425")
    assert span.status.status_code is StatusCode.UNSET


def test_stream_never_consumed_ends_on_gc(wire, otel):
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    assert otel.spans() == []
    del stream
    gc.collect()
    span = otel.span()
    assert span.attributes[s.LLM_COST_PARTIAL] is True
    assert (span.attributes[s.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (9, 0)


def test_async_stream_never_consumed_ends_on_close(wire, otel):
    async def main():
        stream = await async_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        await stream.close()

    asyncio.run(main())
    assert otel.span().attributes[s.LLM_COST_PARTIAL] is True


def test_mid_stream_error_event(wire, otel):
    wire.enqueue(Reply(text="one two three", fail_after_chunks=1, failure="error_event"))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[s.ERROR_TYPE] == "APIError"
    assert span.attributes[s.LLM_COST_PARTIAL] is True
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == "estimated"


@needs_openai_responses
def test_responses_error_event(wire, otel):
    wire.enqueue(Reply(text="one two three", fail_after_chunks=1, failure="error_event"))
    events = list(sync_client(wire).responses.create(model="gpt-4o", input="hi there", stream=True))
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[s.ERROR_TYPE] == "server_error"


def test_dropped_connection(wire, otel):
    wire.enqueue(Reply(text="one two three", fail_after_chunks=1, failure="drop"))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    with pytest.raises(Exception) as info:
        for _ in stream:
            pass
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[s.ERROR_TYPE] == type(info.value).__qualname__
    assert span.attributes[s.LLM_COST_PARTIAL] is True


@pytest.mark.parametrize(("status", "exc"), [(400, openai.BadRequestError), (429, openai.RateLimitError),
                                             (500, openai.InternalServerError)])
def test_http_errors(wire, otel, status, exc):
    wire.enqueue(Reply(status=status))
    with pytest.raises(exc) as info:
        sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert type(info.value) is exc
    assert_span(otel, {**BASE, s.SERVER_ADDRESS: "127.0.0.1", s.SERVER_PORT: wire.port,
                       s.ERROR_TYPE: exc.__qualname__, s.LLM_COST_STATUS: s.STATUS_NO_USAGE}, error=True)
    assert_metrics(otel, spend={}, inp=None, out=None, status=s.STATUS_NO_USAGE, error_type=exc.__qualname__)


def test_http_error_async(wire, otel):
    wire.enqueue(Reply(status=429))

    async def main():
        await async_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)

    with pytest.raises(openai.RateLimitError):
        asyncio.run(main())
    assert otel.span().attributes[s.ERROR_TYPE] == "RateLimitError"


def test_unknown_model_has_tokens_but_no_cost(wire, otel):
    sync_client(wire).chat.completions.create(model="my-private-model", messages=HELLO)
    assert_span(otel, {
        s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai",
        s.GEN_AI_REQUEST_MODEL: "my-private-model", s.SERVER_ADDRESS: "127.0.0.1", s.SERVER_PORT: wire.port,
        s.GEN_AI_RESPONSE_MODEL: "my-private-model", s.GEN_AI_RESPONSE_ID: "chatcmpl-wire000001",
        s.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",), s.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: "default",
        s.GEN_AI_USAGE_INPUT_TOKENS: 12, s.GEN_AI_USAGE_OUTPUT_TOKENS: 1, s.LLM_COST_USAGE_SOURCE: "reported",
        s.LLM_COST_STATUS: s.STATUS_UNKNOWN_MODEL}, name="chat my-private-model")
    assert_metrics(otel, model="my-private-model", spend={}, inp=12, out=1, status=s.STATUS_UNKNOWN_MODEL,
                   response_model="my-private-model")


def test_odd_stream_content_is_skipped_by_the_estimate(wire, otel):
    # A delta whose content is not a string (the SDK passes it through unvalidated):
    # the estimate skips it and counts the text around it; the app sees every chunk.
    wire.enqueue(Reply(chunks=["Hel", {"odd": 1}, "lo"]))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    contents = [c.choices[0].delta.content for c in stream]
    assert contents == ["", "Hel", {"odd": 1}, "lo", None]
    span = otel.span()
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED
    assert span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS] == 1  # "Hello"


def test_our_error_in_estimation_is_swallowed(wire, otel, caplog, monkeypatch):
    from otel_llm_cost.instrumentation import _openai_read

    def broken(*args, **kwargs):
        raise RuntimeError("estimator bug")

    monkeypatch.setattr(_openai_read, "estimate_openai", broken)
    wire.enqueue(Reply(chunks=["Hel", "lo"]))
    caplog.set_level(logging.ERROR, logger="otel_llm_cost")
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    assert [c.choices[0].delta.content for c in stream] == ["", "Hel", "lo", None]
    span = otel.span()
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE
    assert s.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert any("token estimation" in r.getMessage() for r in caplog.records)


@needs_openai_chat_helpers
def test_parse_cut_off_by_the_length_limit_still_costs_what_was_billed(wire, otel):
    # parse() raises LengthFinishReasonError for a `length` finish; the completion it
    # carries was billed, so the failed span keeps its usage and exact cost.
    import pydantic

    class Answer(pydantic.BaseModel):
        answer: str

    wire.enqueue(Reply(text='{"answer": "4', finish_reason="length"))
    with pytest.raises(openai.LengthFinishReasonError) as raised:
        sync_client(wire).chat.completions.parse(model="gpt-4o", messages=HELLO, response_format=Answer)
    usage = raised.value.completion.usage
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[s.ERROR_TYPE] == "LengthFinishReasonError"
    assert span.attributes[s.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert (span.attributes[s.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (
        usage.prompt_tokens, usage.completion_tokens)
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == "reported"
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_PRICED
    # gpt-4o: 2.50 / 10.00 USD per 1M tokens.
    expected = (Decimal(usage.prompt_tokens) * Decimal("2.50") + Decimal(usage.completion_tokens) * 10) / 10**6
    assert Decimal(span.attributes[s.LLM_COST_USD]) == expected
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
