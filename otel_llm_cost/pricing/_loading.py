"""Reading price files: the bundled/our own format and LiteLLM's.

A price file is user input, so every problem is collected — with file, entry and
reason — and raised together as one :class:`PriceFileError`. Nothing from a file with
a problem is used: half a price file is worse than the bundled catalog.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from .._cost_range import COST_EXPONENT
from .._files import FileRefused, read_regular
from ._catalog import ModelPrice, Rates

__all__ = ["PriceFileError", "PriceFile", "parse_price_data", "read_price_file"]

#: A price above this (USD per 1M tokens) is taken for a unit mistake.
MAX_PRICE = Decimal(100_000)
#: Price files larger than this are refused unread.
MAX_FILE_BYTES = 100 * 1024 * 1024

_RATE_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "reasoning",
                "input_audio", "output_audio", "output_image")
_ENTRY_FIELDS = frozenset(
    _RATE_FIELDS + ("provider", "aliases", "tiers", "service_tiers", "per_1k_calls", "source", "checked", "notes")
)
#: Charges priced per call (``per_1k_calls``: USD per 1,000 calls).
_CALL_CHARGES = frozenset(("web_search", "web_search_preview", "file_search"))
_TOP_FIELDS = frozenset(("schema", "version", "currency", "unit", "models", "aliases", "notes"))
_SERVICE_TIERS = frozenset(("batch", "priority", "flex", "standard", "default"))

# LiteLLM per-token field → (our field, tier). Tier "" is the base entry.
_LITELLM_FIELDS = {
    "input_cost_per_token": ("input", ""),
    "output_cost_per_token": ("output", ""),
    "cache_read_input_token_cost": ("cache_read", ""),
    "cache_creation_input_token_cost": ("cache_write_5m", ""),
    "cache_creation_input_token_cost_above_1hr": ("cache_write_1h", ""),
    "output_cost_per_reasoning_token": ("reasoning", ""),
    "input_cost_per_token_batches": ("input", "batch"),
    "output_cost_per_token_batches": ("output", "batch"),
    "input_cost_per_token_priority": ("input", "priority"),
    "output_cost_per_token_priority": ("output", "priority"),
    "cache_read_input_token_cost_priority": ("cache_read", "priority"),
    "input_cost_per_token_flex": ("input", "flex"),
    "output_cost_per_token_flex": ("output", "flex"),
    "cache_read_input_token_cost_flex": ("cache_read", "flex"),
    "input_cost_per_audio_token": ("input_audio", ""),
    "output_cost_per_audio_token": ("output_audio", ""),
    "output_cost_per_image_token": ("output_image", ""),
    "input_cost_per_audio_token_batches": ("input_audio", "batch"),
    "input_cost_per_audio_token_priority": ("input_audio", "priority"),
    "input_cost_per_audio_token_flex": ("input_audio", "flex"),
    "output_cost_per_image_token_batches": ("output_image", "batch"),
    "output_cost_per_image_token_priority": ("output_image", "priority"),
}
_LITELLM_TIER_PREFIXES = {
    "input_cost_per_token_above_": "input",
    "output_cost_per_token_above_": "output",
    "cache_read_input_token_cost_above_": "cache_read",
    "cache_creation_input_token_cost_above_": "cache_write_5m",
}
_PER_MILLION = 6  # decimal places between per-token and per-1M prices
#: More significant digits than this in one price is refused: the cost arithmetic
#: (``cost._CTX``, 60 digits) must hold a price times any token count without rounding.
MAX_DIGITS = 40
#: Exact for any price we accept: ``scaleb`` under the default 28-digit context would round.
_EXACT = Context(prec=MAX_DIGITS + 20)


class PriceFileError(ValueError):
    """A price file that cannot be used; ``problems`` lists every (entry, reason)."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {entry}: {reason}" for entry, reason in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"price file {path}: {len(problems)} problem(s)\n{lines}{more}")


@dataclass(frozen=True)
class PriceFile:
    version: str
    entries: tuple[ModelPrice, ...]
    aliases: Mapping[str, str]
    #: (entry, why) for each entry of a LiteLLM file that is not read (not priced per token).
    skipped: tuple[tuple[str, str], ...] = ()


class _Problems(list):
    def add(self, entry: str, reason: str) -> None:
        self.append((entry, reason))


def _price(value: Any, where: str, problems: _Problems, *, scale: int = 0,
           finest: int = COST_EXPONENT + _PER_MILLION) -> Decimal | None:
    """A finite, non-negative, sane Decimal from a JSON value, or a problem.

    ``finest``: the lowest decimal exponent the price may have (after ``scale``), so that
    tokens × rate / 10**6 (or calls × price / 1000) is a whole number of the cost unit
    (``cost.COST_EXPONENT``): ``1e-999990`` is refused here instead of becoming a
    megabyte-long cost string on every span.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        problems.add(where, f"price must be a decimal string or number, got {type(value).__name__}")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        problems.add(where, f"price must be finite, got {value!r}")
        return None
    if isinstance(value, str) and not value.isascii():
        # Decimal() reads Arabic-Indic or full-width digits; a price file must not.
        problems.add(where, f"not a decimal number (non-ASCII characters): {value[:40]!r}")
        return None
    try:
        # str(float) is the shortest repr, so 2.5 stays 2.5 and 1e-06 stays exact.
        number = Decimal(value if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        problems.add(where, f"not a decimal number: {str(value)[:40]!r}")
        return None
    if not number.is_finite():
        problems.add(where, f"price must be finite, got {value!r}")
        return None
    digits = len(number.as_tuple().digits)
    number = number.scaleb(scale, _EXACT)
    if number.is_zero():
        number = Decimal(0)  # "-0" would print as a negative zero cost
    if number < 0:
        problems.add(where, f"price must not be negative, got {value!r}")
        return None
    if number > MAX_PRICE:
        problems.add(where, f"price {number} USD per 1M tokens is implausibly high (max {MAX_PRICE})")
        return None
    if digits > MAX_DIGITS:
        problems.add(where, f"more than {MAX_DIGITS} significant digits: refused rather than rounded")
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < finest:
        problems.add(where, f"finer than 1E{finest} USD: a cost of it would have digits below the "
                            f"finest a cost keeps (1E{COST_EXPONENT} USD); refused rather than rounded")
        return None
    return number


def _rates(base: Rates | None, given: Mapping[str, Decimal]) -> Rates:
    """Complete rates: given fields over ``base``, then the documented defaults."""
    def pick(name: str) -> Decimal | None:
        return given.get(name, getattr(base, name) if base is not None else None)

    def pick_or(name: str, default: Decimal) -> Decimal:
        value = pick(name)
        return default if value is None else value

    inp = pick("input") or Decimal(0)
    out = pick("output") or Decimal(0)
    w5 = pick_or("cache_write_5m", inp)
    return Rates(
        input=inp,
        output=out,
        cache_read=pick_or("cache_read", inp),
        cache_write_5m=w5,
        cache_write_1h=pick_or("cache_write_1h", w5),
        reasoning=pick_or("reasoning", out),
        # None stays None: the text rate of whichever tier applies.
        input_audio=pick("input_audio"),
        output_audio=pick("output_audio"),
        output_image=pick("output_image"),
    )


def _rate_fields(raw: Mapping[str, Any], where: str, problems: _Problems) -> dict[str, Decimal]:
    out = {}
    for name in _RATE_FIELDS:
        if name in raw and raw[name] is not None:
            price = _price(raw[name], f"{where}.{name}", problems)
            if price is not None:
                out[name] = price
    return out


def _entry(key: str, raw: Any, origin: str, problems: _Problems,
           base: ModelPrice | None) -> ModelPrice | None:
    where = f"models.{key}"
    if not isinstance(raw, Mapping):
        problems.add(where, f"entry must be an object, got {type(raw).__name__}")
        return None
    for unknown in sorted(set(raw) - _ENTRY_FIELDS):
        problems.add(where, f"unknown field {unknown!r}")
    given = _rate_fields(raw, where, problems)
    if base is None:
        for required in ("provider", "input", "output"):
            if required not in raw:
                problems.add(where, f"missing required field {required!r}")
    provider = raw.get("provider", base.provider if base else "")
    if not isinstance(provider, str):
        problems.add(f"{where}.provider", "must be a string")
        provider = ""
    rates = _rates(base.rates if base else None, given)
    tiers = base.tiers if base and "tiers" not in raw else _tiers(raw.get("tiers"), rates, where, problems)
    service = dict(base.service_tiers) if base else {}
    raw_service = raw.get("service_tiers") or {}
    if not isinstance(raw_service, Mapping):
        problems.add(f"{where}.service_tiers", "must be an object")
        raw_service = {}
    for tier, tier_raw in raw_service.items():
        if tier not in _SERVICE_TIERS:
            problems.add(f"{where}.service_tiers", f"unknown service tier {tier!r}")
        elif not isinstance(tier_raw, Mapping):
            problems.add(f"{where}.service_tiers.{tier}", "must be an object")
        else:
            service[tier] = _rates(rates, _rate_fields(tier_raw, f"{where}.service_tiers.{tier}", problems))
    per_call = dict(base.per_1k_calls) if base else {}
    per_call.update(_per_1k_calls(raw.get("per_1k_calls"), where, problems))
    aliases = raw.get("aliases", list(base.aliases) if base else [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        problems.add(f"{where}.aliases", "must be a list of strings")
        aliases = []
    return ModelPrice(
        key=key,
        provider=provider,
        rates=rates,
        tiers=tiers,
        service_tiers=service,
        reasoning_separate="reasoning" in given or bool(base and base.reasoning_separate),
        aliases=tuple(a.strip().lower() for a in aliases),
        source=str(raw.get("source", base.source if base else "")),
        checked=str(raw.get("checked", base.checked if base else "")),
        origin=origin,
        per_1k_calls=per_call,
    )


def _per_1k_calls(raw: Any, where: str, problems: _Problems) -> dict[str, Decimal]:
    """``{"web_search": "10.00"}``: USD per 1,000 calls of each server-side tool."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.add(f"{where}.per_1k_calls", "must be an object")
        return {}
    out = {}
    for name, value in raw.items():
        if name not in _CALL_CHARGES:
            known = ", ".join(sorted(_CALL_CHARGES))
            problems.add(f"{where}.per_1k_calls", f"unknown charge {name!r} (known: {known})")
            continue
        price = _price(value, f"{where}.per_1k_calls.{name}", problems, finest=COST_EXPONENT + 3)
        if price is not None:
            out[name] = price
    return out


def _tiers(raw: Any, rates: Rates, where: str, problems: _Problems) -> tuple[tuple[int, Rates], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.add(f"{where}.tiers", "must be a list")
        return ()
    tiers = []
    for i, tier in enumerate(raw):
        tw = f"{where}.tiers[{i}]"
        if not isinstance(tier, Mapping):
            problems.add(tw, "must be an object")
            continue
        threshold = tier.get("above_input_tokens")
        if type(threshold) is not int or threshold <= 0:
            problems.add(tw, "above_input_tokens must be a positive integer")
            continue
        for unknown in sorted(set(tier) - set(_RATE_FIELDS) - {"above_input_tokens"}):
            problems.add(tw, f"unknown field {unknown!r}")
        tiers.append((threshold, _rates(rates, _rate_fields(tier, tw, problems))))
    tiers.sort(key=lambda t: t[0])
    return tuple(tiers)


def _aliases(raw: Any, problems: _Problems) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        problems.add("aliases", "must be an object mapping alias name to model name")
        return {}
    return {k.strip().lower(): v for k, v in raw.items()}


def _parse_ours(data: Mapping[str, Any], origin: str, problems: _Problems,
                base: Mapping[str, ModelPrice]) -> PriceFile:
    for unknown in sorted(set(data) - _TOP_FIELDS):
        problems.add("(top level)", f"unknown field {unknown!r}")
    if "schema" in data and (type(data["schema"]) is not int or data["schema"] != 1):
        problems.add("schema", f"unsupported schema {data['schema']!r} (this version reads schema 1)")
    if data.get("currency", "USD") != "USD":
        problems.add("currency", "only USD is supported")
    if data.get("unit", "per_1m_tokens") != "per_1m_tokens":
        problems.add("unit", "only per_1m_tokens is supported")
    models = data.get("models", {})
    if not isinstance(models, Mapping):
        problems.add("models", "must be an object")
        models = {}
    entries = []
    seen: dict[str, str] = {}
    for key, raw in models.items():
        canonical = key.strip().lower()
        if canonical in seen:
            problems.add(f"models.{key}", f"same model as {seen[canonical]!r} (names ignore case and spaces)")
            continue
        seen[canonical] = key
        entry = _entry(canonical, raw, origin, problems, base.get(canonical))
        if entry is not None:
            entries.append(entry)
    return PriceFile(str(data.get("version", "")), tuple(entries), _aliases(data.get("aliases"), problems))


def _why_skipped(key: str, raw: Any) -> str:
    """Why a LiteLLM entry is not a price we read (for ``otel-llm-cost prices --check``)."""
    if key == "sample_spec":
        return "LiteLLM's description of the format, not a model"
    if not isinstance(raw, Mapping):
        return f"not an object ({type(raw).__name__})"
    mode = raw.get("mode", "no mode")
    charges = sorted(name for name in raw if "_cost_per_" in name or name.endswith("_cost"))
    if charges:
        shown = ", ".join(charges[:4]) + (f" and {len(charges) - 4} more" if len(charges) > 4 else "")
        return f"{mode}: no input_cost_per_token (priced by {shown})"
    return f"{mode}: no price"


def _parse_litellm(data: Mapping[str, Any], origin: str, problems: _Problems) -> PriceFile:
    entries = []
    skipped = []
    for key, raw in data.items():
        if key == "sample_spec" or not isinstance(raw, Mapping) or "input_cost_per_token" not in raw:
            # priced per image/second/character, or no price: not a token model
            skipped.append((key, _why_skipped(key, raw)))
            continue
        where = f"{key}"
        fields: dict[str, dict[str, Decimal]] = {}
        tier_fields: dict[int, dict[str, Decimal]] = {}
        for name, value in raw.items():
            if name in _LITELLM_FIELDS:
                ours, tier = _LITELLM_FIELDS[name]
                price = _price(value, f"{where}.{name}", problems, scale=_PER_MILLION)
                if price is not None:
                    fields.setdefault(tier, {})[ours] = price
                continue
            for prefix, ours in _LITELLM_TIER_PREFIXES.items():
                if name.startswith(prefix) and name.endswith("_tokens"):
                    size = name[len(prefix):-len("_tokens")].lower()
                    number = size[:-1] if size[-1:] in ("k", "m") else size
                    if not (number.isascii() and number.isdigit()):
                        break
                    threshold = int(number) * (1000 if size.endswith("k") else 1_000_000 if size.endswith("m") else 1)
                    price = _price(value, f"{where}.{name}", problems, scale=_PER_MILLION)
                    if price is not None:
                        tier_fields.setdefault(threshold, {})[ours] = price
                    break
        rates = _rates(None, fields.get("", {}))
        per_call = _litellm_per_call(raw, where, problems)
        entries.append(
            ModelPrice(
                key=key.strip().lower(),
                provider=str(raw.get("litellm_provider", "")),
                rates=rates,
                tiers=tuple((t, _rates(rates, f)) for t, f in sorted(tier_fields.items())),
                service_tiers={t: _rates(rates, f) for t, f in fields.items() if t},
                reasoning_separate="reasoning" in fields.get("", {}),
                source=f"LiteLLM price file {origin}",
                origin=origin,
                per_1k_calls=per_call,
            )
        )
    return PriceFile("litellm", tuple(entries), {}, tuple(skipped))


def _litellm_per_call(raw: Mapping[str, Any], where: str, problems: _Problems) -> dict[str, Decimal]:
    """LiteLLM's per-call tool prices: ``search_context_cost_per_query`` (USD per search, by
    context size: the medium one, the default) and ``file_search_cost_per_1k_calls``."""
    out = {}
    search = raw.get("search_context_cost_per_query")
    if isinstance(search, Mapping) and search.get("search_context_size_medium") is not None:
        price = _price(search["search_context_size_medium"], f"{where}.search_context_cost_per_query",
                       problems, scale=3, finest=COST_EXPONENT + 3)
        if price is not None:  # one price per model in LiteLLM, whichever search tool is used
            out["web_search"] = out["web_search_preview"] = price
    if raw.get("file_search_cost_per_1k_calls") is not None:
        price = _price(raw["file_search_cost_per_1k_calls"], f"{where}.file_search_cost_per_1k_calls", problems,
                       finest=COST_EXPONENT + 3)
        if price is not None:
            out["file_search"] = price
    return out


def parse_price_data(data: Any, name: str, base: Mapping[str, ModelPrice] | None = None, *,
                     origin: str | None = None) -> PriceFile:
    """Validate and convert decoded JSON; raises :class:`PriceFileError` listing every problem.

    ``name`` names the data in problems; ``origin`` (default: ``name``) is what its
    entries carry as the catalog that priced a call. ``base`` holds the entries an
    override is laid over: an override entry for a known model may give only the
    fields it changes.
    """
    problems = _Problems()
    origin = name if origin is None else origin
    if not isinstance(data, Mapping):
        raise PriceFileError(name, [("(top level)", "must be a JSON object")])
    is_ours = "models" in data or "schema" in data
    result = _parse_ours(data, origin, problems, base or {}) if is_ours else _parse_litellm(data, origin, problems)
    if problems:
        raise PriceFileError(name, list(problems))
    return result


def _constant(name: str) -> float:
    # NaN / Infinity / -Infinity are not JSON, but Python's parser accepts them. Decode
    # them to non-finite floats so validation reports each one with its entry, next to
    # every other problem, instead of failing the whole file on the first one.
    return float(name.lower().replace("infinity", "inf"))


class _Pairs:
    """``object_pairs_hook`` that notes duplicate keys (JSON would silently keep the last)."""

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                self.duplicates.append(key)
            out[key] = value
        return out


def _read_regular(path: str) -> bytes:
    """The bytes of a regular file (``_files.read_regular``), refusals as a PriceFileError."""
    try:
        return read_regular(path, MAX_FILE_BYTES)
    except FileRefused as exc:
        detail = str(exc).removeprefix(f"{path}: ")
        raise PriceFileError(path, [("(file)", detail)]) from None


def read_price_file(path: str | os.PathLike[str], base: Mapping[str, ModelPrice] | None = None) -> PriceFile:
    """Read and validate a price file (our format or LiteLLM's, detected by shape)."""
    path = os.fspath(path)
    pairs = _Pairs()
    try:
        data = json.loads(_read_regular(path), parse_constant=_constant, object_pairs_hook=pairs)
    except PriceFileError:
        raise
    except OSError as exc:
        raise PriceFileError(path, [("(file)", f"cannot read: {exc.strerror or exc}")]) from None
    except (ValueError, RecursionError) as exc:
        raise PriceFileError(path, [("(file)", f"not valid JSON: {exc}")]) from None
    if pairs.duplicates:
        raise PriceFileError(path, [(key, "key appears more than once (JSON keeps only the last)")
                                    for key in pairs.duplicates])
    return parse_price_data(data, path, base, origin=_named(path, data))


def _named(path: str, data: Any) -> str:
    """What a file's entries say priced a call: its path, and its own ``version`` if it has one."""
    version = data.get("version") if isinstance(data, Mapping) else None
    if isinstance(version, str) and version.strip() and version.isprintable():
        return f"{path} ({version.strip()[:64]})"
    return path
