"""Gemini Developer API wire format (google-genai, `/v1beta/models/{model}:{method}`).

google-genai reads streams as `data: {...}` lines and raises its own
`APIError` when a chunk starts with `{"error":`, so the in-stream error is
such a chunk. Zero-valued usage fields are omitted, as the real API does.
"""

from __future__ import annotations

import re
from typing import Any

from ._common import (
    Frame,
    RecordedRequest,
    Reply,
    WireResponse,
    embedding,
    json_response,
    merged,
    prompt_tokens,
    reasoning_tokens,
    sse,
)

ROUTE = re.compile(r"^/(v1beta|v1|v1alpha)/models/([^/:]+):(\w+)$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def error_body(reply: Reply) -> dict[str, Any]:
    """`{"error": {"code", "message", "status"}}` for HTTP errors and stream errors."""
    if reply.error_body is not None:
        return reply.error_body
    code = reply.status if reply.status >= 400 else 500
    return {"error": {"code": code, "message": f"wire: simulated {code}", "status": _STATUS.get(code, "UNKNOWN")}}


def usage(req: RecordedRequest, reply: Reply, candidates: int | None = None) -> dict[str, Any]:
    """usageMetadata; candidates excludes thoughts, total includes them."""
    p = prompt_tokens(req.body)
    c = len(reply.deltas()) + len(reply.tool_calls or []) if candidates is None else candidates
    t = reasoning_tokens(reply)
    out: dict[str, Any] = {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c + t,
                           "promptTokensDetails": [{"modality": "TEXT", "tokenCount": p}]}
    if t:
        out["thoughtsTokenCount"] = t
    return merged(out, reply.usage)


def handle(model: str, method: str, req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    """Build the response for one `models/{model}:{method}` call."""
    if reply.status >= 400:
        return json_response(error_body(reply), reply.status, reply.headers)
    body = req.body if isinstance(req.body, dict) else {}
    if method == "embedContent":
        return json_response({"embedding": {"values": embedding(0)}}, headers=reply.headers)
    if method == "batchEmbedContents":
        n = len(body.get("requests", []))
        p = prompt_tokens(body)
        return json_response({"embeddings": [{"values": embedding(i)} for i in range(n)],
                              "usageMetadata": merged({"promptTokenCount": p, "totalTokenCount": p}, reply.usage)},
                             headers=reply.headers)
    base = {"modelVersion": reply.model or model, "responseId": reply.response_id or f"wire{seq:06d}"}
    finish = reply.finish_reason or "STOP"
    calls = [{"functionCall": {"name": c["name"], "args": c.get("arguments", {})}} for c in reply.tool_calls or []]
    thought = [{"text": reply.thinking, "thought": True}] if reply.thinking else []

    def candidate(parts: list[dict[str, Any]], done: bool) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if done:
            cand["finishReason"] = finish
        return cand

    if method == "generateContent":
        parts = thought + [{"text": reply.full_text()}] + calls
        return json_response({"candidates": [candidate(parts, True)], "usageMetadata": usage(req, reply), **base},
                             headers=reply.headers)
    if method != "streamGenerateContent":
        return json_response(error_body(Reply(status=404)), 404)

    frames: list[Frame] = []
    if thought:
        frames.append(Frame(sse({"candidates": [candidate(thought, False)], "usageMetadata": usage(req, reply, 0),
                                 **base})))
    deltas = reply.deltas() or [""]
    for i, d in enumerate(deltas):
        last = i == len(deltas) - 1
        parts = [{"text": d}] + (calls if last else [])
        meta = usage(req, reply) if last else usage(req, reply, i + 1)
        frames.append(Frame(sse({"candidates": [candidate(parts, last)], "usageMetadata": meta, **base}),
                            delta=bool(d)))
    return WireResponse(headers={"content-type": "text/event-stream", **reply.headers}, frames=frames,
                        error_frames=[sse(error_body(reply))])
