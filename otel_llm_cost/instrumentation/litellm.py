"""LiteLLM auto-instrumentation: one CLIENT span per LiteLLM call, priced by us.

LiteLLM reaches most providers through its own HTTP code, and even its ``openai/…``
route calls the openai client's low-level ``post`` rather than a method we wrap: without
this module its calls leave no span at all. What is wrapped, and why:

* ``litellm.completion`` / ``acompletion``, ``embedding`` / ``aembedding`` and
  ``text_completion`` / ``atext_completion``, as attributes of the ``litellm`` package —
  the names applications (and LiteLLM's ``Router``) call. LiteLLM's async functions call
  the sync ones through ``litellm.main``'s own globals, which stay unwrapped: one span.
* Their streams (``CustomStreamWrapper``, ``TextCompletionStreamWrapper``) are proxied
  like any SDK stream; LiteLLM opens some providers' streams on the first read, so each
  read is made inside the call's span too (:func:`._shared.quiet_while`).

**One call, one span, one cost.** Some LiteLLM routes do call a method we wrap
underneath (``text_completion`` and ``embedding(encoding_format=…)`` to OpenAI, every
Azure call through ``chat.completions.with_raw_response.create``): while a LiteLLM call
is in flight the context says so, and our other instrumentations add no span, no
metric point, no session or ledger entry for it.

The span names the provider LiteLLM routed to, in our ``gen_ai.provider.name``
vocabulary (:data:`PROVIDERS`), the model the provider answered with, and the usage of
LiteLLM's normalised (OpenAI-shaped) response, cache reads and writes and reasoning
included. The price is ours; LiteLLM's own estimate (``_hidden_params["response_cost"]``)
is kept beside it as ``llm_cost.litellm_usd``, never instead. A cost the provider itself
reported (OpenRouter's ``usage.cost``, kept by LiteLLM as ``upstream_usage_cost``) wins,
as for the openai SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import semconv
from ..cost import format_usd, reported_cost
from ..pricing._providers import provider_for_host
from ..tokens import estimate_usage
from ..usage import Usage, _get, to_int
from ._content import output_messages_json
from ._instrumentor import LLMInstrumentor, Target
from ._openai_read import _output_texts, input_messages_json, prompt_of, request_attributes
from ._shared import (
    AsyncStreamProxy,
    LLMCall,
    Spec,
    StreamProxy,
    Telemetry,
    async_wrapper,
    quiet_end,
    quiet_while,
    server_attributes,
    sync_wrapper,
)

__all__ = ["LiteLLMInstrumentor", "PROVIDERS", "provider_name"]

#: Our key for LiteLLM in :mod:`otel_llm_cost.foreign_spans`.
PROVIDER_KEY = "litellm"

#: LiteLLM's ``custom_llm_provider`` -> ``gen_ai.provider.name`` (the names our other
#: instrumentations and the price catalog use). A provider not listed keeps LiteLLM's name.
PROVIDERS: Mapping[str, str] = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "openrouter": "openrouter",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
    "cerebras": "cerebras",
    "moonshot": "moonshot",
    "zai": "zai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "novita": "novita",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}

# (function, operation)
_FUNCTIONS = (
    ("completion", "chat", False),
    ("acompletion", "chat", True),
    ("embedding", "embeddings", False),
    ("aembedding", "embeddings", True),
    ("text_completion", "text_completion", False),
    ("atext_completion", "text_completion", True),
)
_UPSTREAM_COST = "upstream_usage_cost"


def provider_name(litellm_provider: Any) -> str | None:
    """``gen_ai.provider.name`` for LiteLLM's ``custom_llm_provider``; None if not a name."""
    if not isinstance(litellm_provider, str) or not litellm_provider:
        return None
    name = litellm_provider.strip().lower()
    return PROVIDERS.get(name, name)


class _Request:
    """What a call keeps from its request for the end of the call."""

    __slots__ = ("prompt", "stream", "model")

    def __init__(self, prompt: Any, stream: bool, model: str | None) -> None:
        self.prompt = prompt
        self.stream = stream
        self.model = model


def _route(model: str, kwargs: Mapping[str, Any]) -> tuple[str, str | None]:
    """(the model as the provider receives it, LiteLLM's provider) by LiteLLM's own routing."""
    import litellm

    try:
        found = litellm.get_llm_provider(model=model, custom_llm_provider=kwargs.get("custom_llm_provider"),
                                         api_base=kwargs.get("api_base"))
        return str(found[0]), found[1] if isinstance(found[1], str) else None
    except Exception:  # noqa: BLE001 - LiteLLM will raise its own error for this call
        prefix, _, rest = model.partition("/")
        return (rest, prefix) if rest else (model, None)


def _api_base(kwargs: Mapping[str, Any]) -> str | None:
    for key in ("api_base", "base_url", "aws_bedrock_runtime_endpoint"):
        value = kwargs.get(key)
        if isinstance(value, str) and value:
            return value
    return None


class _Spec(Spec):
    """How one LiteLLM function's calls are read (see ``_contract.CallSpec``)."""

    __slots__ = ("operation", "is_async", "types")

    def __init__(self, operation: str, is_async: bool, types: Any) -> None:
        self.operation = operation
        self.is_async = is_async
        self.types = types

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall | None:
        model = kwargs.get("model", args[0] if args else None)
        if not isinstance(model, str):
            return None  # LiteLLM raises its own error; nothing was sent
        sent_model, routed = _route(model, kwargs)
        provider = provider_name(routed) or "litellm"
        attrs = request_attributes(kwargs)
        base = _api_base(kwargs)
        strict = False
        if base is not None:
            attrs.update(server_attributes(base))
            if provider == "openai":
                # ``openai/…`` at another host: the host says who serves (and bills) it.
                served_by = provider_for_host(urlsplit(base).hostname, telemetry.settings.provider_hosts)
                provider = served_by or provider
                strict = served_by is None
        prompt = prompt_of(kwargs)
        if telemetry.capture_content and self.operation != "embeddings":
            attrs[semconv.GEN_AI_INPUT_MESSAGES] = input_messages_json(prompt)
        stream = kwargs.get("stream") is True
        call = LLMCall(telemetry, self.operation, provider, sent_model, attrs)
        call.strict_pricing = strict
        call.state = _Request(prompt, stream, sent_model)
        if (stream and telemetry.settings.openai_include_usage and self.operation == "chat"
                and not isinstance(kwargs.get("stream_options"), dict)):
            # Opted in via OTEL_LLM_COST_OPENAI_INCLUDE_USAGE: ask for the usage chunk.
            kwargs["stream_options"] = {"include_usage": True}
        return call

    def result(self, call: LLMCall, value: Any) -> Any:
        if isinstance(value, self.types.streams) or (call.state.stream and _iterable(value)):
            acc = _StreamAccumulator(call.state, value, call.telemetry.capture_content)
            if hasattr(value, "__aiter__") and (self.is_async or not hasattr(value, "__next__")):
                return _AsyncStream(value, call, acc)
            return _SyncStream(value, call, acc)
        _read_response(call, value)
        call.end()
        return value


def _iterable(value: Any) -> bool:
    return hasattr(value, "__iter__") or hasattr(value, "__aiter__")


def _hidden(obj: Any) -> Mapping[str, Any]:
    hidden = getattr(obj, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def usage_of(usage: Any) -> Usage | None:
    """LiteLLM's normalised usage: OpenAI's counting (cache reads and writes inside
    ``prompt_tokens``, reasoning inside ``completion_tokens``), with Anthropic's cache
    writes passed through (``cache_creation_input_tokens``, their 1-hour part in
    ``prompt_tokens_details.cache_creation_token_details``)."""
    base = Usage.from_openai(usage)
    if base is None:
        return None
    details = _get(usage, "prompt_tokens_details")
    write = to_int(_get(usage, "cache_creation_input_tokens")) or to_int(_get(details, "cache_creation_tokens"))
    if not base.cache_read_tokens:
        read = to_int(_get(usage, "cache_read_input_tokens"))
    else:
        read = base.cache_read_tokens
    if not write and not read:
        return base
    write_1h = to_int(_get(_get(details, "cache_creation_token_details"), "ephemeral_1h_input_tokens"))
    return Usage(input_tokens=base.input_tokens, output_tokens=base.output_tokens, cache_read_tokens=read,
                 cache_write_tokens=write, cache_write_1h_tokens=write_1h, reasoning_tokens=base.reasoning_tokens,
                 input_audio_tokens=base.input_audio_tokens, output_audio_tokens=base.output_audio_tokens,
                 output_image_tokens=base.output_image_tokens)


def _reported(usage: Any) -> bool:
    """Is this a usage the provider reported (not LiteLLM's placeholder for none)?"""
    return usage is not None and type(usage).__name__ != "UnreportedUsage"


def _set_opinions(call: LLMCall, hidden: Mapping[str, Any], usage: Any, streamed: bool,
                  provider_usage: Any = None) -> None:
    """LiteLLM's own estimate beside ours; the provider's own cost, when it sent one.

    LiteLLM writes its estimate into a stream's final ``usage.cost`` and keeps the
    upstream's own figure under ``upstream_usage_cost``: so only that, or the
    ``usage.cost`` of a usage block the provider sent (a complete response's, a stream's
    usage chunk, before LiteLLM writes there), is the provider's.
    """
    mine = reported_cost(hidden.get("response_cost"))
    if mine is None and streamed and usage is not None:
        mine = reported_cost(_get(usage, "cost"))
    if mine is not None:
        call.set(semconv.LLM_COST_LITELLM_USD, format_usd(mine))
    if _UPSTREAM_COST in hidden:
        theirs = reported_cost(hidden[_UPSTREAM_COST])
    else:
        sent = provider_usage if streamed else usage
        theirs = reported_cost(_get(sent, "cost")) if sent is not None else None
    if theirs is not None:
        call.reported_cost = theirs


def _provider_usage(stream: Any) -> Any:
    """The last usage block the provider sent in a LiteLLM stream, or None.

    LiteLLM keeps every chunk it built, the usage-only ones it does not hand on
    (Bedrock's ``metadata`` event, a usage chunk after the finish), in the stream's
    ``chunks``; ``TextCompletionStreamWrapper`` holds such a stream.
    """
    for source in (stream, getattr(stream, "completion_stream", None)):
        chunks = getattr(source, "chunks", None)
        if isinstance(chunks, list):
            for chunk in reversed(chunks):
                usage = _get(chunk, "usage")
                if _reported(usage):
                    return usage
    return None


def _set_provider(call: LLMCall, hidden: Mapping[str, Any]) -> None:
    """The provider the response came from, if LiteLLM says another (a fallback model)."""
    routed = provider_name(hidden.get("custom_llm_provider"))
    current = call.attributes.get(semconv.GEN_AI_PROVIDER_NAME)
    if routed is not None and routed != current and routed != "openai" and routed != "cached_response":
        call.attributes[semconv.GEN_AI_PROVIDER_NAME] = routed
        call.strict_pricing = False


def _cache_hit(call: LLMCall, hidden: Mapping[str, Any]) -> bool:
    if hidden.get("cache_hit") is True:
        call.set(semconv.LLM_COST_LITELLM_CACHE_HIT, True)
        call.set_response(usage=Usage())  # answered from LiteLLM's cache: no provider call, nothing billed
        return True
    return False


def _read_response(call: LLMCall, response: Any) -> None:
    """A complete response (ModelResponse, EmbeddingResponse, TextCompletionResponse)."""
    hidden = _hidden(response)
    _set_provider(call, hidden)
    finish = [r for r in (_get(c, "finish_reason") for c in _get(response, "choices") or ()) if isinstance(r, str)]
    model = hidden.get("provider_response_model")
    call.set_response(model=model if isinstance(model, str) else _get(response, "model"),
                      response_id=_get(response, "id"), finish_reasons=finish)
    if _cache_hit(call, hidden):
        return
    raw_usage = _get(response, "usage")
    usage = usage_of(raw_usage) if _reported(raw_usage) else None
    call.set_response(usage=usage)
    _set_opinions(call, hidden, raw_usage, streamed=False)
    texts = _output_texts(response)
    request: _Request = call.state
    if usage is None and call.attributes.get(semconv.GEN_AI_OPERATION_NAME) != "embeddings":
        call.estimate_with(lambda: estimate_usage(request.model, request.prompt, "".join(texts)))
    if call.telemetry.capture_content and texts:
        call.set(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages_json(texts, finish))


class _StreamAccumulator:
    """Follows a LiteLLM stream's chunks (OpenAI-shaped ``ModelResponseStream`` items).

    Usage, in order of trust: a chunk's ``usage`` (the ``include_usage`` chunk); the last
    usage block the provider sent, which LiteLLM keeps in the stream's ``chunks``
    (Anthropic, Gemini, Bedrock always send one); the usage LiteLLM put in a chunk's
    hidden params while the provider's was reported; else our estimate from the prompt
    and the text (LiteLLM's own count of an unreported stream is not a report).
    """

    __slots__ = ("request", "stream", "capture", "usage", "hidden", "reported", "model", "id", "reasons", "texts")

    def __init__(self, request: _Request, stream: Any, capture: bool) -> None:
        self.request = request
        #: LiteLLM's stream object (the proxy's wrapped object): its ``chunks`` at the end.
        self.stream = stream
        self.capture = capture
        self.usage: Any = None
        self.hidden: Mapping[str, Any] = {}
        self.reported = False
        self.model: Any = None
        self.id: Any = None
        self.reasons: list[str] = []
        self.texts: list[str] = []

    def on_item(self, chunk: Any) -> None:
        if self.id is None:
            self.id = _get(chunk, "id")
        model = _get(chunk, "model")
        if isinstance(model, str) and model:
            self.model = model
        hidden = _hidden(chunk)
        if hidden:
            self.hidden = hidden
            if _reported(hidden.get("usage")):
                self.reported = True
        usage = _get(chunk, "usage")
        if _reported(usage):
            self.usage = usage
        for choice in _get(chunk, "choices") or ():
            reason = _get(choice, "finish_reason")
            if isinstance(reason, str) and reason:
                self.reasons.append(reason)
            delta = _get(choice, "delta")
            text = _get(delta, "content") if delta is not None else _get(choice, "text")
            if isinstance(text, str) and text:
                self.texts.append(text)

    def finish(self, call: LLMCall, completed: bool) -> None:
        hidden = self.hidden
        _set_provider(call, hidden)
        call.set_response(model=self.model, response_id=self.id, finish_reasons=self.reasons)
        if _cache_hit(call, hidden):
            return
        sent = self.usage if self.usage is not None else _provider_usage(self.stream)
        raw = sent if sent is not None else (hidden.get("usage") if self.reported else None)
        self.stream = None
        usage = usage_of(raw) if raw is not None else None
        call.set_response(usage=usage)
        _set_opinions(call, hidden, hidden.get("usage") or raw, streamed=True, provider_usage=sent)
        request, texts = self.request, self.texts
        if usage is None:
            call.estimate_with(lambda: estimate_usage(request.model, request.prompt, "".join(texts)))
        if self.capture:
            call.set(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages_json(["".join(texts)], self.reasons))


class _SyncStream(StreamProxy):
    """LiteLLM's sync stream; each read is inside the call (it may open the request)."""

    def __iter__(self) -> _SyncStream:
        return self  # every read goes through __next__ below, not the base's generator

    def __next__(self) -> Any:
        call = self._self_call
        if call is None:
            return super().__next__()
        marker = quiet_while(call)
        try:
            return super().__next__()
        finally:
            quiet_end(marker)


class _AsyncStream(AsyncStreamProxy):
    """LiteLLM's async stream; each read is inside the call (it may open the request)."""

    def __aiter__(self) -> _AsyncStream:
        return self  # every read goes through __anext__ below, not the base's generator

    async def __anext__(self) -> Any:
        call = self._self_call
        if call is None:
            return await super().__anext__()
        marker = quiet_while(call)
        try:
            return await super().__anext__()
        finally:
            quiet_end(marker)


class _Types:
    """LiteLLM's stream classes, imported once the application imported LiteLLM."""

    def __init__(self) -> None:
        streams: list[type] = []
        for module_name, name in (("litellm.litellm_core_utils.streaming_handler", "CustomStreamWrapper"),
                                  ("litellm.text_completions.streaming_iterator", "TextCompletionStreamWrapper")):
            try:
                cls = getattr(importlib.import_module(module_name), name, None)
            except ImportError:
                cls = None
            if isinstance(cls, type):
                streams.append(cls)
        self.streams = tuple(streams)


class LiteLLMInstrumentor(LLMInstrumentor):
    """Traces LiteLLM's ``completion``, ``embedding`` and ``text_completion`` (sync and
    async, streamed or not): one span per call, with our exact cost.

    Set ``LITELLM_LOCAL_MODEL_COST_MAP=True`` in the application's environment: LiteLLM
    otherwise downloads its price map when it is imported (``docs/litellm.md``).
    """

    sdk_module = "litellm"
    requirement = "litellm >= 1.50"
    provider_key = PROVIDER_KEY

    def _targets(self, telemetry: Telemetry) -> Iterator[Target]:
        import litellm

        types = _Types()
        for name, operation, is_async in _FUNCTIONS:
            spec = _Spec(operation, is_async, types)
            yield litellm, name, (async_wrapper if is_async else sync_wrapper)(telemetry, spec)  # type: ignore[misc]
