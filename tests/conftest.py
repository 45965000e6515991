"""Shared fixtures: one wire server per session, reset before each test; and the
process-wide state of the package put back after every test, so tests pass in any order."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# LiteLLM downloads its price map when imported unless told to use the copy it ships;
# and counts an unreported stream with a tokenizer it would fetch from Hugging Face.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_llm_cost import config, observers, pricing
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
from otel_llm_cost.instrumentation.litellm import LiteLLMInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import STORE
from tests.wire import WireServer

#: Our instrumentors are singletons (BaseInstrumentor): one left on changes every later test.
_INSTRUMENTORS = (OpenAIInstrumentor, AnthropicInstrumentor, GeminiInstrumentor, BedrockInstrumentor,
                  LiteLLMInstrumentor)


@pytest.fixture(scope="session")
def wire_server() -> Iterator[WireServer]:
    """The session's fake provider server; shut down (threads joined) at the end."""
    with WireServer.start() as server:
        yield server


@pytest.fixture
def wire(wire_server: WireServer) -> WireServer:
    """The wire server with an empty reply queue and no recorded requests."""
    wire_server.reset()
    return wire_server


@pytest.fixture(autouse=True)
def _no_span_left_current() -> Iterator[None]:
    """A test that leaves a span current fails, and the context is put back.

    A span left current makes every later test's calls its children, in one trace: a
    ratio sampler then samples all of them or none (``tests/sessions/test_sampling.py``
    failed one run in ten so, after a test that leaks a context on purpose forgot to
    restore it)."""
    token = otel_context.attach(otel_context.get_current())
    yield
    left = trace.get_current_span()
    otel_context.detach(token)
    if left.get_span_context().is_valid and not trace.get_current_span().get_span_context().is_valid:
        pytest.fail(f"the test left the span {getattr(left, 'name', left)!r} current")


@pytest.fixture(autouse=True)
def _restore_process_state() -> Iterator[None]:
    """Undo what a test changed in the package's process-wide state.

    The session store (its sessions, limits and metrics sink), the observers registry,
    the price catalog, ``configure()`` overrides and our instrumentors are globals: a
    test that changes one and does not undo it makes later tests depend on the order.
    What module- or session-scoped fixtures set up is kept: this fixture, function
    scoped, snapshots after them and puts that snapshot back.
    """
    limits = (STORE.max_sessions, STORE.idle_timeout_s)
    metrics = STORE.metrics
    registered = observers._observers
    instrumented = {cls: cls().is_instrumented_by_opentelemetry for cls in _INSTRUMENTORS}
    yield
    for cls, was_on in instrumented.items():
        instrumentor = cls()
        if instrumentor.is_instrumented_by_opentelemetry and not was_on:
            instrumentor.uninstrument()
    STORE.reset()
    STORE.set_limits(*limits)
    STORE.metrics = metrics
    observers._set(registered)  # the observers and their start hooks, together
    config.clear_overrides()
    pricing.reset_catalog()
