"""OpenAI auto-instrumentation: one CLIENT span with usage and exact cost per call.

What is wrapped, and why exactly these methods (read from the SDK's source):

* ``chat.completions.create``, ``responses.create``, ``embeddings.create`` and the legacy
  ``completions.create`` send their request themselves;
* ``chat.completions.parse`` and ``responses.parse`` post directly too (not via create);
* the ``.stream(...)`` helpers call ``create(stream=True)``, so they are covered by it
  and are *not* wrapped again; only their streams' ``close()`` is watched, because the
  helpers close the HTTP response behind our stream proxy's back;
* ``.with_raw_response`` / ``.with_streaming_response`` call the same class methods with
  an ``X-Stainless-Raw-Response`` header and get a raw response object back, which is
  read (or proxied) here.

Methods are wrapped on the classes, so every client — ``OpenAI``, ``AzureOpenAI``, sync
and async, made before or after ``instrument()`` — is covered.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

from .. import semconv, tokens
from ._deferred import raw_response_result
from ._instrumentor import LLMInstrumentor, Target
from ._openai_read import (
    ChatAccumulator,
    Request,
    ResponsesAccumulator,
    input_messages_json,
    prompt_of,
    read_response,
    request_attributes,
)
from ._shared import (
    AsyncStreamProxy,
    LLMCall,
    Spec,
    StreamProxy,
    Telemetry,
    async_wrapper,
    safely,
    sync_wrapper,
)

__all__ = ["OpenAIInstrumentor"]

PROVIDER_OPENAI = "openai"
PROVIDER_AZURE = "azure.ai.openai"
#: Our key for OpenAI in :mod:`otel_llm_cost.foreign_spans`.
PROVIDER_KEY = "openai"

# (module, class, method, operation, responses API?)
_METHODS = (
    ("openai.resources.chat.completions", "Completions", "create", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", "chat", False),
    ("openai.resources.chat.completions", "Completions", "parse", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", "chat", False),
    ("openai.resources.responses", "Responses", "create", "chat", True),
    ("openai.resources.responses", "AsyncResponses", "create", "chat", True),
    ("openai.resources.responses", "Responses", "parse", "chat", True),
    ("openai.resources.responses", "AsyncResponses", "parse", "chat", True),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", False),
    ("openai.resources.completions", "Completions", "create", "text_completion", False),
    ("openai.resources.completions", "AsyncCompletions", "create", "text_completion", False),
)
# Helper streams that close the HTTP response directly instead of our proxy.
_HELPER_STREAMS = (
    ("openai.lib.streaming.chat", "ChatCompletionStream", False),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream", True),
    ("openai.lib.streaming.responses", "ResponseStream", False),
    ("openai.lib.streaming.responses", "AsyncResponseStream", True),
)


class _Spec(Spec):
    """How one wrapped method's call is traced (see ``_shared.CallSpec``)."""

    __slots__ = ("operation", "responses_api", "include_usage", "types", "is_async")

    def __init__(self, operation: str, responses_api: bool, include_usage: bool, types: Any,
                 is_async: bool = False) -> None:
        self.is_async = is_async
        self.operation = operation
        self.responses_api = responses_api
        self.include_usage = include_usage and not responses_api and operation != "embeddings"
        self.types = types

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall:
        client = getattr(instance, "_client", None)
        attrs = request_attributes(kwargs)
        # The provider behind the base URL (DeepSeek, Groq, OpenRouter …) sets the name and the rates.
        server, served_by = telemetry.endpoints.of(_base_url(client))
        attrs.update(server)
        provider = served_by or (PROVIDER_AZURE if isinstance(client, self.types.azure) else PROVIDER_OPENAI)
        prompt = prompt_of(kwargs)
        if telemetry.capture_content:
            attrs[semconv.GEN_AI_INPUT_MESSAGES] = input_messages_json(prompt)
        model = kwargs.get("model")
        call = LLMCall(telemetry, self.operation, provider, model if isinstance(model, str) else None, attrs)
        call.strict_pricing = served_by is None and provider == PROVIDER_OPENAI
        call.state = Request(prompt, kwargs.get("stream") is True, kwargs)
        if self.include_usage and kwargs.get("stream") is True and not isinstance(
                kwargs.get("stream_options"), dict):
            # Opted in via OTEL_LLM_COST_OPENAI_INCLUDE_USAGE: ask for the usage chunk.
            kwargs["stream_options"] = {"include_usage": True}
        return call

    def accumulator(self, call: LLMCall) -> Any:
        cls = ResponsesAccumulator if self.responses_api else ChatAccumulator
        return cls(call.state, call.telemetry.capture_content)

    def result(self, call: LLMCall, value: Any) -> Any:
        types = self.types
        if isinstance(value, types.stream):
            return StreamProxy(value, call, self.accumulator(call))
        if isinstance(value, types.async_stream):
            return AsyncStreamProxy(value, call, self.accumulator(call))
        if isinstance(value, types.raw_responses):
            # .with_raw_response / .with_streaming_response: the typed result comes later.
            return raw_response_result(call, value, self.result, streamed=bool(call.state.stream))
        if call.state.stream and _iterable(value):
            # Another instrumentation inside ours may hand back its own stream wrapper
            # (opentelemetry-instrumentation-openai-v2 does): follow it all the same.
            proxy = AsyncStreamProxy if self.is_async else StreamProxy
            return proxy(value, call, self.accumulator(call))
        read_response(call, value)
        call.end()
        return value

    def read_error(self, call: LLMCall, exc: BaseException) -> None:
        """``parse()`` raises on a ``length`` / ``content_filter`` finish with the billed
        completion attached: its usage and cost still count."""
        if isinstance(exc, self.types.finish_reason_errors):
            completion = getattr(exc, "completion", None)
            if completion is not None:
                read_response(call, completion)


#: Client class -> whether its ``base_url`` property returns the ``_configured_base_url``
#: it holds (openai 1.x–3.x): that is then read directly, since the property imports a
#: module on every read. Checked once per class; otherwise the property is read.
_PLAIN_BASE_URL: dict[type, bool] = {}


def _base_url(client: Any) -> Any:
    cls = type(client)
    plain = _PLAIN_BASE_URL.get(cls)
    if plain:
        return client._configured_base_url
    url = getattr(client, "base_url", None)
    if plain is None and len(_PLAIN_BASE_URL) < 64:
        _PLAIN_BASE_URL[cls] = url is not None and getattr(client, "_configured_base_url", None) is url
    return url


def _iterable(value: Any) -> bool:
    return hasattr(value, "__iter__") or hasattr(value, "__aiter__")


class _SDKTypes:
    """The SDK classes the spec tells apart, imported once at ``instrument()``."""

    def __init__(self) -> None:
        import openai
        from openai import _legacy_response, _response

        self.azure = (openai.AzureOpenAI, openai.AsyncAzureOpenAI)
        self.stream = openai.Stream
        self.async_stream = openai.AsyncStream
        self.finish_reason_errors = tuple(
            cls for cls in (getattr(openai, "LengthFinishReasonError", None),
                            getattr(openai, "ContentFilterFinishReasonError", None)) if cls is not None)
        self.raw_responses = (
            _legacy_response.LegacyAPIResponse, _response.APIResponse, _response.AsyncAPIResponse,
        )


def _end_helper_stream(instance: Any) -> None:
    raw = getattr(instance, "_raw_stream", None)
    if isinstance(raw, (StreamProxy, AsyncStreamProxy)) and raw._self_call is not None:
        from ._streams import _StreamState

        _StreamState.end(raw, completed=False)


def _helper_close(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return wrapped(*args, **kwargs)
    finally:
        safely("helper stream close", _end_helper_stream, instance)


async def _async_helper_close(wrapped: Any, instance: Any, args: tuple, kwargs: dict) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        safely("helper stream close", _end_helper_stream, instance)


class OpenAIInstrumentor(LLMInstrumentor):
    """Traces the ``openai`` SDK (>= 1.40): one span per LLM call, with exact cost.

    Settings (:mod:`otel_llm_cost.config`), read at ``instrument()``: ``capture_content``
    records prompt and completion text; ``openai_include_usage`` adds
    ``stream_options={"include_usage": True}`` to streamed chat/completions requests that
    set no ``stream_options``, so streams report exact usage instead of an estimate.
    """

    sdk_module = "openai"
    requirement = "openai >= 1.40"
    provider_key = PROVIDER_KEY

    def _targets(self, telemetry: Telemetry) -> Iterator[Target]:
        tokens.preload()  # estimation's vocabularies, off the call path
        include_usage = telemetry.settings.openai_include_usage
        types = _SDKTypes()
        for module_name, class_name, method, operation, responses_api in _METHODS:
            try:
                cls = getattr(importlib.import_module(module_name), class_name, None)
            except ImportError:  # openai < 1.66 has no ``resources.responses`` module
                cls = None
            if cls is None:
                continue  # an older SDK without this endpoint
            is_async = class_name.startswith("Async")
            spec = _Spec(operation, responses_api, include_usage, types, is_async)
            yield cls, method, (async_wrapper if is_async else sync_wrapper)(telemetry, spec)
        for module_name, class_name, is_async in _HELPER_STREAMS:
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue
            yield cls, "close", _async_helper_close if is_async else _helper_close
