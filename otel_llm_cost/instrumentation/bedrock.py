"""Instrumentation of ``boto3``/``botocore`` ``bedrock-runtime``: what to wrap, how to read it.

Covered: ``converse``, ``converse_stream``, ``invoke_model`` and
``invoke_model_with_response_stream`` (sync; botocore has no async client). botocore
generates its client classes at run time, so the one stable place to wrap is
``BaseClient._make_api_call``; every other AWS call (S3, DynamoDB …) passes through
our wrapper untouched and unobserved (no span, no observer, no budget check).

Where the usage is, without touching what the application reads:

* ``converse``: the response's ``usage`` (``inputTokens`` excludes cache reads and
  writes, like Anthropic's; :meth:`Usage.from_bedrock` adds them);
* ``converse_stream``: the ``metadata`` event at the end of ``response["stream"]``;
* ``invoke_model``: the body is a ``StreamingBody`` that only the application may
  read, so usage comes from the ``x-amzn-bedrock-*-token-count`` response headers —
  the same for every model family, whatever its body format;
* ``invoke_model_with_response_stream``: ``amazon-bedrock-invocationMetrics`` in the
  last chunk of ``response["body"]``.

The two streams are botocore ``EventStream`` objects; each is replaced *in the
returned dict* by a proxy of itself (same type, same methods), so the dict the
application receives is the SDK's, and the stream is the SDK's, seen item by item.
A stream cut off before its usage arrived is priced from a tokenizer estimate of the
prompt and the text received, marked ``estimated`` (as an OpenAI stream's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import semconv
from ..tokens import estimate_usage
from ..usage import Usage
from ._content import input_messages_json, output_messages_json, texts_of
from ._instrumentor import LLMInstrumentor, Target
from ._shared import LLMCall, Spec, Telemetry, proxy_stream, safely, server_attributes, sync_wrapper

__all__ = ["BedrockInstrumentor"]

PROVIDER = "botocore_bedrock"
_PROVIDER_NAME = "aws.bedrock"
_SERVICE = "bedrock-runtime"
_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
_INFERENCE_CONFIG = {
    "maxTokens": semconv.GEN_AI_REQUEST_MAX_TOKENS,
    "temperature": semconv.GEN_AI_REQUEST_TEMPERATURE,
    "topP": semconv.GEN_AI_REQUEST_TOP_P,
    "stopSequences": semconv.GEN_AI_REQUEST_STOP_SEQUENCES,
}
#: Response header (InvokeModel) / invocation-metrics key (streamed InvokeModel) -> Converse usage key.
_HEADERS = {
    "x-amzn-bedrock-input-token-count": "inputTokens",
    "x-amzn-bedrock-output-token-count": "outputTokens",
    "x-amzn-bedrock-cache-read-input-token-count": "cacheReadInputTokens",
    "x-amzn-bedrock-cache-write-input-token-count": "cacheWriteInputTokens",
}
_METRICS = {
    "inputTokenCount": "inputTokens",
    "outputTokenCount": "outputTokens",
    "cacheReadInputTokenCount": "cacheReadInputTokens",
    "cacheWriteInputTokenCount": "cacheWriteInputTokens",
}
_METRICS_KEY = "amazon-bedrock-invocationMetrics"
#: Where each model family's InvokeModel request keeps its prompt.
_PROMPT_FIELDS = ("messages", "prompt", "inputText", "message")


def _operation(instance: Any, args: tuple, kwargs: dict) -> str | None:
    """The Bedrock Runtime operation of a ``_make_api_call``, else None (not ours)."""
    model = getattr(instance, "_service_model", None)
    if getattr(model, "service_name", None) != _SERVICE:
        return None
    name = args[0] if args else kwargs.get("operation_name")
    return name if name in _OPERATIONS else None


def _params(args: tuple, kwargs: dict) -> Mapping[str, Any]:
    params = args[1] if len(args) > 1 else kwargs.get("api_params")
    return params if isinstance(params, Mapping) else {}


def _invoke_body(params: Mapping[str, Any]) -> Any:
    """The InvokeModel request body as JSON, when given as bytes or text (never a file)."""
    body = params.get("body")
    if isinstance(body, (bytes, bytearray, str)):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return None


def _invoke_prompt(body: Any) -> list[tuple[str, Any]]:
    """``(role, content)`` pairs of an InvokeModel body, whatever the model family."""
    if not isinstance(body, dict):
        return []
    pairs: list[tuple[str, Any]] = []
    system = body.get("system")
    if system:
        pairs.append(("system", system))
    for name in _PROMPT_FIELDS:
        value = body.get(name)
        if isinstance(value, str):
            pairs.append(("user", value))
        elif isinstance(value, list):
            pairs.extend((str(m.get("role", "user")), m.get("content")) for m in value if isinstance(m, dict))
    return pairs


def _converse_prompt(params: Mapping[str, Any]) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("system", params["system"])] if params.get("system") else []
    pairs += [(str(m.get("role", "user")), m.get("content")) for m in params.get("messages") or ()
              if isinstance(m, dict)]
    return pairs


def _prompt_messages(pairs: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The prompt as chat messages for the token estimator (text parts only)."""
    return [{"role": role, "content": "".join(texts_of(content))} for role, content in pairs]


def _renamed(source: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any] | None:
    out = {ours: source[theirs] for theirs, ours in names.items() if theirs in source}
    return out or None


class _Request:
    """What the spec keeps between the request and the end of the call.

    The prompt is read from the request only when needed (content capture, or a stream
    that ended without usage): parsing every InvokeModel body up front would cost each
    call a JSON parse of a body that may hold megabytes of images.
    """

    __slots__ = ("_prompt", "operation", "params")

    def __init__(self, operation: str, params: Mapping[str, Any]) -> None:
        self.operation = operation
        self.params = params
        self._prompt: list[tuple[str, Any]] | None = None

    def prompt(self) -> list[tuple[str, Any]]:
        if self._prompt is None:
            converse = self.operation.startswith("Converse")
            self._prompt = _converse_prompt(self.params) if converse else _invoke_prompt(_invoke_body(self.params))
        return self._prompt


class _Spec(Spec):
    """``_make_api_call`` of a Bedrock Runtime client (only ours reach it: see the filter)."""

    def start(self, telemetry: Telemetry, instance: Any, args: tuple, kwargs: dict) -> LLMCall | None:
        operation = _operation(instance, args, kwargs)
        if operation is None:
            return None
        params = _params(args, kwargs)
        model = params.get("modelId")
        converse = operation.startswith("Converse")
        request = _Request(operation, params)
        attrs: dict[str, Any] = {}
        config = params.get("inferenceConfig") if converse else None
        if isinstance(config, Mapping):
            attrs = {key: config.get(name) for name, key in _INFERENCE_CONFIG.items()}
        if telemetry.capture_content:
            attrs[semconv.GEN_AI_INPUT_MESSAGES] = input_messages_json(request.prompt())
        attrs.update(server_attributes(getattr(getattr(instance, "meta", None), "endpoint_url", None) or ""))
        kind = "embeddings" if not converse and isinstance(model, str) and "embed" in model else "chat"
        call = LLMCall(telemetry, kind, _PROVIDER_NAME, model if isinstance(model, str) else None, attrs)
        call.state = request
        return call

    def result(self, call: LLMCall, value: Any) -> Any:
        request: _Request = call.state
        if not isinstance(value, dict):
            call.end()
            return value
        meta = value.get("ResponseMetadata") or {}
        call.set_response(response_id=meta.get("RequestId"))
        if request.operation == "ConverseStream" and "stream" in value:
            value["stream"] = proxy_stream(value["stream"], call, _ConverseStream(request, call.telemetry))
            return value
        if request.operation == "InvokeModelWithResponseStream" and "body" in value:
            value["body"] = proxy_stream(value["body"], call, _InvokeStream(request, call.telemetry))
            return value
        if request.operation == "Converse":
            stop = value.get("stopReason")
            message = (value.get("output") or {}).get("message") or {}
            if call.telemetry.capture_content:
                call.set(semconv.GEN_AI_OUTPUT_MESSAGES,
                         output_messages_json(["".join(texts_of(message.get("content")))], [stop] if stop else None))
            call.set_response(finish_reasons=[stop] if stop else None, usage=Usage.from_bedrock(value.get("usage")))
        else:  # InvokeModel: the body is the application's to read; the headers say the usage
            headers = meta.get("HTTPHeaders") or {}
            call.set_response(usage=Usage.from_bedrock(_renamed(headers, _HEADERS)))
        call.end()
        return value


class _StreamBase:
    """Keeps the streamed text while no usage has arrived (to estimate from), or to capture."""

    def __init__(self, request: _Request, telemetry: Telemetry) -> None:
        self.request = request
        self.capture = telemetry.capture_content
        self.usage: dict[str, Any] | None = None
        self.stop: str | None = None
        self.texts: list[str] = []

    def finish(self, call: LLMCall, completed: bool) -> None:
        call.set_response(finish_reasons=[self.stop] if self.stop else None, usage=Usage.from_bedrock(self.usage))
        if self.usage is None:
            # The usage comes last: without it the stream was cut short, even if botocore
            # ended it quietly (it does on an unreadable event).
            call.partial = True
            request, text = self.request, "".join(self.texts)
            call.estimate_with(lambda: estimate_usage(_model(call), _prompt_messages(request.prompt()), text))
        if self.capture:
            call.set(semconv.GEN_AI_OUTPUT_MESSAGES,
                     output_messages_json(["".join(self.texts)], [self.stop] if self.stop else None))


def _model(call: LLMCall) -> str | None:
    return call.attributes.get(semconv.GEN_AI_REQUEST_MODEL)


class _ConverseStream(_StreamBase):
    """ConverseStream events: text deltas, ``messageStop``, then ``metadata`` with usage."""

    def on_item(self, item: Any) -> None:
        if not isinstance(item, dict):
            return
        delta = item.get("contentBlockDelta")
        if delta is not None and (self.usage is None or self.capture):
            text = (delta.get("delta") or {}).get("text")
            if isinstance(text, str):
                self.texts.append(text)
        elif "messageStop" in item:
            self.stop = item["messageStop"].get("stopReason") or self.stop
        elif "metadata" in item:
            self.usage = item["metadata"].get("usage") or self.usage


class _InvokeStream(_StreamBase):
    """Streamed InvokeModel chunks: each model family's JSON; usage in the last one."""

    def on_item(self, item: Any) -> None:
        raw = (item.get("chunk") or {}).get("bytes") if isinstance(item, dict) else None
        if not isinstance(raw, bytes):
            return
        if _METRICS_KEY.encode() not in raw and self.usage is not None and not self.capture:
            return  # nothing more to learn from this chunk: do not parse it
        chunk = json.loads(raw)
        if not isinstance(chunk, dict):
            return
        metrics = chunk.get(_METRICS_KEY)
        if isinstance(metrics, Mapping):
            self.usage = _renamed(metrics, _METRICS) or self.usage
        self.stop = _stop_of(chunk) or self.stop
        text = _text_of(chunk)
        if text:
            self.texts.append(text)


def _text_of(chunk: dict[str, Any]) -> str | None:
    """The generated text in one streamed chunk of any model family."""
    delta = chunk.get("delta") or (chunk.get("contentBlockDelta") or {}).get("delta")  # Claude, Nova
    if isinstance(delta, dict) and isinstance(delta.get("text"), str):
        return delta["text"]
    for name in ("generation", "outputText"):  # Llama, Titan
        if isinstance(chunk.get(name), str):
            return chunk[name]
    for name in ("outputs", "generations"):  # Mistral, Cohere Command
        first = _first(chunk.get(name))
        if first is not None:
            return first.get("text")
    if chunk.get("event_type") == "text-generation":  # Cohere Command R
        return chunk.get("text")
    return None


def _first(items: Any) -> dict[str, Any] | None:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None


def _stop_of(chunk: dict[str, Any]) -> str | None:
    """The finish reason a chunk of any model family reports, if any."""
    for holder, name in ((chunk.get("delta"), "stop_reason"), (chunk.get("messageStop"), "stopReason"),
                         (chunk, "stop_reason"), (chunk, "completionReason"), (chunk, "finish_reason")):
        if isinstance(holder, dict) and isinstance(holder.get(name), str):
            return holder[name]
    for name, field in (("outputs", "stop_reason"), ("generations", "finish_reason")):
        reason = (_first(chunk.get(name)) or {}).get(field)
        if isinstance(reason, str):
            return reason
    return None


def _bedrock_only(traced: Callable[..., Any]) -> Callable[..., Any]:
    """Hand Bedrock Runtime calls to ``traced``; any other AWS call goes straight through."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple, kwargs: dict) -> Any:
        if safely("bedrock filter", _operation, instance, args, kwargs) is None:
            return wrapped(*args, **kwargs)
        return traced(wrapped, instance, args, kwargs)

    return wrapper


class BedrockInstrumentor(LLMInstrumentor):
    """Traces and prices Amazon Bedrock Runtime calls made with ``boto3``/``botocore``."""

    sdk_module = "botocore"
    requirement = "botocore >= 1.34"
    provider_key = PROVIDER

    def _targets(self, telemetry: Telemetry) -> Iterator[Target]:
        from botocore.client import BaseClient

        yield BaseClient, "_make_api_call", _bedrock_only(sync_wrapper(telemetry, _Spec()))
