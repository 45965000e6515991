"""Fixtures of the peer-coexistence tests (run only in the peer venvs, see ``envs.py``).

Nothing here imports a peer: the main test run collects this directory's conftest too.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.reliability._harness")

from tests.instrumentation.conftest import instrumented  # noqa: E402,F401 - the same fixture
