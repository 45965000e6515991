"""An in-process HTTP transport that answers the SDKs with canned wire-format bytes.

The point of the benchmark is the cost of *instrumentation*, so the network must
not be in the figures: a socket round trip is hundreds of microseconds of noise,
larger than what we measure. The SDKs still do all of their own work — build the
request, serialise JSON, parse SSE frame by frame, validate into pydantic models —
because the transport plugs in *below* the SDK, as ``http_client=`` with a custom
``BaseTransport``. Replies are built once; answering is a dict lookup.

Standalone on purpose (stdlib and the SDK's HTTP package only): the same module
runs inside each peer's virtual environment.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator

try:  # openai >= 3 / anthropic >= 2 are built on httpx2; older SDKs on httpx.
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx  # type: ignore[no-redef]

__all__ = ["CannedTransport", "STREAM_CHUNKS", "openai_client", "anthropic_client", "httpx"]

#: Text deltas in every streamed reply.
STREAM_CHUNKS = 20
_CREATED = 1_760_000_000
_MODEL = "gpt-4o-mini-2024-07-18"
_WORDS = [f" word{i}" for i in range(STREAM_CHUNKS)]
_TEXT = "".join(_WORDS).strip()
_CHAT_USAGE = {
    "prompt_tokens": 28, "completion_tokens": STREAM_CHUNKS, "total_tokens": 28 + STREAM_CHUNKS,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                  "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse(obj: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + _dumps(obj) + b"\n\n"


def _chat_json() -> bytes:
    return _dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": _CREATED, "model": _MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _TEXT, "refusal": None,
                                             "annotations": []},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": _CHAT_USAGE, "service_tier": "default", "system_fingerprint": "fp_bench",
    })


def _chat_stream(with_usage: bool) -> list[bytes]:
    def chunk(delta: dict, finish: str | None = None, usage: dict | None = None, choices: bool = True) -> bytes:
        body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": _CREATED,
                "model": _MODEL, "service_tier": "default", "system_fingerprint": "fp_bench",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
                if choices else []}
        if with_usage:
            body["usage"] = usage
        return _sse(body)

    frames = [chunk({"role": "assistant", "content": "", "refusal": None})]
    frames += [chunk({"content": word}) for word in _WORDS]
    frames.append(chunk({}, "stop"))
    if with_usage:
        frames.append(chunk({}, usage=_CHAT_USAGE, choices=False))
    frames.append(b"data: [DONE]\n\n")
    return frames


def _embeddings(b64: bool) -> bytes:
    vector = [0.001 * i for i in range(256)]
    data = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode() if b64 else vector
    return _dumps({"object": "list", "model": "text-embedding-3-small",
                   "data": [{"object": "embedding", "index": 0, "embedding": data}],
                   "usage": {"prompt_tokens": 9, "total_tokens": 9}})


_ANTHROPIC_USAGE = {"input_tokens": 25, "output_tokens": STREAM_CHUNKS, "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0, "service_tier": "standard"}


def _anthropic_json() -> bytes:
    return _dumps({
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
        "content": [{"type": "text", "text": _TEXT}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": _ANTHROPIC_USAGE,
    })


def _anthropic_stream() -> list[bytes]:
    start = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
             "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**_ANTHROPIC_USAGE, "output_tokens": 1}}
    frames = [_sse({"type": "message_start", "message": start}, "message_start"),
              _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")]
    frames += [_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
                    "content_block_delta") for word in _WORDS]
    frames += [
        _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
              "usage": {"output_tokens": STREAM_CHUNKS}}, "message_delta"),
        _sse({"type": "message_stop"}, "message_stop"),
    ]
    return frames


class _Frames(httpx.SyncByteStream):
    """An SSE body handed over frame by frame, as a chunked network body would be."""

    def __init__(self, frames: list[bytes]) -> None:
        self._frames = frames

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._frames)


_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream")]


class CannedTransport(httpx.BaseTransport):
    """Answers ``/chat/completions``, ``/embeddings`` and ``/messages`` from memory."""

    def __init__(self) -> None:
        self.chat = _chat_json()
        self.chat_stream = _chat_stream(with_usage=True)
        self.chat_stream_no_usage = _chat_stream(with_usage=False)
        self.embeddings = _embeddings(b64=False)
        self.embeddings_b64 = _embeddings(b64=True)
        self.messages = _anthropic_json()
        self.messages_stream = _anthropic_stream()
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path
        body = request.read()
        stream = b'"stream":true' in body.replace(b" ", b"")
        if path.endswith("/chat/completions"):
            if stream:
                frames = self.chat_stream if b"include_usage" in body else self.chat_stream_no_usage
                return httpx.Response(200, headers=_SSE, stream=_Frames(frames), request=request)
            return httpx.Response(200, headers=_JSON, content=self.chat, request=request)
        if path.endswith("/embeddings"):
            content = self.embeddings_b64 if b"base64" in body else self.embeddings
            return httpx.Response(200, headers=_JSON, content=content, request=request)
        if path.endswith("/messages"):
            if stream:
                return httpx.Response(200, headers=_SSE, stream=_Frames(self.messages_stream), request=request)
            return httpx.Response(200, headers=_JSON, content=self.messages, request=request)
        return httpx.Response(404, headers=_JSON, content=b'{"error":{"message":"not canned"}}', request=request)


def openai_client(transport: CannedTransport):
    import openai

    return openai.OpenAI(api_key="bench", base_url="http://bench.invalid/v1", max_retries=0,
                         http_client=httpx.Client(transport=transport))


def anthropic_client(transport: CannedTransport):
    import anthropic

    return anthropic.Anthropic(api_key="bench", base_url="http://bench.invalid", max_retries=0,
                               http_client=httpx.Client(transport=transport))
