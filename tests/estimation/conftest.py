"""The instrumentation tests' fixtures (``otel``: the OpenAI instrumentor on in-memory providers)."""

from tests.instrumentation.conftest import instrumented, otel  # noqa: F401
