"""Plain LangChain, no LangServe: ``with otel_llm_cost.session() as s`` around a chain.

``ChatOpenAI`` goes through the OpenAI SDK's ``with_raw_response`` and ``ChatAnthropic``
through the Anthropic SDK; both against the local wire server. ``s.cost`` must equal
the exact sum of the provider calls, and LangChain's own ``usage_metadata`` (which
reports the same calls) must not be added on top.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI

import otel_llm_cost
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.integrations.langserve import with_usage

from ._rag import GPT4O, SONNET, Expected, Telemetry, from_spans, from_wire


@pytest.fixture(scope="module")
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for inst in instrumentors:
        inst.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    yield tel
    for inst in instrumentors:
        inst.uninstrument()


@pytest.fixture
def fresh(wire, telemetry):
    telemetry.exporter.clear()
    return wire


def chat(kind: str, wire, streaming: bool) -> Any:
    if kind == "openai":
        return ChatOpenAI(model="gpt-4o", base_url=wire.openai_base_url, api_key="test", max_retries=0,
                          streaming=streaming, stream_usage=True,
                          http_async_client=httpx.AsyncClient())  # not the shared cached one
    return ChatAnthropic(model="claude-sonnet-4-20250514", base_url=wire.base_url, api_key="test",
                         max_retries=0, streaming=streaming)


def two_calls(model: Any, tag: str = "", seen: list | None = None) -> Any:
    """A chain that calls the model twice, the second on the first's answer.

    ``seen`` collects both answers (with LangChain's ``usage_metadata``).
    """
    def keep(message: AIMessage) -> AIMessage:
        if seen is not None:
            seen.append(message)
        return message

    return (model | RunnableLambda(keep) | RunnableLambda(lambda m: f"{tag} Say more about: {m.content}")
            | model | RunnableLambda(keep))


def check_session(s: Any, expected: Expected) -> None:
    assert s.usage.input_tokens == expected.input and s.usage.output_tokens == expected.output
    assert s.cost == expected.cost and isinstance(s.cost, Decimal)
    assert s.calls == expected.calls


def lc_usage(messages: list[AIMessage]) -> tuple[int, int]:
    """What LangChain itself reported: sum of usage_metadata."""
    return (sum(m.usage_metadata["input_tokens"] for m in messages),
            sum(m.usage_metadata["output_tokens"] for m in messages))


@pytest.mark.parametrize("kind,rates", [("openai", GPT4O), ("anthropic", SONNET)])
@pytest.mark.parametrize("streaming", [False, True])
def test_session_cost_of_a_chain_sync(fresh, telemetry, kind, rates, streaming):
    model = chat(kind, fresh, streaming)
    seen: list[AIMessage] = []
    with otel_llm_cost.session() as s:
        out = two_calls(model, seen=seen).invoke("What is OpenTelemetry good for?")
        seen.append(model.invoke("one more call in the same session"))
    assert out.content == "Hello!"
    expected = from_spans(telemetry.llm_spans())
    assert expected == from_wire(fresh.requests, rates)
    assert expected.calls == 3
    check_session(s, expected)
    # LangChain reported the same three calls in usage_metadata: the session holds
    # them once (from the spans), equal to LangChain's sum, not twice it. (Streamed,
    # ChatAnthropic's usage_metadata says 0 input tokens where the provider reported
    # them: only the output is comparable there — the span has the real number.)
    lc_in, lc_out = lc_usage(seen)
    assert lc_out == s.usage.output_tokens
    if not (kind == "anthropic" and streaming):
        assert lc_in == s.usage.input_tokens


@pytest.mark.parametrize("kind,rates", [("openai", GPT4O), ("anthropic", SONNET)])
def test_session_cost_of_a_streamed_chain(fresh, telemetry, kind, rates):
    model = chat(kind, fresh, streaming=True)
    chain = two_calls(model)
    with otel_llm_cost.session() as s:
        chunks = list(chain.stream("Stream me an answer please"))
    assert "".join(c.content for c in chunks if isinstance(c.content, str)) == "Hello!"
    expected = from_spans(telemetry.llm_spans())
    assert expected == from_wire(fresh.requests, rates) and expected.calls == 2
    check_session(s, expected)
    # The streamed chunks' usage_metadata add up to the last call's output alone
    # (LangChain's own figure, which the session does not add on top).
    last = telemetry.llm_spans()[-1].attributes
    final = sum(chunks[1:], chunks[0])
    assert final.usage_metadata["output_tokens"] == last["gen_ai.usage.output_tokens"]


@pytest.mark.parametrize("kind,rates", [("openai", GPT4O), ("anthropic", SONNET)])
def test_session_cost_async_and_concurrent_sessions(fresh, telemetry, kind, rates):
    model = chat(kind, fresh, streaming=False)

    async def one(tag: str, words: int) -> Any:
        async with otel_llm_cost.session() as s:
            await two_calls(model, tag).ainvoke(f"{tag} " + "word " * words)
            async for _ in model.astream(f"{tag} streamed"):
                pass
        return tag, s

    async def run():
        return await asyncio.gather(one("tag1x", 3), one("tag2x", 30))

    results = asyncio.run(run())
    for tag, s in results:
        own = [r for r in fresh.requests if tag in r.raw.decode()]
        assert len(own) == 3
        check_session(s, from_wire(own, rates))
    assert results[0][1].cost != results[1][1].cost
    assert from_spans(telemetry.llm_spans()) == from_wire(fresh.requests, rates)


def test_usage_message_metadata_is_not_counted_again(fresh, telemetry):
    """A model answer carrying usage_metadata passing through a chain adds nothing."""
    model = chat("openai", fresh, streaming=False)
    with otel_llm_cost.session() as s:
        message = model.invoke("hello there")
        # Feed LangChain's message (with its usage_metadata) through more runnables.
        RunnableLambda(lambda m: m).invoke(message)
        with_usage(RunnableLambda(lambda m: m)).invoke(message)
    assert message.usage_metadata["input_tokens"] == s.usage.input_tokens
    assert s.calls == 1
    check_session(s, from_spans(telemetry.llm_spans()))


def test_with_usage_inside_a_session_counts_once_in_each(fresh, telemetry):
    model = chat("openai", fresh, streaming=True)
    wrapped = with_usage(two_calls(model))
    with otel_llm_cost.session() as outer:
        wrapped.invoke("first")
        list(wrapped.stream("second"))
        wrapped.batch(["third", "fourth"])
    expected = from_spans(telemetry.llm_spans())
    assert expected.calls == 8
    check_session(outer, expected)
