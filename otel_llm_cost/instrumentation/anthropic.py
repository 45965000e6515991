"""Instrumentation of the ``anthropic`` SDK: what to wrap and how to read its objects.

Covered: ``messages.create`` (plain and ``stream=True``), ``messages.stream`` (the
stream manager, which sends its own request), ``messages.parse``, their async and
``beta.messages`` twins, and ``with_raw_response`` (it calls the wrapped ``create``).
``AnthropicBedrock`` / ``AnthropicVertex`` use the same resource classes; the client
class decides ``gen_ai.provider.name``.

Anthropic's ``input_tokens`` excludes cache reads and writes; :meth:`Usage.from_anthropic`
adds them. In a stream, ``message_start`` carries the input usage and every
``message_delta`` the *cumulative* output count: the latest value is kept, never a sum.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Iterator
from typing import Any

from .. import semconv
from ..usage import Usage
from ._content import input_messages_json, output_messages_json, texts_of
from ._deferred import AsyncStreamManagerProxy, StreamManagerProxy, is_raw_response, raw_response_result
from ._instrumentor import LLMInstrumentor, Target
from ._shared import LLMCall, Spec, Telemetry, async_wrapper, proxy_stream, sync_wrapper

__all__ = ["AnthropicInstrumentor"]

PROVIDER = "anthropic"
_OPERATION = "chat"
#: A base class of the client -> gen_ai.provider.name (checked by name: no boto3/google import).
_CLIENT_PROVIDERS = {"BaseBedrockClient": "aws.bedrock", "BaseVertexClient": "gcp.vertex_ai"}
_REQUEST_ATTRIBUTES = {
    "max_tokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": semconv.GEN_AI_REQUEST_TOP_P,
    "top_k": semconv.GEN_AI_REQUEST_TOP_K,
    "stop_sequences": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
}
#: Usage fields a ``message_delta`` may correct (a gateway may send 0 on message_start).
_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
_USAGE_FIELDS = (*_INPUT_FIELDS, "output_tokens", "cache_creation", "server_tool_use", "service_tier")
#: ``usage.service_tier`` values billed at their own rate (``standard`` is the list price).
_PRICED_TIERS = frozenset({"priority", "batch"})


#: Client class -> its gen_ai.provider.name, found once per class.
_PROVIDER_OF: dict[type, str] = {}


def _provider(client: Any) -> str:
    cls = type(client)
    provider = _PROVIDER_OF.get(cls)
    if provider is None:
        provider = next((_CLIENT_PROVIDERS[c.__name__] for c in cls.__mro__ if c.__name__ in _CLIENT_PROVIDERS),
                        PROVIDER)
        if len(_PROVIDER_OF) < 64:
            _PROVIDER_OF[cls] = provider
    return provider


def _start(telemetry: Telemetry, instance: Any, kwargs: dict) -> LLMCall:
    attrs = {key: kwargs.get(arg) for arg, key in _REQUEST_ATTRIBUTES.items()}
    client = getattr(instance, "_client", None)
    attrs.update(telemetry.endpoints.of(getattr(client, "base_url", None))[0])
    if telemetry.capture_content:
        attrs[semconv.GEN_AI_INPUT_MESSAGES] = _input_json(kwargs)
    model = kwargs.get("model")
    return LLMCall(telemetry, _OPERATION, _provider(client), model if isinstance(model, str) else None, attrs)


def _input_json(kwargs: dict) -> str:
    """``system`` and ``messages`` of the request (content capture on only)."""
    system = kwargs.get("system")
    pairs = [("system", system)] if system else []
    for message in kwargs.get("messages") or ():
        if isinstance(message, dict):
            pairs.append((str(message.get("role", "user")), message.get("content")))
    return input_messages_json(pairs)


def _output(call: LLMCall, texts: list[str], stop: Any) -> None:
    if call.telemetry.capture_content:
        call.set(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages_json(["".join(texts)], [stop] if stop else None))


def _usage_dict(usage: Any) -> dict[str, Any]:
    return {name: getattr(usage, name, None) for name in _USAGE_FIELDS}


def _set_service_tier(call: LLMCall, usage: Any) -> None:
    """The tier that served the call (``usage.service_tier``): priced at that tier's rate
    where one is known (Batch: 50 %); Priority Tier rates are by contract, so a call on it
    is priced at the standard rate and says so (``llm_cost.unpriced``)."""
    tier = usage.get("service_tier") if isinstance(usage, dict) else getattr(usage, "service_tier", None)
    if isinstance(tier, str) and tier in _PRICED_TIERS:
        call.service_tier = tier


class _Accumulator:
    """Follows the raw SSE events of one streamed message."""

    def __init__(self, capture: bool = False) -> None:
        self.usage: dict[str, Any] | None = None
        self.model = self.response_id = self.stop_reason = None
        #: Generated text, kept only with content capture on.
        self.texts: list[str] | None = [] if capture else None

    def on_item(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "message_start":
            message = event.message
            self.model, self.response_id = message.model, message.id
            self.usage = _usage_dict(message.usage)
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            delta = _usage_dict(event.usage)
            usage = self.usage if self.usage is not None else {}
            if delta["output_tokens"] is not None:
                usage["output_tokens"] = delta["output_tokens"]  # cumulative: latest wins
            for name in _INPUT_FIELDS:
                if delta[name]:
                    usage[name] = delta[name]
            for name in ("server_tool_use", "service_tier"):  # cumulative too: latest wins
                if delta[name] is not None:
                    usage[name] = delta[name]
            self.usage = usage
        elif kind == "content_block_delta" and self.texts is not None:
            text = getattr(event.delta, "text", None)
            if isinstance(text, str):
                self.texts.append(text)

    def finish(self, call: LLMCall, completed: bool) -> None:
        if self.texts is not None:
            _output(call, self.texts, self.stop_reason)
        call.set_response(model=self.model, response_id=self.response_id,
                          finish_reasons=[self.stop_reason] if self.stop_reason else None,
                          usage=Usage.from_anthropic(self.usage))
        _set_service_tier(call, self.usage)


#: Result class -> whether it is a raw response (``with_raw_response``). Asked of a
#: Message, ``hasattr(…, "http_response")`` goes through pydantic's ``__getattr__``,
#: which raises: answered once per class, not on every call.
_RAW: dict[type, bool] = {}


def _is_raw(value: Any) -> bool:
    cls = type(value)
    raw = _RAW.get(cls)
    if raw is None:
        raw = is_raw_response(value)
        if len(_RAW) < 64:
            _RAW[cls] = raw
    return raw


def _read(call: LLMCall, value: Any) -> Any:
    """A spec's ``result``: a Message, a stream of raw events, or a raw response."""
    if _is_raw(value):
        return raw_response_result(call, value, _read)
    if hasattr(value, "usage") and hasattr(value, "content"):
        stop = getattr(value, "stop_reason", None)
        if call.telemetry.capture_content:
            _output(call, texts_of(value.content), stop)
        call.set_response(model=getattr(value, "model", None), response_id=getattr(value, "id", None),
                          finish_reasons=[stop] if stop else None, usage=Usage.from_anthropic(value.usage))
        _set_service_tier(call, value.usage)
        call.end()
        return value
    if hasattr(value, "__iter__") or hasattr(value, "__aiter__"):
        return proxy_stream(value, call, _Accumulator(call.telemetry.capture_content))
    call.end()
    return value


def _follow_helper_stream(call: LLMCall, message_stream: Any) -> Any:
    """``MessageStream``: every reader (iteration, text_stream, get_final_message,
    until_done) pulls from its ``_raw_stream``, so that is what we follow; the caller
    keeps the SDK's own MessageStream object."""
    raw = getattr(message_stream, "_raw_stream", None)
    if raw is not None:
        message_stream._raw_stream = proxy_stream(raw, call, _Accumulator(call.telemetry.capture_content))
    return message_stream


class _Spec(Spec):
    """``create`` / ``parse``: the result is a Message, a stream or a raw response."""

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall:
        return _start(telemetry, instance, kwargs)

    result = staticmethod(_read)


class _StreamSpec(_Spec):
    """``stream``: the request is sent when the returned manager is entered."""

    def __init__(self, manager_proxy: type) -> None:
        self.manager_proxy = manager_proxy

    def result(self, call: LLMCall, value: Any) -> Any:
        return self.manager_proxy(value, call, _follow_helper_stream)


#: The modules holding the Messages resources, stable and beta; each defines a sync
#: ``Messages`` and an ``AsyncMessages`` class.
_RESOURCE_MODULES = ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages")


class AnthropicInstrumentor(LLMInstrumentor):
    """Traces and prices ``anthropic`` Messages calls (sync, async, streams, beta)."""

    sdk_module = "anthropic"
    requirement = "anthropic >= 1.0"
    provider_key = PROVIDER

    def _targets(self, telemetry: Telemetry) -> Iterator[Target]:
        for module_name, class_name in itertools.product(_RESOURCE_MODULES, ("Messages", "AsyncMessages")):
            is_async = class_name.startswith("Async")
            try:
                cls = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue  # an SDK version without beta messages, say
            call_wrapper = async_wrapper if is_async else sync_wrapper
            manager = AsyncStreamManagerProxy if is_async else StreamManagerProxy
            yield cls, "create", call_wrapper(telemetry, _Spec())
            yield cls, "parse", call_wrapper(telemetry, _Spec())
            yield cls, "stream", sync_wrapper(telemetry, _StreamSpec(manager))
