"""Model-name resolution: decorations, aliases, no prefix matching, hostile names."""
import pytest

from otel_llm_cost import semconv
from otel_llm_cost.pricing import _catalog, add_aliases, bundled_catalog, get_catalog

CAT = bundled_catalog()


@pytest.mark.parametrize("name,key", [
    ("gpt-4o", "gpt-4o"),
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-11-20", "gpt-4o"),
    ("GPT-4o", "gpt-4o"),
    ("  gpt-4o ", "gpt-4o"),
    ("openai/gpt-4o", "gpt-4o"),
    ("azure/openai/gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("anthropic/claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("models/gemini-2.0-flash", "gemini-2.0-flash"),
    ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ("gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
    ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("vertex_ai/claude-sonnet-4@20250514", "claude-sonnet-4"),
    ("gpt-4-0613", "gpt-4"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ("openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
])
def test_resolves(name, key):
    assert CAT.resolve(name).key == key


def test_dated_snapshot_with_own_price():
    own = CAT.resolve("gpt-4o-2024-05-13")
    assert (own.rates.input, own.rates.output) != (CAT.resolve("gpt-4o").rates.input,
                                                   CAT.resolve("gpt-4o").rates.output)
    assert str(own.rates.input) == "5.00"


@pytest.mark.parametrize("name", ["gpt-4o-mini", "gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"])
def test_mini_never_resolves_to_gpt4o(name):
    assert CAT.resolve(name).key == "gpt-4o-mini"


@pytest.mark.parametrize("name", ["gpt-4o-ultra", "gpt-4o-mini-tts-x", "claude-sonnet-4-9",
                                  "gpt", "gemini", "o", "ft:gpt-4o-mini:org::abc"])
def test_no_prefix_matching(name):
    assert CAT.resolve(name) is None


def test_every_key_and_every_longer_key_resolves_to_itself():
    keys = list(CAT.entries())
    for k in keys:
        assert CAT.resolve(k).key == k
        assert CAT.resolve(k.upper()).key == k
        assert CAT.resolve(f"openai/{k}").key == k
        for k2 in keys:
            if k2 != k and k2.startswith(k):
                assert CAT.resolve(k2).key == k2, (k, k2)


def test_every_key_with_a_dated_suffix_resolves_to_itself():
    for k in CAT.entries():
        assert CAT.resolve(f"{k}-2031-01-02").key == k
        assert CAT.resolve(f"{k}-20310102").key == k


def test_every_alias_resolves_to_its_entry():
    for entry in CAT.entries().values():
        for alias in entry.aliases:
            assert CAT.resolve(alias) is entry


@pytest.mark.parametrize("name", [
    "x" * 100_000, "gpt-4o" + "-2024-08-06" * 10_000, "a/" * 50_000 + "gpt-4o",
    "gpt-4o\x00", "gpt\x00-4o", "gpt-4o\x1b[31m", "\x00", "gpt-4o\u202e", "gpt-\u00004o-mini",
    "\udcff", "",
])
def test_hostile_names_are_none(name):
    assert CAT.resolve(name) is None


@pytest.mark.parametrize("name", [None, 42, b"gpt-4o", ["gpt-4o"]])
def test_non_strings_are_none(name):
    assert CAT.resolve(name) is None


def test_resolution_cache_is_bounded():
    cat = bundled_catalog().merged(())
    for i in range(3 * _catalog._RESOLVE_CACHE_MAX):
        cat.resolve(f"unknown-model-{i}", provider="p" * (i % 7))
    assert len(cat._cache) <= _catalog._RESOLVE_CACHE_MAX
    cat.resolve("y" * 100_000)
    assert all(len(k) <= 256 for k in cat._cache)
    assert cat.resolve("gpt-4o").key == "gpt-4o"


def test_alias_env(monkeypatch):
    monkeypatch.setenv(semconv.ENV_MODEL_ALIASES, "My-Azure-GPT4o=gpt-4o, mini-deploy=gpt-4o-mini,bad")
    cat = get_catalog()
    assert cat.resolve("my-azure-gpt4o").key == "gpt-4o"
    assert cat.resolve("MY-AZURE-GPT4O").key == "gpt-4o"
    assert cat.resolve("mini-deploy").key == "gpt-4o-mini"


def test_alias_api_and_chains_in_any_order(caplog):
    add_aliases({"prod": "staging-deploy", "staging-deploy": "claude-sonnet-4-20250514", "x": "nope"})
    cat = get_catalog()
    assert cat.resolve("prod").key == "claude-sonnet-4"
    assert cat.resolve("staging-deploy").key == "claude-sonnet-4"
    assert cat.resolve("x") is None
    assert "'x'" in caplog.text and "nope" in caplog.text


def test_alias_survives_later_price_file(tmp_path):
    from otel_llm_cost.pricing import load_prices
    add_aliases({"my-deploy": "gpt-4o"})
    f = tmp_path / "p.json"
    f.write_text('{"schema": 1, "models": {"gpt-4o": {"input": "9"}}}')
    load_prices(f)
    assert str(get_catalog().resolve("my-deploy").rates.input) == "9"
