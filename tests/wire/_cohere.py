"""Cohere's v2 Chat API (``POST /v2/chat``), as the ``cohere`` SDK's ``ClientV2.chat`` reads it.

Only the non-streamed reply: what the peer-instrumentation tests need. Usage is the
billed units (floats on the wire, as Cohere sends them) and the raw token counts.
"""

from __future__ import annotations

from typing import Any

from ._common import RecordedRequest, Reply, WireResponse, json_response, merged, output_tokens, prompt_tokens

ROUTE = "/v2/chat"


def handle(req: RecordedRequest, reply: Reply, seq: int) -> WireResponse:
    if reply.status >= 400:
        return json_response(reply.error_body or {"message": f"wire: simulated {reply.status}"}, reply.status)
    p, o = prompt_tokens(req.body), output_tokens(reply)
    usage: dict[str, Any] = merged({"billed_units": {"input_tokens": float(p), "output_tokens": float(o)},
                                    "tokens": {"input_tokens": float(p), "output_tokens": float(o)}}, reply.usage)
    return json_response({
        "id": reply.response_id or f"cohere-wire{seq:06d}",
        "finish_reason": reply.finish_reason or "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": reply.full_text()}]},
        "usage": usage,
    }, headers={"x-request-id": f"req_wire{seq:06d}", **reply.headers})
