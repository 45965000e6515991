"""How much of what our users can call do we price, and do we agree with a second source?

    python -m bench.coverage --litellm PATH/model_prices_and_context_window.json [--list]
    OTEL_LLM_COST_FALLBACK_PRICES_FILE=PATH/… python -m bench.coverage --litellm PATH/…   # with the fallback layer

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
from datetime import date
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


def _layer(catalog: str | None) -> str:
    import os

    from otel_llm_cost import semconv

    text = catalog or ""
    fallback = os.environ.get(semconv.ENV_FALLBACK_PRICES_FILE, "")
    if fallback and text in fallback.split(os.pathsep):
        return "fallback file"
    return "genai-prices" if text.startswith("genai-prices") else "our list"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coverage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--litellm", required=True, help="LiteLLM's model_prices_and_context_window.json")
    parser.add_argument("--list", action="store_true", help="list the unpriced models and every disagreement")
    args = parser.parse_args(argv)
    with open(args.litellm, encoding="utf-8") as fh:
        data = json.load(fh)
    rows = population(data, date.today())
    unpriced, agree, differ = compare(rows)
    total = len(rows)
    priced = total - len(unpriced)
    print(f"models in scope: {total} (LiteLLM file, current chat/responses/embedding, instrumented SDKs)")
    print(f"priced:          {priced} = {100 * priced / total:.1f} %")
    print(f"same as LiteLLM: {len(agree)} = {100 * len(agree) / total:.1f} % of all, "
          f"{100 * len(agree) / max(priced, 1):.1f} % of priced")
    layers = Counter(_layer(catalog) for _, _, _, catalog, _ in agree + differ)
    print("priced by layer: " + ", ".join(f"{name} {n}" for name, n in layers.most_common()))
    fallback = layers.get("fallback file", 0)
    if fallback:
        same_above = sum(1 for _, _, _, c, _ in agree if _layer(c) != "fallback file")
        above = priced - fallback
        print(f"without the fallback file: priced {above} = {100 * above / total:.1f} %, "
              f"same as LiteLLM {same_above} = {100 * same_above / max(above, 1):.1f} % of those")
    in_scope = Counter(provider for _, provider, _, _ in rows)
    missing = Counter(p for _, p in unpriced)
    same = Counter(p for _, p, _, _, _ in agree)
    print("\n| provider | models | priced | same as LiteLLM |\n|---|---|---|---|")
    groups = (("SDK-native (OpenAI, Azure, Anthropic, Gemini/Vertex, Bedrock-Anthropic)", FIRST_PARTY),
              ("by base URL (openai SDK)", None))
    for label, members in groups:
        names = [p for p in in_scope if (p in FIRST_PARTY) == (members is not None)]
        n = sum(in_scope[p] for p in names)
        ok = n - sum(missing[p] for p in names)
        eq = sum(same[p] for p in names)
        print(f"| **{label}** | {n} | {ok} ({100 * ok / max(n, 1):.1f} %) | {eq} ({100 * eq / max(n, 1):.1f} %) |")
    for p, n in in_scope.most_common():
        ok = n - missing[p]
        print(f"| {p} | {n} | {ok} ({100 * ok / n:.1f} %) | {same[p]} ({100 * same[p] / n:.1f} %) |")
    if args.list:
        print("\n## unpriced")
        for key, provider in unpriced:
            print(f"- `{key}` ({provider})")
        print("\n## priced differently (ours vs LiteLLM, USD per 1M tokens)")
        for key, provider, entry, catalog, diffs in differ:
            text = "; ".join(f"{k} {a:f} vs {b:f}" for k, (a, b) in diffs.items())
            print(f"- `{key}` ({provider}, ours: `{entry}` from {catalog}): {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
