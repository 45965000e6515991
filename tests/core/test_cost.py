"""Exact Decimal cost: hand-computed values, components, cache TTLs, tiers, unknowns."""
from decimal import Decimal

import pytest

from otel_llm_cost import semconv
from otel_llm_cost.cost import compute_cost, format_usd, price_usage
from otel_llm_cost.pricing import Catalog, bundled_catalog
from otel_llm_cost.pricing._loading import parse_price_data
from otel_llm_cost.usage import Usage


def D(text):
    return Decimal(text)


def assert_exact(cost, total, components):
    assert cost.status == semconv.STATUS_PRICED and cost.priced
    assert type(cost.usd) is Decimal and cost.usd == D(total)
    assert {k: type(v) for k, v in cost.components.items()} == {k: Decimal for k in components}
    assert dict(cost.components) == {k: D(v) for k, v in components.items()}
    total_of_parts = sum(cost.components.values(), D(0))
    assert total_of_parts == cost.usd


def test_gpt4o_reference_value():
    usage = Usage(input_tokens=2048, output_tokens=100, cache_read_tokens=1024)
    cost = price_usage("gpt-4o-2024-08-06", usage)
    # 1024 * 2.50 + 1024 * 1.25 + 100 * 10.00, per 1M
    assert_exact(cost, "0.00484", {"input": "0.00256", "cache_read": "0.00128", "output": "0.001"})
    assert format_usd(cost.usd) == "0.00484"
    assert cost.model == "gpt-4o"
    assert cost.catalog == bundled_catalog().version


def test_rates_are_decimal():
    rates = bundled_catalog().resolve("gpt-4o").rates
    modality = ("input_audio", "output_audio", "output_image")  # None: the text rate applies
    for name in rates.__slots__:
        value = getattr(rates, name)
        assert type(value) is Decimal or (value is None and name in modality)
    assert (rates.input, rates.output, rates.cache_read) == (D("2.50"), D("10.00"), D("1.25"))


def test_anthropic_cache_write_5m_and_1h_priced_apart():
    usage = Usage.from_anthropic({
        "input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 10000,
        "cache_creation_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    })
    cost = price_usage("claude-sonnet-4-20250514", usage)
    # input 100*3.00; read 10000*0.30; write 1000*3.75 + 2000*6.00; output 50*15.00
    assert_exact(cost, "0.0198", {"input": "0.0003", "cache_read": "0.003",
                                  "cache_write": "0.01575", "output": "0.00075"})


def test_1h_write_costs_more_than_5m_write():
    five = price_usage("claude-sonnet-4", Usage(1000, 0, cache_write_tokens=1000))
    hour = price_usage("claude-sonnet-4", Usage(1000, 0, cache_write_tokens=1000, cache_write_1h_tokens=1000))
    assert five.components["cache_write"] == D("0.00375")
    assert hour.components["cache_write"] == D("0.006")


REASONING = parse_price_data({"schema": 1, "models": {
    "own-rate": {"provider": "x", "input": "1", "output": "2", "reasoning": "3"},
    "no-rate": {"provider": "x", "input": "1", "output": "2"},
}}, "test")
REASONING_CATALOG = Catalog(REASONING.entries, version="test")


def test_reasoning_priced_apart_only_with_its_own_rate():
    usage = Usage(input_tokens=0, output_tokens=100, reasoning_tokens=40)
    own = price_usage("own-rate", usage, catalog=REASONING_CATALOG)
    assert_exact(own, "0.00024", {"input": "0", "output": "0.00012", "reasoning": "0.00012"})
    plain = price_usage("no-rate", usage, catalog=REASONING_CATALOG)
    assert_exact(plain, "0.0002", {"input": "0", "output": "0.0002"})


def test_bundled_openai_reasoning_is_output():
    usage = Usage(input_tokens=1000, output_tokens=1000, reasoning_tokens=900)
    cost = price_usage("o3", usage)
    assert "reasoning" not in cost.components
    assert_exact(cost, "0.01", {"input": "0.002", "output": "0.008"})


@pytest.mark.parametrize("model,threshold,base,tier", [
    ("gemini-2.5-pro", 200_000, ("1.25", "10.00"), ("2.50", "15.00")),
    ("gemini-1.5-pro", 128_000, ("1.25", "5.00"), ("2.50", "10.00")),
    ("claude-sonnet-4", 200_000, ("3.00", "15.00"), ("6.00", "22.50")),
])
def test_context_tiers_by_prompt_size(model, threshold, base, tier):
    entry = bundled_catalog().resolve(model)
    assert entry.tiers[0][0] == threshold
    for tokens, (inp, out) in ((threshold, base), (threshold + 1, tier)):
        cost = price_usage(model, Usage(tokens, 1_000_000))
        expect_in = D(tokens) * D(inp) / D(1_000_000)
        assert cost.components["input"] == expect_in
        assert cost.components["output"] == D(out)
        assert cost.usd == expect_in + D(out)


def test_gemini_25_pro_exact_tier_values():
    assert price_usage("gemini-2.5-pro", Usage(200_000, 0)).usd == D("0.25")
    assert price_usage("gemini-2.5-pro", Usage(200_001, 0)).usd == D("0.5000025")


def test_tier_uses_all_input_including_cache():
    # 150k uncached + 60k cached = 210k prompt: the whole request is on the >200k tier.
    cost = price_usage("gemini-2.5-pro", Usage(210_000, 0, cache_read_tokens=60_000))
    assert_exact(cost, "0.39", {"input": "0.375", "cache_read": "0.015", "output": "0"})


def test_service_tier_batch():
    usage = Usage(1_000_000, 1_000_000, cache_read_tokens=0)
    assert price_usage("gpt-4o", usage, service_tier="batch").usd == D("6.25")
    assert price_usage("gpt-4o", usage, service_tier="priority").usd == D("21.25")
    assert price_usage("gpt-4o", usage).usd == D("12.50")
    # A tier the model does not publish falls back to standard prices.
    assert price_usage("gpt-4o", usage, service_tier="flex").usd == D("12.50")
    assert price_usage("claude-sonnet-4", Usage(0, 0, cache_write_tokens=0), service_tier="batch").usd == 0


def test_batch_anthropic_cache_rates():
    usage = Usage(3000, 1000, cache_read_tokens=1000, cache_write_tokens=1000, cache_write_1h_tokens=500)
    cost = price_usage("claude-sonnet-4", usage, service_tier="batch")
    # input 1000*1.50, read 1000*0.15, write 500*1.875 + 500*3.00, output 1000*7.50
    assert_exact(cost, "0.0115875", {"input": "0.0015", "cache_read": "0.00015",
                                     "cache_write": "0.0024375", "output": "0.0075"})


@pytest.mark.parametrize("usage", [Usage(100, 100), None])
def test_unknown_model_has_no_number(usage):
    cost = price_usage("my-private-model", usage)
    assert cost.status == semconv.STATUS_UNKNOWN_MODEL and not cost.priced
    assert cost.usd is None
    assert cost.components == {}
    assert "my-private-model" in cost.reason


@pytest.mark.parametrize("model", [None, "", 42])
def test_missing_model_is_unknown(model):
    cost = price_usage(model, Usage(1, 1))
    assert cost.status == semconv.STATUS_UNKNOWN_MODEL and cost.usd is None


def test_huge_model_name_reason_is_bounded():
    cost = price_usage("x" * 100_000, Usage(1, 1))
    assert cost.usd is None and len(cost.reason) <= 300


def test_no_usage():
    cost = price_usage("gpt-4o", None)
    assert cost.status == semconv.STATUS_NO_USAGE and cost.usd is None
    assert cost.model == "gpt-4o" and "no_usage" in cost.reason


def test_zero_usage_is_zero_not_unknown():
    cost = price_usage("gpt-4o", Usage())
    assert cost.priced and cost.usd == 0 and format_usd(cost.usd) == "0"


def test_compute_cost_directly():
    price = bundled_catalog().resolve("gpt-4o-mini")
    cost = compute_cost(Usage(1_000_000, 1_000_000, cache_read_tokens=500_000), price)
    assert_exact(cost, "0.7125", {"input": "0.075", "cache_read": "0.0375", "output": "0.6"})
    assert compute_cost(Usage(1, 1), None, model="m").usd is None


def test_max_tokens_priced_exactly():
    big = 2**63 - 1
    cost = price_usage("gpt-4o", Usage(big, big))
    assert cost.usd == D(big) * D("12.50") / D(10**6)
    assert format_usd(cost.usd) == "115292150460684.6975875"


@pytest.mark.parametrize("value,text", [
    (D("0.00484"), "0.00484"), (D("12.000"), "12"), (D("1E+2"), "100"), (D("1E-12"), "0.000000000001"),
    (D("0"), "0"), (D("0E-8"), "0"), (D("2.50"), "2.5"),
])
def test_format_usd(value, text):
    assert format_usd(value) == text
