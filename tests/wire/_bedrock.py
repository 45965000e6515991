"""Amazon Bedrock Runtime wire format (boto3 ``bedrock-runtime``; ``AnthropicBedrock``).

Routes: ``/model/{modelId}/converse``, ``/converse-stream``, ``/invoke`` and
``/invoke-with-response-stream``. The model id (or inference-profile id) in the path
picks the body format of InvokeModel: each model family writes its own JSON (Claude
the Messages API, Llama ``generation``, Titan ``results``, Nova Converse-like,
Mistral ``outputs``, Cohere Command ``generations`` and Command R ``text``). InvokeModel reports usage in the
``x-amzn-bedrock-*-token-count`` response headers; a streamed InvokeModel puts
``amazon-bedrock-invocationMetrics`` into its last chunk; ConverseStream sends a
``metadata`` event with ``usage``.

Streams use AWS's binary event-stream framing (``application/vnd.amazon.eventstream``),
encoded here from its published description: a 12-byte prelude (total length, headers
length, CRC32 of those 8 bytes), the headers (name length, name, type 7 = string,
value length, value), the payload, and a CRC32 of everything before it.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Any
from urllib.parse import unquote

from ._common import Frame, RecordedRequest, Reply, WireResponse, dumps, json_response, merged, words

ROUTE = re.compile(r"^/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream)$")
_ERRORS = {400: "ValidationException", 401: "UnrecognizedClientException", 403: "AccessDeniedException",
           404: "ResourceNotFoundException",
           408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
           500: "InternalServerException", 503: "ServiceUnavailableException"}
#: Request fields whose text counts as prompt, over every family's InvokeModel body.
_PROMPT_FIELDS = ("messages", "system", "prompt", "inputText", "message", "chat_history", "texts")
_TEXT_KEYS = (None, "text", "content", "prompt", "inputText", "message")


# -- the event-stream framing -------------------------------------------------------------

def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message (prelude, prelude CRC, headers, payload, message CRC)."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    return event_message({":event-type": event_type, ":content-type": "application/json",
                          ":message-type": "event"}, dumps(payload))


def exception_event(exception_type: str, message: str) -> bytes:
    return event_message({":exception-type": exception_type, ":content-type": "application/json",
                          ":message-type": "exception"}, dumps({"message": message}))


def _malformed(event_type: str) -> bytes:
    return event_message({":event-type": event_type, ":content-type": "application/json",
                          ":message-type": "event"}, b'{"wire": malformed')


# -- counting -----------------------------------------------------------------------------

def prompt_tokens(body: Any) -> int:
    """10 + words of the prompt text, whatever the family's request field."""
    if not isinstance(body, dict):
        return 10
    return 10 + sum(words(body.get(f), f if isinstance(body.get(f), str) else None, _TEXT_KEYS)
                    for f in _PROMPT_FIELDS)


def family(model_id: str) -> str:
    """The model family of a model or inference-profile id (``us.anthropic.…`` -> anthropic)."""
    for name in ("anthropic", "meta", "amazon.nova", "amazon.titan", "mistral", "cohere"):
        if name + "." in model_id or model_id.startswith(name):
            return name.replace("amazon.", "")
    return "anthropic"


def _usage(req: RecordedRequest, reply: Reply) -> dict[str, Any]:
    """Converse-style usage; ``reply.usage`` is merged over it (Bedrock's own field names)."""
    inp, out = prompt_tokens(req.body), len(reply.deltas())
    usage = merged({"inputTokens": inp, "outputTokens": out}, reply.usage)
    if all(isinstance(usage.get(k), int) for k in ("inputTokens", "outputTokens")):
        usage.setdefault("totalTokens", usage["inputTokens"] + usage["outputTokens"]
                         + sum(v for k, v in usage.items() if k.startswith("cache") and isinstance(v, int)))
    return usage


def _count_headers(usage: dict[str, Any]) -> dict[str, str]:
    names = {"inputTokens": "input", "outputTokens": "output", "cacheReadInputTokens": "cache-read-input",
             "cacheWriteInputTokens": "cache-write-input"}
    return {f"x-amzn-bedrock-{h}-token-count": str(usage[k]) for k, h in names.items() if k in usage}


def _metrics(usage: dict[str, Any]) -> dict[str, Any]:
    names = {"inputTokens": "inputTokenCount", "outputTokens": "outputTokenCount",
             "cacheReadInputTokens": "cacheReadInputTokenCount", "cacheWriteInputTokens": "cacheWriteInputTokenCount"}
    out = {m: usage[k] for k, m in names.items() if k in usage}
    return {**out, "invocationLatency": 120, "firstByteLatency": 40}


# -- responses ------------------------------------------------------------------------------

def error(reply: Reply, status: int | None = None) -> WireResponse:
    status = status or reply.status
    code = _ERRORS.get(status, "InternalServerException")
    body = reply.error_body if reply.error_body is not None else {"message": f"wire: simulated {status}"}
    if isinstance(body.get("error"), dict) and "message" not in body:  # another provider's shape
        body = {"message": body["error"].get("message")}
    return json_response(body, status, {"x-amzn-errortype": f"{code}:http://internal.amazon.com/coral/",
                                        **reply.headers})


def handle(model_id: str, operation: str, req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    model_id = unquote(model_id)
    if reply.status >= 400:
        return error(reply)
    request_id = reply.response_id or f"wire-{seq:06d}"
    headers = {"x-amzn-requestid": request_id, **reply.headers}
    usage = _usage(req, reply)
    stop = reply.finish_reason or "end_turn"
    if operation == "converse":
        body = {"output": {"message": {"role": "assistant", "content": [{"text": reply.full_text()}]}},
                "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 120}}
        return json_response(body, headers=headers)
    if operation == "invoke":
        body = _invoke_body(family(model_id), model_id, reply, usage, request_id)
        return json_response(body, headers={**headers, **_count_headers(usage)})
    stream = {"content-type": "application/vnd.amazon.eventstream", **headers}
    failure = [exception_event("modelStreamErrorException", "wire: simulated stream error")]
    if operation == "converse-stream":
        frames = [Frame(event("messageStart", {"role": "assistant"}))]
        frames += [Frame(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": d}}), delta=True)
                   for d in reply.deltas()]
        frames += [Frame(event("contentBlockStop", {"contentBlockIndex": 0})),
                   Frame(event("messageStop", {"stopReason": stop})),
                   Frame(event("metadata", {"usage": usage, "metrics": {"latencyMs": 120}}))]
        return WireResponse(headers=stream, frames=frames, error_frames=failure,
                            malformed_frame=_malformed("contentBlockDelta"))
    chunks = _invoke_chunks(family(model_id), model_id, reply, usage, request_id)
    chunks[-1]["amazon-bedrock-invocationMetrics"] = _metrics(usage)
    frames = [Frame(event("chunk", {"bytes": base64.b64encode(dumps(c)).decode()}), delta=delta)
              for c, delta in _marked(chunks)]
    return WireResponse(headers=stream, frames=frames, error_frames=failure, malformed_frame=_malformed("chunk"))


def _marked(chunks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], bool]]:
    return [(c, bool(c.pop("_delta", False))) for c in chunks]


def _invoke_body(fam: str, model_id: str, reply: Reply, usage: dict[str, Any], rid: str) -> dict[str, Any]:
    """The model's native InvokeModel response body."""
    text, stop, inp, out = reply.full_text(), reply.finish_reason, usage["inputTokens"], usage["outputTokens"]
    if fam == "anthropic":
        return {"id": f"msg_{rid}", "type": "message", "role": "assistant", "model": reply.model or model_id,
                "content": [{"type": "text", "text": text}], "stop_reason": stop or "end_turn",
                "usage": {"input_tokens": inp, "output_tokens": out}}
    if fam == "meta":
        return {"generation": text, "prompt_token_count": inp, "generation_token_count": out,
                "stop_reason": stop or "stop"}
    if fam == "titan":
        return {"inputTextTokenCount": inp,
                "results": [{"tokenCount": out, "outputText": text, "completionReason": stop or "FINISH"}]}
    if fam == "nova":
        return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": stop or "end_turn", "usage": {**usage, "totalTokens": inp + out}}
    if fam == "mistral":
        return {"outputs": [{"text": text, "stop_reason": stop or "stop"}]}
    if "command-r" in model_id:
        return {"response_id": rid, "text": text, "generation_id": rid, "finish_reason": stop or "COMPLETE",
                "chat_history": []}
    return {"id": rid, "prompt": None, "generations": [{"id": rid, "text": text, "finish_reason": stop or "COMPLETE"}]}


def _invoke_chunks(fam: str, model_id: str, reply: Reply, usage: dict[str, Any], rid: str) -> list[dict[str, Any]]:
    """The model's native streaming chunks; text chunks are marked ``_delta``."""
    deltas, stop = reply.deltas(), reply.finish_reason
    inp, out = usage["inputTokens"], usage["outputTokens"]
    if fam == "anthropic":
        start = {"type": "message_start", "message": {
            "id": f"msg_{rid}", "type": "message", "role": "assistant", "model": reply.model or model_id,
            "content": [], "stop_reason": None, "usage": {"input_tokens": inp, "output_tokens": 1}}}
        return [start, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": d},
                   "_delta": True} for d in deltas),
                {"type": "content_block_stop", "index": 0},
                {"type": "message_delta", "delta": {"stop_reason": stop or "end_turn"},
                 "usage": {"output_tokens": out}},
                {"type": "message_stop"}]
    if fam == "meta":
        chunks: list[dict[str, Any]] = [
            {"generation": d, "prompt_token_count": inp if i == 0 else None, "generation_token_count": i + 1,
             "stop_reason": None, "_delta": True} for i, d in enumerate(deltas)]
        return chunks + [{"generation": "", "prompt_token_count": None, "generation_token_count": out,
                          "stop_reason": stop or "stop"}]
    if fam == "titan":
        chunks = [{"outputText": d, "index": 0, "totalOutputTextTokenCount": i + 1, "completionReason": None,
                   "inputTextTokenCount": inp if i == 0 else None, "_delta": True} for i, d in enumerate(deltas)]
        return chunks + [{"outputText": "", "index": 0, "totalOutputTextTokenCount": out,
                          "completionReason": stop or "FINISH"}]
    if fam == "nova":
        return [{"messageStart": {"role": "assistant"}},
                *({"contentBlockDelta": {"delta": {"text": d}, "contentBlockIndex": 0}, "_delta": True}
                  for d in deltas),
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": stop or "end_turn"}},
                {"metadata": {"usage": {"inputTokens": inp, "outputTokens": out}}}]
    if fam == "mistral":
        chunks = [{"outputs": [{"text": d, "stop_reason": None}], "_delta": True} for d in deltas]
        return chunks + [{"outputs": [{"text": "", "stop_reason": stop or "stop"}]}]
    if "command-r" in model_id:
        chunks = [{"is_finished": False, "event_type": "text-generation", "text": d, "_delta": True} for d in deltas]
        return chunks + [{"is_finished": True, "event_type": "stream-end", "finish_reason": stop or "COMPLETE",
                          "response": {"response_id": rid, "text": "".join(deltas)}}]
    # Command (text): the non-streamed body's shape, one generation piece per chunk
    chunks = [{"generations": [{"text": d, "is_finished": False}], "_delta": True} for d in deltas]
    return chunks + [{"generations": [{"text": "", "is_finished": True, "finish_reason": stop or "COMPLETE"}]}]

