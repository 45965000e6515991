"""LiteLLM-format price files: exact per-token → per-1M conversion, tiers, skipped entries."""
import json
from decimal import Decimal

import pytest

from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import PriceFileError, get_catalog, load_prices, read_price_file
from otel_llm_cost.usage import Usage

LITELLM = {
    "sample_spec": {"input_cost_per_token": "set to 0 if not priced", "litellm_provider": "x", "mode": "chat"},
    "acme-pro": {
        "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-07,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "input_cost_per_token_above_200k_tokens": 5e-06,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
        "input_cost_per_token_batches": 1.25e-06,
        "output_cost_per_token_batches": 5e-06,
        "output_cost_per_reasoning_token": 3.5e-05,
        "litellm_provider": "acme",
        "mode": "chat",
        "max_input_tokens": 1000000,
        "supports_vision": True,
    },
    "openai/acme-mini": {"input_cost_per_token": 1.5e-07, "output_cost_per_token": 6e-07,
                         "litellm_provider": "openai", "mode": "chat"},
    "acme-image": {"output_cost_per_image": 0.04, "litellm_provider": "acme", "mode": "image_generation"},
    "acme-free": {"input_cost_per_token": 0, "output_cost_per_token": 0.0, "mode": "chat"},
}


@pytest.fixture
def parsed(tmp_path):
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps(LITELLM))
    return read_price_file(path), path


def test_entries_and_skips(parsed):
    pf, _ = parsed
    assert sorted(e.key for e in pf.entries) == ["acme-free", "acme-pro", "openai/acme-mini"]
    assert pf.version == "litellm"


def test_exact_per_million_conversion(parsed):
    e = {e.key: e for e in parsed[0].entries}["acme-pro"]
    r = e.rates
    assert (r.input, r.output, r.cache_read, r.cache_write_5m, r.cache_write_1h, r.reasoning) == (
        Decimal("2.5"), Decimal("10"), Decimal("0.125"), Decimal("3.75"), Decimal("6"), Decimal("35"))
    # Audio and image rates the file does not give stay None (the text rate applies).
    assert all(type(getattr(r, f)) is Decimal for f in r.__slots__ if f not in ("input_audio", "output_audio",
                                                                                "output_image"))
    assert e.provider == "acme" and e.reasoning_separate
    (threshold, tier), = e.tiers
    assert threshold == 200_000
    assert (tier.input, tier.output, tier.cache_read) == (Decimal("5"), Decimal("15"), Decimal("0.125"))
    batch = e.service_tiers["batch"]
    assert (batch.input, batch.output, batch.cache_read) == (Decimal("1.25"), Decimal("5"), Decimal("0.125"))


def test_defaults_and_zero(parsed):
    entries = {e.key: e for e in parsed[0].entries}
    mini = entries["openai/acme-mini"].rates
    assert (mini.input, mini.output, mini.cache_read, mini.reasoning) == (
        Decimal("0.15"), Decimal("0.6"), Decimal("0.15"), Decimal("0.6"))
    free = entries["acme-free"]
    assert free.rates.input == 0 and free.provider == "" and not free.reasoning_separate


def test_litellm_file_prices_calls(parsed):
    _, path = parsed
    load_prices(path)
    usage = Usage(2048, 100, cache_read_tokens=1024)
    assert price_usage("acme-pro", usage).usd == Decimal("0.003688")
    assert price_usage("openai/acme-mini", Usage(1_000_000, 0)).usd == Decimal("0.15")
    assert price_usage("acme-image", usage).usd is None
    assert get_catalog().resolve("gpt-4o").key == "gpt-4o"  # bundled untouched


def test_litellm_entry_replaces_bundled_entry_whole(tmp_path):
    path = tmp_path / "l.json"
    path.write_text(json.dumps({"gpt-4o": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.2e-05}}))
    e = load_prices(path).resolve("gpt-4o")
    assert (e.rates.input, e.rates.cache_read) == (Decimal("3"), Decimal("3"))
    assert e.service_tiers == {} and e.aliases == ()


def test_litellm_bad_values_all_listed(tmp_path):
    path = tmp_path / "l.json"
    path.write_text(json.dumps({
        "a": {"input_cost_per_token": -1e-06, "output_cost_per_token": "abc"},
        "b": {"input_cost_per_token": 1.0, "cache_read_input_token_cost": None},
    }))
    with pytest.raises(PriceFileError) as info:
        read_price_file(path)
    assert [e for e, _ in info.value.problems] == [
        "a.input_cost_per_token", "a.output_cost_per_token",
        "b.input_cost_per_token", "b.cache_read_input_token_cost"]
    assert "implausibly high" in info.value.problems[2][1]
