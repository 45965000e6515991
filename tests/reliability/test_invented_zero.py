"""A usage block whose input and output counts are null but which carries a zero cache
or thoughts count says nothing about the call's size: it must read as unknown
(``no_usage``, or OpenAI's estimate, marked ``estimated``) — never ``$0`` priced as
``reported``. Through the real SDKs (boto3 for Bedrock), JSON and streamed."""

from __future__ import annotations

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.usage import Usage
from tests.wire import Reply

from ._harness import (
    PROVIDERS,
    assert_cost_consistent,
    bare_then_instrumented,
    call,
    client,
    consume,
    our_spans,
    outcome,
)

#: Null input/output, a zero sub-count, in each provider's wire names.
ZERO_PARTS = {
    "openai": {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None,
               "prompt_tokens_details": {"cached_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 0}},
    "anthropic": {"input_tokens": None, "output_tokens": None, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0},
    "gemini": {"promptTokenCount": None, "candidatesTokenCount": None, "thoughtsTokenCount": 0,
               "cachedContentTokenCount": 0},
    "bedrock": {"inputTokens": None, "outputTokens": None, "totalTokens": None, "cacheReadInputTokens": 0,
                "cacheWriteInputTokens": 0},
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_null_counts_with_a_zero_part_are_not_a_priced_zero(wire, instrumented, provider, stream):
    sdk = client(provider, wire)
    replies = [Reply(text="a b c", usage=ZERO_PARTS[provider], include_usage_in_stream=True)]

    def scenario():
        if stream:
            return consume(call(provider, sdk, stream=True))
        return outcome(lambda: call(provider, sdk))

    inst, _, _ = bare_then_instrumented(wire, instrumented, provider, replies, scenario)
    [span] = our_spans(inst)
    assert_cost_consistent(span)
    attrs = span.attributes
    assert attrs.get(s.LLM_COST_USAGE_SOURCE) != s.SOURCE_REPORTED
    if provider == "openai":  # OpenAI may fall back to counting the text itself, and says so
        assert attrs[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE or attrs[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_ESTIMATED
    else:
        assert attrs[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE and s.LLM_COST_USD not in attrs


@pytest.mark.parametrize(("reader", "block"), [
    (Usage.from_anthropic, {"input_tokens": None, "output_tokens": None, "cache_read_input_tokens": 0}),
    (Usage.from_anthropic, {"cache_creation": {"ephemeral_5m_input_tokens": 0}}),
    (Usage.from_gemini, {"thoughts_token_count": 0}),
    (Usage.from_gemini, {"prompt_token_count": None, "cached_content_token_count": 0}),
    (Usage.from_openai, {"prompt_tokens": None, "prompt_tokens_details": {"cached_tokens": 0}}),
    (Usage.from_bedrock, {"inputTokens": None, "cacheReadInputTokens": 0}),
])
def test_readers_return_unknown_for_a_part_without_a_whole(reader, block):
    assert reader(block) is None


def test_a_real_zero_count_is_still_reported():
    assert Usage.from_anthropic({"input_tokens": 0, "output_tokens": 0}) == Usage(0, 0)
    assert Usage.from_gemini({"prompt_token_count": 7, "thoughts_token_count": 0}) == Usage(7, 0)
