"""The ``otel-llm-cost`` command: look up prices, price a call, check a price file.

Other commands (``report``, ``demo``) live next to what they drive and register here
through :data:`_COMMANDS`, so this module stays a thin dispatcher.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence

from . import semconv
from .cost import format_usd, price_usage
from .pricing import ModelPrice, PriceFileError, get_catalog, read_price_file
from .usage import Usage

__all__ = ["main"]

def _rates_dict(rates) -> dict[str, str]:
    return {name: format_usd(getattr(rates, name)) for name in rates.__slots__}

def _entry_dict(entry: ModelPrice) -> dict:
    return {
        "model": entry.key,
        "provider": entry.provider,
        "unit": "USD per 1M tokens",
        "prices": _rates_dict(entry.rates),
        "tiers": [{"above_input_tokens": t, **_rates_dict(r)} for t, r in entry.tiers],
        "service_tiers": {name: _rates_dict(r) for name, r in entry.service_tiers.items()},
        "aliases": list(entry.aliases),
        "source": entry.source,
        "checked": entry.checked,
        "catalog": entry.origin,
    }

def _cmd_price(args: argparse.Namespace) -> int:
    entry = get_catalog().resolve(args.model, args.provider)
    if entry is None:
        print(f"unknown model {args.model!r}: no price in the catalog "
              f"(add one with {semconv.ENV_PRICES_FILE} or an alias with {semconv.ENV_MODEL_ALIASES})",
              file=sys.stderr)
        return 1
    data = _entry_dict(entry)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"{entry.key}  ({entry.provider}; catalog {entry.origin}; checked {entry.checked})")
    print(f"  source: {entry.source}")
    for name, value in data["prices"].items():
        print(f"  {name:<15} {value:>10}  USD / 1M tokens")
    for tier in data["tiers"]:
        print(f"  above {tier['above_input_tokens']} input tokens: input {tier['input']}, output {tier['output']}")
    for name, rates in data["service_tiers"].items():
        print(f"  {name} tier: input {rates['input']}, output {rates['output']}")
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
    problems = _inconsistent(args)
    if problems:
        print("inconsistent token counts: " + "; ".join(problems), file=sys.stderr)
        return 1
    usage = Usage(
        input_tokens=args.input,
        output_tokens=args.output,
        cache_read_tokens=args.cache_read,
        cache_write_tokens=args.cache_write,
        cache_write_1h_tokens=args.cache_write_1h,
        reasoning_tokens=args.reasoning,
    )
    cost = price_usage(args.model, usage, provider=args.provider, service_tier=args.service_tier)
    data = {
        "usd": None if cost.usd is None else format_usd(cost.usd),
        "status": cost.status,
        "model": cost.model,
        "requested_model": args.model,
        "catalog": cost.catalog,
        "components": {k: format_usd(v) for k, v in cost.components.items()},
        "usage": usage.as_dict(),
    }
    if cost.reason:
        data["reason"] = cost.reason
    if args.json:
        print(json.dumps(data))
    elif cost.usd is None:
        print(f"cost unknown ({cost.reason})")
    else:
        print(f"{format_usd(cost.usd)} USD  ({cost.model}, catalog {cost.catalog})")
        for name, value in cost.components.items():
            print(f"  {name:<12} {format_usd(value)}")
    return 0 if cost.usd is not None else 2

def _cmd_prices(args: argparse.Namespace) -> int:
    if args.check:
        try:
            parsed = read_price_file(args.check, get_catalog().entries())
        except PriceFileError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"{args.check}: OK, {len(parsed.entries)} model(s), {len(parsed.aliases)} alias(es)")
        return 0
    catalog = get_catalog()
    rows = sorted(catalog.entries().values(), key=lambda e: (e.provider, e.key))
    if args.json:
        print(json.dumps([_entry_dict(e) for e in rows], indent=2))
        return 0
    print(f"catalog {catalog.version}: {len(rows)} models (USD per 1M tokens)")
    source = catalog.source
    if source is not None:
        print(f"  under it: {source.version}, for every model and provider not listed here "
              f"(see one with: otel-llm-cost price MODEL --provider PROVIDER)")
    else:
        print("  under it: nothing (genai-prices not installed, or "
              f"{semconv.ENV_PRICE_SOURCE}=bundled): models not listed here are unknown")
    for e in rows:
        print(f"  {e.provider:<10} {e.key:<34} in {format_usd(e.rates.input):>8}  "
              f"out {format_usd(e.rates.output):>8}  cache-read {format_usd(e.rates.cache_read):>8}")
    return 0

def _nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value

def _add_core(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--provider")
    p.add_argument("--service-tier", choices=["batch", "priority", "flex"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cost)

    p = sub.add_parser("prices", help="list the catalog, or --check a price file")
    p.add_argument("--check", metavar="FILE", help="validate a price file and list every problem")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_prices)

#: (module, function) pairs that add sub-commands; imported lazily so a missing
#: optional dependency of one command never breaks the others.
_COMMANDS: list[tuple[str, str]] = [
    (".ledger._report", "add_command"),
    (".ledger._session", "add_command"),
    (".ledger._prune", "add_command"),
    (".demo", "add_command"),
    (".simulate", "add_command"),
]

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-llm-cost", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_core(sub)
    for module, func in _COMMANDS:
        add: Callable[[argparse._SubParsersAction], None] = getattr(
            importlib.import_module(module, __package__), func)
        add(sub)
    return parser

def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args) or 0)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

