"""OpenAI (and Azure OpenAI) wire formats: chat completions, Responses,
embeddings and legacy completions, as JSON and as SSE streams.

Shapes follow the models in the installed `openai` SDK; the Responses stream
emits the full item/part lifecycle because the SDK's `responses.stream()`
state machine rejects deltas for items it has not seen added.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from typing import Any

from ._common import (
    CREATED,
    Frame,
    RecordedRequest,
    Reply,
    WireResponse,
    embedding,
    json_response,
    merged,
    output_tokens,
    prompt_tokens,
    reasoning_tokens,
    sse,
)

_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_error",
                404: "invalid_request_error", 429: "rate_limit_error"}
_PREFIX = re.compile(r"^(/openai/deployments/[^/]+|/openai/v1|/openai|/v1)")


def route(path: str) -> str | None:
    """Map an OpenAI or Azure path to one of our endpoint names."""
    m = _PREFIX.match(path)
    if not m:
        return None
    rest = path[m.end():]
    return rest if rest in ("/chat/completions", "/responses", "/embeddings", "/completions") else None


def error_body(reply: Reply) -> dict[str, Any]:
    """`{"error": {...}}` as OpenAI sends it, for HTTP errors and stream errors."""
    if reply.error_body is not None:
        return reply.error_body
    status = reply.status if reply.status >= 400 else 500
    kind = _ERROR_TYPES.get(status, "server_error")
    return {"error": {"message": f"wire: simulated {status}", "type": kind, "param": None, "code": kind}}


def chat_usage(req: RecordedRequest, reply: Reply) -> dict[str, Any]:
    p, o = prompt_tokens(req.body), output_tokens(reply)
    return merged({
        "prompt_tokens": p, "completion_tokens": o, "total_tokens": p + o,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens(reply), "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }, reply.usage)


def responses_usage(req: RecordedRequest, reply: Reply) -> dict[str, Any]:
    p, o = prompt_tokens(req.body), output_tokens(reply)
    return merged({
        "input_tokens": p, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": o, "output_tokens_details": {"reasoning_tokens": reasoning_tokens(reply)},
        "total_tokens": p + o,
    }, reply.usage)


def handle(endpoint: str, req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    """Build the response for one OpenAI endpoint."""
    headers = {"x-request-id": f"req_wire{seq:06d}", **reply.headers}
    if reply.status >= 400:
        return json_response(error_body(reply), reply.status, headers)
    body = req.body if isinstance(req.body, dict) else {}
    model = reply.model or body.get("model") or "gpt-wire"
    if endpoint == "/embeddings":
        return json_response(_embeddings(req, reply, model), headers=headers)
    if endpoint == "/responses":
        build = _responses_stream if body.get("stream") else _responses_json
    elif endpoint == "/completions":
        build = _legacy_stream if body.get("stream") else _legacy_json
    else:
        build = _chat_stream if body.get("stream") else _chat_json
    out = build(req, reply, model, seq)
    out.headers.update(headers)
    return out


def _embeddings(req: RecordedRequest, reply: Reply, model: str) -> dict[str, Any]:
    inputs = req.body.get("input", [])
    inputs = inputs if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else [inputs]
    dims = int(req.body.get("dimensions") or 8)
    data = []
    for i in range(len(inputs)):
        vec: Any = embedding(i, dims)
        if req.body.get("encoding_format") == "base64":
            vec = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    p = prompt_tokens(req.body)
    return {"object": "list", "data": data, "model": model,
            "usage": merged({"prompt_tokens": p, "total_tokens": p}, reply.usage)}


def _arguments(call: dict[str, Any]) -> str:
    """A call's arguments as sent: a string verbatim (a recorded reply), else its JSON."""
    arguments = call.get("arguments", {})
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [{"id": f"call_wire{i}", "type": "function", "function": {"name": c["name"], "arguments": _arguments(c)}}
            for i, c in enumerate(reply.tool_calls or [])]


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _chat_json(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    message: dict[str, Any] = {"role": "assistant", "content": reply.full_text(), "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply)
    return json_response({
        "id": reply.response_id or f"chatcmpl-wire{seq:06d}", "object": "chat.completion", "created": CREATED,
        "model": model, "system_fingerprint": "fp_wire", "service_tier": reply.service_tier or "default",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}],
        "usage": None if reply.omit_usage else chat_usage(req, reply),
    })


def _include_usage(req: RecordedRequest, reply: Reply) -> bool:
    if reply.include_usage_in_stream is not None:
        return reply.include_usage_in_stream
    opts = req.body.get("stream_options") or {}
    return bool(opts.get("include_usage"))


def _stream_tail(req: RecordedRequest, reply: Reply, base: dict[str, Any]) -> list[Frame]:
    frames = []
    if _include_usage(req, reply):
        frames.append(Frame(sse({**base, "choices": [], "usage": chat_usage(req, reply)})))
    frames.append(Frame(b"data: [DONE]\n\n"))
    return frames


def _stream(frames: list[Frame], reply: Reply) -> WireResponse:
    return WireResponse(headers={"content-type": "text/event-stream"}, frames=frames,
                        error_frames=[sse(error_body(reply))])


def _chat_stream(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    base = {"id": reply.response_id or f"chatcmpl-wire{seq:06d}", "object": "chat.completion.chunk",
            "created": CREATED, "model": model, "system_fingerprint": "fp_wire", "usage": None}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]})

    frames = [Frame(chunk({"role": "assistant", "content": "", "refusal": None}))]
    frames += [Frame(chunk({"content": d}), delta=True) for d in reply.deltas()]
    for i, call in enumerate(_tool_calls(reply)):
        frames.append(Frame(chunk({"tool_calls": [{"index": i, **call}]})))
    frames.append(Frame(chunk({}, _finish(reply))))
    return _stream(frames + _stream_tail(req, reply, base), reply)


def _legacy_json(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    return json_response({
        "id": reply.response_id or f"cmpl-wire{seq:06d}", "object": "text_completion", "created": CREATED,
        "model": model, "choices": [{"index": 0, "text": reply.full_text(), "logprobs": None,
                                     "finish_reason": reply.finish_reason or "stop"}],
        "usage": None if reply.omit_usage else chat_usage(req, reply),
    })


def _legacy_stream(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    base = {"id": reply.response_id or f"cmpl-wire{seq:06d}", "object": "text_completion",
            "created": CREATED, "model": model, "usage": None}

    def chunk(text: str, finish: str | None = None) -> bytes:
        return sse({**base, "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]})

    frames = [Frame(chunk(d), delta=True) for d in reply.deltas()]
    frames.append(Frame(chunk("", reply.finish_reason or "stop")))
    return _stream(frames + _stream_tail(req, reply, base), reply)


def _response_items(reply: Reply, seq: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i, extra in enumerate(reply.output_items or []):
        prefix = {"web_search_call": "ws", "file_search_call": "fs"}.get(extra.get("type"), "item")
        items.append({"id": f"{prefix}_wire{seq:06d}_{i}", "status": "completed", **extra})
    if reply.thinking:
        items.append({"type": "reasoning", "id": f"rs_wire{seq:06d}",
                      "summary": [{"type": "summary_text", "text": reply.thinking}]})
    items.append({"type": "message", "id": f"msg_wire{seq:06d}", "status": "completed", "role": "assistant",
                  "content": [{"type": "output_text", "text": reply.full_text(), "annotations": [], "logprobs": []}]})
    for i, call in enumerate(reply.tool_calls or []):
        items.append({"type": "function_call", "id": f"fc_wire{i}", "call_id": f"call_wire{i}", "name": call["name"],
                      "arguments": json.dumps(call.get("arguments", {})), "status": "completed"})
    return items


def _response_obj(req: RecordedRequest, reply: Reply, model: str, seq: int, status: str) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": reply.response_id or f"resp_wire{seq:06d}", "object": "response", "created_at": CREATED,
        "status": status, "model": model, "output": _response_items(reply, seq) if done else [],
        "parallel_tool_calls": True, "tool_choice": "auto", "error": None,
        "tools": req.body.get("tools", []) if isinstance(req.body, dict) else [],  # echoed, as the API does
        "incomplete_details": None, "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "usage": responses_usage(req, reply) if done and not reply.omit_usage else None,
    }


def _responses_json(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    return json_response(_response_obj(req, reply, model, seq, "completed"))


def _responses_stream(req: RecordedRequest, reply: Reply, model: str, seq: int) -> WireResponse:
    counter = iter(range(1_000_000))
    frames: list[Frame] = []

    def emit(kind: str, is_delta: bool = False, /, **fields: Any) -> None:
        frames.append(Frame(sse({"type": kind, "sequence_number": next(counter), **fields}, kind), is_delta))

    emit("response.created", response=_response_obj(req, reply, model, seq, "in_progress"))
    emit("response.in_progress", response=_response_obj(req, reply, model, seq, "in_progress"))
    for idx, item in enumerate(_response_items(reply, seq)):
        if item["type"] == "message":
            emit("response.output_item.added", output_index=idx,
                 item={**item, "status": "in_progress", "content": []})
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            ids = {"item_id": item["id"], "output_index": idx, "content_index": 0}
            emit("response.content_part.added", part=part, **ids)
            for d in reply.deltas():
                emit("response.output_text.delta", True, delta=d, logprobs=[], **ids)
            emit("response.output_text.done", text=reply.full_text(), logprobs=[], **ids)
            emit("response.content_part.done", part=item["content"][0], **ids)
        elif item["type"] == "function_call":
            emit("response.output_item.added", output_index=idx,
                 item={**item, "arguments": "", "status": "in_progress"})
            ids = {"item_id": item["id"], "output_index": idx}
            emit("response.function_call_arguments.delta", delta=item["arguments"], **ids)
            emit("response.function_call_arguments.done", arguments=item["arguments"], name=item["name"], **ids)
        elif item["type"] in ("web_search_call", "file_search_call"):
            emit("response.output_item.added", output_index=idx, item={**item, "status": "in_progress"})
            ids = {"item_id": item["id"], "output_index": idx}
            phases = ("in_progress", "searching", "completed")
            for phase in phases:
                emit(f"response.{item['type']}.{phase}", **ids)
        else:
            emit("response.output_item.added", output_index=idx, item={**item, "summary": []})
        emit("response.output_item.done", output_index=idx, item=item)
    emit("response.completed", response=_response_obj(req, reply, model, seq, "completed"))

    err = error_body(reply).get("error", {})
    failed = {**_response_obj(req, reply, model, seq, "failed"),
              "error": {"code": err.get("code") or "server_error", "message": err.get("message", "")}}
    error_frames = [
        sse({"type": "error", "code": err.get("code"), "message": err.get("message", ""), "param": None,
             "sequence_number": 900_000}, "error"),
        sse({"type": "response.failed", "sequence_number": 900_001, "response": failed}, "response.failed"),
    ]
    return WireResponse(headers={"content-type": "text/event-stream"}, frames=frames, error_frames=error_frames)
