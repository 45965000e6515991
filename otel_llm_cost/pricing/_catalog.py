"""Price entries and the catalog that resolves model names to them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import _names

__all__ = ["Rates", "ModelPrice", "Catalog"]

_RESOLVE_CACHE_MAX = 4096
#: Providers that sell other models, or the same model names at their own rates
#: (DeepSeek, Groq, OpenRouter …): a call to one of them is priced from that provider's
#: rates or your own entries only, never with our first-party list. Any other provider
#: name (first-party APIs, the clouds reselling them at list price, a name another
#: instrumentation wrote) is priced from our list first, as before.
THIRD_PARTY = frozenset({
    "deepseek", "groq", "mistral_ai", "x_ai", "perplexity", "openrouter", "together", "fireworks",
    "cerebras", "moonshot", "zai", "cohere", "novita",
})
#: Provider spellings in price files (LiteLLM's ``litellm_provider``, genai-prices ids) ->
#: ``gen_ai.provider.name``; also the key prefix LiteLLM gives that provider's models.
_SPELLINGS = {
    "mistral": "mistral_ai", "xai": "x_ai", "x-ai": "x_ai", "together_ai": "together",
    "fireworks_ai": "fireworks", "moonshotai": "moonshot",
}
_PREFIX = {"mistral_ai": "mistral", "x_ai": "xai", "together": "together_ai", "fireworks": "fireworks_ai"}
_FALLBACK_PREFIX = {"azure.ai.openai": "azure", "gcp.gemini": "gemini", "gcp.vertex_ai": "vertex_ai",
                    "aws.bedrock": "bedrock"}
#: Names of providers whose prices are not a third party's (an entry naming one of them
#: is never used for a call to DeepSeek, Groq …).
_FIRST_PARTY_NAMES = frozenset({
    "openai", "azure", "azure.ai.openai", "anthropic", "google", "gemini", "vertex_ai", "gcp.gemini",
    "gcp.vertex_ai", "bedrock", "bedrock_converse", "aws.bedrock", "aws", "text-completion-openai",
    "vertex_ai-language-models", "vertex_ai-anthropic_models", "vertex_ai-embedding-models",
})


def _spelling(entry_provider: str) -> str:
    name = entry_provider.strip().lower()
    return _SPELLINGS.get(name, name)


def _serves(entry_provider: str, provider: str) -> bool:
    """May a user's entry with this ``provider`` field price a call to ``provider``?"""
    name = _spelling(entry_provider)
    return name == provider or (name not in _FIRST_PARTY_NAMES and name not in THIRD_PARTY)


def _list_serves(entry_provider: str, provider: str | None) -> bool:
    """May an entry of our bundled list price a call to ``provider``?

    A first-party entry: wherever it did before (its provider, the clouds reselling it,
    a call whose provider is not known). An entry for a third-party provider (a
    correction of genai-prices' data, e.g. ``mistral-large-latest``, that provider's own
    model at its own price): that provider's calls and, like every entry of our list, a
    call without a provider; never a call to another provider, which sells under that
    name at its own rates.
    """
    name = _spelling(entry_provider)
    return name not in THIRD_PARTY or provider is None or name == provider


#: Alias chains longer than this are cut at load (a cycle or a hostile file).
MAX_ALIAS_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per 1M tokens for each kind of token; defaults already applied."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    reasoning: Decimal
    #: Audio input, audio output and image output tokens at their own rates; None: the
    #: text rate (``input`` / ``output``), as for models with one rate for every modality.
    input_audio: Decimal | None = None
    output_audio: Decimal | None = None
    output_image: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One catalog entry: the prices of a model, and where they came from."""

    key: str
    provider: str
    rates: Rates
    #: Context-length tiers: ``(above_input_tokens, rates)``, ascending.
    tiers: tuple[tuple[int, Rates], ...] = ()
    #: ``batch`` / ``priority`` / ``flex`` … rates.
    service_tiers: Mapping[str, Rates] = field(default_factory=dict)
    #: True when the entry prices reasoning tokens apart from other output.
    reasoning_separate: bool = False
    aliases: tuple[str, ...] = ()
    source: str = ""
    checked: str = ""
    #: Catalog version, or the path of the override file that supplied this entry.
    origin: str = ""
    #: A fee per call on top of the tokens (USD; Perplexity's per-request price), or 0.
    per_request: Decimal = Decimal(0)
    #: USD per 1,000 server-side tool calls, by charge (``web_search``, ``file_search``).
    per_1k_calls: Mapping[str, Decimal] = field(default_factory=dict)

    def rates_for(self, input_tokens: int, service_tier: str | None = None) -> Rates:
        """The rates that apply to a call with this many input tokens on this tier.

        A published service tier (batch, priority, flex) replaces the standard rates;
        otherwise the highest context-length tier whose threshold the prompt exceeds.
        """
        if service_tier:
            rates = self.service_tiers.get(service_tier)
            if rates is not None:
                return rates
        if not self.tiers:
            return self.rates
        tier = self._context_tier(input_tokens)
        return self.rates if tier is None else tier[1]

    def tiers_used(self, input_tokens: int, service_tier: str | None = None) -> tuple[str | None, int | None]:
        """Which rates :meth:`rates_for` picks: (the service tier, or None for the standard
        rates; the context tier's ``above_input_tokens``, or None). For people: the CLI says it."""
        if service_tier and service_tier in self.service_tiers:
            return service_tier, None
        tier = self._context_tier(input_tokens)
        return None, None if tier is None else tier[0]

    def _context_tier(self, input_tokens: int) -> tuple[int, Rates] | None:
        """The highest context-length tier whose threshold the prompt exceeds, if any."""
        found = None
        for threshold, tier_rates in self.tiers:
            if input_tokens > threshold:
                found = (threshold, tier_rates)
            else:
                break
        return found


class Catalog:
    """Model prices keyed by canonical name, with aliases and cached resolution.

    Resolution is pure and the catalog immutable once built, so the caches (of names, and
    of what our own list answers per model and provider) need no invalidation; they are
    bounded so that a flood of distinct (or hostile) model names
    cannot grow memory.
    """

    def __init__(
        self,
        entries: Iterable[ModelPrice],
        *,
        version: str = "",
        aliases: Mapping[str, str] | None = None,
        source: Any = None,
        base_origin: str | None = None,
        fallback: Catalog | None = None,
    ) -> None:
        self.version = version
        #: Files used only where no other layer has a price (``OTEL_LLM_COST_FALLBACK_PRICES_FILE``).
        self.fallback = fallback
        #: The maintained source under our list (:class:`._genai.GenaiSource`), or None.
        self.source = source
        #: The origin of the bundled entries (their catalog version): the rest are the user's.
        self.base_origin = version if base_origin is None else base_origin
        self._cache: dict[str, ModelPrice | None] = {}
        self._own_answers: dict[tuple[str, str | None, bool], ModelPrice | None] = {}
        self._lock = threading.Lock()
        self._entries: dict[str, ModelPrice] = {}
        self._lookup: dict[str, ModelPrice] = {}
        for entry in entries:
            self._entries[entry.key] = entry
        for entry in self._entries.values():
            for alias in entry.aliases:
                self._lookup.setdefault(alias, entry)
        self._lookup.update(self._entries)
        self._aliases = dict(aliases or {})
        # An alias may name another alias ("prod" -> "my-deployment" -> "gpt-4o"), in
        # any order: resolve until nothing changes. Resolving fills the cache, so it is
        # cleared afterwards; otherwise a name looked up before its own alias was added
        # would stay cached as unknown.
        pending = {alias.strip().lower(): target for alias, target in self._aliases.items()}
        rounds = 0
        while pending and rounds < MAX_ALIAS_DEPTH:
            rounds += 1
            done = {alias: found for alias, target in pending.items()
                    if (found := self._resolve_own(target)) is not None}
            if not done:
                break
            for alias, found in done.items():
                self._lookup[alias] = found
                del pending[alias]
            self._cache.clear()
        self._cache.clear()
        #: User aliases whose target is in no catalog entry (reported, not fatal).
        self.unresolved_aliases = dict(pending)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def entries(self) -> Mapping[str, ModelPrice]:
        return self._entries

    def close_names(self, model: str, *, with_fallback: bool = False, n: int = 3) -> list[str]:
        """Names this catalog knows that are close to ``model``: the CLI's "did you mean".

        Only names resolved by this catalog itself (keys, their aliases, your aliases) and,
        with ``with_fallback``, the bottom layer's; never a guess used to price a call.
        """
        import difflib

        names = set(self._lookup)
        if with_fallback and self.fallback is not None:
            names.update(self.fallback._lookup)
        return difflib.get_close_matches(model.strip().lower(), sorted(names), n=n, cutoff=0.75)

    def resolve(self, model: str | None, provider: str | None = None, *, when: datetime | None = None,
                service_tier: str | None = None, strict: bool = False) -> ModelPrice | None:
        """The entry for ``model`` (any decorated form) at ``provider``, or None when unknown.

        Our own list (bundled, your files, your aliases) answers first, except at a
        third-party provider (:data:`THIRD_PARTY`), where only your own entries do, never
        a bundled first-party price. Then the maintained source (genai-prices), for that
        provider and the request's date. ``strict`` (an endpoint whose provider is
        unknown: a proxy, a self-hosted server) keeps to our own list.
        """
        if not model or not isinstance(model, str):
            return None
        # What our own list answers depends on the model and provider only, never on the
        # date: kept per (model, provider, strict), bounded like the name cache.
        key = (model, provider, strict)
        try:
            return self._own_answers[key]
        except (KeyError, TypeError):
            pass
        found, final = self._resolve_listed(model, provider, strict)
        if final:
            if len(model) <= _names.MAX_MODEL_NAME and (provider is None
                                                         or (type(provider) is str and len(provider) <= 64)):
                with self._lock:
                    if len(self._own_answers) >= _RESOLVE_CACHE_MAX:
                        self._own_answers.clear()
                    self._own_answers[key] = found
            return found
        found = self.source.find(model.strip(), provider, when, service_tier) if self.source is not None else None
        if found is None and self.fallback is not None:
            found = self.fallback._fallback(model, provider)  # type: ignore[arg-type]
        return found

    def _resolve_listed(self, model: str, provider: str | None, strict: bool) -> tuple[ModelPrice | None, bool]:
        """:meth:`resolve` by our own list: (the entry, whether that is the answer); when
        it is not, the maintained source and the fallback answer for the request's date."""
        own = self._resolve_own(model)
        if own is not None and own.origin == self.base_origin and not _list_serves(own.provider, provider):
            own = None  # our correction of a third party's price is not for another provider's calls
        if provider is None:
            return own, True  # no provider: never a guess from some provider's list
        if provider not in THIRD_PARTY:
            if own is not None:
                return own, True
        else:
            # Your entries (only those for this provider — a LiteLLM file's ``groq/llama-…``
            # key first — or for a provider name we do not know), and our list's entries
            # for exactly this provider (a checked correction of the layer below).
            prefixed = self._resolve_own(f"{_PREFIX.get(provider, provider)}/{model}")
            for entry in (prefixed, own):
                if entry is None:
                    continue
                if entry.origin != self.base_origin and _serves(entry.provider, provider):
                    return entry, True
                if entry.origin == self.base_origin and _spelling(entry.provider) == provider:
                    return entry, True
        if strict or len(model) > _names.MAX_MODEL_NAME:
            return None, True
        return None, False

    def _fallback(self, model: str, provider: str) -> ModelPrice | None:
        """This catalog as the bottom layer: the provider's own key first (``groq/…``)."""
        prefix = _FALLBACK_PREFIX.get(provider, _PREFIX.get(provider, provider))
        for entry in (self._resolve_own(f"{prefix}/{model}"), self._resolve_own(model)):
            if entry is not None and (provider not in THIRD_PARTY or _serves(entry.provider, provider)):
                return entry
        return None

    def _resolve_own(self, model: str) -> ModelPrice | None:
        # Resolution does not depend on ``provider`` (model names are unique across the
        # catalog), so it is not part of the key: a caller-controlled provider string
        # must not multiply or enlarge cache entries.
        key = model
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = None
        for name in _names.candidates(model):
            found = self._lookup.get(name)
            if found is not None:
                break
        if len(model) <= _names.MAX_MODEL_NAME:
            with self._lock:
                if len(self._cache) >= _RESOLVE_CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = found
        return found

    def merged(
        self,
        entries: Iterable[ModelPrice],
        *,
        aliases: Mapping[str, str] | None = None,
        origin: str | None = None,
    ) -> Catalog:
        """A new catalog with ``entries`` laid over this one (later wins, per model)."""
        combined = dict(self._entries)
        for entry in entries:
            combined[entry.key] = entry
        version = self.version if origin is None else f"{self.version}+{origin}"
        return Catalog(combined.values(), version=version, aliases={**self._aliases, **(aliases or {})},
                       source=self.source, base_origin=self.base_origin, fallback=self.fallback)
