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


def test_openai_stream_without_usage_and_embeddings(sim: Simulator) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                 messages=[{"role": "user", "content": "hi"}]))
    assert chunks and all(c.usage is None for c in chunks)  # no include_usage: no usage chunk
    floats = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"],
                                      encoding_format="float")
    packed = client.embeddings.create(model="text-embedding-3-small", input=["one two", "three"])  # base64
    assert [d.embedding for d in packed.data] == [pytest.approx(d.embedding) for d in floats.data]
    assert len(floats.data) == 2 and floats.data[0].embedding != floats.data[1].embedding
    assert (floats.usage.prompt_tokens, floats.usage.total_tokens) == (3, 3)


def test_gemini_generate_stream_and_embed(sim: Simulator) -> None:
    from google import genai

    client = genai.Client(api_key="x", http_options={"base_url": sim.gemini_base_url})
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="one two three")
    assert "simulator" in reply.text
    # 10 overhead + 3 words + 4 for the one content
    assert (reply.usage_metadata.prompt_token_count, reply.usage_metadata.candidates_token_count) == (
        17, len(reply.text.split()))
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="one two three"))
    assert "".join(c.text for c in chunks) == reply.text
    assert chunks[-1].usage_metadata.candidates_token_count == reply.usage_metadata.candidates_token_count
    embedded = client.models.embed_content(model="gemini-embedding-001", contents=["one two", "three"])
    assert len(embedded.embeddings) == 2


def test_errors_on_request_in_each_providers_format(sim: Simulator) -> None:
    from google import genai
    from google.genai import errors

    oai = openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.RateLimitError) as rate:
        oai.chat.completions.create(model="sim-error-429", messages=[{"role": "user", "content": "hi"}])
    assert rate.value.status_code == 429 and rate.value.type == "rate_limit_error"
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                    extra_headers={"x-simulator-status": "500"})
    ant = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as failed:
        ant.messages.create(model="claude-sonnet-4-6", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
                            extra_headers={"x-simulator-status": "500"})
    assert failed.value.body["error"]["type"] == "api_error"
    gem = genai.Client(api_key="x", http_options={"base_url": sim.gemini_base_url})
    with pytest.raises(errors.ClientError) as exhausted:
        gem.models.generate_content(model="sim-error-429", contents="hi")
    assert exhausted.value.code == 429 and exhausted.value.status == "RESOURCE_EXHAUSTED"
    # The SDK's retries see the same error and a short retry-after, then raise.
    retried = openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=1)
    with pytest.raises(openai.RateLimitError):
        retried.chat.completions.create(model="sim-error-429", messages=[{"role": "user", "content": "hi"}])


def test_openai_responses_plain_and_streamed(sim: Simulator) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="x", max_retries=0)
    first = client.responses.create(model="gpt-4o-mini", instructions="one two three four", input="hi there")
    assert "simulator" in first.output_text
    # 10 overhead + instructions (4 words + 4) + one input message (2 words + 4)
    assert (first.usage.input_tokens, first.usage.input_tokens_details.cached_tokens) == (24, 0)
    with client.responses.stream(model="gpt-4o-mini", instructions="one two three four", input="hi there") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == first.output_text == final.output_text
    assert (final.usage.input_tokens, final.usage.input_tokens_details.cached_tokens) == (24, 8)
