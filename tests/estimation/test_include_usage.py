"""What adding ``stream_options.include_usage`` by default would break, measured.

The usage arrives in one extra chunk whose ``choices`` is empty. The SDK's own
helpers (``chat.completions.stream()``, sync and async) handle it; application code
that reads ``chunk.choices[0]`` on every chunk — the pattern of OpenAI's own
streaming examples — raises ``IndexError`` on it. That is why the injection stays
opt-in (docs/estimation.md) and estimation covers the default.
"""
import asyncio

import pytest

from otel_llm_cost import config
from otel_llm_cost import semconv as s
from tests.instrumentation._openai_expect import HELLO, async_client, sync_client
from tests.wire import Reply


@pytest.fixture
def opted_in(instrumented, monkeypatch):
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    monkeypatch.setenv(s.ENV_INCLUDE_USAGE, "true")
    return instrumented(OpenAIInstrumentor)


def test_default_is_off_and_the_request_is_untouched(wire, otel):
    assert config.load().openai_include_usage is False
    wire.enqueue(Reply(text="Hello there"))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    assert [c.choices[0].delta.content for c in stream] == ["", "Hello ", "there", None]
    assert "stream_options" not in wire.requests[-1].body
    assert otel.span().attributes[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED


def test_opt_in_breaks_code_that_indexes_every_chunk(wire, opted_in):
    wire.enqueue(Reply(text="Hello there"))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
    seen = []
    with pytest.raises(IndexError):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["", "Hello ", "there", None]  # then the usage chunk: choices == []


def test_opt_in_is_harmless_to_the_sdk_stream_helpers(wire, opted_in):
    wire.enqueue(Reply(text="Hello there"))
    with sync_client(wire).chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()
    assert deltas == ["", "Hello ", "there"] and final.usage is not None
    assert opted_in.span().attributes[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_REPORTED

    wire.enqueue(Reply(text="Hello there"))

    async def main():
        async with async_client(wire).chat.completions.stream(model="gpt-4o", messages=HELLO) as stream:
            return [e.type async for e in stream]

    types = asyncio.run(main())
    # The usage chunk surfaces as one more plain "chunk" event, after content.done.
    assert types[-2:] == ["content.done", "chunk"]
    assert wire.requests[-1].body["stream_options"] == {"include_usage": True}
