"""A session around real openai SDK calls (sync, async, streamed) over HTTP to the wire server."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import openai
import pytest

import otel_llm_cost
from otel_llm_cost import BudgetExceeded, semconv
from otel_llm_cost.sessions._reserve import worst_case
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

MESSAGES = [{"role": "user", "content": "one two three four five"}]  # 10 + 5 = 15 input tokens
# gpt-4o-mini: 0.15 USD / 1M input, 0.60 USD / 1M output.
MODEL = "gpt-4o-mini"


def _cost(input_tokens: int, output_tokens: int) -> Decimal:
    return Decimal(input_tokens) * Decimal("0.15") / 10**6 + Decimal(output_tokens) * Decimal("0.6") / 10**6


@pytest.fixture
def clients(otel, wire):
    with instrumented_openai(otel.tracer_provider, otel.meter_provider):
        yield (openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0),
               openai.AsyncOpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0))


def test_session_spans_sync_async_and_streaming_calls(otel, wire, clients):
    client, aclient = clients
    wire.enqueue_many([Reply(text="a b c"), Reply(text="d e f g"), Reply(text="h i"), Reply(text="j k l m n")])

    async def async_part():
        await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        return [c async for c in stream]

    with otel_llm_cost.session(session_id="agent-run", user_id="frank", end=False) as s:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)            # 15 in, 3 out
        assert s.cost == _cost(15, 3)
        asyncio.run(async_part())                                                # 15/4 and 15/2
        stream = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        assert s.calls == 3  # the stream's span ends when it is consumed
        chunks = list(stream)                                                     # 15 in, 5 out
        assert s.calls == 4
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "j k l m n"
    summary = otel_llm_cost.end_session("agent-run")
    assert summary.calls == 4 and summary.unpriced_calls == 0
    assert summary.tokens["input"] == 60 and summary.tokens["output"] == 14
    assert summary.cost == _cost(60, 14) == Decimal("0.0000174")
    assert set(summary.by_model) == {MODEL}
    spans = otel.spans.get_finished_spans()
    assert len(spans) == 4
    assert {sp.attributes[semconv.SESSION_ID] for sp in spans} == {"agent-run"}
    assert sum(Decimal(sp.attributes[semconv.LLM_COST_USD]) for sp in spans) == summary.cost


def test_hard_budget_sends_no_request(otel, wire, clients):
    client, aclient = clients
    request = {"model": MODEL, "messages": MESSAGES, "max_tokens": 5}
    worst, source = worst_case(request)
    assert source == "max_tokens"
    # The first call's worst case fits; after its 0.0000039 the next one's does not.
    with otel_llm_cost.session(budget_usd=worst + Decimal("0.000002"), hard=True) as s:
        client.chat.completions.create(**request)
        sent = len(wire.requests)
        with pytest.raises(BudgetExceeded):
            client.chat.completions.create(**request)
        with pytest.raises(BudgetExceeded):
            asyncio.run(aclient.chat.completions.create(**request))
    assert sent == 1 and len(wire.requests) == 1
    assert s.calls == 1


def test_a_failed_call_counts_as_an_error_without_cost(otel, wire, clients):
    client, _ = clients
    wire.enqueue(Reply(status=500))
    with otel_llm_cost.session() as s:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        summary = otel_llm_cost.current_usage()
    # A 500 is not billed: the session's total is exactly 0, with the call counted as an error
    # (the budget rule and the ledger's report count it the same way).
    assert summary.errors == 1 and summary.calls == 1 and summary.unpriced_calls == 0
    assert summary.cost == 0 and summary.unpriced_reason is None
    assert s.priced_cost == 0 and s.cost == 0
