"""The demo's built-in simulator speaks wire formats the real SDKs accept, usage included."""

from __future__ import annotations

import anthropic
import openai
import pytest

from otel_llm_cost._simulator import Simulator


@pytest.fixture
def sim():
    with Simulator() as server:
        yield server


def test_openai_chat_and_stream_with_automatic_cache(sim: Simulator) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)
    messages = [{"role": "system", "content": "one two three four"}, {"role": "user", "content": "hi there"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert first.model == "gpt-4o" and "simulator" in first.choices[0].message.content
    # 10 overhead + system (4 words + 4) + user (2 words + 4)
    assert (first.usage.prompt_tokens, first.usage.prompt_tokens_details.cached_tokens) == (24, 0)
    assert first.usage.completion_tokens == len(first.choices[0].message.content.split())
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == first.choices[0].message.content
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.prompt_tokens_details.cached_tokens) == (24, 8)


def test_anthropic_message_and_stream_with_marked_cache(sim: Simulator) -> None:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="x", max_retries=0)
    system = [{"type": "text", "text": "one two three four", "cache_control": {"type": "ephemeral"}}]
    kwargs = {"model": "claude-sonnet-4-6", "max_tokens": 50, "system": system,
              "messages": [{"role": "user", "content": "hi there"}]}
    first = client.messages.create(**kwargs)
    assert (first.usage.input_tokens, first.usage.cache_creation_input_tokens,
            first.usage.cache_read_input_tokens) == (16, 8, 0)  # Anthropic: input excludes cache
    with client.messages.stream(**kwargs) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == first.content[0].text
    assert (final.usage.input_tokens, final.usage.cache_creation_input_tokens,
            final.usage.cache_read_input_tokens, final.usage.output_tokens) == (
        16, 0, 8, first.usage.output_tokens)
