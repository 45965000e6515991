"""One service of the cross-service conversation test, run as its own process.

    python -m tests.ledger._service frontend WIRE_URL NEXT_URL SESSION_ID USER_ID
    python -m tests.ledger._service agent|tools WIRE_URL [NEXT_URL]

Every service is set up the way the README tells users to: ``otel_llm_cost.configure()``
with ``OTEL_TRACES_EXPORTER=llm_cost_ledger`` and ``OTEL_LLM_COST_LEDGER_URL`` in the
environment (so each also runs the session processor), the real SDK of its provider
talking HTTP to the wire server. ``frontend`` opens the session and calls OpenAI, then
``agent`` over HTTP; ``agent`` (an HTTP server) calls Anthropic, whose SDK also traces
itself, then ``tools``; ``tools`` calls Gemini. The session travels only as W3C baggage
in the HTTP headers (``propagate.inject`` / ``extract``, the default propagators).
"""

from __future__ import annotations

import http.server
import json
import sys
import urllib.request

from opentelemetry import context, propagate, trace

import otel_llm_cost

ROLE, WIRE = sys.argv[1], sys.argv[2]
NEXT = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None


def _call_model() -> None:
    prompt = f"a question for the {ROLE} service"
    if ROLE == "frontend":
        import openai

        client = openai.OpenAI(base_url=WIRE + "/v1", api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    elif ROLE == "agent":
        import anthropic

        client = anthropic.Anthropic(base_url=WIRE, api_key="test", max_retries=0)
        client.messages.create(model="claude-sonnet-4-5", max_tokens=100,
                               messages=[{"role": "user", "content": prompt}])
    else:
        from google import genai
        from google.genai import types

        client = genai.Client(api_key="test", http_options=types.HttpOptions(
            base_url=WIRE, retry_options=types.HttpRetryOptions(attempts=1)))
        client.models.generate_content(model="gemini-2.5-flash", contents=prompt)


def _call_next() -> None:
    headers = {"Content-Type": "application/json"}
    propagate.inject(headers)  # traceparent + baggage (session.id, user.id)
    request = urllib.request.Request(NEXT, data=b"{}", headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def _work() -> None:
    _call_model()
    if NEXT:
        _call_next()
    # The row is in the ledger before this service answers.
    trace.get_tracer_provider().force_flush()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # HTTP header names are case-insensitive (urllib sends "Baggage"); the propagators
        # look names up in lower case, as ASGI and WSGI servers hand them over.
        token = context.attach(propagate.extract({k.lower(): v for k, v in self.headers.items()}))
        try:
            _work()
        finally:
            context.detach(token)
        body = json.dumps({"service": ROLE}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    otel_llm_cost.configure()
    if ROLE == "frontend":
        session_id, user_id = sys.argv[4], sys.argv[5]
        with otel_llm_cost.session(session_id=session_id, user_id=user_id) as s:
            _work()
        # What this one process knows of the session: its own call only.
        print(json.dumps({"local_cost": str(s.cost), "local_calls": s.summary().calls}), flush=True)
        trace.get_tracer_provider().shutdown()
        return
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
