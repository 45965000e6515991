"""The instrument/uninstrument cycle every provider instrumentor shares.

A provider subclass names its provider key (see :mod:`otel_llm_cost.foreign_spans`)
and lists ``(class, method name, wrapper)`` targets; this base builds the
:class:`~._shared.Telemetry` once, wraps what exists in the installed SDK version,
unwraps it again, and tells :mod:`~otel_llm_cost.foreign_spans` whether our spans now
cover that provider (so an SDK's own spans are not counted a second time).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from wrapt import wrap_function_wrapper

from .. import foreign_spans, semconv
from ._shared import Telemetry

__all__ = ["LLMInstrumentor", "Target", "wrap", "unwrap_own"]

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
    """Base of our provider instrumentors."""

    #: Key under which :mod:`otel_llm_cost.foreign_spans` knows this provider.
    provider_key = ""

    def _targets(self, telemetry: Telemetry) -> Iterable[Target]:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        capture = os.environ.get(semconv.ENV_CAPTURE_CONTENT, "").lower() == "true"
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        self._wrapped: list[tuple[type, str, Any]] = []
        for cls, method, wrapper in self._targets(telemetry):
            if method in vars(cls):
                self._wrapped.append(wrap(cls, method, wrapper))
        foreign_spans.mark_provider_instrumented(self.provider_key, True)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls, method, installed in getattr(self, "_wrapped", ()):
            unwrap_own(cls, method, installed)
        self._wrapped = []
        foreign_spans.mark_provider_instrumented(self.provider_key, False)
