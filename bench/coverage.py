"""How much of what our users can call do we price, and do we agree with a second source?

    python -m bench.coverage                       # the routes table only: any install, no extras, no file
    python -m bench.coverage --litellm PATH/model_prices_and_context_window.json [--list]
    OTEL_LLM_COST_FALLBACK_PRICES_FILE=PATH/… python -m bench.coverage --litellm PATH/…   # with the fallback layer

The routes table (:data:`ROUTES`) prices widely used model ids at the providers the
``openai`` SDK reaches by base URL, as a call there is priced, on whatever is installed:
a plain ``pip install otel-llm-cost`` answers it as it stands.

The population is LiteLLM's price file (a second, independent source; get it with
``pip download litellm --no-deps`` and unzip ``litellm/model_prices_and_context_window_backup.json``):
its current (no past ``deprecation_date``) chat, responses and embedding models
priced per token, at the providers reachable through the SDKs we instrument — OpenAI,
Azure OpenAI, Anthropic (also on Bedrock and Vertex), Gemini / Vertex, and the
providers the ``openai`` SDK reaches by base URL (DeepSeek, Groq, Mistral, xAI,
Perplexity, Together, Fireworks, Cerebras, Moonshot, Z.ai). Each model is priced the
way a call is: ``price_usage(model, usage, provider=…)`` with the provider the
instrumentation would name. "Same" means the same input and output rate (and cache
read, where both list one), compared as exact Decimals.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, date
from decimal import Decimal

from otel_llm_cost.pricing import _snapshot

#: The providers and modes in scope: the same as the bundled snapshot's (one definition).
PROVIDERS = _snapshot.PROVIDERS
MODES = _snapshot.MODES
FIRST_PARTY = frozenset({"openai", "azure.ai.openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock"})
_MILLION = Decimal(1_000_000)


def population(data: dict, today: date) -> list[tuple[str, str, str, dict]]:
    """(LiteLLM key, our provider, model name as sent, entry) for every model in scope."""
    out = []
    for key, entry in data.items():
        if not isinstance(entry, dict) or entry.get("mode") not in MODES:
            continue
        provider = PROVIDERS.get(entry.get("litellm_provider", ""))
        if provider is None or "input_cost_per_token" not in entry:
            continue
        deprecated = entry.get("deprecation_date")
        if isinstance(deprecated, str) and deprecated[:10] < today.isoformat():
            continue
        prefix = entry["litellm_provider"] + "/"
        model = key[len(prefix):] if key.startswith(prefix) else key
        if provider == "aws.bedrock" and ("anthropic." not in model or "/" in model):
            continue  # only Anthropic's models reach Bedrock through an SDK we instrument
        if "/" in model and provider in ("azure.ai.openai", "gcp.gemini", "gcp.vertex_ai"):
            continue  # region- or deployment-scoped duplicates ("azure/eu/…")
        out.append((key, provider, model, entry))
    return out


def _rate(entry: dict, name: str) -> Decimal | None:
    value = entry.get(name)
    if value is None or isinstance(value, bool):
        return None
    return (Decimal(str(value)) * _MILLION).normalize()


def compare(rows: list[tuple[str, str, str, dict]]):
    from otel_llm_cost.cost import price_usage
    from otel_llm_cost.pricing import get_catalog
    from otel_llm_cost.usage import Usage

    catalog = get_catalog()
    # Small enough that no long-context tier applies: the base rates are compared.
    probe = Usage(input_tokens=1000, output_tokens=1000)
    unpriced, agree, differ = [], [], []
    for key, provider, model, entry in rows:
        cost = price_usage(model, probe, provider=provider)
        price = catalog.resolve(model, provider)
        if cost.usd is None or price is None:
            unpriced.append((key, provider))
            continue
        ours = {"input": price.rates.input.normalize(), "output": price.rates.output.normalize()}
        theirs = {"input": _rate(entry, "input_cost_per_token"), "output": _rate(entry, "output_cost_per_token")}
        cache = _rate(entry, "cache_read_input_token_cost")
        if cache is not None and price is not None and "cache_read_input_token_cost" in entry:
            ours["cache_read"] = price.rates.cache_read.normalize()
            theirs["cache_read"] = cache
        if theirs.get("output") is None and entry.get("mode") == "embedding":
            theirs["output"] = Decimal(0)
        diffs = {k: (ours[k], theirs[k]) for k in ours if theirs.get(k) is not None and ours[k] != theirs[k]}
        (differ if diffs else agree).append((key, provider, cost.model, cost.catalog, diffs))
    return unpriced, agree, differ


#: The layers, top first, as the table names them.
LAYERS = ("your files", "our list", "genai-prices", "bundled snapshot", "fallback file")
#: Priced from LiteLLM's own data: LiteLLM is no second source for these.
FROM_LITELLM = frozenset(("bundled snapshot", "fallback file"))


def _layer_of():
    """catalog name on a priced call -> the layer that priced it (for the current catalog)."""
    from otel_llm_cost.pricing import get_catalog

    catalog = get_catalog()
    fallback = catalog.fallback
    bottom = {e.origin for e in fallback.entries().values()} if fallback is not None else set()
    snapshot = fallback is not None and fallback.version.endswith("(bundled snapshot)")

    def layer(text: str | None) -> str:
        text = text or ""
        if text in bottom:
            return "bundled snapshot" if snapshot else "fallback file"
        if snapshot and text.endswith(", retired)") and text.startswith("litellm "):
            return "bundled snapshot"
        if text.startswith("genai-prices"):
            return "genai-prices"
        return "our list" if text == catalog.base_origin else "your files"

    return layer


def genai_population() -> tuple[list[tuple[str, str]], int]:
    """(our provider, model name as sent) of genai-prices' current token-priced models at the same
    providers; and how many of its ids its own matching does not find (bucket names such as
    Bedrock's ``regional.…``: no call sends them). Fireworks names are sent as
    ``accounts/fireworks/models/<id>``."""
    from datetime import datetime

    from genai_prices import data_snapshot

    from otel_llm_cost.pricing._genai import PROVIDER_IDS

    ours: dict[str, str] = {}
    for provider in PROVIDERS.values():
        ours.setdefault(PROVIDER_IDS[provider], provider)
    now = datetime.now(UTC)
    snapshot = data_snapshot.get_snapshot()
    out, unmatched = [], 0
    for provider in snapshot.providers:
        if provider.id not in ours:
            continue
        for model in provider.models:
            if getattr(model, "deprecated", False):
                continue
            prices = model.get_prices(now)
            if getattr(prices, "input_mtok", None) is None and getattr(prices, "output_mtok", None) is None:
                continue
            name = f"accounts/fireworks/models/{model.id}" if provider.id == "fireworks" else model.id
            if provider.find_model(name, all_providers=snapshot.providers) is None:
                unmatched += 1
                continue
            out.append((ours[provider.id], name))
    return out, unmatched


def _genai_coverage() -> None:
    from otel_llm_cost.cost import price_usage
    from otel_llm_cost.pricing import Catalog, get_catalog
    from otel_llm_cost.usage import Usage

    rows, unmatched = genai_population()
    catalog = get_catalog()
    without = Catalog(catalog.entries().values(), version=catalog.version, fallback=catalog.fallback)
    probe = Usage(input_tokens=1000, output_tokens=1000)
    layer = _layer_of()
    by_layer: Counter[str] = Counter()
    alone = 0
    for provider, model in rows:
        cost = price_usage(model, probe, provider=provider)
        if cost.usd is not None:
            by_layer[layer(cost.catalog)] += 1
        if price_usage(model, probe, provider=provider, catalog=without).usd is not None:
            alone += 1
    total = len(rows)
    priced = sum(by_layer.values())
    print(f"\ngenai-prices' own current token-priced models at the same providers: {total} "
          f"({unmatched} more ids its own matching does not find left out)")
    print(f"priced by default: {priced} = {100 * priced / max(total, 1):.1f} % ("
          + ", ".join(f"{name} {by_layer[name]}" for name in LAYERS if by_layer[name]) + ")")
    print(f"priced without genai-prices (our list + the bottom layer): {alone} = {100 * alone / max(total, 1):.1f} %")


#: (base URL host, model id as sent): widely used ids, retired ones included (calls to them
#: are still in flight, in ledgers and in replays).
ROUTES: tuple[tuple[str, str], ...] = (
    ("api.deepseek.com", "deepseek-chat"),
    ("api.deepseek.com", "deepseek-reasoner"),
    ("api.groq.com", "llama-3.3-70b-versatile"),
    ("api.groq.com", "llama-3.1-8b-instant"),
    ("api.x.ai", "grok-3"),
    ("api.x.ai", "grok-3-mini"),
    ("api.mistral.ai", "mistral-large-latest"),
    ("api.mistral.ai", "mistral-small-latest"),
    ("api.perplexity.ai", "sonar"),
    ("api.perplexity.ai", "sonar-pro"),
    ("openrouter.ai", "openai/gpt-4o"),
    ("openrouter.ai", "anthropic/claude-sonnet-4"),
    ("api.together.xyz", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ("api.together.xyz", "deepseek-ai/DeepSeek-V3"),
)


def routes_table() -> int:
    """Print which :data:`ROUTES` are priced, by which layer, at what rates; returns how many are."""
    from otel_llm_cost.cost import price_usage
    from otel_llm_cost.pricing import get_catalog
    from otel_llm_cost.pricing._providers import provider_for_host
    from otel_llm_cost.usage import Usage

    catalog = get_catalog()
    layer = _layer_of()
    probe = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    installed = "installed" if catalog.source is not None else "not installed or off"
    print(f"openai-SDK calls to other providers (genai-prices {installed}):\n")
    print("| provider | model | priced | layer | USD for 1M in + 1M out | catalog |")
    print("|---|---|---|---|---|---|")
    priced = 0
    for host, model in ROUTES:
        provider = provider_for_host(host) or "openai"
        cost = price_usage(model, probe, provider=provider)
        if cost.usd is None:
            print(f"| {provider} | `{model}` | no | | | {cost.status} |")
            continue
        priced += 1
        print(f"| {provider} | `{model}` | yes | {layer(cost.catalog)} | {cost.usd.normalize():f} | {cost.catalog} |")
    print(f"\npriced: {priced} of {len(ROUTES)}")
    return priced


def _pct(n: int, total: int) -> str:
    return f"{n} ({100 * n / max(total, 1):.1f} %)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--litellm", help="LiteLLM's model_prices_and_context_window.json (without it: "
                        "the routes table only)")
    parser.add_argument("--list", action="store_true", help="list the unpriced models and every disagreement")
    parser.add_argument("--genai", action="store_true",
                        help="also: coverage of genai-prices' own model list at the same providers")
    args = parser.parse_args(argv)
    routes_table()
    if not args.litellm:
        return 0
    print()
    with open(args.litellm, encoding="utf-8") as fh:
        data = json.load(fh)
    rows = population(data, date.today())
    unpriced, agree, differ = compare(rows)
    layer = _layer_of()
    total = len(rows)
    priced = total - len(unpriced)
    layers = Counter(layer(catalog) for _, _, _, catalog, _ in agree + differ)
    second = [r for r in agree + differ if layer(r[3]) not in FROM_LITELLM]
    same = [r for r in agree if layer(r[3]) not in FROM_LITELLM]
    single = priced - len(second)
    print(f"models in scope: {total} (LiteLLM file, current chat/responses/embedding, instrumented SDKs)")
    print(f"priced:          {priced} = {100 * priced / total:.1f} %")
    print("priced by layer: " + ", ".join(f"{name} {layers[name]}" for name in LAYERS if layers[name]))
    print(f"same as LiteLLM: {len(same)} of the {len(second)} priced by a layer other than LiteLLM's own data "
          f"({100 * len(same) / max(len(second), 1):.1f} %); single-sourced (LiteLLM's data only): {single}")
    in_scope = Counter(provider for _, provider, _, _ in rows)
    by = {name: Counter(p for _, p, _, c, _ in agree + differ if layer(c) == name) for name in LAYERS}
    same_by = Counter(p for _, p, _, _, _ in same)
    second_by = Counter(p for _, p, _, _, _ in second)
    shown = [name for name in LAYERS if layers[name]]
    print("\n| provider | models | priced | " + " | ".join(shown)
          + " | same as LiteLLM (of those not priced by LiteLLM's data) |")
    print("|---" * (4 + len(shown)) + "|")
    groups = (("SDK-native (OpenAI, Azure, Anthropic, Gemini/Vertex, Bedrock-Anthropic)", True),
              ("by base URL (openai SDK)", False), ("all", None))
    for label, native in groups:
        names = [p for p in in_scope if native is None or (p in FIRST_PARTY) == native]
        _row(f"**{label}**", names, in_scope, unpriced, by, shown, same_by, second_by)
    for p, _ in in_scope.most_common():
        _row(p, [p], in_scope, unpriced, by, shown, same_by, second_by)
    if args.genai:
        _genai_coverage()
    if args.list:
        print("\n## unpriced")
        for key, provider in unpriced:
            print(f"- `{key}` ({provider})")
        print("\n## priced differently (ours vs LiteLLM, USD per 1M tokens)")
        for key, provider, entry, catalog, diffs in differ:
            text = "; ".join(f"{k} {a:f} vs {b:f}" for k, (a, b) in diffs.items())
            print(f"- `{key}` ({provider}, ours: `{entry}` from {catalog}): {text}")
    return 0


def _row(label, names, in_scope, unpriced, by, shown, same_by, second_by) -> None:
    n = sum(in_scope[p] for p in names)
    missing = sum(1 for _, p in unpriced if p in names)
    cells = [str(sum(by[name][p] for p in names)) for name in shown]
    checked = sum(second_by[p] for p in names)
    same = sum(same_by[p] for p in names)
    print(f"| {label} | {n} | {_pct(n - missing, n)} | " + " | ".join(cells)
          + f" | {same} of {checked} ({100 * same / max(checked, 1):.1f} %) |")


if __name__ == "__main__":
    sys.exit(main())
