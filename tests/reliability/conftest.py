"""Fixtures of the fault matrix: instrumentors on in-memory pipelines, undone afterwards.

The process-wide state a case may change (price catalog, observers) is put back by the
autouse fixture of ``tests/conftest.py``."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.reliability._harness")

from tests.instrumentation.conftest import instrumented  # noqa: F401 - the same fixture
