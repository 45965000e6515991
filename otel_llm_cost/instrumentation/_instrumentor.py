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
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from .. import foreign_spans, semconv
from ._shared import Telemetry

__all__ = ["LLMInstrumentor", "Target"]

#: (SDK class, method name, wrapper) — a method the class does not define is skipped.
Target = tuple[type, str, Callable[..., Any]]


class LLMInstrumentor(BaseInstrumentor):
    """Base of our provider instrumentors."""

    #: Key under which :mod:`otel_llm_cost.foreign_spans` knows this provider.
    provider_key = ""

    def _targets(self, telemetry: Telemetry) -> Iterable[Target]:
        raise NotImplementedError

    def _instrument(self, **kwargs: Any) -> None:
        capture = os.environ.get(semconv.ENV_CAPTURE_CONTENT, "").lower() == "true"
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), capture)
        self._wrapped: list[tuple[type, str]] = []
        for cls, method, wrapper in self._targets(telemetry):
            if method in vars(cls):
                wrap_function_wrapper(cls, method, wrapper)
                self._wrapped.append((cls, method))
        foreign_spans.mark_provider_instrumented(self.provider_key, True)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls, method in getattr(self, "_wrapped", ()):
            unwrap(cls, method)
        self._wrapped = []
        foreign_spans.mark_provider_instrumented(self.provider_key, False)
