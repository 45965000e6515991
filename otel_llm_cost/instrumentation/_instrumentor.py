"""The instrument/uninstrument cycle every provider instrumentor shares.

A provider module subclasses :class:`LLMInstrumentor`: it names the SDK's top-level
module (:attr:`~LLMInstrumentor.sdk_module`), its provider key (see
:mod:`otel_llm_cost.foreign_spans`) and lists ``(class, method name, wrapper)``
targets. This base does the rest, the same way for every provider:

* **settings** are read once, at ``instrument()`` (:func:`otel_llm_cost.config.load`);
* **on import**: the SDK is wrapped when the application imports it (a wrapt
  post-import hook), at once if it already has — so instrumenting never imports an
  SDK the application does not use, and process start-up does not pay for it;
* **uninstrument** removes only our wrappers, wherever they sit in a chain of
  wrappers, and switches off the :class:`~._call.Telemetry` so that SDK objects
  which cached a bound wrapper earlier (``client.messages.with_raw_response``) stop
  tracing too;
* it tells :mod:`~otel_llm_cost.foreign_spans` whether our spans now cover the
  provider (so an SDK's own spans are not counted a second time).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterable
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from wrapt import wrap_function_wrapper

from .. import config, foreign_spans, semconv
from ._call import Telemetry

__all__ = ["LLMInstrumentor", "Target", "wrap", "unwrap_own"]

_log = logging.getLogger("otel_llm_cost")

#: (SDK class, method name, wrapper) — a method the class does not define is skipped.
Target = tuple[type, str, Callable[..., Any]]


def wrap(cls: type, method: str, wrapper: Callable[..., Any]) -> tuple[type, str, Any]:
    """Wrap ``cls.method``; returns what :func:`unwrap_own` needs to remove this wrapper."""
    wrap_function_wrapper(cls, method, wrapper)
    return cls, method, vars(cls)[method]


def unwrap_own(cls: type, method: str, installed: Any) -> None:
    """Remove *our* wrapper from ``cls.method``, wherever it is in a chain of wrappers.

    ``opentelemetry.instrumentation.utils.unwrap`` removes the outermost wrapper, which
    is another instrumentation's if it wrapped the same method after us: uninstrumenting
    ours would silently switch theirs off (and leave ours in place). Here the chain is
    walked and only the wrapper we installed is spliced out.
    """
    parent, node = None, vars(cls).get(method)
    while node is not None and node is not installed:
        parent, node = node, getattr(node, "__wrapped__", None)
    if node is None:
        return  # already removed (e.g. by another tool's unwrap)
    if parent is None:
        setattr(cls, method, installed.__wrapped__)
    else:
        parent.__wrapped__ = installed.__wrapped__


class LLMInstrumentor(BaseInstrumentor):
    """Base of our provider instrumentors: one per SDK, all alike.

    ``instrument(tracer_provider=…, meter_provider=…)`` as for any OpenTelemetry
    instrumentor; settings come from :mod:`otel_llm_cost.config`.
    """

    #: The SDK's top-level module; wrapping waits until the application imports it.
    sdk_module = ""
    #: The pip requirement the SDK must satisfy (``instrumentation_dependencies``).
    requirement = ""
    #: Key under which :mod:`otel_llm_cost.foreign_spans` knows this provider.
    provider_key = ""

    _telemetry: Telemetry | None = None
    _wrapped: list[tuple[type, str, Any]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return (self.requirement,)

    def _targets(self, telemetry: Telemetry) -> Iterable[Target]:
        """What to wrap; called once the SDK module is imported."""
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        settings = config.load()
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), settings)
        self._telemetry = telemetry
        self._wrapped = []
        foreign_spans.mark_provider_instrumented(self.provider_key, True)
        if os.environ.get(semconv.ENV_BUDGETS):
            from ..budgets import from_environment

            from_environment()  # once per process; a bad declaration is logged, never raised
        wrapt.register_post_import_hook(lambda _module: self._wrap_all(telemetry), self.sdk_module)

    def _wrap_all(self, telemetry: Telemetry) -> None:
        """The post-import hook: wrap the targets, unless uninstrumented meanwhile."""
        if telemetry is not self._telemetry or not telemetry.active:
            return
        # The prices are read when the application imports an SDK we price, not at
        # instrument() (start-up stays free for SDKs it never imports) nor on a call.
        _build_catalog()
        try:
            for cls, method, wrapper in self._targets(telemetry):
                if method in vars(cls):
                    self._wrapped.append(wrap(cls, method, wrapper))
        except Exception:  # noqa: BLE001 - an SDK we cannot read must not break its import
            _log.exception("otel_llm_cost: could not instrument %s", self.sdk_module)

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._telemetry is not None:
            self._telemetry.active = False
        self._telemetry = None
        for cls, method, installed in getattr(self, "_wrapped", ()):
            unwrap_own(cls, method, installed)
        self._wrapped = []
        foreign_spans.mark_provider_instrumented(self.provider_key, False)


def _build_catalog() -> None:
    """Read the price data now, as the SDK is imported, so that no call pays for it (genai-prices: ~0.5 s)."""
    from ..pricing import get_catalog

    try:
        get_catalog()
    except Exception:  # noqa: BLE001 - prices that cannot load are reported when a call needs them
        _log.exception("otel_llm_cost: could not build the price catalog")
