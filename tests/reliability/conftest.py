"""Fixtures of the fault matrix: instrumentors on in-memory pipelines, undone afterwards,
and the process-wide state a case may change (price catalog, hooks) put back."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.reliability._harness")

from typing import Iterator

import pytest

import otel_llm_cost.sessions  # noqa: F401 - registers its hooks now, before the snapshot below
from otel_llm_cost import pricing
from otel_llm_cost.instrumentation import _hooks
from tests.instrumentation.conftest import instrumented  # noqa: F401 - the same fixture


@pytest.fixture(autouse=True)
def _restore_process_state(monkeypatch) -> Iterator[None]:
    """A case may register fault-injecting hooks or load a hostile price file: undo both."""
    for name in ("_before_call", "_span_attributes", "_before_end"):
        monkeypatch.setattr(_hooks, name, getattr(_hooks, name))
    yield
    pricing.reset_catalog()
