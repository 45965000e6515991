"""Ollama's native chat API (``POST /api/chat``), as the ``ollama`` client reads it.

Only the non-streamed reply (``"stream": false``): what the peer-instrumentation tests
need. Ollama counts tokens as ``prompt_eval_count`` / ``eval_count``.
"""

from __future__ import annotations

from ._common import RecordedRequest, Reply, WireResponse, json_response, output_tokens, prompt_tokens

ROUTE = "/api/chat"


def handle(req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    if reply.status >= 400:
        return json_response(reply.error_body or {"error": f"wire: simulated {reply.status}"}, reply.status)
    body = req.body if isinstance(req.body, dict) else {}
    usage = reply.usage or {}
    return json_response({
        "model": reply.model or body.get("model") or "llama-wire",
        "created_at": "2023-11-14T22:13:20Z",
        "message": {"role": "assistant", "content": reply.full_text()},
        "done": True, "done_reason": reply.finish_reason or "stop",
        "total_duration": 1000, "load_duration": 10, "prompt_eval_duration": 100, "eval_duration": 500,
        "prompt_eval_count": usage.get("prompt_eval_count", prompt_tokens(req.body)),
        "eval_count": usage.get("eval_count", output_tokens(reply)),
    })
