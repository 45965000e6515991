"""Provider usage conventions → one normalised Usage; malformed input never raises."""
import pytest
from anthropic.types import CacheCreation
from anthropic.types import Usage as AnthropicUsage
from google.genai.types import GenerateContentResponseUsageMetadata
from openai.types import CompletionUsage
from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails
from openai.types.responses import ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from otel_llm_cost import semconv
from otel_llm_cost.usage import MAX_TOKENS, Usage, to_int

# --- OpenAI ---------------------------------------------------------------------------

def test_openai_chat_sdk_type_cached_and_reasoning_are_subsets():
    sdk = CompletionUsage(
        prompt_tokens=2048, completion_tokens=500, total_tokens=2548,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1024),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=300),
    )
    u = Usage.from_openai(sdk)
    assert u == Usage(input_tokens=2048, output_tokens=500, cache_read_tokens=1024, reasoning_tokens=300)
    assert u.uncached_input_tokens == 1024
    assert u.total_tokens == 2548
    assert u.source == semconv.SOURCE_REPORTED and not u.estimated


def test_openai_chat_dict_and_sdk_agree():
    d = {"prompt_tokens": 2048, "completion_tokens": 500,
         "prompt_tokens_details": {"cached_tokens": 1024},
         "completion_tokens_details": {"reasoning_tokens": 300}}
    sdk = CompletionUsage(total_tokens=2548, **{k: v for k, v in d.items() if "details" not in k},
                          prompt_tokens_details=PromptTokensDetails(cached_tokens=1024),
                          completion_tokens_details=CompletionTokensDetails(reasoning_tokens=300))
    assert Usage.from_openai(d) == Usage.from_openai(sdk)


def test_openai_chat_without_details():
    u = Usage.from_openai(CompletionUsage(prompt_tokens=10, completion_tokens=3, total_tokens=13))
    assert u.as_dict() == {"input": 10, "output": 3, "cache_read": 0, "cache_write": 0,
                           "cache_write_1h": 0, "reasoning": 0}


def test_openai_responses_usage_sdk_and_dict():
    sdk = ResponseUsage(input_tokens=900, output_tokens=120, total_tokens=1020,
                        input_tokens_details=InputTokensDetails(cached_tokens=512, cache_write_tokens=0),
                        output_tokens_details=OutputTokensDetails(reasoning_tokens=64))
    want = Usage(input_tokens=900, output_tokens=120, cache_read_tokens=512, reasoning_tokens=64)
    assert Usage.from_openai(sdk) == want
    assert Usage.from_openai(sdk.model_dump()) == want


# --- Anthropic ------------------------------------------------------------------------

def test_anthropic_input_excludes_cache_so_it_is_added():
    sdk = AnthropicUsage(input_tokens=100, output_tokens=50, cache_read_input_tokens=4000,
                         cache_creation_input_tokens=1500)
    u = Usage.from_anthropic(sdk)
    assert u == Usage(input_tokens=5600, output_tokens=50, cache_read_tokens=4000, cache_write_tokens=1500)
    assert u.uncached_input_tokens == 100


def test_anthropic_5m_1h_split_sdk():
    sdk = AnthropicUsage(
        input_tokens=10, output_tokens=20, cache_read_input_tokens=0, cache_creation_input_tokens=3000,
        cache_creation=CacheCreation(ephemeral_5m_input_tokens=1000, ephemeral_1h_input_tokens=2000),
    )
    u = Usage.from_anthropic(sdk)
    assert (u.input_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (3010, 3000, 2000)


def test_anthropic_split_only_sums_both_ttls():
    u = Usage.from_anthropic({"input_tokens": 1, "output_tokens": 2,
                              "cache_creation": {"ephemeral_5m_input_tokens": 7,
                                                 "ephemeral_1h_input_tokens": 5}})
    assert (u.input_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (13, 12, 5)


def test_anthropic_1h_larger_than_total_write_is_clamped():
    u = Usage.from_anthropic({"input_tokens": 1, "output_tokens": 0, "cache_creation_input_tokens": 4,
                              "cache_creation": {"ephemeral_1h_input_tokens": 9}})
    assert (u.cache_write_tokens, u.cache_write_1h_tokens) == (4, 4)


# --- Gemini ---------------------------------------------------------------------------

def test_gemini_cached_is_subset_thoughts_on_top_of_candidates():
    sdk = GenerateContentResponseUsageMetadata(
        prompt_token_count=3000, cached_content_token_count=2048,
        candidates_token_count=200, thoughts_token_count=800, total_token_count=4000)
    u = Usage.from_gemini(sdk)
    assert u == Usage(input_tokens=3000, output_tokens=1000, cache_read_tokens=2048, reasoning_tokens=800)
    assert Usage.from_gemini(sdk.model_dump()) == u


def test_gemini_all_none_fields_is_unknown_not_zero():
    # A usage block with no usable count reports nothing: the cost is unknown (None),
    # not a priced zero (tests/reliability/test_hostile_inputs.py).
    assert Usage.from_gemini(GenerateContentResponseUsageMetadata()) is None


# --- span attributes ------------------------------------------------------------------

def test_span_attributes_round_trip_and_anthropic_span_convention():
    attrs = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 100, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 10,
             semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 40}
    assert Usage.from_span_attributes(attrs) == Usage(100, 10, 40)
    # anthropic 2.12's own spans already count the cache in gen_ai.usage.input_tokens
    # (anthropic/lib/_tracing/_response.py); only the cache-write name differs.
    assert Usage.from_anthropic_span_attributes(attrs) == Usage(100, 10, 40)
    assert Usage.from_span_attributes({}) is None
    assert Usage.from_anthropic_span_attributes({}) is None


@pytest.mark.parametrize(("names", "want"), [
    ({semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 30}, 30),  # released conventions
    ({semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 30}, 30),  # renamed (semconv-genai #440)
    # Both present (our own spans): the new name is read, and they are equal anyway.
    ({semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 30, semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 7}, 30),
])
def test_cache_writes_are_read_by_either_name(names, want):
    attrs = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 100, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 10, **names}
    assert Usage.from_span_attributes(attrs).cache_write_tokens == want


# --- malformed ------------------------------------------------------------------------

@pytest.mark.parametrize("reader", [Usage.from_openai, Usage.from_anthropic, Usage.from_gemini])
def test_none_usage_is_none(reader):
    assert reader(None) is None


JUNK = [None, "abc", "", "12.5", "1e5", True, False, -5, -1.5, float("nan"), float("inf"),
        float("-inf"), [], {}, object(), "9" * 5000]


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_to_int_junk_is_zero(junk):
    assert to_int(junk) == 0


@pytest.mark.parametrize("value,want", [(7, 7), (0, 0), ("12", 12), (3.9, 3), (10**30, MAX_TOKENS),
                                        ("100000000000000000000000", MAX_TOKENS), (2**63 - 1, 2**63 - 1)])
def test_to_int_values_and_clamping(value, want):
    assert to_int(value) == want


@pytest.mark.parametrize("junk", JUNK, ids=repr)
def test_readers_never_raise_on_junk_fields(junk):
    openai = Usage.from_openai({"prompt_tokens": junk, "completion_tokens": junk,
                                "prompt_tokens_details": junk, "completion_tokens_details": junk})
    anthropic = Usage.from_anthropic({"input_tokens": junk, "output_tokens": junk,
                                      "cache_read_input_tokens": junk, "cache_creation_input_tokens": junk,
                                      "cache_creation": junk})
    gemini = Usage.from_gemini({"prompt_token_count": junk, "candidates_token_count": junk,
                                "thoughts_token_count": junk, "cached_content_token_count": junk})
    # No usable count at all: the usage is unknown (None), never a priced zero.
    for u in (openai, anthropic, gemini):
        assert u is None


@pytest.mark.parametrize("junk", ["not usage", 42, [1, 2], object()], ids=repr)
def test_readers_accept_non_mapping_objects(junk):
    for reader in (Usage.from_openai, Usage.from_anthropic, Usage.from_gemini):
        assert reader(junk) is None


def test_huge_counts_clamped_in_readers():
    u = Usage.from_openai({"prompt_tokens": 10**40, "completion_tokens": 10**40})
    assert u.input_tokens == MAX_TOKENS and u.output_tokens == MAX_TOKENS


def test_inconsistent_subsets_are_clamped_not_raised():
    # cached > prompt, reasoning > completion: the whole grows to hold its parts.
    u = Usage.from_openai({"prompt_tokens": 10, "completion_tokens": 5,
                           "prompt_tokens_details": {"cached_tokens": 50},
                           "completion_tokens_details": {"reasoning_tokens": 9}})
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens, u.reasoning_tokens) == (50, 50, 9, 9)
    assert u.uncached_input_tokens == 0


def test_usage_addition_marks_estimated():
    est = Usage(5, 5, source=semconv.SOURCE_ESTIMATED)
    total = Usage(1, 2, 1) + est
    assert total == Usage(6, 7, 1, source=semconv.SOURCE_ESTIMATED)
    assert (Usage(1, 1) + Usage(2, 2)).source == semconv.SOURCE_REPORTED


def test_bedrock_input_tokens_exclude_cache_reads_and_writes():
    # Converse's inputTokens counts only the uncached input (as Anthropic's input_tokens).
    usage = Usage.from_bedrock({"inputTokens": 100, "outputTokens": 10, "totalTokens": 1310,
                                "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 200})
    assert (usage.input_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (1300, 1000, 200)
    assert usage.uncached_input_tokens == 100 and usage.output_tokens == 10
    # The InvokeModel count headers are strings; junk alone says nothing (unknown, not zero).
    assert Usage.from_bedrock({"inputTokens": "13", "outputTokens": "3"}) == Usage(13, 3)
    assert Usage.from_bedrock({"inputTokens": "many", "outputTokens": None}) is None
    assert Usage.from_bedrock(None) is None


def test_fields_reads_what_get_reads():
    # ``fields`` (one dict lookup per field) must read SDK objects exactly as ``_get`` does:
    # declared fields, unset ones, extras (OpenRouter's ``usage.cost``), dicts and None.
    import pydantic

    from otel_llm_cost.usage import _get, fields

    class WithProperty(pydantic.BaseModel):
        tokens: int = 3

        @property
        def doubled(self) -> int:
            return 2 * self.tokens

    sdk = CompletionUsage.model_validate({"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9,
                                         "cost": 0.25, "prompt_tokens_details": {"cached_tokens": 1}})
    names = ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details",
             "cost", "absent", "tokens", "doubled")
    for obj in (sdk, sdk.model_dump(), AnthropicUsage(input_tokens=1, output_tokens=2), WithProperty(), None):
        read = fields(obj)
        assert [read(n) for n in names] == [_get(obj, n) for n in names], type(obj)
    assert fields(sdk)("cost") == 0.25 and fields(WithProperty())("doubled") == 6
