"""A local SIMULATOR of the OpenAI, Anthropic and Gemini HTTP APIs.

It is not a model and not a test fake: it exists so an application can drive the real
``openai``, ``anthropic`` and ``google-genai`` SDKs over real HTTP, offline and with no
API key, and see what the instrumentation records. ``otel-llm-cost demo`` and
``simulate`` start one in-process; ``otel-llm-cost simulator`` runs one on a fixed port
for your own application (see docs/simulator.md). Replies are canned text; usage is
counted deterministically (words, not a tokenizer) and prompt caching is imitated: a
request whose system prompt was seen before reports it as cached (OpenAI
``cached_tokens``; Anthropic ``cache_read_input_tokens``, or
``cache_creation_input_tokens`` the first time a prompt marked with ``cache_control`` is
sent).

Routes: ``POST /v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``, ``/v1/messages`` and
``/v1beta/models/{model}:generateContent`` (``streamGenerateContent``, ``embedContent``,
``batchEmbedContents``), JSON or SSE. Errors on request: a model named
``sim-error-<status>`` (``sim-error-429``) or a header ``x-simulator-status: <status>``
answers with that status in the provider's error format.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import re
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

__all__ = ["Simulator", "DEFAULT_PORT", "add_command"]

#: The port ``otel-llm-cost simulator`` listens on unless told otherwise.
DEFAULT_PORT = 8765

_REPLY = ("This answer comes from the otel-llm-cost local simulator, not from a real model; "
          "its token counts are made up but consistent, so the costs you see are computed exactly.")

#: ``sim-error-429``: a model name that asks for an error (any provider).
_ERROR_MODEL = re.compile(r"sim-error-(\d{3})$")
_GEMINI = re.compile(r"^/(?:v1beta|v1|v1alpha)/models/([^/:]+):(\w+)$")
_EMBEDDING_DIMS = 8

#: Status -> (OpenAI/Anthropic error type, Gemini status).
_ERRORS = {400: ("invalid_request_error", "INVALID_ARGUMENT"), 401: ("authentication_error", "UNAUTHENTICATED"),
           403: ("permission_error", "PERMISSION_DENIED"), 404: ("not_found_error", "NOT_FOUND"),
           429: ("rate_limit_error", "RESOURCE_EXHAUSTED"), 500: ("api_error", "INTERNAL"),
           503: ("overloaded_error", "UNAVAILABLE"), 529: ("overloaded_error", "UNAVAILABLE")}


def _words(value: Any) -> int:
    """Whitespace-separated words of every string inside ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(_words(v) for k, v in value.items() if k in ("content", "text", "system", "parts", "input"))
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    return 0


def _has_cache_control(value: Any) -> bool:
    return "cache_control" in json.dumps(value)


def _vector(index: int) -> list[float]:
    return [round((index + 1) / 10 + d / 100, 4) for d in range(_EMBEDDING_DIMS)]


class _Error(Exception):
    """A status the request asked for; answered in its provider's error format."""

    def __init__(self, status: int, provider: str) -> None:
        super().__init__(status)
        self.status = status
        self.provider = provider

    def body(self) -> dict:
        kind, google = _ERRORS.get(self.status, ("api_error", "UNKNOWN"))
        message = f"simulated {self.status} (asked for by the request)"
        if self.provider == "anthropic":
            return {"type": "error", "error": {"type": kind, "message": message}}
        if self.provider == "gemini":
            return {"error": {"code": self.status, "message": message, "status": google}}
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class Simulator:
    """The simulator server; ``with Simulator() as sim:`` then point SDKs at ``sim.*_base_url``.

    ``port=0`` picks a free port. ``log``, if given, gets one line per request (what
    ``otel-llm-cost simulator`` prints).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log: TextIO | None = None) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._log = log
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._json(200, {"simulator": "otel-llm-cost", "not_a_model": True, **simulator.env()})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    self._json(400, {"error": {"message": "the simulator expects a JSON object"}})
                    return
                route = self.path.split("?")[0]
                try:
                    provider, model, frames, stream = simulator._route(route, body, self.headers)
                except _Error as err:
                    simulator._note(f"{err.provider:<9} -> {err.status} (asked for)")
                    self._json(err.status, err.body(), {"retry-after-ms": "20", "retry-after": "0"})
                    return
                if provider is None:
                    self._json(404, {"error": {"message": f"the simulator does not serve {route}"}})
                    return
                if stream:
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    for frame in frames:
                        self.wfile.write(frame.encode())
                        self.wfile.flush()
                    self.close_connection = True
                else:
                    self._json(200, next(iter(frames)))

            def _json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # our own one line per call instead
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="llm-simulator", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    anthropic_base_url = base_url
    gemini_base_url = base_url

    def env(self) -> dict[str, str]:
        """The environment variables that point each SDK here (the keys are placeholders)."""
        return {"OPENAI_BASE_URL": self.openai_base_url, "OPENAI_API_KEY": "simulator",
                "ANTHROPIC_BASE_URL": self.anthropic_base_url, "ANTHROPIC_API_KEY": "simulator",
                "GOOGLE_GEMINI_BASE_URL": self.gemini_base_url, "GEMINI_API_KEY": "simulator"}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _note(self, line: str) -> None:
        if self._log is not None:
            print(line, file=self._log, flush=True)

    def _route(self, route: str, body: dict, headers: Any) -> tuple[str | None, str, Iterator[Any], bool]:
        """(provider, model, frames, streamed) of one request; raises :class:`_Error` on request."""
        gemini = _GEMINI.match(route)
        if gemini:
            provider, model = "gemini", gemini.group(1)
        elif route.endswith(("/chat/completions", "/embeddings", "/responses")):
            provider, model = "openai", str(body.get("model"))
        elif route.endswith("/messages"):
            provider, model = "anthropic", str(body.get("model"))
        else:
            return None, "", iter(()), False
        asked = _ERROR_MODEL.search(model)
        status = asked.group(1) if asked else headers.get("x-simulator-status")
        if status and status.isdigit() and int(status) >= 400:
            raise _Error(int(status), provider)
        if gemini:
            method = gemini.group(2)
            return provider, model, self._gemini(model, method, body), method == "streamGenerateContent"
        if route.endswith("/embeddings"):
            return provider, model, self._openai_embeddings(body), False
        if route.endswith("/responses"):
            return provider, model, self._openai_responses(body), bool(body.get("stream"))
        if provider == "openai":
            return provider, model, self._openai(body), bool(body.get("stream"))
        return provider, model, self._anthropic(body), bool(body.get("stream"))

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

    def _logged(self, provider: str, model: str, inp: int, out: int, stream: bool, cached: int = 0) -> None:
        kind = "stream" if stream else "call"
        extra = f" ({cached} cached)" if cached else ""
        self._note(f"{provider:<9} {model:<28} {kind:<6} {inp} in{extra}, {out} out")

    # --- OpenAI chat completions and embeddings -----------------------------------------

    def _openai(self, body: dict) -> Iterator[Any]:
        messages = body.get("messages") or []
        system = [m for m in messages if m.get("role") in ("system", "developer")]
        rest = [m for m in messages if m not in system]
        inp, read, _, out = self._counts(system, rest, automatic=True, marked=False)
        self._logged("openai", str(body.get("model")), inp, out, bool(body.get("stream")), read)
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

    def _openai_responses(self, body: dict) -> Iterator[Any]:
        """The Responses API: ``instructions`` is the system prompt (cached automatically)."""
        given = body.get("input")
        rest = [{"role": "user", "content": given}] if isinstance(given, str) else list(given or [])
        inp, read, _, out = self._counts(body.get("instructions") or "", rest, automatic=True, marked=False)
        model = str(body.get("model"))
        self._logged("openai", model, inp, out, bool(body.get("stream")), read)
        n = next(self._ids)
        message = {"type": "message", "id": f"msg_sim{n}", "status": "completed", "role": "assistant",
                   "content": [{"type": "output_text", "text": _REPLY, "annotations": [], "logprobs": []}]}

        def response(status: str) -> dict:
            done = status == "completed"
            usage = {"input_tokens": inp, "input_tokens_details": {"cached_tokens": read}, "output_tokens": out,
                     "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": inp + out}
            return {"id": f"resp_sim{n}", "object": "response", "created_at": 1700000000, "status": status,
                    "model": model, "output": [message] if done else [], "parallel_tool_calls": True,
                    "tool_choice": "auto", "tools": body.get("tools") or [], "error": None,
                    "incomplete_details": None, "instructions": body.get("instructions"), "metadata": {},
                    "text": {"format": {"type": "text"}}, "usage": usage if done else None}

        if not body.get("stream"):
            yield response("completed")
            return
        seq = itertools.count()

        def event(kind: str, **fields: Any) -> str:
            return _sse({"type": kind, "sequence_number": next(seq), **fields}, kind)

        ids = {"item_id": message["id"], "output_index": 0, "content_index": 0}
        yield event("response.created", response=response("in_progress"))
        yield event("response.in_progress", response=response("in_progress"))
        yield event("response.output_item.added", output_index=0,
                    item={**message, "status": "in_progress", "content": []})
        yield event("response.content_part.added", part={"type": "output_text", "text": "", "annotations": []},
                    **ids)
        for i, word in enumerate(_REPLY.split(" ")):
            yield event("response.output_text.delta", delta=word if i == 0 else " " + word, logprobs=[], **ids)
        yield event("response.output_text.done", text=_REPLY, logprobs=[], **ids)
        yield event("response.content_part.done", part=message["content"][0], **ids)
        yield event("response.output_item.done", output_index=0, item=message)
        yield event("response.completed", response=response("completed"))

    def _openai_embeddings(self, body: dict) -> Iterator[Any]:
        inputs = body.get("input")
        items = inputs if isinstance(inputs, list) and not all(isinstance(i, int) for i in inputs) else [inputs]
        tokens = sum(len(i) if isinstance(i, list) else max(1, _words(i)) for i in items)
        self._logged("openai", str(body.get("model")), tokens, 0, False)
        data = []
        for i in range(len(items)):
            vector: Any = _vector(i)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{_EMBEDDING_DIMS}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        yield {"object": "list", "data": data, "model": str(body.get("model")),
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    # --- Anthropic messages -------------------------------------------------------------

    def _anthropic(self, body: dict) -> Iterator[Any]:
        messages = body.get("messages") or []
        system = body.get("system") or ""
        inp, read, write, out = self._counts(system, messages, automatic=False,
                                                marked=_has_cache_control(system))
        self._logged("anthropic", str(body.get("model")), inp, out, bool(body.get("stream")), read)
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

    # --- Gemini generateContent ---------------------------------------------------------

    def _gemini(self, model: str, method: str, body: dict) -> Iterator[Any]:
        if method in ("embedContent", "batchEmbedContents"):
            requests = body.get("requests") or [body]
            tokens = sum(max(1, _words(r.get("content"))) for r in requests)
            self._logged("gemini", model, tokens, 0, False)
            if method == "embedContent":
                yield {"embedding": {"values": _vector(0)}}
            else:
                yield {"embeddings": [{"values": _vector(i)} for i in range(len(requests))],
                       "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens}}
            return
        system = body.get("systemInstruction") or body.get("system_instruction")
        inp, _, _, out = self._counts(system, body.get("contents") or [], automatic=False, marked=False)
        stream = method == "streamGenerateContent"
        self._logged("gemini", model, inp, out, stream)
        base = {"modelVersion": model, "responseId": f"sim{next(self._ids)}"}

        def usage(candidates: int) -> dict:
            return {"promptTokenCount": inp, "candidatesTokenCount": candidates,
                    "totalTokenCount": inp + candidates,
                    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": inp}]}

        def candidate(text: str, done: bool) -> dict:
            cand: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if done:
                cand["finishReason"] = "STOP"
            return cand

        if not stream:
            yield {"candidates": [candidate(_REPLY, True)], "usageMetadata": usage(out), **base}
            return
        words = _REPLY.split(" ")
        for i, word in enumerate(words):
            last = i == len(words) - 1
            yield _sse({"candidates": [candidate(word if i == 0 else " " + word, last)],
                        "usageMetadata": usage(out if last else i + 1), **base})


def _sse(data: dict, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


# --- otel-llm-cost simulator ----------------------------------------------------------

def _cmd_simulator(args: argparse.Namespace) -> int:
    try:
        sim = Simulator(args.host, args.port, log=None if args.quiet else sys.stdout)
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} "
              "(another simulator running? choose another --port)", file=sys.stderr)
        return 1  # cli.EXIT_IO
    print(f"otel-llm-cost SIMULATOR on {sim.base_url}: canned replies, made-up but consistent token "
          "counts, no real model, no API key.")
    print("Point your application's SDKs here (the keys are placeholders):")
    env = list(sim.env().items())
    for pair in zip(env[::2], env[1::2], strict=True):
        print("  export " + " ".join(f"{name}={value}" for name, value in pair))
    print("Errors on request: model 'sim-error-429' (any status), or header 'x-simulator-status: 500'.")
    print("Ctrl-C stops it. One line per request follows." if not args.quiet else "Ctrl-C stops it.",
          flush=True)
    try:
        sim._thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        sim.close()
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulator", help="serve a local OpenAI / Anthropic / Gemini simulator for your own app",
                       description="A local simulator of the OpenAI, Anthropic and Gemini HTTP APIs (chat, "
                                   "streams, embeddings, errors on request) for your own application: "
                                   "no real model, no API key. Prints the base URLs to use.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free one)")
    p.add_argument("--quiet", action="store_true", help="no line per request")
    p.set_defaults(func=_cmd_simulator)
