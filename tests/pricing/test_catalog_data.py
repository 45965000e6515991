"""Validate the bundled price catalog data (json + decimal only, no package code)."""
import datetime
import json
import pathlib
from decimal import Decimal, InvalidOperation

import pytest

PRICES = pathlib.Path(__file__).resolve().parents[2] / "otel_llm_cost" / "pricing" / "prices.json"

PRICE_FIELDS = {"input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "reasoning",
                "input_audio", "output_audio", "output_image"}
ENTRY_KEYS = PRICE_FIELDS | {"provider", "aliases", "tiers", "service_tiers", "per_1k_calls", "source", "checked"}
CALL_CHARGES = {"web_search", "web_search_preview", "file_search"}
REQUIRED = {"provider", "input", "output", "source", "checked"}
SERVICE_TIERS = {"batch", "priority", "flex"}
# mistral_ai: a correction of genai-prices' data (docs/prices.md), served to that provider only
PROVIDERS = {"openai", "anthropic", "google", "bedrock", "mistral_ai"}

# USD per 1M tokens, checked 2026-11: model -> {field: value}
TABLE = {
    "gpt-4o": {"input": "2.50", "output": "10.00", "cache_read": "1.25"},
    # Mistral Large 3 (the alias since mistral-large-2512), not Large 2's 2.00 / 6.00
    "mistral-large-latest": {"input": "0.50", "output": "1.50", "cache_read": "0.05"},
    "gpt-4o-mini": {"input": "0.15", "output": "0.60", "cache_read": "0.075"},
    "gpt-4.1": {"input": "2.00", "output": "8.00", "cache_read": "0.50"},
    "gpt-4.1-mini": {"input": "0.40", "output": "1.60", "cache_read": "0.10"},
    "o1": {"input": "15.00", "output": "60.00", "cache_read": "7.50"},
    "o3-mini": {"input": "1.10", "output": "4.40", "cache_read": "0.55"},
    "text-embedding-3-small": {"input": "0.02"},
    "claude-3-5-haiku": {"input": "0.80", "output": "4.00", "cache_read": "0.08",
                         "cache_write_5m": "1.00", "cache_write_1h": "1.60"},
    "claude-3-5-sonnet": {"input": "3.00", "output": "15.00", "cache_read": "0.30",
                          "cache_write_5m": "3.75", "cache_write_1h": "6.00"},
    "claude-sonnet-4": {"input": "3.00", "output": "15.00", "cache_read": "0.30",
                        "cache_write_5m": "3.75", "cache_write_1h": "6.00"},
    "claude-opus-4": {"input": "15.00", "output": "75.00", "cache_read": "1.50",
                      "cache_write_5m": "18.75", "cache_write_1h": "30.00"},
    "gemini-2.0-flash": {"input": "0.10", "output": "0.40", "cache_read": "0.025", "input_audio": "0.70"},
    "gemini-2.5-flash": {"input": "0.30", "output": "2.50", "input_audio": "1.00"},
    "gpt-4o-audio-preview": {"input": "2.50", "output": "10.00", "input_audio": "40.00", "output_audio": "80.00"},
    "gpt-4o-mini-audio-preview": {"input": "0.15", "output": "0.60", "input_audio": "10.00",
                                  "output_audio": "20.00"},
}

# USD per 1,000 tool calls: model -> {charge: value}
PER_CALL = {
    "gpt-4o": {"web_search": "10.00", "web_search_preview": "25.00", "file_search": "2.50"},
    "gpt-5": {"web_search": "10.00", "web_search_preview": "10.00", "file_search": "2.50"},
    "claude-sonnet-4-5": {"web_search": "10.00"},
    "claude-3-5-haiku": {"web_search": "10.00"},
}

REQUIRED_MODELS = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o1-mini", "o3",
    "o3-mini", "o3-pro", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1", "gpt-4-turbo",
    "gpt-4", "gpt-3.5-turbo", "text-embedding-3-small", "text-embedding-3-large",
    "text-embedding-ada-002", "gpt-3.5-turbo-instruct", "davinci-002", "babbage-002",
    "claude-3-haiku", "claude-3-opus", "claude-3-5-haiku", "claude-3-5-sonnet", "claude-3-7-sonnet",
    "claude-sonnet-4", "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5",
    "claude-opus-4-5", "gemini-1.5-pro", "gemini-1.5-flash", "gemini-1.5-flash-8b",
    "gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-2.5-pro", "gemini-2.5-flash",
    "gemini-2.5-flash-lite", "text-embedding-004", "gemini-embedding-001",
]


@pytest.fixture(scope="module")
def catalog():
    with PRICES.open(encoding="utf-8") as fh:
        return json.load(fh, parse_float=lambda s: pytest.fail(f"float literal in catalog: {s}"))


def _price(value, where):
    assert isinstance(value, str), f"{where}: price must be a JSON string, got {value!r}"
    try:
        d = Decimal(value)
    except InvalidOperation:
        pytest.fail(f"{where}: not a decimal: {value!r}")
    assert d.is_finite(), f"{where}: not finite: {value!r}"
    assert d >= 0, f"{where}: negative: {value!r}"
    return d


def test_header(catalog):
    assert catalog["schema"] == 1
    assert isinstance(catalog["version"], str) and catalog["version"]
    assert catalog["currency"] == "USD"
    assert catalog["unit"] == "per_1m_tokens"
    assert set(catalog) == {"schema", "version", "currency", "unit", "models"}
    assert isinstance(catalog["models"], dict) and catalog["models"]


def test_entries(catalog):
    for name, e in catalog["models"].items():
        assert name == name.lower() and name.strip() == name and name, name
        assert set(e) <= ENTRY_KEYS, f"{name}: unknown keys {set(e) - ENTRY_KEYS}"
        assert REQUIRED <= set(e), f"{name}: missing {REQUIRED - set(e)}"
        assert e["provider"] in PROVIDERS, name
        for f in PRICE_FIELDS & set(e):
            _price(e[f], f"{name}.{f}")
        assert isinstance(e["source"], str) and e["source"].strip(), name
        datetime.date.fromisoformat(e["checked"])
        assert len(e["checked"]) == 10, name

        tiers = e.get("tiers", [])
        assert isinstance(tiers, list), name
        thresholds = []
        for t in tiers:
            assert set(t) <= PRICE_FIELDS | {"above_input_tokens"}, f"{name}: tier keys {set(t)}"
            thr = t["above_input_tokens"]
            assert isinstance(thr, int) and not isinstance(thr, bool) and thr > 0, name
            thresholds.append(thr)
            for f in PRICE_FIELDS & set(t):
                _price(t[f], f"{name}.tiers[{thr}].{f}")
        assert thresholds == sorted(set(thresholds)), f"{name}: tiers not sorted/unique"

        calls = e.get("per_1k_calls", {})
        assert isinstance(calls, dict) and set(calls) <= CALL_CHARGES, f"{name}: per_1k_calls {calls}"
        for charge, v in calls.items():
            _price(v, f"{name}.per_1k_calls.{charge}")

        st = e.get("service_tiers", {})
        assert isinstance(st, dict), name
        assert set(st) <= SERVICE_TIERS, f"{name}: unknown service tiers {set(st)}"
        for tname, tv in st.items():
            assert tv and set(tv) <= PRICE_FIELDS, f"{name}.{tname}: keys {set(tv)}"
            for f, v in tv.items():
                _price(v, f"{name}.service_tiers.{tname}.{f}")


def test_aliases(catalog):
    models = catalog["models"]
    seen = {}
    for name, e in models.items():
        aliases = e.get("aliases", [])
        assert isinstance(aliases, list), name
        for a in aliases:
            assert isinstance(a, str) and a == a.lower() and a, f"{name}: alias {a!r}"
            assert a not in models, f"alias {a!r} of {name} is also a model key"
            assert a not in seen, f"alias {a!r} used by {seen.get(a)} and {name}"
            seen[a] = name


def test_required_models_present(catalog):
    missing = [m for m in REQUIRED_MODELS if m not in catalog["models"]]
    assert not missing, missing


@pytest.mark.parametrize("model", sorted(TABLE))
def test_reference_table(catalog, model):
    e = catalog["models"][model]
    for field, want in TABLE[model].items():
        assert field in e, f"{model}: {field} missing"
        assert Decimal(e[field]) == Decimal(want), f"{model}.{field}: {e[field]} != {want}"


@pytest.mark.parametrize("model", sorted(PER_CALL))
def test_per_call_prices(catalog, model):
    got = {k: Decimal(v) for k, v in catalog["models"][model]["per_1k_calls"].items()}
    assert got == {k: Decimal(v) for k, v in PER_CALL[model].items()}


def test_dated_snapshot_with_own_price(catalog):
    e = catalog["models"]["gpt-4o-2024-05-13"]
    assert Decimal(e["input"]) == Decimal("5") and Decimal(e["output"]) == Decimal("15")
