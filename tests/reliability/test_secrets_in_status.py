"""With content capture on, the span status carries the provider's error message — but a
401 that echoes the API key (or a ``Bearer`` token) must not put the key on the span."""

from __future__ import annotations

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation._call import redact_secrets
from tests.wire import Reply

from ._harness import INSTRUMENTORS, PROVIDERS, call, client, outcome

KEY = "sk-proj-LEAKEDKEY0123456789"
TOKEN = "ya29.LEAKEDBEARER987654"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_401_echoing_the_key_keeps_it_off_the_span(wire, instrumented, provider, monkeypatch):
    monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, "true")
    inst = instrumented(INSTRUMENTORS[provider])
    message = f"Incorrect API key provided: {KEY}. Authorization: Bearer {TOKEN} was rejected"
    body = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
    if provider == "gemini":
        body = {"error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"}}
    wire.enqueue(Reply(status=401, error_body=body))
    seen = outcome(lambda: call(provider, client(provider, wire)))
    assert seen[0] == "raised" and "LEAKEDKEY" in str(seen[1])  # the app still gets the SDK's error
    [span] = inst.spans()
    description = span.status.description or ""
    assert "Incorrect API key provided" in description  # capture on: the message is there
    assert "LEAKEDKEY" not in description and "LEAKEDBEARER" not in description


@pytest.mark.parametrize(("text", "kept"), [
    ("x-goog-api-key: AIzaSyLEAKED0123456789abc", "x-goog-api-key: "),
    ('{"api_key": "LEAKEDVALUE99"}', '{"api_key": "'),
    ("invalid content: the quick brown fox", "invalid content: the quick brown fox"),
])
def test_redaction_masks_keys_and_keeps_the_rest(text, kept):
    out = redact_secrets(text)
    assert "LEAKED" not in out and out.startswith(kept)
