"""Anthropic Messages wire format (`POST /v1/messages`, also `?beta=true`).

The stream mirrors the real event order (message_start, ping, per-block
start/delta/stop, message_delta with the cumulative output_tokens,
message_stop) because `anthropic`'s `messages.stream()` accumulator raises on
any event before `message_start` and indexes blocks by `index`.
"""

from __future__ import annotations

import json
from typing import Any

from ._common import (
    STATUS_TYPES,
    Frame,
    RecordedRequest,
    Reply,
    WireResponse,
    json_response,
    merged,
    output_tokens,
    prompt_tokens,
    split_words,
    sse,
)


def error_body(reply: Reply) -> dict[str, Any]:
    """`{"type": "error", "error": {...}}` for HTTP errors and the `error` event."""
    if reply.error_body is not None:
        return reply.error_body
    status = reply.status if reply.status >= 400 else 529
    kind = STATUS_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"wire: simulated {status}"}}


def usage(req: RecordedRequest, reply: Reply) -> dict[str, Any]:
    """Default usage: no cache activity, output = deltas + thinking words + tool calls."""
    return merged({
        "input_tokens": prompt_tokens(req.body), "output_tokens": output_tokens(reply),
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "service_tier": "standard",
    }, reply.usage)


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": "wire-signature"})
    blocks.append({"type": "text", "text": reply.full_text()})
    for i, call in enumerate(reply.tool_calls or []):
        blocks.append({"type": "tool_use", "id": f"toolu_wire{i}", "name": call["name"],
                       "input": call.get("arguments", {})})
    return blocks


def _message(req: RecordedRequest, reply: Reply, seq: int, content: list[dict[str, Any]],
             stop_reason: str | None, use: dict[str, Any]) -> dict[str, Any]:
    body = req.body if isinstance(req.body, dict) else {}
    return {
        "id": reply.response_id or f"msg_wire{seq:06d}", "type": "message", "role": "assistant",
        "model": reply.model or body.get("model") or "claude-wire", "content": content,
        "stop_reason": stop_reason, "stop_sequence": None, "usage": use,
    }


def handle(req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    """Build the response for `POST /v1/messages`."""
    headers = {"request-id": f"req_wire{seq:06d}", **reply.headers}
    if reply.status >= 400:
        return json_response(error_body(reply), reply.status, headers)
    stop = reply.finish_reason or ("tool_use" if reply.tool_calls else "end_turn")
    full = usage(req, reply)
    if not (isinstance(req.body, dict) and req.body.get("stream")):
        return json_response(_message(req, reply, seq, _blocks(reply), stop, full), headers=headers)

    out = full["output_tokens"]  # a test may script junk usage: pass it through as given
    start_usage = {**full, "output_tokens": min(1, out) if type(out) is int else out}
    # Server tool use is counted as the message goes: message_start says none yet, the final
    # message_delta carries the cumulative count (as the API does).
    tools = start_usage.pop("server_tool_use", None)
    delta_usage = {"output_tokens": full["output_tokens"]}
    if tools is not None:
        start_usage["server_tool_use"] = {name: 0 for name in tools} if isinstance(tools, dict) else tools
        delta_usage["server_tool_use"] = tools
    frames = [Frame(sse({"type": "message_start", "message": _message(req, reply, seq, [], None, start_usage)},
                        "message_start")),
              Frame(sse({"type": "ping"}, "ping"))]

    def event(kind: str, is_delta: bool = False, /, **fields: Any) -> None:
        frames.append(Frame(sse({"type": kind, **fields}, kind), is_delta))

    for idx, block in enumerate(_blocks(reply)):
        if block["type"] == "thinking":
            event("content_block_start", index=idx, content_block={**block, "thinking": "", "signature": ""})
            for word in split_words(block["thinking"]):
                event("content_block_delta", index=idx, delta={"type": "thinking_delta", "thinking": word})
            event("content_block_delta", index=idx, delta={"type": "signature_delta", "signature": block["signature"]})
        elif block["type"] == "text":
            event("content_block_start", index=idx, content_block={"type": "text", "text": ""})
            for d in reply.deltas():
                event("content_block_delta", True, index=idx, delta={"type": "text_delta", "text": d})
        else:
            event("content_block_start", index=idx, content_block={**block, "input": {}})
            event("content_block_delta", index=idx,
                  delta={"type": "input_json_delta", "partial_json": json.dumps(block["input"])})
        event("content_block_stop", index=idx)
    event("message_delta", delta={"stop_reason": stop, "stop_sequence": None}, usage=delta_usage)
    event("message_stop")
    return WireResponse(headers={"content-type": "text/event-stream", **headers}, frames=frames,
                        error_frames=[sse(error_body(reply), "error")],
                        malformed_frame=b'event: content_block_delta\ndata: {"type": malformed\n\n')
