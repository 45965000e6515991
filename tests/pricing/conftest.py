"""The instrumentation tests' fixtures (``instrumented``), for pricing tests over the wire."""

from tests.instrumentation.conftest import instrumented  # noqa: F401
