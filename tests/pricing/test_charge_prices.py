"""Prices of charges that are not text tokens: the file format, LiteLLM's fields, genai-prices,
and the arithmetic (a subset priced at its own rate, never twice; components sum exactly)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import PriceFileError, bundled_catalog, read_price_file
from otel_llm_cost.pricing._catalog import Catalog
from otel_llm_cost.usage import Usage

D = Decimal


def _write(tmp_path, data, name="p.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def _catalog(path) -> Catalog:
    return Catalog(read_price_file(path, bundled_catalog().entries()).entries, version="test")


def test_our_format_reads_modality_rates_and_per_call_prices(tmp_path):
    path = _write(tmp_path, {"schema": 1, "models": {"acme-voice": {
        "provider": "acme", "input": "1", "output": "2", "input_audio": "10", "output_audio": "20",
        "output_image": "30", "per_1k_calls": {"web_search": "5", "file_search": "2.5"},
        "service_tiers": {"batch": {"input": "0.5", "input_audio": "5"}}}}})
    catalog = _catalog(path)
    usage = Usage(input_tokens=1000, output_tokens=300, input_audio_tokens=400, output_audio_tokens=100,
                  output_image_tokens=50, web_search_calls=3, file_search_calls=2)
    cost = price_usage("acme-voice", usage, catalog=catalog)
    # text in 600 × 1, audio in 400 × 10; text out 150 × 2, audio out 100 × 20, image out 50 × 30 (per 1M);
    # 3 searches × 5 and 2 file searches × 2.5 per 1,000
    assert dict(cost.components) == {"input": D("0.0006"), "input_audio": D("0.004"), "output": D("0.0003"),
                                     "output_audio": D("0.002"), "output_image": D("0.0015"),
                                     "web_search": D("0.015"), "file_search": D("0.005")}
    assert cost.usd == sum(cost.components.values()) == D("0.0284")
    assert cost.unpriced == ()
    batch = price_usage("acme-voice", Usage(1000, 0, input_audio_tokens=400), catalog=catalog, service_tier="batch")
    assert dict(batch.components) == {"input": D("0.0003"), "input_audio": D("0.002"), "output": D(0)}


def test_a_file_in_the_old_format_is_still_valid_and_prices_as_before(tmp_path):
    path = _write(tmp_path, {"schema": 1, "models": {"acme-old": {"provider": "acme", "input": "1", "output": "2"}}})
    catalog = _catalog(path)
    # Audio tokens at an entry without an audio rate: the text rate, and only once.
    cost = price_usage("acme-old", Usage(1000, 100, input_audio_tokens=400), catalog=catalog)
    assert cost.usd == D("0.0012")
    assert cost.components["input"] + cost.components["input_audio"] == D("0.001")
    # A search without a per-call price: counted, not priced, said so.
    searched = price_usage("acme-old", Usage(1000, 100, web_search_calls=2), catalog=catalog)
    assert searched.usd == D("0.0012") and searched.unpriced == ("web_search",)


def test_an_override_keeps_the_bundled_per_call_prices(tmp_path):
    path = _write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"input": "3"}}})
    entry = {e.key: e for e in read_price_file(path, bundled_catalog().entries()).entries}["gpt-4o"]
    assert dict(entry.per_1k_calls) == {"web_search": D("10.00"), "web_search_preview": D("25.00"),
                                        "file_search": D("2.50")}


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("per_1k_calls", {"code_interpreter": "1"}, "unknown charge 'code_interpreter'"),
    ("per_1k_calls", {"web_search_preview": "x"}, "not a decimal number"),
    ("per_1k_calls", {"web_search": "-1"}, "must not be negative"),
    ("per_1k_calls", ["web_search"], "must be an object"),
    ("input_audio", "lots", "not a decimal number"),
])
def test_bad_charge_prices_are_refused_with_their_place(tmp_path, field, value, reason):
    path = _write(tmp_path, {"schema": 1, "models": {"acme": {"provider": "acme", "input": "1", "output": "1",
                                                              field: value}}})
    with pytest.raises(PriceFileError) as info:
        read_price_file(path)
    assert any(reason in why for _, why in info.value.problems), info.value.problems


def test_litellm_audio_image_and_search_fields(tmp_path):
    path = _write(tmp_path, {"acme/voice": {
        "litellm_provider": "acme", "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
        "input_cost_per_audio_token": 4e-05, "output_cost_per_audio_token": 8e-05,
        "output_cost_per_image_token": 3e-05, "input_cost_per_audio_token_batches": 2e-05,
        "search_context_cost_per_query": {"search_context_size_low": 0.02, "search_context_size_medium": 0.025,
                                          "search_context_size_high": 0.03},
        "file_search_cost_per_1k_calls": 2.5}}, "model_prices_and_context_window.json")
    entry = read_price_file(path).entries[0]
    r = entry.rates
    assert (r.input_audio, r.output_audio, r.output_image) == (D("40"), D("80"), D("30"))
    assert entry.service_tiers["batch"].input_audio == D("20")
    assert dict(entry.per_1k_calls) == {"web_search": D("25"), "web_search_preview": D("25"), "file_search": D("2.5")}


def test_genai_prices_per_call_and_modality_prices():
    from otel_llm_cost.pricing import _genai

    source = _genai.load()
    assert source is not None, "genai-prices is in the test extra"
    catalog = Catalog(bundled_catalog().entries().values(), version="t", source=source)
    # Not in our list: genai-prices matches it to gpt-4o-mini ($10 per 1,000 web searches).
    cost = price_usage("gpt-4o-mini-search-preview", Usage(1000, 100, web_search_calls=4), provider="openai",
                       catalog=catalog)
    assert cost.components["web_search"] == D("0.04")
    # gpt-audio: 2.5 / 10 text, 32 / 64 audio per 1M.
    audio = price_usage("gpt-audio", Usage(1000, 100, input_audio_tokens=1000, output_audio_tokens=100),
                        provider="openai", catalog=catalog)
    assert dict(audio.components) == {"input": D(0), "input_audio": D("0.032"), "output": D(0),
                                      "output_audio": D("0.0064")}


def test_modality_counts_never_exceed_their_whole():
    usage = Usage(input_tokens=100, output_tokens=50, cache_read_tokens=40, reasoning_tokens=20,
                  input_audio_tokens=500, output_audio_tokens=25, output_image_tokens=25)
    assert (usage.input_tokens, usage.input_audio_tokens) == (100, 60)  # the uncached part at most
    assert (usage.output_tokens, usage.output_audio_tokens, usage.output_image_tokens) == (50, 25, 5)
    cost = price_usage("gpt-4o-audio-preview", usage, provider="openai", catalog=bundled_catalog())
    assert all(v >= 0 for v in cost.components.values())
    assert cost.usd == sum(cost.components.values())


def test_usage_sums_carry_the_charges():
    total = Usage(10, 5, input_audio_tokens=4, web_search_calls=1) + Usage(10, 5, web_search_calls=2,
                                                                          file_search_calls=1)
    assert (total.input_audio_tokens, total.web_search_calls, total.file_search_calls) == (4, 3, 1)
    assert total.charges == {"input_audio": 4, "web_search": 3, "file_search": 1}
