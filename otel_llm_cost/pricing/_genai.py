"""genai-prices as a price source: the models and providers our own list does not cover.

``genai-prices`` (Pydantic, MIT) is a maintained, machine-readable catalog of ~2,300
models at ~47 providers, with ``Decimal`` prices, context-length tiers, service-tier and
batch variants, dated price changes and provider matching by id or API URL. Users
update it without a release of ours (``pip install -U genai-prices``, or its own
``UpdatePrices`` that refreshes the data at run time). Why it is laid *under* our
bundled list, not over it: ``docs/prices.md``.

Importing it costs ~0.5 s (pydantic and a 1.6 MB data module), so it is never imported
with ``otel_llm_cost`` nor on a call's path: :func:`load` runs when the catalog is
built, which ``instrument()`` does at start-up. Each price is converted to our
:class:`~._catalog.ModelPrice` once per (model, day) and cached; the arithmetic stays ours.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ._catalog import ModelPrice, Rates

__all__ = ["GenaiSource", "load", "PROVIDER_IDS"]

_log = logging.getLogger(__name__)

#: ``gen_ai.provider.name`` (semantic conventions, or our lower-case name) -> genai-prices id.
PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "az.ai.inference": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "openrouter": "openrouter",
    "together": "together",
    "fireworks": "fireworks",
    "cerebras": "cerebras",
    "moonshot": "moonshotai",
    "novita": "novita",
    "zai": "zai",
}
#: Response ``service_tier`` / batch -> the request context genai-prices selects variants by.
_TIER_CONTEXT = {
    "priority": {"service_tier": "priority"},
    "flex": {"service_tier": "flex"},
    "batch": {"processing": "batch"},
}
_FIELDS = (  # our rate field -> genai-prices price key
    ("input", "input_mtok"),
    ("output", "output_mtok"),
    ("cache_read", "cache_read_mtok"),
    ("cache_write_5m", "cache_write_mtok"),
    ("cache_write_1h", "cache_write_1h_mtok"),
    ("reasoning", "output_reasoning_mtok"),
    ("input_audio", "input_audio_mtok"),
    ("output_audio", "output_audio_mtok"),
    ("output_image", "output_image_mtok"),
)
#: Our per-call charge -> genai-prices price key (USD per 1,000).
_PER_CALL = (("web_search", "web_searches_kcount"), ("file_search", "storage_searches_kcount"))
_CACHE_MAX = 4096


def _value(price: Any, tokens: int) -> Decimal | None:
    """The per-1M price of one key for a prompt of ``tokens`` (genai tiers: ``tokens > start``)."""
    if price is None:
        return None
    if isinstance(price, Decimal):
        return price
    value = price.base
    for tier in price.tiers:
        if tokens > tier.start:
            value = tier.price
    return Decimal(value)


def _rates(model_price: Any, tokens: int) -> Rates | None:
    given = {ours: _value(getattr(model_price, key, None), tokens) for ours, key in _FIELDS}
    inp, out = given["input"], given["output"]
    if inp is None and out is None:
        return None  # priced per request, image or second only: not a token model
    inp = inp if inp is not None else Decimal(0)
    out = out if out is not None else Decimal(0)
    w5 = given["cache_write_5m"] if given["cache_write_5m"] is not None else inp
    return Rates(
        input=inp, output=out,
        cache_read=given["cache_read"] if given["cache_read"] is not None else inp,
        cache_write_5m=w5,
        cache_write_1h=given["cache_write_1h"] if given["cache_write_1h"] is not None else w5,
        reasoning=given["reasoning"] if given["reasoning"] is not None else out,
        input_audio=given["input_audio"], output_audio=given["output_audio"], output_image=given["output_image"],
    )


def _thresholds(model_price: Any) -> list[int]:
    starts: set[int] = set()
    for _, key in _FIELDS:
        price = getattr(model_price, key, None)
        for tier in getattr(price, "tiers", None) or ():
            starts.add(int(tier.start))
    return sorted(starts)


def _per_request(model_price: Any) -> Decimal:
    """The fee per call (genai-prices lists it per thousand requests), or 0."""
    per_thousand = getattr(model_price, "requests_kcount", None)
    if not isinstance(per_thousand, Decimal):
        return Decimal(0)
    return per_thousand.scaleb(-3)


def _per_1k_calls(model_price: Any) -> dict[str, Decimal]:
    """Per-call tool prices (USD per 1,000 calls) genai-prices lists for the model."""
    out = {}
    for ours, key in _PER_CALL:
        price = getattr(model_price, key, None)
        if isinstance(price, Decimal):
            out[ours] = price
    return out


class GenaiSource:
    """The installed genai-prices data, converted on demand into our price entries."""

    def __init__(self, module: Any, snapshot_module: Any) -> None:
        self._module = module
        self._snapshots = snapshot_module
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], ModelPrice | None] = {}
        self._providers: dict[tuple[int, str], Any] = {}

    @property
    def version(self) -> str:
        """``genai-prices <version>``, plus the data's time when it was refreshed at run time."""
        snapshot = self._snapshots.get_snapshot()
        text = f"genai-prices {self._module.__version__}"
        if getattr(snapshot, "from_auto_update", False):
            stamp = getattr(snapshot, "timestamp", None)
            text += f" (updated {stamp:%Y-%m-%dT%H:%MZ})" if isinstance(stamp, datetime) else " (updated)"
        return text

    def find(self, model: str, provider: str | None, when: datetime | None = None,
             service_tier: str | None = None) -> ModelPrice | None:
        """The price of ``model`` at ``provider`` on ``when`` (UTC now by default), or None."""
        # Only providers we map: the provider string may come from any span, and an
        # unbounded set of them must not reach genai-prices' own (unbounded) caches.
        provider_id = PROVIDER_IDS.get(provider or "")
        if provider_id is None:
            return None
        when = when or datetime.now(UTC)
        snapshot = self._snapshots.get_snapshot()
        # A price is fixed for a day except where a time-of-day price exists (off-peak):
        # the cache key keeps the minute for those, the date otherwise.
        key = (id(snapshot), provider_id, model, when.date(), service_tier)
        try:
            found = self._cache[key]
        except KeyError:
            pass
        else:
            if found is None or not found.source.endswith("(time of day)"):
                return found
        found = self._convert(snapshot, model, provider_id, when, service_tier)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = found
        return found

    def _convert(self, snapshot: Any, model: str, provider_id: str, when: datetime,
                 service_tier: str | None) -> ModelPrice | None:
        # Not ``snapshot.find_provider_model``: it caches every name it is asked for, without
        # bound. The provider is found once; the model match is cached by us, bounded.
        provider = self._providers.get((id(snapshot), provider_id))
        if provider is None:
            provider = self._snapshots.find_provider_by_id(snapshot.providers, provider_id)
            if provider is None:
                return None
            self._providers[(id(snapshot), provider_id)] = provider
        info = provider.find_model(model, all_providers=snapshot.providers)
        if info is None:
            return None
        context = _TIER_CONTEXT.get(service_tier or "")
        standard = info.get_prices(when)
        rates = _rates(standard, 0)
        if rates is None:
            return None
        tiers = tuple((t, r) for t in _thresholds(standard) if (r := _rates(standard, t + 1)) is not None)
        service: dict[str, Rates] = {}
        if context is not None:
            variant = info.get_prices(when, context)
            if variant is not standard and (variant_rates := _rates(variant, 0)) is not None:
                service[service_tier or ""] = variant_rates
        daily = not isinstance(info.prices, list) or all(
            type(p.constraint).__name__ != "TimeOfDateConstraint" for p in info.prices)
        return ModelPrice(
            key=f"{provider.id}/{info.id}",
            provider=provider.id,
            rates=rates,
            tiers=tiers,
            service_tiers=service,
            reasoning_separate=getattr(standard, "output_reasoning_mtok", None) is not None,
            source=f"genai-prices {provider.id}/{info.id}" + ("" if daily else " (time of day)"),
            origin=self.version,
            per_request=_per_request(standard),
            per_1k_calls=_per_1k_calls(standard),
        )


_loaded: GenaiSource | None = None
_tried = False
_load_lock = threading.Lock()


def renew_locks() -> None:
    """After ``fork()``, in the child: locks no thread of the child holds."""
    global _load_lock
    _load_lock = threading.Lock()
    if _loaded is not None:
        _loaded._lock = threading.Lock()


def load() -> GenaiSource | None:
    """genai-prices if installed (imported once, ~0.5 s); None when absent or broken."""
    global _loaded, _tried
    if _tried:
        return _loaded
    with _load_lock:
        if not _tried:
            try:
                import genai_prices
                from genai_prices import data_snapshot

                snapshot = data_snapshot.get_snapshot()  # imports the data now, not on a call
                for provider_id in sorted(set(PROVIDER_IDS.values())):
                    # One miss per provider walks its match rules once (regexes compiled
                    # here, ~3 ms in all), so a call's first lookup does not.
                    try:
                        snapshot.find_provider_model("otel-llm-cost-warm-up", None, provider_id, None)
                    except LookupError:
                        pass
                _loaded = GenaiSource(genai_prices, data_snapshot)
            except ImportError:
                _loaded = None
            except Exception:  # a broken install must not stop the application
                _log.warning("genai-prices is installed but could not be loaded; using the bundled prices only",
                             exc_info=True)
                _loaded = None
            _tried = True
    return _loaded
