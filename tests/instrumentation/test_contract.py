"""The provider contract, checked the same way for every provider.

Each provider module fills the same small contract (``instrumentation/_contract.py``);
this test holds every one of them to the same promises, with the real SDKs over the
wire server: the content switch follows one truth rule, content capture keeps text
parts only, ``uninstrument()`` silences even bound methods fetched before it, an API
error gives an ERROR span with ``error.type`` and the SDK's exception unchanged, and
every way a stream can end gives one span. A new provider is added to ``PROVIDERS``
(``tests/reliability/_harness.py``) and must pass all of it.
"""

from __future__ import annotations

import json
import logging

import pytest
from google.genai import types as genai_types

from otel_llm_cost import semconv as s
from tests.reliability._harness import (
    INSTRUMENTORS,
    MODELS,
    PROVIDERS,
    assert_cost_consistent,
    call,
    client,
    consume,
    describe_exc,
    our_spans,
)
from tests.wire import Reply

IMAGE_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
IMAGE_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def _call_with_image(provider: str, sdk):
    """A chat call whose prompt is a text part and an inline image part."""
    text = "describe this"
    if provider == "openai":
        content = [{"type": "text", "text": text},
                   {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{IMAGE_B64}"}}]
        return sdk.chat.completions.create(model=MODELS[provider], messages=[{"role": "user", "content": content}])
    if provider == "anthropic":
        content = [{"type": "text", "text": text},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE_B64}}]
        return sdk.messages.create(model=MODELS[provider], max_tokens=64,
                                   messages=[{"role": "user", "content": content}])
    if provider == "bedrock":
        content = [{"text": text}, {"image": {"format": "png", "source": {"bytes": IMAGE_BYTES}}}]
        return sdk.converse(modelId=MODELS[provider], messages=[{"role": "user", "content": content}])
    parts = [genai_types.Part(text=text), genai_types.Part.from_bytes(data=IMAGE_BYTES, mime_type="image/png")]
    return sdk.models.generate_content(model=MODELS[provider],
                                       contents=[genai_types.Content(role="user", parts=parts)])


def _bound_method(provider: str, sdk):
    """The SDK method an application may keep a reference to (LangChain does)."""
    if provider == "openai":
        return sdk.chat.completions.with_raw_response.create
    if provider == "anthropic":
        return sdk.messages.with_raw_response.create
    if provider == "bedrock":
        return sdk.converse
    return sdk.models.generate_content


def _call_bound(provider: str, method):
    if provider == "gemini":
        return method(model=MODELS[provider], contents="hi")
    if provider == "openai":
        return method(model=MODELS[provider], messages=[{"role": "user", "content": "hi"}])
    if provider == "bedrock":
        return method(modelId=MODELS[provider], messages=[{"role": "user", "content": [{"text": "hi"}]}])
    return method(model=MODELS[provider], max_tokens=16, messages=[{"role": "user", "content": "hi"}])


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("value", "captured"), [
    ("true", True), ("1", True), ("yes", True), (" ON ", True), ("TRUE", True),
    ("false", False), ("0", False), ("off", False), ("", False), (None, False),
])
def test_one_truth_rule_for_the_content_switch(wire, instrumented, monkeypatch, provider, value, captured):
    if value is None:
        monkeypatch.delenv(s.ENV_CAPTURE_CONTENT, raising=False)
    else:
        monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, value)
    inst = instrumented(INSTRUMENTORS[provider])
    wire.enqueue(Reply(text="hello back"))
    call(provider, client(provider, wire))
    attrs = inst.span().attributes
    assert (s.GEN_AI_INPUT_MESSAGES in attrs) is captured
    assert (s.GEN_AI_OUTPUT_MESSAGES in attrs) is captured


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_bad_switch_value_warns_and_keeps_content_off(wire, instrumented, monkeypatch, caplog, provider):
    bad = f"maybe-{provider}"  # the warning is given once per process and value
    monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, bad)
    caplog.set_level(logging.WARNING, logger="otel_llm_cost")
    inst = instrumented(INSTRUMENTORS[provider])
    wire.enqueue(Reply(text="hello back"))
    call(provider, client(provider, wire))
    assert s.GEN_AI_INPUT_MESSAGES not in inst.span().attributes
    assert any(s.ENV_CAPTURE_CONTENT in r.getMessage() and repr(bad) in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_content_capture_keeps_text_parts_only(wire, instrumented, monkeypatch, provider):
    monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, "true")
    inst = instrumented(INSTRUMENTORS[provider])
    wire.enqueue(Reply(text="a small image"))
    _call_with_image(provider, client(provider, wire))
    attrs = inst.span().attributes
    messages = json.loads(attrs[s.GEN_AI_INPUT_MESSAGES])
    assert messages == [{"role": "user", "parts": [{"type": "text", "content": "describe this"}]}]
    text = json.dumps(dict(attrs))
    assert IMAGE_B64[:16] not in text and "image/png" not in text
    assert json.loads(attrs[s.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": "a small image"}]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_content_is_off_by_default(wire, instrumented, monkeypatch, provider):
    monkeypatch.delenv(s.ENV_CAPTURE_CONTENT, raising=False)
    inst = instrumented(INSTRUMENTORS[provider])
    wire.enqueue(Reply(text="a small image"))
    _call_with_image(provider, client(provider, wire))
    text = json.dumps(dict(inst.span().attributes))
    assert "describe this" not in text and "a small image" not in text and IMAGE_B64[:16] not in text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_uninstrument_silences_methods_fetched_before_it(wire, instrumented, provider):
    inst = instrumented(INSTRUMENTORS[provider])
    sdk = client(provider, wire)
    method = _bound_method(provider, sdk)
    wire.enqueue(Reply(text="one"))
    _call_bound(provider, method)
    assert len(our_spans(inst)) == 1
    inst.uninstrument()
    wire.enqueue(Reply(text="two"))
    _call_bound(provider, method)
    wire.enqueue(Reply(text="three"))
    call(provider, sdk)
    assert len(our_spans(inst)) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_api_error_gives_an_error_span_and_the_sdks_exception(wire, instrumented, provider):
    sdk = client(provider, wire)
    # The same reply twice, request id included (SDKs such as anthropic >= 2.17 put it in
    # the message): the application must see exactly what the bare SDK raised.
    same = {"request-id": "req_wire_same", "x-request-id": "req_wire_same"}
    wire.enqueue(Reply(status=400, headers=same))
    with pytest.raises(Exception) as bare:
        call(provider, sdk)
    inst = instrumented(INSTRUMENTORS[provider])
    wire.enqueue(Reply(status=400, headers=same))
    with pytest.raises(Exception) as seen:
        call(provider, sdk)
    assert describe_exc(seen.value) == describe_exc(bare.value)
    span = inst.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[s.ERROR_TYPE] == type(seen.value).__qualname__
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("ending", ["exhausted", "closed_early", "dropped", "broken"])
def test_every_stream_ending_gives_one_span(wire, instrumented, provider, ending):
    inst = instrumented(INSTRUMENTORS[provider])
    sdk = client(provider, wire)
    if ending == "broken":
        wire.enqueue(Reply(text="a b c d e", fail_after_chunks=2, failure="drop"))
    else:
        wire.enqueue(Reply(text="a b c d e"))
    stream = call(provider, sdk, stream=True)
    if ending in ("exhausted", "broken"):
        consume(stream)
    elif ending == "closed_early":
        iterator = iter(stream)
        next(iterator)
        getattr(stream, "close", getattr(iterator, "close", None))()
    else:
        next(iter(stream))
        del stream
        import gc

        gc.collect()
    spans = our_spans(inst)
    assert len(spans) == 1, [sp.name for sp in spans]
    attrs = spans[0].attributes
    assert_cost_consistent(spans[0])
    assert (attrs.get(s.LLM_COST_PARTIAL) is True) is (ending != "exhausted")
