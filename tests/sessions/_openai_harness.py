"""The real openai SDK, traced by our ``OpenAIInstrumentor`` for the session tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor


@contextlib.contextmanager
def instrumented_openai(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()
