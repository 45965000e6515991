"""User price files in our format: field-level merge, env loading, every problem listed."""
import json
import logging
import os
from decimal import Decimal

import pytest

from otel_llm_cost import semconv
from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import PriceFileError, get_catalog, load_prices, read_price_file
from otel_llm_cost.usage import Usage


def write(tmp_path, data, name="prices.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_field_level_merge_over_bundled(tmp_path):
    path = write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"input": "2.00"}}})
    cat = load_prices(path)
    e = cat.resolve("gpt-4o-2024-08-06")
    assert e.rates.input == Decimal("2.00")
    assert (e.rates.output, e.rates.cache_read) == (Decimal("10.00"), Decimal("1.25"))  # kept
    assert e.provider == "openai" and e.aliases == ("gpt-4o-latest",)
    assert e.service_tiers["batch"].input == Decimal("1.25")  # kept
    assert e.origin == str(path)
    assert price_usage("gpt-4o", Usage(2048, 100, 1024)).usd == Decimal("0.004328")


def test_defaults_already_applied_are_kept(tmp_path):
    # gpt-4o-2024-05-13 has no cache_read: its effective cache_read is the bundled input.
    cat = load_prices(write(tmp_path, {"schema": 1, "models": {"gpt-4o-2024-05-13": {"input": "6"}}}))
    e = cat.resolve("gpt-4o-2024-05-13")
    assert (e.rates.input, e.rates.cache_read) == (Decimal("6"), Decimal("5.00"))


def test_tiers_and_service_tiers_merge(tmp_path):
    data = {"schema": 1, "models": {
        "gemini-2.5-pro": {"service_tiers": {"batch": {"input": "0.5"}}},
        "claude-sonnet-4": {"tiers": []},
    }}
    cat = load_prices(write(tmp_path, data))
    g = cat.resolve("gemini-2.5-pro")
    assert g.tiers[0][0] == 200_000  # not given: kept
    assert g.service_tiers["batch"].input == Decimal("0.5")
    assert g.service_tiers["batch"].output == Decimal("10.00")  # falls back to base, not old batch
    assert g.service_tiers["flex"].input == Decimal("0.625")  # untouched tier kept
    assert cat.resolve("claude-sonnet-4").tiers == ()


def test_new_model_and_top_level_aliases(tmp_path):
    data = {"schema": 1, "currency": "USD", "unit": "per_1m_tokens",
            "models": {"My-Model": {"provider": "acme", "input": 1, "output": "2.5"}},
            "aliases": {"prod-llm": "my-model"}}
    cat = load_prices(write(tmp_path, data))
    e = cat.resolve("PROD-LLM")
    assert e.key == "my-model" and e.rates.input == Decimal("1") and e.rates.output == Decimal("2.5")
    assert (e.rates.cache_read, e.rates.cache_write_5m, e.rates.cache_write_1h, e.rates.reasoning) == (
        Decimal("1"), Decimal("1"), Decimal("1"), Decimal("2.5"))
    assert cat.resolve("gpt-4o").key == "gpt-4o"  # bundled still there


def test_env_several_files_later_wins(tmp_path, monkeypatch):
    a = write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"input": "3"}, "m1": {
        "provider": "x", "input": "1", "output": "1"}}}, "a.json")
    b = write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"output": "11"}}}, "b.json")
    monkeypatch.setenv(semconv.ENV_PRICES_FILE, os.pathsep.join([str(a), str(b)]))
    e = get_catalog().resolve("gpt-4o")
    assert (e.rates.input, e.rates.output) == (Decimal("3"), Decimal("11"))
    assert get_catalog().resolve("m1").key == "m1"
    assert "a.json" in get_catalog().version and "b.json" in get_catalog().version


def test_env_bad_file_is_logged_and_bundled_still_answers(tmp_path, monkeypatch, caplog):
    bad = write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"input": "-1"}}})
    monkeypatch.setenv(semconv.ENV_PRICES_FILE, f"{bad}{os.pathsep}{tmp_path / 'missing.json'}")
    with caplog.at_level(logging.ERROR, logger="otel_llm_cost.pricing"):
        cost = price_usage("gpt-4o-2024-08-06", Usage(2048, 100, 1024))
    assert cost.usd == Decimal("0.00484")
    assert "models.gpt-4o.input" in caplog.text and "negative" in caplog.text
    assert "missing.json" in caplog.text and "cannot read" in caplog.text


def test_load_prices_raises_and_keeps_catalog(tmp_path):
    before = get_catalog()
    with pytest.raises(PriceFileError):
        load_prices(write(tmp_path, {"schema": 1, "models": {"gpt-4o": {"input": "abc"}}}))
    assert get_catalog() is before


BAD = {
    "schema": 1,
    "models": {
        "wrong-type": {"provider": "x", "input": ["1"], "output": True},
        "negative": {"provider": "x", "input": "-0.5", "output": -1},
        "nan-string": {"provider": "x", "input": "NaN", "output": "Infinity"},
        "huge": {"provider": "x", "input": "1e9", "output": 10**400},
        "unknown-key": {"provider": "x", "input": "1", "output": "1", "colour": "red"},
        "missing": {"input": "1"},
        "not-object": "1.00",
        "gpt-4o": {"tiers": [{"above_input_tokens": 0, "input": "1"}], "service_tiers": {"turbo": {}},
                   "aliases": "x", "provider": 3},
        "neg-zero": {"provider": "x", "input": "-0", "output": "0"},
    },
    "extra": 1,
}
EXPECTED = [
    ("(top level)", "unknown field 'extra'"),
    ("models.wrong-type.input", "price must be a decimal string or number, got list"),
    ("models.wrong-type.output", "got bool"),
    ("models.negative.input", "must not be negative"),
    ("models.negative.output", "must not be negative"),
    ("models.nan-string.input", "must be finite"),
    ("models.nan-string.output", "must be finite"),
    ("models.huge.input", "implausibly high"),
    ("models.huge.output", "implausibly high"),
    ("models.unknown-key", "unknown field 'colour'"),
    ("models.missing", "missing required field 'provider'"),
    ("models.missing", "missing required field 'output'"),
    ("models.not-object", "entry must be an object, got str"),
    ("models.gpt-4o.provider", "must be a string"),
    ("models.gpt-4o.tiers[0]", "above_input_tokens must be a positive integer"),
    ("models.gpt-4o.service_tiers", "unknown service tier 'turbo'"),
    ("models.gpt-4o.aliases", "must be a list of strings"),
]


def test_every_problem_listed_with_file_entry_and_reason(tmp_path):
    path = write(tmp_path, BAD)
    with pytest.raises(PriceFileError) as info:
        read_price_file(path, get_catalog().entries())
    err = info.value
    assert err.path == str(path) and str(path) in str(err)
    for entry, reason in EXPECTED:
        assert any(e == entry and reason in r for e, r in err.problems), (entry, reason, err.problems)
        assert f"{entry}: " in str(err)
    assert len(err.problems) == len(EXPECTED)
    assert not any("neg-zero" in e for e, _ in err.problems)


def test_json_constants_reported_per_entry(tmp_path):
    text = ('{"schema": 1, "models": {"a": {"provider": "x", "input": NaN, "output": Infinity},'
            ' "b": {"provider": "x", "input": -Infinity, "output": "1", "oops": 1}}}')
    with pytest.raises(PriceFileError) as info:
        read_price_file(write(tmp_path, text))
    assert [e for e, _ in info.value.problems] == ["models.a.input", "models.a.output",
                                                   "models.b", "models.b.input"]
    assert all("finite" in r for e, r in info.value.problems if e != "models.b")


def test_negative_zero_is_plain_zero(tmp_path):
    parsed = read_price_file(write(tmp_path, {"schema": 1, "models": {
        "z": {"provider": "x", "input": "-0", "output": "0"}}}))
    assert str(parsed.entries[0].rates.input) == "0"


@pytest.mark.parametrize("text,reason", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('"prices"', "must be a JSON object"),
    ('{"schema": 2, "models": {}}', "unsupported schema 2"),
    ('{"schema": 1, "models": []}', "must be an object"),
    ('{"schema": 1, "currency": "EUR", "models": {}}', "only USD"),
    ('{"schema": 1, "unit": "per_token", "models": {}}', "only per_1m_tokens"),
    ('{"schema": 1, "models": {}, "aliases": {"a": 1}}', "alias"),
])
def test_file_level_problems(tmp_path, text, reason):
    with pytest.raises(PriceFileError) as info:
        read_price_file(write(tmp_path, text))
    assert any(reason in r for _, r in info.value.problems), info.value.problems


def test_missing_file(tmp_path):
    with pytest.raises(PriceFileError) as info:
        read_price_file(tmp_path / "nope.json")
    assert info.value.problems[0][0] == "(file)" and "cannot read" in info.value.problems[0][1]
    assert "nope.json" in str(info.value)


def test_more_than_fifty_problems_are_summarised(tmp_path):
    models = {f"m{i}": {"provider": "x", "input": "-1", "output": "1"} for i in range(60)}
    with pytest.raises(PriceFileError) as info:
        read_price_file(write(tmp_path, {"schema": 1, "models": models}))
    assert len(info.value.problems) == 60 and "and 10 more" in str(info.value)
