"""Fixtures for instrumentation tests; reusable by every provider's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ._helpers import Instrumented


@pytest.fixture
def instrumented() -> Iterator[Callable[..., Instrumented]]:
    """Factory: ``instrumented(InstrumentorCls)`` -> an instrumented ``Instrumented``.

    Everything it made is uninstrumented at the end of the test, whatever happened,
    and its providers are shut down: a span processor a test added (a batch exporter
    aimed at a port that is gone) would otherwise keep exporting, and logging its
    failures, into whichever tests run next.
    """
    made: list[Instrumented] = []

    def make(instrumentor_cls: type, **kwargs) -> Instrumented:
        inst = Instrumented(instrumentor_cls, **kwargs)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        if inst.instrumentor.is_instrumented_by_opentelemetry:
            inst.uninstrument()
    for inst in made:
        inst.tracer_provider.shutdown()
        inst.meter_provider.shutdown()


@pytest.fixture
def otel(instrumented) -> Instrumented:
    """The OpenAI instrumentor on fresh in-memory providers."""
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    return instrumented(OpenAIInstrumentor)
