"""Instrumentation of ``google-genai``: what to wrap and how to read its objects.

Covered: ``models.generate_content``, ``models.generate_content_stream`` (a generator;
on ``client.aio`` an ``async def`` returning an async generator) and
``models.embed_content``, sync and async. Gemini repeats the *cumulative*
``usage_metadata`` on every stream chunk, so the last one is kept, never a sum; the
catalog picks the context-length price tier from the prompt size.

One public call may send several requests — automatic function calling (AFC) sends
the function results back, continuation follows a token — and the SDK returns only the
last response's usage. The call is still one span with one cost: the sum of every
round trip. ``generate_content`` collects each request's response from the SDK's
private ``_generate_content`` (a wrapper that only reads, never traces); a stream's
round trips are told apart by their response ids (usage is cumulative *within* one
response, so the last value of each response is kept, and the responses are added up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from .. import semconv
from ..usage import Usage
from ._content import input_messages_json, output_messages_json, texts_of
from ._instrumentor import LLMInstrumentor, Target
from ._shared import (
    LLMCall,
    Spec,
    Telemetry,
    async_wrapper,
    proxy_stream,
    safely,
    server_attributes,
    sync_wrapper,
)

__all__ = ["GeminiInstrumentor"]

#: Our provider key (see :mod:`otel_llm_cost.foreign_spans`) and the semconv provider names.
PROVIDER = "google_genai"
_GEMINI_API = "gcp.gemini"
_VERTEX_AI = "gcp.vertex_ai"
_CONFIG_ATTRIBUTES = {
    "max_output_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "stop_sequences": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
    "seed": semconv.GEN_AI_REQUEST_SEED,
    "candidate_count": semconv.GEN_AI_REQUEST_CHOICE_COUNT,
}


#: The responses of the requests sent so far by the ``generate_content`` call in progress.
_ROUND_TRIPS: ContextVar[list[Any] | None] = ContextVar("otel_llm_cost_gemini_round_trips", default=None)


def _field(obj: Any, name: str) -> Any:
    """A config may be a pydantic model or a plain dict."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class _Spec(Spec):
    """One ``Models``/``AsyncModels`` method; ``operation`` names the span."""

    def __init__(self, operation: str, round_trips: bool = False, stream: bool = False) -> None:
        self.operation = operation
        #: Collect each request's response (``generate_content``: AFC, continuation).
        self.round_trips = round_trips
        #: Whether the method returns a stream. Told by the method, not by the value:
        #: google-genai 1.0's ``EmbedContentResponse`` has no ``usage_metadata``.
        self.stream = stream

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall:
        config = kwargs.get("config")
        attrs = {key: _field(config, name) for name, key in _CONFIG_ATTRIBUTES.items()} if config else {}
        if telemetry.capture_content:
            attrs[semconv.GEN_AI_INPUT_MESSAGES] = _input_json(kwargs.get("contents"))
        api_client = getattr(instance, "_api_client", None)
        attrs.update(server_attributes(_field(getattr(api_client, "_http_options", None), "base_url")))
        vertex = getattr(api_client, "vertexai", False)
        model = kwargs.get("model")
        call = LLMCall(telemetry, self.operation, _VERTEX_AI if vertex else _GEMINI_API,
                       model if isinstance(model, str) else None, attrs)
        if self.round_trips:  # reset in result() / read_error(), which always follow
            call.state = _ROUND_TRIPS.set([])
        return call

    def _trips(self, call: LLMCall) -> list[Any]:
        if not self.round_trips or call.state is None:
            return []
        trips = _ROUND_TRIPS.get() or []
        _ROUND_TRIPS.reset(call.state)
        call.state = None
        return trips

    def read_error(self, call: LLMCall, exc: BaseException) -> None:
        self._trips(call)

    def result(self, call: LLMCall, value: Any) -> Any:
        trips = self._trips(call)
        capture = call.telemetry.capture_content
        if not self.stream:
            _Accumulator(capture).read(value).finish(call, True)
            if len(trips) > 1:  # several requests: each was billed
                call.set_response(usage=_sum(Usage.from_gemini(_field(t, "usage_metadata")) for t in trips))
            call.end()
            return value
        return proxy_stream(value, call, _Accumulator(capture))


def _sum(usages: Iterator[Usage | None]) -> Usage | None:
    total = None
    for usage in usages:
        if usage is not None:
            total = usage if total is None else total + usage
    return total


def _collect(response: Any) -> None:
    trips = _ROUND_TRIPS.get()
    if trips is not None:
        trips.append(response)


def _round_trip_wrapper(is_async: bool) -> Callable[..., Any]:
    """Wraps the SDK's one-request ``_generate_content``: notes each response, traces nothing."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        response = wrapped(*args, **kwargs)
        safely("round trip", _collect, response)
        return response

    async def async_wrapper_(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        response = await wrapped(*args, **kwargs)
        safely("round trip", _collect, response)
        return response

    return async_wrapper_ if is_async else wrapper


def _input_json(contents: Any) -> str:
    """The request's ``contents`` (a string, parts, or Content objects/dicts with a role)."""
    if isinstance(contents, str) or not isinstance(contents, (list, tuple)):
        contents = [contents]
    pairs = []
    for item in contents:
        parts = _field(item, "parts") if not isinstance(item, str) else None
        if parts is None:
            pairs.append(("user", [item]))
        else:
            pairs.append((str(_field(item, "role") or "user"), parts))
    return input_messages_json(pairs)


class _Accumulator:
    """Follows a response or stream chunks: later chunks replace earlier values."""

    def __init__(self, capture: bool = False) -> None:
        self.usage = self.model = self.response_id = None
        #: The last usage of each earlier response of the stream (AFC round trips).
        self.earlier: dict[Any, Any] = {}
        self.finish_reasons: list[str] = []
        #: Generated text, kept only with content capture on.
        self.texts: list[str] | None = [] if capture else None

    def read(self, response: Any) -> _Accumulator:
        self.on_item(response)
        return self

    def on_item(self, chunk: Any) -> None:
        response_id = getattr(chunk, "response_id", None)
        if response_id and self.response_id and response_id != self.response_id and self.usage is not None:
            self.earlier[self.response_id] = self.usage  # a new request's response begins
            self.usage = None
        self.usage = getattr(chunk, "usage_metadata", None) or self.usage
        self.model = getattr(chunk, "model_version", None) or self.model
        self.response_id = response_id or self.response_id
        reasons = [getattr(c.finish_reason, "name", c.finish_reason)
                   for c in getattr(chunk, "candidates", None) or () if c.finish_reason]
        self.finish_reasons = [str(r).lower() for r in reasons] or self.finish_reasons
        if self.texts is not None:
            for candidate in (getattr(chunk, "candidates", None) or ())[:1]:
                content = getattr(candidate, "content", None)
                self.texts.extend(texts_of(getattr(content, "parts", None)))

    def finish(self, call: LLMCall, completed: bool) -> None:
        if self.texts is not None:
            call.set(semconv.GEN_AI_OUTPUT_MESSAGES,
                     output_messages_json(["".join(self.texts)], self.finish_reasons))
        usage = Usage.from_gemini(self.usage)
        if self.earlier:
            usage = _sum(iter([*(Usage.from_gemini(u) for u in self.earlier.values()), usage]))
        call.set_response(model=self.model, response_id=self.response_id, finish_reasons=self.finish_reasons,
                          usage=usage)


_METHODS = {
    "generate_content": "chat",
    "generate_content_stream": "chat",
    "embed_content": "embeddings",
}


class GeminiInstrumentor(LLMInstrumentor):
    """Traces and prices ``google-genai`` content generation and embeddings."""

    sdk_module = "google.genai"
    requirement = "google-genai >= 1.0"
    provider_key = PROVIDER

    def _targets(self, telemetry: Telemetry) -> Iterator[Target]:
        from google.genai import models

        for cls, wrapper, is_async in ((models.Models, sync_wrapper, False),
                                       (models.AsyncModels, async_wrapper, True)):
            for method, operation in _METHODS.items():
                yield cls, method, wrapper(telemetry, _Spec(operation, round_trips=method == "generate_content",
                                                            stream=method.endswith("_stream")))
            yield cls, "_generate_content", _round_trip_wrapper(is_async)
