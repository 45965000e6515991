"""The real ``openai`` client pointed at other providers' base URLs, over the wire server.

The client keeps the provider's own base URL (so the instrumentation sees
``api.deepseek.com``, ``openrouter.ai`` …); an httpx transport carries the request to the
local wire server instead of the internet. Every expected cost is worked out by hand
from genai-prices 0.2.3 (pinned in the ``test`` extra) and compared as an exact Decimal.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

import httpx
import openai
import pytest

from otel_llm_cost import config
from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.pricing import get_catalog, reset_catalog
from tests.wire import Reply

# The prices of DeepSeek, Groq, OpenRouter … come from genai-prices (a core dependency).

HELLO = [{"role": "user", "content": "Hello"}]
USAGE = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000}


class _ToWire(httpx.HTTPTransport):
    """Send every request to the wire server, whatever host the client was given."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path
        for prefix in (b"/api", b"/inference"):  # OpenRouter's, Fireworks'; the wire server routes /v1/
            if path.startswith(prefix + b"/v1/"):
                path = path[len(prefix):]
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port, raw_path=path)
        return super().handle_request(request)


def client(wire, base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="test", max_retries=0,
                         http_client=httpx.Client(transport=_ToWire(wire.port)))


@pytest.fixture
def otel(instrumented):
    return instrumented(OpenAIInstrumentor)


def _priced(span) -> tuple[str, str | None, Decimal | None, str | None]:
    a = span.attributes
    usd = a.get(s.LLM_COST_USD)
    return a[s.GEN_AI_PROVIDER_NAME], a.get(s.LLM_COST_STATUS), Decimal(usd) if usd else None, a.get(s.LLM_COST_MODEL)


@pytest.mark.parametrize(("base_url", "model", "provider", "usd", "entry"), [
    # Groq: 0.59 / 0.79 (groq/llama-3.3-70b-versatile)
    ("https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", "groq", "1.38", "groq/llama-3.3-70b-versatile"),
    # OpenRouter vendor/model names: 2.50 / 10.00 (openrouter/openai/gpt-4o)
    ("https://openrouter.ai/api/v1", "openai/gpt-4o", "openrouter", "12.5", "openrouter/openai/gpt-4o"),
    # Mistral: 0.15 / 0.60 (mistral/mistral-small-latest)
    ("https://api.mistral.ai/v1", "mistral-small-latest", "mistral_ai", "0.75", "mistral/mistral-small-latest"),
])
def test_base_url_names_the_provider_and_its_rates(wire, otel, base_url, model, provider, usd, entry):
    wire.enqueue(Reply(usage=USAGE, model=model))
    client(wire, base_url).chat.completions.create(model=model, messages=HELLO)
    span = otel.span()
    assert _priced(span) == (provider, s.STATUS_PRICED, Decimal(usd), entry)
    assert span.attributes[s.LLM_COST_CATALOG] == "genai-prices 0.2.3"


def test_mistral_large_latest_is_priced_as_mistral_large_3_by_our_list(wire, otel):
    # genai-prices 0.2.3 matches the alias to Mistral Large 2 (2.00 / 6.00: 8 USD here);
    # it points to Mistral Large 3 (mistral-large-2512): 0.50 / 1.50.
    wire.enqueue(Reply(usage=USAGE, model="mistral-large-latest"))
    client(wire, "https://api.mistral.ai/v1").chat.completions.create(model="mistral-large-latest", messages=HELLO)
    span = otel.span()
    assert _priced(span) == ("mistral_ai", s.STATUS_PRICED, Decimal("2"), "mistral-large-latest")
    assert span.attributes[s.LLM_COST_CATALOG] == get_catalog().version


def test_deepseek_peak_and_off_peak(wire, otel):
    # deepseek-chat: 0.27 / 1.10 from 00:30 to 16:30 UTC, 0.135 / 0.55 otherwise; the
    # span's start time decides.
    wire.enqueue(Reply(usage=USAGE, model="deepseek-chat"))
    client(wire, "https://api.deepseek.com/v1").chat.completions.create(model="deepseek-chat", messages=HELLO)
    span = otel.span()
    start = datetime.fromtimestamp(span.start_time / 1e9, UTC).time()
    usd = "1.37" if time(0, 30) <= start < time(16, 30) else "0.685"
    assert _priced(span) == ("deepseek", s.STATUS_PRICED, Decimal(usd), "deepseek/deepseek-chat")


def test_price_change_between_two_dates(wire, otel, monkeypatch):
    # mistral-medium-latest: 0.40 / 2.00 until 2026-06-15, 1.50 / 7.50 from 2026-06-16.
    # Each call is priced at the price of its own day, whatever the date it is priced on.
    import opentelemetry.sdk.trace as sdk_trace

    c = client(wire, "https://api.mistral.ai/v1")
    for day in ("2026-06-15", "2026-06-16"):
        stamp = int(datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp() * 1e9)
        monkeypatch.setattr(sdk_trace, "time_ns", lambda stamp=stamp: stamp)
        wire.enqueue(Reply(usage=USAGE, model="mistral-medium-latest"))
        c.chat.completions.create(model="mistral-medium-latest", messages=HELLO)
    before, after = sorted(otel.spans(), key=lambda sp: sp.start_time)
    assert _priced(before)[2:] == (Decimal("2.4"), "mistral/mistral-medium-latest")
    assert _priced(after)[2:] == (Decimal("9"), "mistral/mistral-medium-latest")


def test_a_first_party_model_name_at_another_provider_is_not_priced_at_first_party_rates(wire, otel):
    # gpt-4o is in our list at OpenAI's price; DeepSeek does not serve it: unknown, not 12.50.
    wire.enqueue(Reply(usage=USAGE, model="gpt-4o"))
    client(wire, "https://api.deepseek.com/v1").chat.completions.create(model="gpt-4o", messages=HELLO)
    assert _priced(otel.span()) == ("deepseek", s.STATUS_UNKNOWN_MODEL, None, None)


def test_azure_endpoint_is_azure_priced_from_our_list(wire, otel):
    wire.enqueue(Reply(usage=USAGE, model="gpt-4o-2024-08-06"))
    azure = openai.AzureOpenAI(azure_endpoint="https://contoso.openai.azure.com", api_key="test",
                               api_version="2024-10-21", max_retries=0,
                               http_client=httpx.Client(transport=_ToWire(wire.port)))
    azure.chat.completions.create(model="prod-4o", messages=HELLO)
    assert _priced(otel.span()) == ("azure.ai.openai", s.STATUS_PRICED, Decimal("12.5"), "gpt-4o")


def test_unknown_host_prices_only_from_our_list(wire, otel):
    # A self-hosted server: our exact model names price, another provider's list never does.
    wire.enqueue(Reply(usage=USAGE, model="gpt-4o-mini"))
    wire.enqueue(Reply(usage=USAGE, model="llama-3.3-70b-versatile"))
    c = client(wire, "http://vllm.internal:8000/v1")
    c.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    c.chat.completions.create(model="llama-3.3-70b-versatile", messages=HELLO)
    first, second = sorted(otel.spans(), key=lambda sp: sp.start_time)
    assert _priced(first) == ("openai", s.STATUS_PRICED, Decimal("0.75"), "gpt-4o-mini")
    assert _priced(second) == ("openai", s.STATUS_UNKNOWN_MODEL, None, None)


def test_declared_host_provider(wire, instrumented, monkeypatch):
    monkeypatch.setenv(s.ENV_PROVIDER_HOSTS, "llm-gw.corp=groq")
    config.clear_overrides()
    reset_catalog()
    inst = instrumented(OpenAIInstrumentor)
    wire.enqueue(Reply(usage=USAGE, model="llama-3.3-70b-versatile"))
    client(wire, "https://llm-gw.corp/v1").chat.completions.create(model="llama-3.3-70b-versatile",
                                                                   messages=HELLO)
    assert _priced(inst.span()) == ("groq", s.STATUS_PRICED, Decimal("1.38"), "groq/llama-3.3-70b-versatile")


@pytest.mark.parametrize(("tier", "usd"), [
    # gpt-5 (our list): standard 1.25 / 10.00, flex 0.625 / 5.00, priority 2.50 / 20.00
    ("default", "11.25"), ("flex", "5.625"), ("priority", "22.5"),
])
def test_served_tier_prices_the_call(wire, otel, tier, usd):
    wire.enqueue(Reply(usage=USAGE, model="gpt-5", service_tier=tier))
    client(wire, "https://api.openai.com/v1").chat.completions.create(model="gpt-5", messages=HELLO,
                                                                      service_tier=tier)
    span = otel.span()
    assert _priced(span) == ("openai", s.STATUS_PRICED, Decimal(usd), "gpt-5")
    assert span.attributes[s.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER] == tier


def test_openrouter_reported_cost_wins_and_ours_is_kept(wire, otel):
    # OpenRouter says 12.4 USD; our price from genai-prices is 12.5: theirs is the bill.
    wire.enqueue(Reply(usage={**USAGE, "cost": 12.4}, model="openai/gpt-4o"))
    client(wire, "https://openrouter.ai/api/v1").chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    a = otel.span().attributes
    assert (a[s.LLM_COST_USD], a[s.LLM_COST_COST_SOURCE], a[s.LLM_COST_LOCAL_USD]) == ("12.4", "provider", "12.5")
    assert a[s.LLM_COST_COMPONENT_PREFIX + "provider"] == "12.4"
    assert Decimal(a[s.LLM_COST_USD]) - Decimal(a[s.LLM_COST_LOCAL_USD]) == Decimal("-0.1")


def test_reported_cost_prices_a_model_we_do_not_know(wire, otel):
    wire.enqueue(Reply(usage={**USAGE, "cost": 0.000123}, model="acme/unlisted-1"))
    client(wire, "https://openrouter.ai/api/v1").chat.completions.create(model="acme/unlisted-1",
                                                                         messages=HELLO)
    a = otel.span().attributes
    assert (a[s.LLM_COST_STATUS], a[s.LLM_COST_USD], a[s.LLM_COST_COST_SOURCE]) == ("priced", "0.000123", "provider")
    assert s.LLM_COST_LOCAL_USD not in a


def test_reported_cost_streamed(wire, otel):
    wire.enqueue(Reply(usage={**USAGE, "cost": 12.5}, model="openai/gpt-4o"))
    stream = client(wire, "https://openrouter.ai/api/v1").chat.completions.create(
        model="openai/gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello!"
    a = otel.span().attributes
    # Both agree: the breakdown stays ours.
    assert (a[s.LLM_COST_USD], a[s.LLM_COST_COST_SOURCE], a[s.LLM_COST_LOCAL_USD]) == ("12.5", "provider", "12.5")
    assert Decimal(a[s.LLM_COST_COMPONENT_PREFIX + "input"]) + Decimal(a[s.LLM_COST_COMPONENT_PREFIX + "output"]) \
        == Decimal("12.5")


def test_cli_price_uses_the_provider(capsys):
    from otel_llm_cost.cli import main

    assert main(["price", "llama-3.3-70b-versatile", "--provider", "groq", "--json"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert (data["model"], data["prices"]["input"], data["prices"]["output"], data["catalog"]) == (
        "groq/llama-3.3-70b-versatile", "0.59", "0.79", "genai-prices 0.2.3")
    # Our first-party entry is not Groq's price.
    assert main(["price", "gpt-4o", "--provider", "groq"]) == 3


def test_cli_cost_rejects_inconsistent_counts(capsys):
    from otel_llm_cost.cli import main

    assert main(["cost", "--model", "gpt-4o", "--input", "10", "--output", "5", "--cache-read", "11"]) == 2
    assert main(["cost", "--model", "gpt-4o", "--input", "10", "--output", "5", "--reasoning", "6"]) == 2
    assert main(["cost", "--model", "gpt-4o", "--input", "10", "--output", "5", "--cache-write", "2",
                 "--cache-write-1h", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("inconsistent token counts") == 3 and "exceed --input (10)" in err


def test_cli_prices_names_source_and_version(capsys):
    from otel_llm_cost.cli import main

    assert main(["prices"]) == 0
    out = capsys.readouterr().out
    assert "  3. genai-prices: genai-prices 0.2.3, for models and providers our list does not have" in out


@pytest.mark.parametrize(("base_url", "model", "usage", "source", "amount"), [
    ("https://openrouter.ai/api/v1", "openai/gpt-4o", {**USAGE, "cost": 12.4}, "provider", 12.4),
    ("https://api.openai.com/v1", "gpt-4o", USAGE, "local", 12.5),
])
def test_proposed_cost_attributes_when_opted_in(wire, instrumented, monkeypatch, base_url, model, usage, source,
                                                amount):
    # semantic-conventions-genai #443 (open): gen_ai.usage.cost.{amount,currency,source}.
    monkeypatch.setenv("OTEL_LLM_COST_PROPOSED_COST_ATTRIBUTES", "true")
    inst = instrumented(OpenAIInstrumentor)
    wire.enqueue(Reply(usage=usage, model=model))
    client(wire, base_url).chat.completions.create(model=model, messages=HELLO)
    a = inst.span().attributes
    assert (a[s.GEN_AI_USAGE_COST_AMOUNT], a[s.GEN_AI_USAGE_COST_CURRENCY], a[s.GEN_AI_USAGE_COST_SOURCE]) \
        == (amount, "USD", source)
    assert a[s.GEN_AI_USAGE_COST_AMOUNT] == float(a[s.LLM_COST_USD]) == a[s.GEN_AI_USAGE_COST]


@pytest.mark.parametrize(("base_url", "model", "usage", "tier", "want"), [
    # OpenRouter's own cost is the bill; ours is kept beside it.
    ("https://openrouter.ai/api/v1", "openai/gpt-4o", {**USAGE, "cost": 12.4}, None,
     ("12.4", "provider", "12.4", "12.5", "default")),  # the wire server says "default"
    # gpt-5 served on flex: the flex rate, and the tier, are on the row.
    ("https://api.openai.com/v1", "gpt-5", USAGE, "flex", ("5.625", None, None, None, "flex")),
])
def test_the_ledger_row_says_which_price_was_used(wire, otel, tmp_path, base_url, model, usage, tier, want):
    import sqlite3

    from otel_llm_cost.ledger import LedgerSpanExporter

    wire.enqueue(Reply(usage=usage, model=model, **({"service_tier": tier} if tier else {})))
    client(wire, base_url).chat.completions.create(model=model, messages=HELLO,
                                                   **({"service_tier": tier} if tier else {}))
    span = otel.span()
    exporter = LedgerSpanExporter(tmp_path / "ledger.db")
    exporter.export([span])
    exporter.shutdown()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT * FROM llm_calls").fetchone()
    usd, source, component, local, served = want
    assert (row["cost_usd"], row["cost_source"], row["local_cost_usd"], row["service_tier"]) == (usd, source, local,
                                                                                                  served)
    assert row["catalog"] == span.attributes[s.LLM_COST_CATALOG] and row["catalog"]
    if component is not None:
        assert span.attributes[s.LLM_COST_COMPONENT_PREFIX + "provider"] == component


@pytest.mark.parametrize("cost", ["1e-17000", "1e-999990", -0.5, 1e9])
def test_a_reported_cost_out_of_range_is_refused_and_ours_stands(wire, otel, cost):
    # A gateway's "cost": "1e-999990" is finite and >= 0; written out in full it is a
    # megabyte on every span (and in the ledger). It is not a bill: our price stands.
    wire.enqueue(Reply(usage={**USAGE, "cost": cost}, model="openai/gpt-4o"))
    client(wire, "https://openrouter.ai/api/v1").chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    a = otel.span().attributes
    assert (a[s.LLM_COST_STATUS], a[s.LLM_COST_USD]) == ("priced", "12.5")
    assert s.LLM_COST_COST_SOURCE not in a and s.LLM_COST_LOCAL_USD not in a
    assert a[s.LLM_COST_REPORTED_COST_REFUSED] in ("nonzero below 1E-12 USD", "negative", "above 100000 USD")
    assert sum(len(str(v)) for v in a.values()) < 5_000


def test_base_url_changed_on_the_client_is_followed(wire, otel):
    # The endpoint's attributes and provider are worked out once per base URL, not once per
    # client: a client re-pointed between calls is priced and named for where it sends now.
    wire.enqueue(Reply(usage=USAGE, model="gpt-4o-mini"))
    wire.enqueue(Reply(usage=USAGE, model="llama-3.3-70b-versatile"))
    c = client(wire, "https://api.openai.com/v1")
    c.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    c.base_url = "https://api.groq.com/openai/v1"
    c.chat.completions.create(model="llama-3.3-70b-versatile", messages=HELLO)
    first, second = sorted(otel.spans(), key=lambda sp: sp.start_time)
    assert _priced(first) == ("openai", s.STATUS_PRICED, Decimal("0.75"), "gpt-4o-mini")
    assert first.attributes[s.SERVER_ADDRESS] == "api.openai.com"
    assert _priced(second) == ("groq", s.STATUS_PRICED, Decimal("1.38"), "groq/llama-3.3-70b-versatile")
    assert (second.attributes[s.SERVER_ADDRESS], second.attributes[s.SERVER_PORT]) == ("api.groq.com", 443)
