"""The price catalog: bundled prices, user overrides, and the process-wide catalog.

At the bottom, used only where nothing else has a price, a trimmed snapshot of
LiteLLM's price data shipped with the package (``_snapshot``; replaced by
``OTEL_LLM_COST_FALLBACK_PRICES_FILE``, off with ``none``). Over it, when installed,
the maintained genai-prices data (``_genai``) prices the models and providers our list
does not have. The bundled ``prices.json`` (format in ``docs/prices.md``) is over
that. Over that, in
order: the files named by ``OTEL_LLM_COST_PRICES_FILE`` (``os.pathsep``-separated;
our format or LiteLLM's ``model_prices_and_context_window.json``), the aliases in
``OTEL_LLM_COST_MODEL_ALIASES`` (``deployment=model,…`` — e.g. Azure deployment
names), then whatever the application adds with :func:`load_prices` and
:func:`add_aliases`. A bad override file is logged with every problem and skipped:
the application keeps running on the prices it had.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import date
from importlib import resources
from typing import Any

from .. import config
from ._catalog import Catalog, ModelPrice, Rates
from ._loading import PriceFile, PriceFileError, parse_price_data, read_price_file

__all__ = [
    "Catalog",
    "ModelPrice",
    "Rates",
    "PriceFileError",
    "bundled_catalog",
    "bundled_snapshot",
    "get_catalog",
    "set_catalog",
    "load_prices",
    "add_aliases",
    "read_price_file",
    "reset_catalog",
]

_log = logging.getLogger(__name__)
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child gets fresh pricing locks: a thread of the parent's that was
    building the catalog or looking a price up at ``fork()`` does not exist in the child,
    and a lock it held would stay held forever (pre-forking servers fork at any moment)."""
    global _lock
    _lock = threading.Lock()
    from . import _genai  # the module only: it imports genai-prices inside load()

    _genai.renew_locks()
    for catalog in (_current, _bundled, _snapshot_catalog):
        if catalog is not None:
            catalog._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_bundled: Catalog | None = None
_snapshot_catalog: Catalog | None = None
_current: Catalog | None = None


def bundled_catalog() -> Catalog:
    """The catalog shipped with the package (parsed once)."""
    global _bundled
    if _bundled is None:
        raw = resources.files(__name__).joinpath("prices.json").read_bytes()
        data = json.loads(raw)
        version = str(data.get("version", ""))
        parsed = parse_price_data(data, version)
        _bundled = Catalog(parsed.entries, version=version)
    return _bundled


def _overlay(catalog: Catalog, parsed: PriceFile, origin: str) -> Catalog:
    return catalog.merged(parsed.entries, aliases=parsed.aliases, origin=origin)


def _with_source(catalog: Catalog, price_source: str, fallback: Catalog | None = None) -> Catalog:
    """Our list over the maintained source (when installed and not switched off) and the fallback."""
    source = None
    if price_source == "genai-prices":
        from . import _genai  # imports genai-prices itself only here, when the catalog is built

        source = _genai.load()
    if source is None and fallback is None:
        return catalog
    return Catalog(catalog.entries().values(), version=catalog.version, source=source, fallback=fallback)


#: ``OTEL_LLM_COST_FALLBACK_PRICES_FILE=none``: no fallback layer at all.
FALLBACK_OFF = "none"


def bundled_snapshot() -> Catalog | None:
    """The LiteLLM snapshot shipped with the package (parsed once), or None if unreadable.

    Named by its LiteLLM release (``litellm 1.110.2 (bundled snapshot)``): that is the
    ``llm_cost.catalog`` of a call it prices. An entry whose model was retired before
    today (its ``deprecation_date``) still prices, as ``litellm 1.110.2 (bundled
    snapshot, retired)``, its source naming the day.
    """
    global _snapshot_catalog
    if _snapshot_catalog is None:
        from . import _snapshot as snapshot_file

        try:
            data = snapshot_file.read_bundled()
            label = f"litellm {data['litellm_version']} (bundled snapshot)"
            parsed = parse_price_data(data["entries"], label)
            entries = _mark_retired(parsed.entries, data["entries"], label, snapshot_file.retired_on)
        except Exception:  # a damaged install must not stop the application
            _log.warning("the bundled LiteLLM price snapshot could not be read; no fallback layer",
                         exc_info=True)
            return None
        _snapshot_catalog = Catalog(entries, version=label)
    return _snapshot_catalog


#: How the catalog name of a retired entry of the snapshot ends (``llm_cost.catalog``).
RETIRED_MARK = ", retired)"


def _mark_retired(entries: Iterable[ModelPrice], raw: Mapping[str, Any], label: str,
                  retired_on: Callable[[Mapping[str, Any], date], date | None]) -> list[ModelPrice]:
    """``entries`` with those retired before today renamed ``<label minus ')'>, retired)``."""
    today = date.today()
    retired = {key.strip().lower(): day for key, entry in raw.items()
               if isinstance(entry, Mapping) and (day := retired_on(entry, today)) is not None}
    origin = label[:-1] + RETIRED_MARK
    return [replace(e, origin=origin, source=f"{e.source}; retired {retired[e.key].isoformat()}")
            if e.key in retired else e for e in entries]


def _fallback_catalog(paths: tuple[str, ...]) -> Catalog | None:
    """The bottom layer, used only where nothing above has a price.

    The bundled LiteLLM snapshot by default; your files instead when
    ``OTEL_LLM_COST_FALLBACK_PRICES_FILE`` names some (a newer LiteLLM file); nothing
    with ``none``. If none of your files can be read, the snapshot stays.
    """
    if [p.lower() for p in paths] == [FALLBACK_OFF]:
        return None
    catalog: Catalog | None = None
    for path in paths:
        try:
            parsed = read_price_file(path)
        except PriceFileError as exc:
            _log.error("%s; fallback file skipped", exc)
            continue
        name = os.path.basename(path)
        layer = Catalog(parsed.entries, version=name, aliases=parsed.aliases)
        catalog = layer if catalog is None else catalog.merged(parsed.entries, aliases=parsed.aliases, origin=name)
    if catalog is None:
        if paths:
            _log.error("no fallback price file could be read; keeping the bundled LiteLLM snapshot")
        catalog = bundled_snapshot()
    return catalog


def _from_environment() -> Catalog:
    settings = config.load()
    catalog = _with_source(bundled_catalog(), settings.price_source,
                           _fallback_catalog(settings.fallback_prices_files))
    for path in settings.prices_files:
        try:
            catalog = _overlay(catalog, read_price_file(path, catalog.entries()), os.path.basename(path))
        except PriceFileError as exc:
            _log.error("%s; keeping the prices loaded so far (%s entries)", exc, len(catalog))
    aliases = dict(settings.model_aliases)
    if aliases:
        catalog = catalog.merged((), aliases=aliases)
        _warn_unresolved(catalog)
    return catalog


def _warn_unresolved(catalog: Catalog) -> None:
    for alias, target in catalog.unresolved_aliases.items():
        _log.warning("model alias %r -> %r: no such model in the catalog; alias ignored", alias, target)


def get_catalog() -> Catalog:
    """The process-wide catalog (bundled + environment overrides), built on first use."""
    current = _current
    if current is not None:
        return current
    with _lock:
        if _current is None:
            set_catalog(_from_environment())
        return _current  # type: ignore[return-value]


def set_catalog(catalog: Catalog) -> None:
    """Replace the process-wide catalog (e.g. one built from your own files)."""
    global _current
    _current = catalog


def load_prices(path: str | os.PathLike[str]) -> Catalog:
    """Lay a price file over the current catalog; raises :class:`PriceFileError` if bad.

    Unlike the environment variable, the API raises: the caller asked for this file
    and can decide what to do. The current catalog is unchanged on error.
    """
    base = get_catalog()
    parsed = read_price_file(path, base.entries())
    catalog = _overlay(base, parsed, os.path.basename(os.fspath(path)))
    set_catalog(catalog)
    return catalog


def add_aliases(aliases: Mapping[str, str]) -> Catalog:
    """Map extra names (Azure deployments, gateway names) to catalog models."""
    catalog = get_catalog().merged((), aliases={k.strip().lower(): v for k, v in aliases.items()})
    _warn_unresolved(catalog)
    set_catalog(catalog)
    return catalog


def reset_catalog() -> None:
    """Forget overrides; the next :func:`get_catalog` re-reads the environment."""
    global _current
    with _lock:
        _current = None
