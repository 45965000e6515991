"""Fixtures of the fault matrix: instrumentors on in-memory pipelines, undone afterwards,
and the process-wide state a case may change (price catalog, hooks) put back."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.reliability._harness")

from typing import Callable, Iterator

import pytest

import otel_llm_cost.sessions  # noqa: F401 - registers its hooks now, before the snapshot below
from otel_llm_cost import pricing
from otel_llm_cost.instrumentation import _hooks
from tests.instrumentation._helpers import Instrumented


@pytest.fixture
def instrumented() -> Iterator[Callable[..., Instrumented]]:
    """Factory: ``instrumented(InstrumentorCls)``; everything made is uninstrumented after."""
    made: list[Instrumented] = []

    def make(instrumentor_cls: type, **kwargs) -> Instrumented:
        inst = Instrumented(instrumentor_cls, **kwargs)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        if inst.instrumentor.is_instrumented_by_opentelemetry:
            inst.uninstrument()


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch) -> Iterator[None]:
    """A case may register fault-injecting hooks or load a hostile price file: undo both."""
    for name in ("_before_call", "_span_attributes", "_before_end"):
        monkeypatch.setattr(_hooks, name, getattr(_hooks, name))
    yield
    pricing.reset_catalog()
