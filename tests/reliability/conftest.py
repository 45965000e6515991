"""Fixtures of the fault matrix: instrumentors on in-memory pipelines, undone afterwards,
and the process-wide state a case may change (price catalog, observers) put back."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.reliability._harness")

from collections.abc import Iterator

import pytest

from otel_llm_cost import observers, pricing
from tests.instrumentation.conftest import instrumented  # noqa: F401 - the same fixture


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch) -> Iterator[None]:
    """A case may register a fault-injecting observer or load a hostile price file: undo both."""
    monkeypatch.setattr(observers, "_observers", observers._observers)
    yield
    pricing.reset_catalog()
