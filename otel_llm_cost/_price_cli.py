"""``otel-llm-cost price``, ``cost`` and ``prices``: the catalog entry of a model, the exact
cost of one call's token counts, and the whole price list (or a price file checked).

They live apart from ``cli`` (the dispatcher) because they need the price catalog:
a command that does not (``report`` reads the ledger only) starts without importing it.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import config, semconv
from ._terminal import printable
from .cli import EXIT_IO, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE
from .cost import compute_cost, format_usd
from .pricing import Catalog, ModelPrice, PriceFileError, get_catalog, read_price_file
from .usage import CHARGES, MAX_TOKENS, Usage

__all__ = ["add_command", "known_providers"]


def _rates_dict(rates) -> dict[str, str]:
    # An audio or image rate left out (None) is the text rate: not printed.
    return {name: format_usd(value) for name in rates.__slots__ if (value := getattr(rates, name)) is not None}

def _entry_dict(entry: ModelPrice) -> dict:
    return {
        "model": entry.key,
        "provider": entry.provider,
        "unit": "USD per 1M tokens",
        "prices": _rates_dict(entry.rates),
        "tiers": [{"above_input_tokens": t, **_rates_dict(r)} for t, r in entry.tiers],
        "service_tiers": {name: _rates_dict(r) for name, r in entry.service_tiers.items()},
        "per_1k_calls": {name: format_usd(v) for name, v in entry.per_1k_calls.items()},
        "aliases": list(entry.aliases),
        "source": entry.source,
        "checked": entry.checked,
        "catalog": entry.origin,
    }

def _unknown_hint(provider: str | None) -> str:
    where = "" if provider else (" (without --provider only our list and your files are searched; "
                                 "give the provider the call goes to, e.g. --provider groq)")
    return where


def _did_you_mean(model: str, provider: str | None) -> str:
    """`` (did you mean gpt-4o?)`` when the catalog knows a close name, else nothing."""
    close = get_catalog().close_names(model, with_fallback=provider is not None)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


def known_providers() -> list[str]:
    """Provider names ``--provider`` accepts: those we price and route, your files' and hosts'."""
    from .pricing._catalog import _SPELLINGS, THIRD_PARTY
    from .pricing._genai import PROVIDER_IDS

    names = set(PROVIDER_IDS) | THIRD_PARTY | {provider for _, provider in config.load().provider_hosts}
    for entry in get_catalog().entries().values():
        name = entry.provider.strip().lower()
        names.add(_SPELLINGS.get(name, name))
    return sorted(n for n in names if n)


def _bad_provider(command: str, provider: str | None) -> bool:
    """Refuse an unknown ``--provider`` (usage error) naming the known ones; True if refused."""
    if provider is None:
        return False
    known = known_providers()
    if provider in known:
        return False
    import difflib

    close = difflib.get_close_matches(provider.lower(), known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    print(f"otel-llm-cost {command}: unknown --provider {printable(provider)!r}{hint} "
          f"(known: {', '.join(known)}; declare another with {semconv.ENV_PROVIDER_HOSTS} "
          "or a price file entry)", file=sys.stderr)
    return True


def _cmd_price(args: argparse.Namespace) -> int:
    if _bad_provider("price", args.provider):
        return EXIT_USAGE
    entry = get_catalog().resolve(args.model, args.provider)
    if entry is None:
        at = f" at provider {args.provider!r}" if args.provider else ""
        print(f"unknown model {args.model!r}{at}{_did_you_mean(args.model, args.provider)}: no price in the "
              f"catalog (add one with {semconv.ENV_PRICES_FILE} or an alias with {semconv.ENV_MODEL_ALIASES})"
              + _unknown_hint(args.provider), file=sys.stderr)
        return EXIT_NOT_FOUND
    data = _entry_dict(entry)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    checked = f"; checked {printable(str(entry.checked))}" if entry.checked else ""
    print(f"{printable(entry.key)}  ({printable(entry.provider)}; catalog {printable(str(entry.origin))}{checked})")
    print(f"  source: {printable(str(entry.source))}")
    for name, value in data["prices"].items():
        print(f"  {name:<15} {value:>10}  USD / 1M tokens")
    for tier in data["tiers"]:
        print(f"  above {tier['above_input_tokens']} input tokens: input {tier['input']}, output {tier['output']}")
    for name, rates in data["service_tiers"].items():
        print(f"  {name} tier: input {rates['input']}, output {rates['output']}")
    for name, value in data["per_1k_calls"].items():
        print(f"  {name:<15} {value:>10}  USD / 1,000 calls")
    return 0

def _inconsistent(args: argparse.Namespace) -> list[str]:
    """Token counts that cannot all be true (subsets larger than their whole)."""
    problems = []
    if args.cache_read + args.cache_write > args.input:
        problems.append(f"--cache-read + --cache-write ({args.cache_read + args.cache_write}) "
                        f"exceed --input ({args.input}), which counts all input tokens")
    if args.cache_write_1h > args.cache_write:
        problems.append(f"--cache-write-1h ({args.cache_write_1h}) exceeds --cache-write ({args.cache_write})")
    if args.reasoning > args.output:
        problems.append(f"--reasoning ({args.reasoning}) exceeds --output ({args.output}), "
                        "which counts all output tokens")
    return problems


def _cmd_cost(args: argparse.Namespace) -> int:
    if _bad_provider("cost", args.provider):
        return EXIT_USAGE
    problems = _inconsistent(args)
    if problems:
        print("inconsistent token counts: " + "; ".join(problems), file=sys.stderr)
        return EXIT_USAGE
    usage = Usage(
        input_tokens=args.input,
        output_tokens=args.output,
        cache_read_tokens=args.cache_read,
        cache_write_tokens=args.cache_write,
        cache_write_1h_tokens=args.cache_write_1h,
        reasoning_tokens=args.reasoning,
        # --input-audio … --file-search are named after the charges.
        **{field: getattr(args, name) for name, (field, _) in CHARGES.items()},
    )
    entry = get_catalog().resolve(args.model, args.provider, service_tier=args.service_tier)
    cost = compute_cost(usage, entry, model=args.model, service_tier=args.service_tier)
    data = {
        "usd": None if cost.usd is None else format_usd(cost.usd),
        "status": cost.status,
        "model": cost.model,
        "requested_model": args.model,
        "catalog": cost.catalog,
        "components": {k: format_usd(v) for k, v in cost.components.items()},
        "usage": usage.as_dict(),
    }
    if entry is not None:
        data["rates"] = _rates_used(entry, usage, args.service_tier)
    if cost.reason:
        data["reason"] = cost.reason + (_did_you_mean(args.model, args.provider) + _unknown_hint(args.provider)
                                        if entry is None else "")
    if cost.unpriced:
        data["unpriced"] = list(cost.unpriced)
    if args.json:
        print(json.dumps(data))
    elif cost.usd is None:
        print(f"cost unknown ({data['reason']})")
    else:
        print(f"{format_usd(cost.usd)} USD  ({cost.model}, catalog {cost.catalog})")
        for name, value in cost.components.items():
            print(f"  {name:<12} {format_usd(value)}")
        print(f"  rates: {data['rates']['note']}")
        if cost.unpriced:
            print(f"  no price for: {', '.join(cost.unpriced)}")
    return EXIT_OK if cost.usd is not None else EXIT_NOT_FOUND


def _rates_used(entry: ModelPrice, usage: Usage, requested: str | None) -> dict:
    """Which of the entry's rates priced the call, and why not the ones asked for."""
    service_tier, above = entry.tiers_used(usage.input_tokens, requested)
    notes = []
    if service_tier is not None:
        notes.append(f"{service_tier} service tier")
        passed = [t for t, _ in entry.tiers if usage.input_tokens > t]
        if passed:
            notes.append(f"its price above {passed[-1]} input tokens is not in the catalog: "
                         f"{service_tier} base rates used")
    elif requested:
        notes.append(f"{entry.key} has no {requested} price in catalog {entry.origin}: standard rates used")
    else:
        notes.append("standard rates")
    if above is not None:
        notes.append(f"tier above {above} input tokens ({usage.input_tokens} input tokens: "
                     "every token at the tier's rates)")
    elif service_tier is None and entry.tiers:
        notes.append(f"below the tier above {entry.tiers[0][0]} input tokens")
    return {"requested_service_tier": requested, "service_tier": service_tier,
            "above_input_tokens": above, "note": "; ".join(notes)}

def _cmd_prices(args: argparse.Namespace) -> int:
    if args.check:
        try:
            parsed = read_price_file(args.check, get_catalog().entries())
        except PriceFileError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_IO
        print(f"{args.check}: OK, {len(parsed.entries)} model(s), {len(parsed.aliases)} alias(es)")
        if parsed.skipped:
            print(f"skipped {len(parsed.skipped)} entr{'y' if len(parsed.skipped) == 1 else 'ies'} "
                  "(no per-token input price: never used to price a call):")
            for key, why in parsed.skipped:
                print(f"  {key}: {why}")
        return 0
    catalog = get_catalog()
    rows = sorted(catalog.entries().values(), key=lambda e: (e.provider, e.key))
    if args.json:
        print(json.dumps([_entry_dict(e) for e in rows], indent=2))
        return 0
    print(f"catalog {catalog.version}: {len(rows)} models (USD per 1M tokens)")
    for line in _layers(catalog):
        print(line)
    for e in rows:
        print(f"  {printable(e.provider):<10} {printable(e.key):<34} in {format_usd(e.rates.input):>8}  "
              f"out {format_usd(e.rates.output):>8}  cache-read {format_usd(e.rates.cache_read):>8}")
    return 0

def _layers(catalog: Catalog) -> list[str]:
    """The price layers, top first, each with its source and version (``prices``' header)."""
    settings = config.load()
    entries = catalog.entries().values()
    yours = sorted({e.origin for e in entries if e.origin != catalog.base_origin})
    ours = sum(1 for e in entries if e.origin == catalog.base_origin)
    aliases = f"; aliases from {semconv.ENV_MODEL_ALIASES}" if settings.model_aliases else ""
    lines = ["price layers, looked up top first (a call is priced by the first that has its model):",
             f"  1. your files:   {', '.join(yours) if yours else 'none'}{aliases}",
             f"  2. our list:     {catalog.base_origin}, {ours} models (listed below)"]
    if catalog.source is not None:
        lines.append(f"  3. genai-prices: {catalog.source.version}, for models and providers our list "
                     "does not have (see one with: otel-llm-cost price MODEL --provider PROVIDER)")
    elif settings.price_source == "bundled":
        lines.append(f"  3. genai-prices: off ({semconv.ENV_PRICE_SOURCE}=bundled)")
    else:
        lines.append("  3. genai-prices: could not be loaded (a dependency of otel-llm-cost: see the log)")
    fallback = catalog.fallback
    if fallback is None:
        lines.append(f"  4. fallback:     off ({semconv.ENV_FALLBACK_PRICES_FILE}=none)")
    else:
        origins = sorted({e.origin for e in fallback.entries().values()}) or [fallback.version]
        lines.append(f"  4. fallback:     {', '.join(origins)}, {len(fallback)} models, only where 1-3 have "
                     "no price, at the call's provider (never for an unknown host)")
    return lines


def _nonnegative(text: str) -> int:
    """A token count; argparse shows the message after the option's name.

    Refused, never clamped, past what a span attribute can carry (int64): a clamped
    count would print a confident wrong price.
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a token count (a whole number >= 0)")
    if value > MAX_TOKENS:
        raise argparse.ArgumentTypeError(f"{text!r} is out of range (at most {MAX_TOKENS}, the largest count "
                                         "a span attribute can carry)")
    return value

def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``price``, ``cost`` and ``prices`` with the ``otel-llm-cost`` command (``cli._COMMANDS``)."""
    p = sub.add_parser("price", help="show the catalog entry a model name resolves to")
    p.add_argument("model")
    p.add_argument("--provider")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_price)

    p = sub.add_parser("cost", help="price one call's token counts exactly")
    p.add_argument("--model", required=True)
    p.add_argument("--input", type=_nonnegative, required=True,
                   help="all input tokens, cache reads and writes included")
    p.add_argument("--output", type=_nonnegative, required=True, help="all output tokens, reasoning included")
    p.add_argument("--cache-read", type=_nonnegative, default=0)
    p.add_argument("--cache-write", type=_nonnegative, default=0, help="all cache writes (5m + 1h)")
    p.add_argument("--cache-write-1h", type=_nonnegative, default=0, help="the 1-hour part of --cache-write")
    p.add_argument("--reasoning", type=_nonnegative, default=0, help="reasoning part of --output")
    p.add_argument("--input-audio", type=_nonnegative, default=0, help="audio part of the uncached --input")
    p.add_argument("--output-audio", type=_nonnegative, default=0, help="audio part of --output")
    p.add_argument("--output-image", type=_nonnegative, default=0, help="image part of --output")
    p.add_argument("--web-search", type=_nonnegative, default=0, help="web search tool calls")
    p.add_argument("--web-search-preview", type=_nonnegative, default=0,
                   help="OpenAI web_search_preview tool calls")
    p.add_argument("--file-search", type=_nonnegative, default=0, help="file search tool calls")
    p.add_argument("--provider")
    p.add_argument("--service-tier", choices=["batch", "priority", "flex"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cost)

    p = sub.add_parser("prices", help="list the catalog, or --check a price file")
    p.add_argument("--check", metavar="FILE", help="validate a price file and list every problem")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_prices)
