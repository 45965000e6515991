"""Hostile input: price files, model names and usage blocks built to break us.

A bad price file is logged and skipped whole (the bundled prices stay); a model name
of any size or content is traced and marked ``unknown_model``; a usage block of junk
never raises, and what the span reports is exactly priced or exactly marked unknown.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_llm_cost import semconv as s
from tests.wire import Reply

from ._harness import (
    PROVIDERS,
    assert_cost_consistent,
    bare_then_instrumented,
    call,
    client,
    our_spans,
    outcome,
    usd,
)

#: gpt-4o at the bundled price: 13 × 2.50 + 3 × 10.00 per 1M.
BUNDLED = "0.0000625"

HOSTILE_PRICE_FILES = {
    "wrong_types": json.dumps({"schema": 1, "models": {"gpt-4o": {"input": [1], "output": {"x": 1}}}}),
    "negative": json.dumps({"schema": 1, "models": {"gpt-4o": {"input": "-1", "output": "10"}}}),
    "huge_number": json.dumps({"schema": 1, "models": {"gpt-4o": {"input": "1e300", "output": "10"}}}),
    "huge_integer": '{"schema": 1, "models": {"gpt-4o": {"input": ' + "9" * 5000 + ', "output": "1"}}}',
    "nan_infinity": '{"schema": 1, "models": {"gpt-4o": {"input": NaN, "output": Infinity}}}',
    "unknown_keys": json.dumps({"schema": 1, "surprise": 1,
                                "models": {"gpt-4o": {"input": "1", "output": "2", "bonus": True}}}),
    "not_json": "{'models': ",
    "not_an_object": "[1, 2, 3]",
    "litellm_negative": json.dumps({"gpt-4o": {"input_cost_per_token": -1e-6, "output_cost_per_token": 1e-5}}),
}


def _price_file_case(wire, instrumented, monkeypatch, path: Path) -> object:
    monkeypatch.setenv(s.ENV_PRICES_FILE, str(path))
    sdk = client("openai", wire)
    inst, seen, _ = bare_then_instrumented(wire, instrumented, "openai", [Reply(text="a b c")],
                                           lambda: outcome(lambda: call("openai", sdk)))
    assert seen[0] == "returned"
    [span] = our_spans(inst)
    return span


@pytest.mark.parametrize("name", sorted(HOSTILE_PRICE_FILES))
def test_hostile_price_file_is_skipped_whole(wire, instrumented, monkeypatch, caplog, tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(HOSTILE_PRICE_FILES[name])
    caplog.set_level(logging.ERROR)
    span = _price_file_case(wire, instrumented, monkeypatch, path)
    assert span.attributes[s.LLM_COST_USD] == BUNDLED  # the bundled price, not the file's
    assert span.attributes[s.LLM_COST_CATALOG] == "2026.12.07"
    assert any(str(path) in r.getMessage() for r in caplog.records)  # … and the user is told why


def test_50mb_garbage_price_file_is_skipped(wire, instrumented, monkeypatch, tmp_path):
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * (50 * 1024 * 1024))  # 50 MB of nesting: the JSON parser's recursion limit
    assert _price_file_case(wire, instrumented, monkeypatch, path).attributes[s.LLM_COST_USD] == BUNDLED


def test_50mb_valid_price_file_is_used(wire, instrumented, monkeypatch, tmp_path):
    path = tmp_path / "big.json"
    padding = "x" * (50 * 1024 * 1024)
    path.write_text(json.dumps({"schema": 1, "notes": padding,
                                "models": {"gpt-4o": {"input": "1.00", "output": "2.00"}}}))
    assert path.stat().st_size > 50 * 1024 * 1024
    span = _price_file_case(wire, instrumented, monkeypatch, path)
    assert span.attributes[s.LLM_COST_USD] == "0.000019"  # 13 × 1 + 3 × 2 per 1M: the file's price


HOSTILE_MODELS = {
    "100kB": "gpt-4o-" + "x" * 100_000,
    "control_chars": "gpt-4o\x00\x07\x1b[31m\r\nInjected: yes",
    "unicode": "gpt-4o-\u202e\ufeff\U0001f4b8",
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("name", sorted(HOSTILE_MODELS))
def test_hostile_model_name(wire, instrumented, provider, name):
    sdk = client(provider, wire)
    model = HOSTILE_MODELS[name]
    inst, seen, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text="a b c")],
                                           lambda: outcome(lambda: call(provider, sdk, model=model)))
    [span] = our_spans(inst)
    assert span.attributes[s.LLM_COST_STATUS] in (s.STATUS_UNKNOWN_MODEL, s.STATUS_NO_USAGE)
    assert usd(span) is None
    assert_cost_consistent(span)


#: Usage blocks a broken gateway might send, in each provider's own field names.
JUNK = {"strings": "many", "negative": -5, "none": None, "float": 3.7, "bool": True, "list": [1],
        "huge": 2**70}
FIELDS = {
    "openai": ("prompt_tokens", "completion_tokens", "total_tokens"),
    "anthropic": ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"),
    "gemini": ("promptTokenCount", "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount"),
    "bedrock": ("inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens"),
}
DETAILS = {"openai": {"prompt_tokens_details": None, "completion_tokens_details": "?"},
           "anthropic": {"cache_creation": 7}, "gemini": {"cachedContentTokenCount": None},
           "bedrock": {"cacheWriteInputTokens": None}}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("junk", sorted(JUNK))
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_junk_usage_fields(wire, instrumented, provider, junk, stream):
    sdk = client(provider, wire)
    usage = {f: JUNK[junk] for f in FIELDS[provider]} | DETAILS[provider]
    replies = [Reply(text="a b c", usage=usage, include_usage_in_stream=True)]

    def scenario():
        if stream:
            from ._harness import consume

            return consume(call(provider, sdk, stream=True))
        return outcome(lambda: call(provider, sdk))

    inst, seen, _ = bare_then_instrumented(wire, instrumented, provider, replies, scenario)
    [span] = our_spans(inst)
    assert_cost_consistent(span)
    attrs = span.attributes
    for key in (s.GEN_AI_USAGE_INPUT_TOKENS, s.GEN_AI_USAGE_OUTPUT_TOKENS):
        if key in attrs:
            assert type(attrs[key]) is int and 0 <= attrs[key] < 2**63
    if junk in ("none", "strings", "list", "negative"):  # (the SDKs' pydantic reads True as 1)
        # Nothing usable was reported: unknown (or estimated, and said so), never a priced 0.
        assert attrs.get(s.LLM_COST_USAGE_SOURCE) != s.SOURCE_REPORTED
        assert attrs[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE or attrs[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED
    encode_spans([span])  # an int attribute past int64 would fail the OTLP export of the batch
