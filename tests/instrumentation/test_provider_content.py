"""Opt-in message content on Anthropic and Gemini spans: absent by default, exact when on."""

from __future__ import annotations

import json

import pytest

from otel_llm_cost import semconv as A
from tests.wire import Reply

from ._provider_fixtures import (  # noqa: F401 - fixtures
    SONNET,
    anthropic_client,
    anthropic_on,
    capture_on,
    gemini_client,
    gemini_on,
    otel,
)

SECRET_PROMPT = "tell me the launch codes"
ANSWER = "never going to happen"


def _anthropic_calls(wire) -> None:
    client = anthropic_client(wire)
    messages = [{"role": "user", "content": [{"type": "text", "text": SECRET_PROMPT}]}]
    wire.enqueue(Reply(text=ANSWER))
    client.messages.create(model=SONNET, max_tokens=50, system="be terse", messages=messages)
    wire.enqueue(Reply(text=ANSWER))
    for _ in client.messages.create(model=SONNET, max_tokens=50, messages=messages, stream=True):
        pass
    wire.enqueue(Reply(text=ANSWER))
    with client.messages.stream(model=SONNET, max_tokens=50, messages=messages) as stream:
        stream.until_done()


def _all_text(spans) -> str:
    return " ".join(str(v) for s in spans for v in (s.attributes or {}).values())


def test_anthropic_content_absent_by_default(wire, anthropic_on):
    _anthropic_calls(wire)
    spans = anthropic_on.spans()
    assert len(spans) == 3
    text = _all_text(spans)
    assert SECRET_PROMPT not in text and ANSWER not in text
    assert not any(A.GEN_AI_INPUT_MESSAGES in s.attributes for s in spans)


def test_anthropic_content_when_capture_on(capture_on, wire, anthropic_on):
    _anthropic_calls(wire)
    spans = anthropic_on.spans()
    inputs = [json.loads(s.attributes[A.GEN_AI_INPUT_MESSAGES]) for s in spans]
    assert inputs[0] == [
        {"role": "system", "parts": [{"type": "text", "content": "be terse"}]},
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]},
    ]
    assert inputs[1] == inputs[2] == inputs[0][1:]
    for span in spans:  # plain, stream=True and the stream helper all record the answer
        [output] = json.loads(span.attributes[A.GEN_AI_OUTPUT_MESSAGES])
        assert output["role"] == "assistant"
        assert output["parts"] == [{"type": "text", "content": ANSWER}]
        assert output["finish_reason"] == "end_turn"


def _gemini_calls(wire) -> None:
    client = gemini_client(wire)  # kept alive: the Client closes its HTTP client when collected
    wire.enqueue(Reply(text=ANSWER))
    client.models.generate_content(model="gemini-2.0-flash", contents=SECRET_PROMPT)
    wire.enqueue(Reply(text=ANSWER))
    list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=[SECRET_PROMPT]))


def test_gemini_content_absent_by_default(wire, gemini_on):
    _gemini_calls(wire)
    spans = gemini_on.spans()
    assert len(spans) == 2
    text = _all_text(spans)
    assert SECRET_PROMPT not in text and ANSWER not in text


@pytest.mark.parametrize("index", [0, 1], ids=["plain", "stream"])
def test_gemini_content_when_capture_on(capture_on, wire, gemini_on, index):
    _gemini_calls(wire)
    attrs = gemini_on.spans()[index].attributes
    assert json.loads(attrs[A.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]}]
    [output] = json.loads(attrs[A.GEN_AI_OUTPUT_MESSAGES])
    assert output["parts"] == [{"type": "text", "content": ANSWER}]
    assert output["finish_reason"] == "stop"
