"""A tiny local SIMULATOR of the OpenAI and Anthropic HTTP APIs, for ``otel-llm-cost demo``.

It is not a model and not a test fake: it exists so the demo can drive the real
``openai`` and ``anthropic`` SDKs over real HTTP, offline and with no API key, and show
what the instrumentation records. Replies are canned text; usage is counted
deterministically (words, not a tokenizer) and prompt caching is imitated: a request
whose conversation prefix was seen before reports that prefix as cached (OpenAI
``cached_tokens``; Anthropic ``cache_read_input_tokens``, or ``cache_creation_input_tokens``
the first time a prefix marked with ``cache_control`` is sent).

Routes: ``POST /v1/chat/completions`` and ``POST /v1/messages``, JSON or SSE
(``"stream": true``). Binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Simulator"]

_REPLY = ("This answer comes from the otel-llm-cost local simulator, not from a real model; "
          "its token counts are made up but consistent, so the costs you see are computed exactly.")


def _words(value: Any) -> int:
    """Whitespace-separated words of every string inside ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(_words(v) for k, v in value.items() if k in ("content", "text", "system"))
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    return 0


def _has_cache_control(value: Any) -> bool:
    return "cache_control" in json.dumps(value)


class Simulator:
    """The simulator server; ``with Simulator() as sim:`` then point SDKs at ``sim.*_base_url``."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                route = self.path.split("?")[0]
                if route.endswith("/chat/completions"):
                    frames = simulator._openai(body)
                elif route.endswith("/messages"):
                    frames = simulator._anthropic(body)
                else:
                    self.send_error(404, "the simulator serves /v1/chat/completions and /v1/messages")
                    return
                if body.get("stream"):
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for frame in frames:
                        self.wfile.write(frame.encode())
                        self.wfile.flush()
                    self.close_connection = True
                else:
                    data = json.dumps(next(iter(frames))).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep the demo's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="llm-simulator", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    anthropic_base_url = base_url

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- usage ------------------------------------------------------------------------

    def _counts(self, system: Any, rest: list, *, automatic: bool, marked: bool) -> tuple[int, int, int, int]:
        """(input, cache_read, cache_write, output) of one request; input includes cache.

        Only the system prompt is ever "cached": OpenAI caches automatically (a system
        prompt seen before is read from cache); Anthropic only when it is marked with
        ``cache_control`` (written the first time, read afterwards).
        """
        system_tokens = _words(system) + 4 if system else 0
        key = json.dumps([automatic, system], sort_keys=True)
        with self._lock:
            seen = key in self._seen
            self._seen.add(key)
        read = system_tokens if seen and (automatic or marked) else 0
        write = system_tokens if marked and not seen else 0
        inp = 10 + system_tokens + _words(rest) + 4 * len(rest)
        return inp, read, write, len(_REPLY.split())

    # --- OpenAI chat completions --------------------------------------------------------

    def _openai(self, body: dict) -> Iterator[Any]:
        messages = body.get("messages") or []
        system = [m for m in messages if m.get("role") in ("system", "developer")]
        rest = [m for m in messages if m not in system]
        inp, read, _, out = self._counts(system, rest, automatic=True, marked=False)
        usage = {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out,
                 "prompt_tokens_details": {"cached_tokens": read},
                 "completion_tokens_details": {"reasoning_tokens": 0}}
        base = {"id": f"chatcmpl-sim{next(self._ids)}", "created": 1700000000,
                "model": str(body.get("model")), "system_fingerprint": "simulator"}
        if not body.get("stream"):
            yield {**base, "object": "chat.completion", "usage": usage, "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": _REPLY}}]}
            return
        chunk = {**base, "object": "chat.completion.chunk"}
        for i, word in enumerate(_REPLY.split(" ")):
            delta = {"role": "assistant", "content": word} if i == 0 else {"content": " " + word}
            yield _sse({**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        yield _sse({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            yield _sse({**chunk, "choices": [], "usage": usage})
        yield "data: [DONE]\n\n"

    # --- Anthropic messages -------------------------------------------------------------

    def _anthropic(self, body: dict) -> Iterator[Any]:
        messages = body.get("messages") or []
        system = body.get("system") or ""
        inp, read, write, out = self._counts(system, messages, automatic=False,
                                                marked=_has_cache_control(system))
        usage = {"input_tokens": inp - read - write, "output_tokens": out,
                 "cache_read_input_tokens": read, "cache_creation_input_tokens": write}
        message = {"id": f"msg_sim{next(self._ids)}", "type": "message", "role": "assistant",
                   "model": str(body.get("model")), "stop_sequence": None}
        if not body.get("stream"):
            yield {**message, "content": [{"type": "text", "text": _REPLY}], "stop_reason": "end_turn",
                   "usage": usage}
            return
        yield _sse({"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                         "usage": {**usage, "output_tokens": 1}}},
                   "message_start")
        yield _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                   "content_block_start")
        for i, word in enumerate(_REPLY.split(" ")):
            yield _sse({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": word if i == 0 else " " + word}},
                       "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        yield _sse({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": out}}, "message_delta")
        yield _sse({"type": "message_stop"}, "message_stop")


def _sse(data: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"
