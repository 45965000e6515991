"""The real ``openai`` SDK over the wire server, with no usage in the answer: the span's
estimated tokens equal OpenAI's published counts for the same requests.

Input figures are the ``prompt_tokens`` the API returned for the openai-cookbook's
examples (124 / 129 for its conversation, 101 / 105 with its weather tool) and the
vision guide's image examples; output figures are the generated text counted with
the model's tokenizer.
"""
import asyncio
import json
import math

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.tokens import count_tokens
from tests.core.test_tokens_openai import (
    COOKBOOK_MESSAGES,
    COOKBOOK_TOOL_MESSAGES,
    COOKBOOK_TOOLS,
    data_url,
    png,
)
from tests.instrumentation._openai_expect import async_client, sync_client
from tests.wire import Reply

ANSWER = "Things are moving too late to do everything for the client."


def estimated(span):
    attrs = span.attributes
    assert attrs[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED
    return attrs[s.GEN_AI_USAGE_INPUT_TOKENS], attrs[s.GEN_AI_USAGE_OUTPUT_TOKENS]


@pytest.mark.parametrize("model,api_prompt_tokens", [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129)])
def test_cookbook_conversation_streamed(wire, otel, model, api_prompt_tokens):
    wire.enqueue(Reply(text=ANSWER))
    stream = sync_client(wire).chat.completions.create(model=model, messages=COOKBOOK_MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == ANSWER
    span = otel.span()
    assert estimated(span) == (api_prompt_tokens, count_tokens(ANSWER, model))
    assert s.LLM_COST_ESTIMATE not in span.attributes
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_PRICED


@pytest.mark.parametrize("model,api_prompt_tokens", [("gpt-4o", 101), ("gpt-4", 105)])
def test_cookbook_tools_streamed_tool_call(wire, otel, model, api_prompt_tokens):
    # One call's arguments come back as the model wrote them, compact (re-spaced ones were
    # unwrapped from a parallel call: a floor, see test_rules).
    arguments = json.dumps({"location": "San Francisco, CA", "unit": "fahrenheit"}, separators=(",", ":"))
    wire.enqueue(Reply(text="", chunks=[], tool_calls=[{"name": "get_current_weather", "arguments": arguments}]))

    async def main():
        stream = await async_client(wire).chat.completions.create(
            model=model, messages=COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS, stream=True)
        return [tc async for c in stream for tc in (c.choices[0].delta.tool_calls or [])]

    calls = asyncio.run(main())
    assert calls[0].function.name == "get_current_weather"
    frame = 4 if model == "gpt-4" else 7  # the framing of one call (4 on the first function-calling models)
    out = count_tokens("get_current_weather", model) + count_tokens(arguments, model) + frame
    assert estimated(otel.span()) == (api_prompt_tokens, out)


def test_sdk_stream_helper_with_tools(wire, otel):
    wire.enqueue(Reply(text="", chunks=[], tool_calls=[{"name": "get_current_weather",
                                                        "arguments": '{"location":"Paris"}'}]))
    with sync_client(wire).chat.completions.stream(model="gpt-4o", messages=COOKBOOK_TOOL_MESSAGES,
                                                   tools=COOKBOOK_TOOLS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.name == "get_current_weather"
    out = count_tokens("get_current_weather", "gpt-4o") + count_tokens('{"location":"Paris"}', "gpt-4o") + 7
    assert estimated(otel.span()) == (101, out)


def test_image_from_a_data_url_counts_by_the_tile_rule(wire, otel):
    wire.enqueue(Reply(text="A cat."))
    content = [{"type": "text", "text": "What is in this image?"},
               {"type": "image_url", "image_url": {"url": data_url(png(2048, 4096)), "detail": "high"}}]
    stream = sync_client(wire).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], stream=True)
    list(stream)
    text = 3 + 3 + count_tokens("user", "gpt-4o") + count_tokens("What is in this image?", "gpt-4o")
    span = otel.span()
    assert estimated(span) == (text + 1105, count_tokens("A cat.", "gpt-4o"))  # vision guide: 2048x4096 -> 1105
    assert s.LLM_COST_ESTIMATE not in span.attributes


def test_image_by_url_is_a_floor_and_never_fetched(wire, otel):
    wire.enqueue(Reply(text="A cat."))
    content = [{"type": "text", "text": "What is in this image?"},
               {"type": "image_url", "image_url": {"url": wire.openai_base_url + "/cat.png"}}]
    list(sync_client(wire).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}], stream=True))
    text = 3 + 3 + count_tokens("user", "gpt-4o") + count_tokens("What is in this image?", "gpt-4o")
    span = otel.span()
    # One tile, the minimum of a high/auto image; a floor is shaded 5 % down.
    assert estimated(span)[0] == math.floor((text + 255) * 0.95)
    assert span.attributes[s.LLM_COST_ESTIMATE] == s.ESTIMATE_LOWER_BOUND
    assert [r.path for r in wire.requests] == ["/v1/chat/completions"]


def test_reasoning_model_is_marked_a_lower_bound(wire, otel):
    wire.enqueue(Reply(text="42"))
    list(sync_client(wire).chat.completions.create(
        model="o3-mini", messages=[{"role": "user", "content": "6 * 7?"}], stream=True))
    span = otel.span()
    # 3 per message, 1 for the role, the text; a reasoning model after o1 primes with 2.
    assert estimated(span) == (math.floor((3 + 1 + count_tokens("6 * 7?", "o3-mini") + 2) * 0.95), 1)
    assert span.attributes[s.LLM_COST_ESTIMATE] == s.ESTIMATE_LOWER_BOUND


def test_non_stream_without_usage_counts_tool_calls(wire, otel):
    wire.enqueue(Reply(text="", tool_calls=[{"name": "get_current_weather", "arguments": '{"location":"Paris"}'}],
                       omit_usage=True))
    sync_client(wire).chat.completions.create(model="gpt-4o", messages=COOKBOOK_TOOL_MESSAGES, tools=COOKBOOK_TOOLS)
    out = count_tokens("get_current_weather", "gpt-4o") + count_tokens('{"location":"Paris"}', "gpt-4o") + 7
    assert estimated(otel.span()) == (101, out)


def test_responses_stream_without_usage(wire, otel):
    wire.enqueue(Reply(text="Checking.", tool_calls=[{"name": "get_current_weather", "arguments": {"location": "SF"}}],
                       omit_usage=True))
    flat = [{"type": "function", **COOKBOOK_TOOLS[0]["function"]}]
    events = list(sync_client(wire).responses.create(model="gpt-4o", input=COOKBOOK_TOOL_MESSAGES, tools=flat,
                                                     stream=True))
    assert events[-1].type == "response.completed"
    out = sum(count_tokens(t, "gpt-4o") for t in ("Checking.", "get_current_weather", '{"location": "SF"}'))
    assert estimated(otel.span()) == (101, out)


def test_legacy_completion_without_usage(wire, otel):
    wire.enqueue(Reply(text="Hello there", omit_usage=True))
    sync_client(wire).completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hello")
    assert estimated(otel.span()) == (count_tokens("Say hello", "gpt-3.5-turbo-instruct"),
                                      count_tokens("Hello there", "gpt-3.5-turbo-instruct"))


def test_lower_bound_reaches_metrics_and_the_session_summary(wire, otel):
    import otel_llm_cost

    wire.enqueue(Reply(text="42"))
    wire.enqueue(Reply(text="Hello there"))
    client = sync_client(wire)
    with otel_llm_cost.session("floor-demo") as scope:
        list(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                            stream=True))
        assert not scope.summary().lower_bound
        list(client.chat.completions.create(model="o3-mini", messages=[{"role": "user", "content": "6 * 7?"}],
                                            stream=True))
        summary = scope.summary()
    assert summary.lower_bound and summary.as_dict()["lower_bound"] is True
    assert summary.estimated_calls == 2
    floors = {attrs[s.GEN_AI_REQUEST_MODEL]: attrs.get(s.LLM_COST_ESTIMATE)
              for name, _, attrs, _ in otel.metric_points() if name == s.METRIC_OPERATION_DURATION}
    assert floors == {"gpt-4o": None, "o3-mini": s.ESTIMATE_LOWER_BOUND}


def test_instrumenting_starts_the_vocabulary_preload(instrumented, monkeypatch):
    from otel_llm_cost import tokens
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    started = []
    monkeypatch.setattr(tokens, "preload", lambda *a, **k: started.append(True))
    instrumented(OpenAIInstrumentor)
    assert started == [True]


@pytest.mark.parametrize("n_chunks", [3, 255, 256, 257, 700])
def test_a_long_stream_is_counted_whole_across_its_folds(wire, otel, n_chunks):
    """Chunks are read in batches (see ``ChatAccumulator``): the estimate of a stream of
    any length is the count of its whole text, across batch edges, as one text."""
    chunks = [f"word{i} " if i % 3 else "ab" for i in range(n_chunks)]  # some tokens span two chunks
    wire.enqueue(Reply(text="".join(chunks), chunks=chunks))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=COOKBOOK_MESSAGES, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "".join(chunks)
    assert estimated(otel.span()) == (124, count_tokens("".join(chunks), "gpt-4o"))


def test_a_stream_closed_early_is_estimated_from_what_was_read(wire, otel):
    """A stream left after 300 of its 600 chunks ends its span with what it delivered."""
    chunks = [f"w{i} " for i in range(600)]
    wire.enqueue(Reply(text="".join(chunks), chunks=chunks))
    stream = sync_client(wire).chat.completions.create(model="gpt-4o", messages=COOKBOOK_MESSAGES, stream=True)
    read = []
    for chunk in stream:
        read.append(chunk.choices[0].delta.content or "")
        if len(read) == 301:  # the role chunk, then 300 of text
            break
    stream.close()
    span = otel.span()
    assert span.attributes[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED
    assert span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("".join(read), "gpt-4o")
