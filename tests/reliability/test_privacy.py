"""No prompt, completion or API key in anything we export, unless content capture is on.

Each provider is called with a secret prompt, answers with a secret completion, is
authenticated with a secret API key, and fails once with an error body that echoes
the prompt (providers do quote the offending input). Then everything we produced is
scanned for the secrets: span names, attributes, events, status descriptions and
resources; every metric point's attributes; every log record of ours at DEBUG; every
ledger row. With ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` the same
scan must find the prompt and completion (OpenAI records content) — so the scan can
see them — and still never the key.
"""

from __future__ import annotations

import logging
import sqlite3

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter
from tests.wire import Reply

from ._harness import INSTRUMENTORS, PROVIDERS, call, client, consume, outcome, run

PROMPT = "PROMPTSECRET7f3a"
COMPLETION = "COMPLETIONSECRET9b2c"
API_KEY = "sk-APIKEYSECRET12ab"
#: Loggers that are ours or the OpenTelemetry SDK's (the LLM SDKs' own DEBUG logs print
#: request options, prompt included: that is theirs to say, not ours).
OUR_LOGGERS = ("otel_llm_cost", "opentelemetry")


def _replies() -> list[Reply]:
    echo = {"error": {"message": f"invalid content: {PROMPT}", "type": "invalid_request_error", "code": None}}
    return [Reply(text=f"{COMPLETION} done"), Reply(text=f"{COMPLETION} done", include_usage_in_stream=True),
            Reply(text=f"{COMPLETION} x y", fail_after_chunks=1, failure="error_event"),
            Reply(status=400, error_body=echo)]


def _exported_text(inst, ledger, caplog) -> str:
    parts = []
    for span in inst.spans():
        parts += [span.name, repr(dict(span.attributes or {})), repr(span.status.description),
                  repr(dict(span.resource.attributes))]
        parts += [repr((e.name, dict(e.attributes or {}))) for e in span.events]
    parts += [repr((name, attrs)) for name, _, attrs, _ in inst.metric_points()]
    parts += [r.getMessage() + repr(r.args) + (repr(r.exc_info[1]) if r.exc_info else "")
              for r in caplog.records if r.name.startswith(OUR_LOGGERS)]
    with sqlite3.connect(ledger) as conn:
        parts += [repr(row) for row in conn.execute("SELECT * FROM llm_calls")]
    return "\n".join(parts)


def _run_all(wire, instrumented, provider, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    inst = instrumented(INSTRUMENTORS[provider])
    ledger = tmp_path / "ledger.db"
    inst.tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger)))
    sdk = client(provider, wire, api_key=API_KEY)
    seen = []
    for reply, stream in zip(_replies(), (False, True, True, False), strict=True):
        scenario = (lambda: consume(call(provider, sdk, stream=True, prompt=PROMPT))) if stream else (
            lambda: outcome(lambda: call(provider, sdk, prompt=PROMPT)))
        seen.append(run(wire, [reply], scenario)[0])
    assert len(inst.spans()) >= 4 and wire.requests  # everything ran and was traced …
    assert API_KEY in repr(wire.last_request.headers)  # … with the secret key on the wire
    assert COMPLETION in repr(seen[0]) and PROMPT in repr(seen[3])  # the app saw them
    return _exported_text(inst, ledger, caplog)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_content_or_key_in_anything_exported(wire, instrumented, tmp_path, caplog, monkeypatch, provider):
    monkeypatch.delenv(s.ENV_CAPTURE_CONTENT, raising=False)
    text = _run_all(wire, instrumented, provider, tmp_path, caplog)
    for secret in (PROMPT, COMPLETION, API_KEY):
        assert secret not in text, secret


def test_capture_on_records_content_but_never_the_key(wire, instrumented, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, "true")
    text = _run_all(wire, instrumented, "openai", tmp_path, caplog)
    assert PROMPT in text and COMPLETION in text
    assert API_KEY not in text
