"""Price entries and the catalog that resolves model names to them."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from . import _names

__all__ = ["Rates", "ModelPrice", "Catalog"]

_RESOLVE_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per 1M tokens for each kind of token; defaults already applied."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    reasoning: Decimal


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

    def rates_for(self, input_tokens: int, service_tier: str | None = None) -> Rates:
        """The rates that apply to a call with this many input tokens on this tier.

        A published service tier (batch, priority, flex) replaces the standard rates;
        otherwise the highest context-length tier whose threshold the prompt exceeds.
        """
        if service_tier:
            rates = self.service_tiers.get(service_tier)
            if rates is not None:
                return rates
        rates = self.rates
        for threshold, tier_rates in self.tiers:
            if input_tokens > threshold:
                rates = tier_rates
            else:
                break
        return rates


class Catalog:
    """Model prices keyed by canonical name, with aliases and cached resolution.

    Resolution is pure and the catalog immutable once built, so the cache needs no
    invalidation; it is bounded so that a flood of distinct (or hostile) model names
    cannot grow memory.
    """

    def __init__(
        self,
        entries: Iterable[ModelPrice],
        *,
        version: str = "",
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.version = version
        self._cache: dict[str, ModelPrice | None] = {}
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
        while pending:
            done = {alias: found for alias, target in pending.items()
                    if (found := self.resolve(target)) is not None}
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

    def resolve(self, model: str | None, provider: str | None = None) -> ModelPrice | None:
        """The entry for ``model`` (any decorated form), or None when it is unknown."""
        if not model or not isinstance(model, str):
            return None
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
        return Catalog(combined.values(), version=version, aliases={**self._aliases, **(aliases or {})})
