"""Shared types of the wire server: the scripted `Reply`, the recorded request,
and the provider-neutral response plan that `_server` writes to the socket.

Provider modules (`_openai`, `_anthropic`, `_gemini`) turn a (request, reply)
pair into a `WireResponse`; the server then applies delays and failure
injection uniformly, so each provider only has to describe its own format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

Failure = Literal["drop", "error_event", "malformed_json"]

#: Fixed prompt overhead added to every default input count, so that an
#: empty prompt still reports a non-zero, recognisable number of tokens.
PROMPT_OVERHEAD = 10

#: Request fields whose text counts towards the default input tokens.
PROMPT_FIELDS = ("messages", "input", "prompt", "system", "instructions", "contents", "systemInstruction", "requests")

#: Only string values under these keys (or bare strings in lists / at the top
#: level) are counted, so roles, types and ids never inflate the count.
_TEXT_KEYS = (None, "content", "text", "input", "prompt", "system", "instructions")

CREATED = 1_700_000_000  # fixed epoch seconds so responses are reproducible


@dataclass
class Reply:
    """What the server answers to the next matching request.

    Defaults produce a successful, realistic response for whatever route the
    request hit; override only what the test is about.
    """

    text: str = "Hello!"
    #: Stream deltas: None = one per whitespace-separated word, an int = the
    #: text cut into that many near-equal pieces, a list = explicit deltas.
    chunks: int | list[str] | None = None
    model: str | None = None
    #: Provider-native usage; shallow-merged over the default usage dict.
    usage: dict[str, Any] | None = None
    #: OpenAI only: None follows the request's `stream_options.include_usage`.
    include_usage_in_stream: bool | None = None
    status: int = 200
    #: Provider-native error JSON; None = a default body for `status`.
    error_body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    #: Stream failure: after this many text deltas, inject `failure`.
    fail_after_chunks: int | None = None
    failure: Failure = "drop"
    finish_reason: str | None = None
    #: Reasoning text: Anthropic thinking block, Gemini thought part,
    #: OpenAI Responses reasoning summary; its word count = reasoning tokens.
    thinking: str | None = None
    response_id: str | None = None
    #: Tool calls as [{"name": str, "arguments": dict | str}] (one output token each);
    #: string arguments are sent verbatim (OpenAI chat).
    tool_calls: list[dict[str, Any]] | None = None
    #: Only match requests whose path (with query) contains this string.
    path_contains: str | None = None
    #: OpenAI: the response's ``service_tier`` (None: ``default``).
    service_tier: str | None = None
    #: OpenAI Responses: extra output items placed before the message, e.g.
    #: ``{"type": "web_search_call", "action": {"type": "search", "query": "…"}}`` (id and
    #: status filled in); streams emit their lifecycle events.
    output_items: list[dict[str, Any]] | None = None
    #: OpenAI only: answer with ``"usage": null`` (a gateway that strips usage), so the
    #: client side must estimate; streams already omit it unless asked for.
    omit_usage: bool = False

    def deltas(self) -> list[str]:
        """The text deltas a stream emits (and whose count is the output tokens)."""
        if isinstance(self.chunks, list):
            return list(self.chunks)
        if self.chunks is None:
            return split_words(self.text)
        n, size = self.chunks, len(self.text)
        return [self.text[i * size // n : (i + 1) * size // n] for i in range(n)]

    def full_text(self) -> str:
        """The complete text: the joined explicit chunks when given, else `text`."""
        return "".join(self.chunks) if isinstance(self.chunks, list) else self.text


def split_words(text: str) -> list[str]:
    """Cut text into word pieces that join back exactly ("a b" -> ["a ", "b"])."""
    words = text.split(" ")
    return [p for p in [w + " " for w in words[:-1]] + [words[-1]] if p]


@dataclass
class RecordedRequest:
    """One request as the server saw it (headers lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Frame:
    """One SSE event on the wire; `delta` marks text deltas for fail_after_chunks."""

    data: bytes
    delta: bool = False


@dataclass
class WireResponse:
    """A provider's answer: either a complete `body` or a list of SSE `frames`."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    frames: list[Frame] | None = None
    #: The provider's in-stream error event, for failure="error_event".
    error_frames: list[bytes] = field(default_factory=list)
    #: The non-JSON event for failure="malformed_json" (Anthropic needs an
    #: `event:` line, or its SDK skips the event unparsed).
    malformed_frame: bytes = b'data: {"wire": malformed\n\n'


def dumps(obj: Any) -> bytes:
    """Compact JSON, as the providers send it."""
    return json.dumps(obj, separators=(",", ":")).encode()


def sse(data: Any, event: str | None = None) -> bytes:
    """Encode one server-sent event (data is JSON-encoded unless already a str)."""
    payload = data if isinstance(data, str) else dumps(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> WireResponse:
    """A complete JSON response."""
    return WireResponse(status=status, headers={"content-type": "application/json", **(headers or {})}, body=dumps(obj))


def words(node: Any, key: str | None = None, text_keys: tuple[str | None, ...] = _TEXT_KEYS) -> int:
    """Whitespace-separated words of the text in ``node``: strings under ``text_keys``
    (``None``: a bare string or list item), searched through lists and dicts."""
    if isinstance(node, str):
        return len(node.split()) if key in text_keys else 0
    if isinstance(node, list):
        return sum(words(item, None, text_keys) for item in node)
    if isinstance(node, dict):
        return sum(words(v, k, text_keys) for k, v in node.items())
    return 0


def prompt_tokens(body: Any) -> int:
    """Default input tokens: PROMPT_OVERHEAD + words of the prompt text."""
    if not isinstance(body, dict):
        return PROMPT_OVERHEAD
    return PROMPT_OVERHEAD + sum(words(body.get(f)) for f in PROMPT_FIELDS)


def reasoning_tokens(reply: Reply) -> int:
    """Default reasoning tokens: words of `reply.thinking`."""
    return len(reply.thinking.split()) if reply.thinking else 0


def output_tokens(reply: Reply) -> int:
    """Default output tokens: deltas + reasoning words + tool calls."""
    return len(reply.deltas()) + reasoning_tokens(reply) + len(reply.tool_calls or [])


def merged(default: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """Shallow-merge a reply's usage override over the default usage."""
    return {**default, **(override or {})}


def embedding(index: int, dims: int = 8) -> list[float]:
    """A deterministic, distinct vector per input index."""
    return [round((index + 1) / 10 + d / 100, 4) for d in range(dims)]


STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
