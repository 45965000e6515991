"""Every core test starts from the bundled catalog with no environment overrides.

``tests/conftest.py`` resets the catalog after every test; this also keeps the
developer's own price/alias/tiktoken variables out of the core tests.
"""
import pytest

from otel_llm_cost import semconv
from otel_llm_cost.pricing import reset_catalog


@pytest.fixture(autouse=True)
def clean_catalog(monkeypatch):
    for name in (semconv.ENV_PRICES_FILE, semconv.ENV_MODEL_ALIASES, semconv.ENV_TIKTOKEN_DIR):
        monkeypatch.delenv(name, raising=False)
    reset_catalog()  # a catalog loaded (by a wider-scoped fixture) before the variables went
