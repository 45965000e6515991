"""A stream created inside ``with session()`` and read after the block (the usual shape
of a streaming endpoint: the handler returns the stream, the server reads it later).

The call belongs to the session it was made in; so the session stays live until that
call has ended, and only then records its metrics and reports itself ended — with the
call in both.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import openai
import pytest

import otel_llm_cost
from otel_llm_cost import semconv
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

MESSAGES = [{"role": "user", "content": "one two three four five"}]  # 15 input tokens
MODEL = "gpt-4o-mini"
#: 15 input + 4 output tokens of gpt-4o-mini.
STREAM_COST = Decimal(15) * Decimal("0.15") / 10**6 + Decimal(4) * Decimal("0.6") / 10**6


@pytest.fixture
def clients(otel, wire):
    with instrumented_openai(otel.tracer_provider, otel.meter_provider):
        yield (openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0),
               openai.AsyncOpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0))


def _session_metrics(otel) -> tuple[float, int]:
    (_, _, cost), = otel.points(semconv.METRIC_SESSION_COST)
    (_, _, calls), = otel.points(semconv.METRIC_SESSION_CALLS)
    return cost.sum, calls.sum


def test_stream_read_after_the_block_ends_the_session_with_it(otel, wire, clients):
    client, _ = clients
    wire.enqueue(Reply(text="a b c d"))
    with otel_llm_cost.session("stream-1") as tally:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
    # The block is over, its call is not: the session is still live, nothing recorded yet.
    assert not tally.ended and otel.points(semconv.METRIC_SESSION_COST) == []
    chunks = list(stream)
    assert chunks
    summary = tally.summary()
    assert summary.ended and summary.calls == 1 and summary.cost == STREAM_COST
    assert _session_metrics(otel) == (pytest.approx(float(STREAM_COST)), 1)
    assert otel_llm_cost.end_session("stream-1") is None  # ended once, by its last call
    assert tally.summary() == summary  # the "ended" summary no longer changes


def test_async_stream_read_after_the_block(otel, wire, clients):
    _, aclient = clients
    wire.enqueue(Reply(text="a b c d"))

    async def handler():
        async with otel_llm_cost.session("stream-2") as tally:
            stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                           stream_options={"include_usage": True})
        return tally, stream

    async def serve():
        tally, stream = await handler()
        assert not tally.ended
        return tally, [c async for c in stream]

    tally, chunks = asyncio.run(serve())
    assert chunks and tally.ended and tally.calls == 1 and tally.cost == STREAM_COST
    assert _session_metrics(otel) == (pytest.approx(float(STREAM_COST)), 1)


def test_a_stream_closed_unread_still_ends_the_session(otel, wire, clients):
    client, _ = clients
    wire.enqueue(Reply(text="a b c d"))
    with otel_llm_cost.session("stream-3") as tally:
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    stream.close()
    assert tally.ended and tally.calls == 1


def test_calls_ended_inside_the_block_end_the_session_at_the_block(otel, wire, clients):
    client, _ = clients
    wire.enqueue(Reply(text="a b c d"))
    with otel_llm_cost.session("plain") as tally:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert tally.ended and tally.in_flight == 0
