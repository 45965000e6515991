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
