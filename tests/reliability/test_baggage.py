"""Inbound baggage is a request header any client can write; outbound, our ids are ours.

* Untrusted (the default): a request carrying ``baggage: session.id=conv-42,user.id=alice``
  must not join alice's live session, spend her budget or bill calls to her, and a flood
  of requests with fresh ids must not evict anyone's live session. The ids still go on
  the span, as ``llm_cost.baggage.*``, for correlation.
* Trusted (``OTEL_LLM_COST_TRUST_BAGGAGE=true``, every inbound hop is ours): they join.
* Outbound: with an HTTP client instrumentation propagating, the LLM provider must not
  receive our ``session.id``/``user.id`` baggage (the application's other entries are its own).
"""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest
from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import STORE, install, session
from otel_llm_cost.sessions._context import BAGGAGE_SESSION_ID, BAGGAGE_USER_ID

from ._harness import our_spans

#: Spoofed requests: some name alice's session, 60 name fresh ids (more than the 50
#: live sessions allowed here: trusted, they would evict hers).
NAMING_ALICE, FRESH = 10, 60
SPOOFED = NAMING_ALICE + FRESH


def _serve(client, header: str) -> None:
    """One inbound request, as a server with the OTel propagators handles it."""
    token = otel_context.attach(propagate.extract({"baggage": header}))
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    finally:
        otel_context.detach(token)


def _touched(alice) -> int:
    return alice.calls + (alice.user.calls if alice.user else 0)


@pytest.fixture
def setup(wire, instrumented):
    inst = instrumented(OpenAIInstrumentor)
    install(inst.tracer_provider, inst.meter_provider)
    STORE.set_limits(max_sessions=50)
    with session("conv-42", user_id="alice", budget_usd="1", hard=True, end=False) as alice:
        pass
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)
    return inst, client, alice


def test_untrusted_baggage_touches_no_session(setup):
    inst, client, alice = setup
    for i in range(SPOOFED):
        header = "session.id=conv-42,user.id=alice" if i < NAMING_ALICE else f"session.id=fresh-{i},user.id=u{i}"
        _serve(client, header)
    assert _touched(alice) == 0 and alice.priced == Decimal(0)
    assert STORE.sessions.get("conv-42") is alice and not alice.ended  # not evicted by the flood
    assert list(STORE.sessions) == ["conv-42"] and list(STORE.users) == ["alice"]
    spans = our_spans(inst)
    assert len(spans) == SPOOFED
    for span in spans:
        assert s.SESSION_ID not in span.attributes and s.USER_ID not in span.attributes
    assert spans[0].attributes[BAGGAGE_SESSION_ID] == "conv-42"
    assert spans[0].attributes[BAGGAGE_USER_ID] == "alice"


def test_trusted_baggage_joins_the_named_session(setup, monkeypatch):
    monkeypatch.setenv("OTEL_LLM_COST_TRUST_BAGGAGE", "on")
    inst, client, alice = setup
    _serve(client, "session.id=conv-42,user.id=alice")
    assert alice.calls == 1
    assert our_spans(inst)[0].attributes[s.SESSION_ID] == "conv-42"


def test_trust_is_a_configure_keyword_too():
    from otel_llm_cost import config

    config.set_overrides(trust_baggage=True)
    assert config.load().trust_baggage is True


def test_our_ids_are_not_sent_to_the_provider(wire, instrumented):
    """The SDKs here send through ``httpx2``, which ``opentelemetry-instrumentation-httpx``
    does not see; so the client gets what every OTel HTTP client instrumentation does on
    each request — ``propagate.inject`` into its headers, in the context the SDK sends in."""
    import httpx2

    def inject(request) -> None:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        request.headers.update(carrier)

    inst = instrumented(OpenAIInstrumentor)
    install(inst.tracer_provider, inst.meter_provider)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0,
                           http_client=httpx2.Client(event_hooks={"request": [inject]}))
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        with session("conv-7", user_id="bob"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            # Still ours, in the application's context, after the call.
            assert baggage.get_baggage(s.SESSION_ID) == "conv-7"
    finally:
        otel_context.detach(token)
    headers = wire.last_request.headers
    assert headers["traceparent"].split("-")[2] == format(our_spans(inst)[0].context.span_id, "016x")
    assert headers["baggage"] == "tenant=acme"
