"""The real openai SDK, traced through the shared span/stream machinery.

Uses the project's ``OpenAIInstrumentor`` once it exists (branch ``openai``); until
then a minimal chat-completions ``CallSpec`` built on ``_shared`` — the same wrappers,
stream proxies and ``LLMCall`` the instrumentation is made of — so these tests drive
a real SDK over HTTP either way.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import openai
import wrapt
from openai.resources.chat import completions as chat_completions

from otel_llm_cost.instrumentation._shared import (
    AsyncStreamProxy,
    LLMCall,
    StreamProxy,
    Telemetry,
    async_wrapper,
    sync_wrapper,
)
from otel_llm_cost.usage import Usage


class _Accumulator:
    def __init__(self) -> None:
        self.model = None
        self.usage = None

    def on_item(self, chunk: Any) -> None:
        self.model = getattr(chunk, "model", None) or self.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = Usage.from_openai(chunk.usage)

    def finish(self, call: LLMCall, completed: bool) -> None:
        call.set_response(model=self.model, usage=self.usage)


class _ChatSpec:
    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall:
        return LLMCall(telemetry, "chat", "openai", kwargs.get("model"), {})

    def result(self, call: LLMCall, value: Any) -> Any:
        if isinstance(value, openai.Stream):
            return StreamProxy(value, call, _Accumulator())
        if isinstance(value, openai.AsyncStream):
            return AsyncStreamProxy(value, call, _Accumulator())
        call.set_response(model=value.model, usage=Usage.from_openai(value.usage))
        call.end()
        return value


@contextlib.contextmanager
def instrumented_openai(tracer_provider: Any, meter_provider: Any) -> Iterator[None]:
    try:
        from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
    except ImportError:
        OpenAIInstrumentor = None  # noqa: N806
    if OpenAIInstrumentor is not None:
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        try:
            yield
        finally:
            instrumentor.uninstrument()
        return
    telemetry = Telemetry(tracer_provider, meter_provider)
    wrapt.wrap_function_wrapper(chat_completions, "Completions.create", sync_wrapper(telemetry, _ChatSpec()))
    wrapt.wrap_function_wrapper(chat_completions, "AsyncCompletions.create",
                                async_wrapper(telemetry, _ChatSpec()))
    try:
        yield
    finally:
        for cls in (chat_completions.Completions, chat_completions.AsyncCompletions):
            cls.create = cls.create.__wrapped__
