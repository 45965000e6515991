"""genai-prices under our list: same numbers as genai-prices itself, exact, by provider and date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import genai_prices  # a core dependency: in every install
import pytest

from otel_llm_cost import config
from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import get_catalog, reset_catalog
from otel_llm_cost.usage import Usage

WHEN = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
USAGE = Usage(input_tokens=300_123, output_tokens=4_567, cache_read_tokens=100_001)


@pytest.mark.parametrize(("provider", "model"), [
    ("groq", "llama-3.3-70b-versatile"),
    ("deepseek", "deepseek-chat"),
    ("deepseek", "deepseek-reasoner"),
    ("openrouter", "anthropic/claude-sonnet-4"),
    ("mistral_ai", "mistral-large-2512"),
    ("x_ai", "grok-4.20"),
    ("perplexity", "sonar"),
    ("openai", "gpt-5.6-terra"),        # not in our list: genai-prices, with its >272k tier
    ("anthropic", "claude-3-sonnet"),
])
def test_same_total_as_genai_prices_itself(provider, model):
    ours = price_usage(model, USAGE, provider=provider, when=WHEN)
    theirs = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=USAGE.input_tokens, output_tokens=USAGE.output_tokens,
                           cache_read_tokens=USAGE.cache_read_tokens),
        model, provider_id=ours.model.split("/")[0], genai_request_timestamp=WHEN)
    assert ours.status == "priced"
    assert ours.usd == theirs.total_price
    assert ours.catalog == f"genai-prices {genai_prices.__version__}"


def test_long_context_tier_and_served_tier_from_genai_prices():
    short = Usage(input_tokens=272_000, output_tokens=0)
    long = Usage(input_tokens=272_001, output_tokens=0)
    # gpt-5.6-terra from 2026-07-30: 2.00 per 1M up to 272k input tokens, 4.00 above (all tokens).
    assert price_usage("gpt-5.6-terra", short, provider="openai", when=WHEN).usd == Decimal("0.544")
    assert price_usage("gpt-5.6-terra", long, provider="openai", when=WHEN).usd == Decimal("1.088004")
    flex = price_usage("gpt-5.6-terra", short, provider="openai", when=WHEN, service_tier="flex")
    assert flex.usd == Decimal("0.272")  # half price, as genai-prices lists the flex variant


def test_our_list_wins_for_first_party_models():
    # gpt-4o is in our list (checked, dated): the catalog entry is ours, not genai-prices'.
    cost = price_usage("gpt-4o", Usage(input_tokens=10, output_tokens=10), provider="openai", when=WHEN)
    assert (cost.model, cost.catalog) == ("gpt-4o", get_catalog().version)


def test_our_correction_of_a_third_partys_price_serves_no_other_provider():
    """``mistral-large-latest`` is Mistral Large 3 (genai-prices 0.2.3 still matches it to
    Large 2, 2.00 / 6.00): our list corrects it, at genai-prices' own price of the model it
    points to, for calls to Mistral and calls without a provider (as every entry of our
    list), never for another provider's."""
    ours = price_usage("mistral-large-latest", USAGE, provider="mistral_ai", when=WHEN)
    assert (ours.model, ours.catalog) == ("mistral-large-latest", get_catalog().version)
    assert ours.usd == price_usage("mistral-large-2512", USAGE, provider="mistral_ai", when=WHEN).usd
    # 200 122 uncached input x 0.50 + 4 567 output x 1.50 + 100 001 cache reads x 0.05, per 1M
    assert ours.usd == Decimal("0.11191155")
    assert price_usage("mistral-large-latest", USAGE).usd == ours.usd  # no provider: our list, as for gpt-4o
    assert price_usage("mistral-large-latest", USAGE, provider="groq", when=WHEN).status == "unknown_model"
    azure = price_usage("mistral-large-latest", USAGE, provider="azure.ai.openai", when=WHEN)
    assert azure.model == "azure/mistral-large-latest"  # Azure's own listing, not Mistral's price


def test_no_provider_never_guesses_from_a_provider_list():
    assert price_usage("llama-3.3-70b-versatile", USAGE).status == "unknown_model"


def test_price_source_bundled_turns_genai_prices_off(monkeypatch):
    monkeypatch.setenv("OTEL_LLM_COST_PRICE_SOURCE", "bundled")
    config.clear_overrides()
    reset_catalog()
    assert get_catalog().source is None
    assert price_usage("llama-3.3-70b-versatile", USAGE, provider="groq").status == "unknown_model"


def test_bad_price_source_warns_and_keeps_default(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_LLM_COST_PRICE_SOURCE", "litellm")
    assert config.load().price_source == "genai-prices"
    assert "OTEL_LLM_COST_PRICE_SOURCE" in caplog.text


def test_the_first_priced_call_loads_nothing():
    # The catalog (and genai-prices) load when an instrumented SDK is imported; a call
    # then only looks up: no module is imported and the catalog is not rebuilt. (How
    # fast that is, is a bench figure: python -m bench.first_call.)
    import sys

    reset_catalog()
    catalog = get_catalog()  # what importing an instrumented SDK does
    modules = set(sys.modules)
    cost = price_usage("claude-sonnet-4-5", Usage(input_tokens=1000, output_tokens=10), provider="anthropic")
    assert cost.status == "priced"
    assert set(sys.modules) == modules
    assert get_catalog() is catalog


def test_user_files_at_a_third_party_provider(tmp_path):
    # A LiteLLM file laid over us: its groq/ entry prices Groq calls, its openai entry never does.
    from otel_llm_cost.pricing import load_prices

    litellm = tmp_path / "litellm.json"
    litellm.write_text(json.dumps({
        "gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
        "groq/llama-3.3-70b-versatile": {"litellm_provider": "groq", "input_cost_per_token": 6e-07,
                                         "output_cost_per_token": 8e-07}}))
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"schema": 1, "models": {"acme-1": {"provider": "acme", "input": "1", "output": "2"}}}))
    load_prices(litellm)
    load_prices(ours)
    one_m = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    groq = price_usage("llama-3.3-70b-versatile", one_m, provider="groq", when=WHEN)
    assert (groq.usd, groq.model) == (Decimal("1.4"), "groq/llama-3.3-70b-versatile")
    assert groq.catalog == str(litellm)
    assert price_usage("gpt-4o", one_m, provider="deepseek", when=WHEN).status == "unknown_model"
    assert price_usage("acme-1", one_m, provider="groq", when=WHEN).usd == Decimal("3")


def test_a_flood_of_names_stays_bounded():
    # Distinct hostile names and provider strings: our cache is bounded, genai-prices' is never fed.
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    before = len(snapshot._lookup_cache) + len(snapshot._provider_cache) + len(snapshot._provider_misses)
    catalog = get_catalog()
    for i in range(6000):
        catalog.resolve(f"no-such-model-{i}", "groq", when=WHEN)
        catalog.resolve("llama-3.3-70b-versatile", f"provider-{i}", when=WHEN)
    after = len(snapshot._lookup_cache) + len(snapshot._provider_cache) + len(snapshot._provider_misses)
    assert after == before
    assert len(catalog.source._cache) <= 4096


def test_fallback_file_only_where_no_layer_prices(tmp_path, monkeypatch):
    fallback = tmp_path / "litellm.json"
    fallback.write_text(json.dumps({
        "gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 9e-06, "output_cost_per_token": 9e-06},
        "fireworks_ai/accounts/fireworks/models/yi-large": {
            "litellm_provider": "fireworks_ai", "input_cost_per_token": 3e-06, "output_cost_per_token": 3e-06},
        "gemini/gemma-3-27b-it": {"litellm_provider": "gemini", "input_cost_per_token": 1e-07,
                                  "output_cost_per_token": 2e-07}}))
    monkeypatch.setenv("OTEL_LLM_COST_FALLBACK_PRICES_FILE", str(fallback))
    config.clear_overrides()
    reset_catalog()
    one_m = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    # Our list still prices gpt-4o; the fallback never overrides a layer above it.
    assert price_usage("gpt-4o", one_m, provider="openai").usd == Decimal("12.5")
    fw = price_usage("accounts/fireworks/models/yi-large", one_m, provider="fireworks", when=WHEN)
    assert (fw.usd, fw.catalog) == (Decimal("6"), str(fallback))
    assert price_usage("gemma-3-27b-it", one_m, provider="gcp.gemini", when=WHEN).usd == Decimal("0.3")
    # A first-party entry of the fallback file is not a third party's price either.
    assert price_usage("gpt-4o", one_m, provider="deepseek", when=WHEN).status == "unknown_model"
