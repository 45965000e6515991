"""The bundled LiteLLM snapshot: what it holds, and the bottom layer it is by default.

The content tests read the bundled file only (no network): every entry follows the
snapshot's own rules, and building the snapshot again from its own entries gives the
same bytes. The layer tests drive the real ``openai`` and ``anthropic`` clients over
the wire server; every expected cost is worked out by hand from the snapshot's entry.
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from importlib import resources

import anthropic
import pytest

from bench import coverage
from otel_llm_cost import config
from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.pricing import _snapshot, bundled_snapshot, get_catalog, reset_catalog
from otel_llm_cost.pricing._loading import parse_price_data
from tests.pricing.test_provider_endpoints import HELLO, USAGE, _priced, client
from tests.wire import Reply

SNAPSHOT = _snapshot.read_bundled()
LABEL = f"litellm {SNAPSHOT['litellm_version']} (bundled snapshot)"


def _layers(monkeypatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.clear_overrides()
    reset_catalog()


@pytest.fixture
def otel(instrumented):
    return instrumented(OpenAIInstrumentor)


# -- what the file holds -------------------------------------------------------------------


def test_every_entry_follows_the_snapshot_rules():
    as_of = date.fromisoformat(SNAPSHOT["as_of"])
    entries = SNAPSHOT["entries"]
    assert len(entries) > 800
    for key, entry in entries.items():
        assert entry["litellm_provider"] in _snapshot.PROVIDERS, key
        assert entry["mode"] in _snapshot.MODES, key
        price = entry["input_cost_per_token"]
        assert isinstance(price, (int, float)) and not isinstance(price, bool), key
        assert "output_cost_per_token" in entry or entry["mode"] == "embedding", key
        retired = _snapshot.retired_on(entry, as_of)
        assert retired is None or (as_of - retired).days <= _snapshot.RETIRED_KEPT_DAYS, key
        assert all(_snapshot.kept_field(name) for name in entry), key
        assert _snapshot.in_scope(key, entry, as_of), key


def test_rebuilding_from_its_own_entries_gives_the_same_bytes():
    text = resources.files("otel_llm_cost.pricing").joinpath(_snapshot.FILE_NAME).read_text("ascii")
    rebuilt = _snapshot.build(SNAPSHOT["entries"], SNAPSHOT["litellm_version"],
                              date.fromisoformat(SNAPSHOT["as_of"]))
    assert _snapshot.dumps(rebuilt) == text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) + "\n"


def test_build_keeps_only_what_the_rules_say():
    data = {
        "sample_spec": {"mode": "chat"},
        "fireworks_ai/accounts/fireworks/models/a": {
            "litellm_provider": "fireworks_ai", "mode": "chat", "input_cost_per_token": 1e-06,
            "output_cost_per_token": 2e-06, "max_tokens": 8192, "supports_vision": True,
            "input_cost_per_token_above_200k_tokens": 2e-06, "output_cost_per_token_flex": 1e-06},
        "gone": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
                 "deprecation_date": "2024-11-30"},
        "retired": {"litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 1e-06,
                    "deprecation_date": "2026-11-30"},
        "image": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_token": 1e-06},
        "per-second": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_second": 1e-04},
        "elsewhere": {"litellm_provider": "deepinfra", "mode": "chat", "input_cost_per_token": 1e-06},
        "azure/eu/gpt-x": {"litellm_provider": "azure", "mode": "chat", "input_cost_per_token": 1e-06},
    }
    built = _snapshot.build(data, "9.9.9", date(2026, 12, 1))
    assert built["litellm_version"] == "9.9.9" and built["as_of"] == "2026-12-01"
    assert built["entries"] == {"fireworks_ai/accounts/fireworks/models/a": {
        "litellm_provider": "fireworks_ai", "mode": "chat", "input_cost_per_token": 1e-06,
        "output_cost_per_token": 2e-06, "input_cost_per_token_above_200k_tokens": 2e-06,
        "output_cost_per_token_flex": 1e-06}, "retired": {
        "litellm_provider": "deepseek", "mode": "chat", "input_cost_per_token": 1e-06,
        "deprecation_date": "2026-11-30"}}


def test_recently_retired_entries_are_kept():
    as_of = date.fromisoformat(SNAPSHOT["as_of"])
    retired = [key for key, entry in SNAPSHOT["entries"].items() if _snapshot.retired_on(entry, as_of)]
    # deepseek-chat was retired on 2026-07-24 and is still called under that name.
    assert len(retired) > 100 and "deepseek/deepseek-chat" in retired


def test_every_entry_is_read_and_priced_exactly():
    parsed = parse_price_data(SNAPSHOT["entries"], LABEL)
    assert len(parsed.entries) == len(SNAPSHOT["entries"]) and parsed.skipped == ()
    by_key = {e.key: e for e in parsed.entries}
    for key, raw in SNAPSHOT["entries"].items():
        # str(float) -> Decimal, shifted by six places: LiteLLM's digits, exactly.
        assert by_key[key.lower()].rates.input == Decimal(str(raw["input_cost_per_token"])).scaleb(6), key


def test_the_coverage_bench_measures_the_same_providers():
    assert coverage.PROVIDERS is _snapshot.PROVIDERS and coverage.MODES is _snapshot.MODES


# -- the layer, over the wire -------------------------------------------------------------


def test_snapshot_prices_a_third_party_model_no_other_layer_has(wire, otel):
    # fireworks_ai/accounts/fireworks/models/yi-large: 3e-06 / 3e-06 per token = 3 / 3 per 1M.
    wire.enqueue(Reply(usage=USAGE, model="accounts/fireworks/models/yi-large"))
    client(wire, "https://api.fireworks.ai/inference/v1").chat.completions.create(
        model="accounts/fireworks/models/yi-large", messages=HELLO)
    span = otel.span()
    assert _priced(span) == ("fireworks", s.STATUS_PRICED, Decimal("6"),
                             "fireworks_ai/accounts/fireworks/models/yi-large")
    assert span.attributes[s.LLM_COST_CATALOG] == LABEL == "litellm 1.110.2 (bundled snapshot)"


def test_snapshot_context_tier(wire, otel):
    # daybreak-blue-latest (OpenAI, snapshot only): 4 / 20 per 1M, above 272k input tokens 8 / 30.
    wire.enqueue(Reply(usage={"prompt_tokens": 272_001, "completion_tokens": 1000, "total_tokens": 273_001},
                       model="daybreak-blue-latest"))
    client(wire, "https://api.openai.com/v1").chat.completions.create(model="daybreak-blue-latest",
                                                                      messages=HELLO)
    # 272001 * 8 / 1M + 1000 * 30 / 1M
    assert _priced(otel.span())[1:] == (s.STATUS_PRICED, Decimal("2.206008"), "daybreak-blue-latest")


def test_a_retired_model_is_priced_and_marked_retired(wire, instrumented, monkeypatch):
    # claude-mythos-preview: retired 2026-06-09, in the snapshot only: 1e-05 / 5e-05 per token.
    _layers(monkeypatch)
    inst = instrumented(AnthropicInstrumentor)
    wire.enqueue(Reply(usage={"input_tokens": 1_000_000, "output_tokens": 1_000_000},
                       model="claude-mythos-preview"))
    anthropic.Anthropic(base_url=wire.base_url, api_key="test", max_retries=0).messages.create(
        model="claude-mythos-preview", max_tokens=10, messages=HELLO)
    a = inst.span().attributes
    assert (a[s.LLM_COST_USD], a[s.LLM_COST_MODEL], a[s.LLM_COST_CATALOG]) == (
        "60", "claude-mythos-preview", "litellm 1.110.2 (bundled snapshot, retired)")
    assert get_catalog().resolve("claude-mythos-preview", "anthropic").source.endswith("; retired 2026-06-09")


def test_snapshot_batch_price_of_an_anthropic_model(wire, instrumented):
    inst = instrumented(AnthropicInstrumentor)
    wire.enqueue(Reply(usage={"input_tokens": 1_000_000, "output_tokens": 1_000_000}, model="claude-mythos-5"))
    anthropic.Anthropic(base_url=wire.base_url, api_key="test", max_retries=0).messages.create(
        model="claude-mythos-5", max_tokens=10, messages=HELLO)
    a = inst.span().attributes
    # claude-mythos-5: 1e-05 / 5e-05 per token = 10 / 50 per 1M
    assert (a[s.LLM_COST_USD], a[s.LLM_COST_MODEL], a[s.LLM_COST_CATALOG]) == ("60", "claude-mythos-5", LABEL)


def test_never_for_an_unknown_host_nor_another_providers_entry(wire, otel):
    wire.enqueue(Reply(usage=USAGE, model="accounts/fireworks/models/yi-large"))
    wire.enqueue(Reply(usage=USAGE, model="daybreak-blue-latest"))
    client(wire, "http://vllm.internal:8000/v1").chat.completions.create(
        model="accounts/fireworks/models/yi-large", messages=HELLO)
    # An OpenAI entry of the snapshot is not Groq's price.
    client(wire, "https://api.groq.com/openai/v1").chat.completions.create(
        model="daybreak-blue-latest", messages=HELLO)
    first, second = sorted(otel.spans(), key=lambda sp: sp.start_time)
    assert _priced(first) == ("openai", s.STATUS_UNKNOWN_MODEL, None, None)
    assert _priced(second) == ("groq", s.STATUS_UNKNOWN_MODEL, None, None)


def test_switched_off_with_none(wire, instrumented, monkeypatch):
    _layers(monkeypatch, **{s.ENV_FALLBACK_PRICES_FILE: "none"})
    inst = instrumented(OpenAIInstrumentor)
    wire.enqueue(Reply(usage=USAGE, model="accounts/fireworks/models/yi-large"))
    client(wire, "https://api.fireworks.ai/inference/v1").chat.completions.create(
        model="accounts/fireworks/models/yi-large", messages=HELLO)
    assert _priced(inst.span()) == ("fireworks", s.STATUS_UNKNOWN_MODEL, None, None)
    assert get_catalog().fallback is None


def test_a_users_fallback_file_replaces_it(wire, instrumented, monkeypatch, tmp_path):
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps({"fireworks_ai/accounts/fireworks/models/yi-large": {
        "litellm_provider": "fireworks_ai", "mode": "chat", "input_cost_per_token": 2.5e-06,
        "output_cost_per_token": 2.5e-06}}))
    _layers(monkeypatch, **{s.ENV_FALLBACK_PRICES_FILE: str(path)})
    inst = instrumented(OpenAIInstrumentor)
    wire.enqueue(Reply(usage=USAGE, model="accounts/fireworks/models/yi-large"))
    wire.enqueue(Reply(usage=USAGE, model="daybreak-blue-latest"))
    client(wire, "https://api.fireworks.ai/inference/v1").chat.completions.create(
        model="accounts/fireworks/models/yi-large", messages=HELLO)
    client(wire, "https://api.openai.com/v1").chat.completions.create(model="daybreak-blue-latest", messages=HELLO)
    first, second = sorted(inst.spans(), key=lambda sp: sp.start_time)
    assert _priced(first)[1:] == (s.STATUS_PRICED, Decimal("5"), "fireworks_ai/accounts/fireworks/models/yi-large")
    assert first.attributes[s.LLM_COST_CATALOG] == str(path)
    # Replaced, not merged: a model only the snapshot has is unknown now.
    assert _priced(second)[1] == s.STATUS_UNKNOWN_MODEL


def test_an_unreadable_fallback_file_keeps_the_snapshot(monkeypatch, tmp_path, caplog):
    _layers(monkeypatch, **{s.ENV_FALLBACK_PRICES_FILE: str(tmp_path / "missing.json")})
    assert get_catalog().fallback is bundled_snapshot()
    assert "keeping the bundled LiteLLM snapshot" in caplog.text


def test_price_source_bundled_keeps_what_ships_in_the_package(monkeypatch):
    # genai-prices off; our list and the snapshot stay (both ship in the package).
    _layers(monkeypatch, **{s.ENV_PRICE_SOURCE: "bundled"})
    catalog = get_catalog()
    assert catalog.source is None and catalog.fallback is not None and catalog.fallback.version == LABEL


def test_user_file_version_names_the_catalog(wire, instrumented, monkeypatch, tmp_path):
    versioned, plain = tmp_path / "ours.json", tmp_path / "plain.json"
    versioned.write_text(json.dumps({"schema": 1, "version": "2026.12.01",
                                     "models": {"my-model": {"provider": "acme", "input": "1", "output": "1"}}}))
    plain.write_text(json.dumps({"schema": 1, "models": {"my-other": {"provider": "acme", "input": "1",
                                                                       "output": "1"}}}))
    _layers(monkeypatch, **{s.ENV_PRICES_FILE: os.pathsep.join((str(versioned), str(plain)))})
    inst = instrumented(OpenAIInstrumentor)
    wire.enqueue(Reply(usage=USAGE, model="my-model"))
    wire.enqueue(Reply(usage=USAGE, model="my-other"))
    c = client(wire, "https://api.openai.com/v1")
    c.chat.completions.create(model="my-model", messages=HELLO)
    c.chat.completions.create(model="my-other", messages=HELLO)
    first, second = sorted(inst.spans(), key=lambda sp: sp.start_time)
    assert first.attributes[s.LLM_COST_CATALOG] == f"{versioned} (2026.12.01)"
    assert second.attributes[s.LLM_COST_CATALOG] == str(plain)


def test_the_coverage_routes_table_needs_no_file_and_prices_every_route(capsys, monkeypatch):
    # The routes a plain install must price (issue #29): genai-prices is a core dependency,
    # and retired ids stay in the snapshot under it.
    _layers(monkeypatch)
    assert coverage.main([]) == 0
    out = capsys.readouterr().out
    assert f"priced: {len(coverage.ROUTES)} of {len(coverage.ROUTES)}" in out
    assert "| deepseek | `deepseek-chat` | yes | genai-prices |" in out


def test_without_genai_prices_the_snapshot_still_prices_retired_routes(capsys, monkeypatch):
    _layers(monkeypatch, OTEL_LLM_COST_PRICE_SOURCE="bundled")
    coverage.routes_table()
    out = capsys.readouterr().out
    # deepseek/deepseek-chat: retired 2026-07-24, 2.8e-07 / 4.2e-07 per token.
    assert ("| deepseek | `deepseek-chat` | yes | bundled snapshot | 0.7 | "
            "litellm 1.110.2 (bundled snapshot, retired) |") in out
