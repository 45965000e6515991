"""Instrument/uninstrument cycles, and ours next to a peer's instrumentation of the same SDK.

The peer is the OpenTelemetry project's own ``opentelemetry-instrumentation-openai-v2``
(2.4b0, with ``opentelemetry-util-genai`` 0.4b0; both install next to our dependencies
without changing any ``opentelemetry-*`` version). Both wrap ``Completions.create``
with wrapt, in either order. Whatever the order — of instrumenting and of
uninstrumenting — the app sees the bare SDK's result, there is exactly one of *our*
spans per call, and the cost ledger holds exactly one row (one cost) per call.
"""

from __future__ import annotations

import sqlite3

import openai.resources.chat.completions as chat
import pytest
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as PeerInstrumentor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter
from tests.wire import Reply

from ._harness import (
    INSTRUMENTORS,
    PROVIDERS,
    call,
    client,
    consume,
    our_spans,
    outcome,
    run,
    usd,
)

PEER_SCOPE = "opentelemetry.instrumentation.openai_v2"
GPT4O_13_3 = "0.0000625"  # 13 × 2.50 + 3 × 10.00 per 1M


@pytest.mark.parametrize("provider", PROVIDERS)
def test_instrument_uninstrument_cycles(wire, instrumented, provider):
    sdk = client(provider, wire)
    scenario = lambda: outcome(lambda: call(provider, sdk))  # noqa: E731
    bare, _ = run(wire, [Reply(text="a b c")], scenario)
    inst = instrumented(INSTRUMENTORS[provider])
    for cycle in range(3):
        before = len(our_spans(inst))
        assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
        spans = our_spans(inst)
        assert len(spans) == before + 1, f"cycle {cycle}: one span per call, not {len(spans) - before}"
        assert usd(spans[-1]) is not None
        inst.uninstrument()
        assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
        assert len(our_spans(inst)) == before + 1, "no span while uninstrumented"
        inst.instrument()
        inst.instrument()  # a second instrument() is a no-op, not a second wrapper
    inst.uninstrument()


def test_uninstrument_restores_the_sdk_method(instrumented):
    original = vars(chat.Completions)["create"]
    inst = instrumented(INSTRUMENTORS["openai"])
    assert vars(chat.Completions)["create"] is not original
    inst.uninstrument()
    assert vars(chat.Completions)["create"] is original


def _ledger_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT provider, cost_usd FROM llm_calls").fetchall()


@pytest.fixture
def peer():
    inst = PeerInstrumentor()
    yield inst
    if inst.is_instrumented_by_opentelemetry:
        inst.uninstrument()


@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_ours_and_the_peer_instrumentation_together(wire, instrumented, peer, tmp_path, order, stream):
    sdk = client("openai", wire)

    def scenario():
        if stream:
            return consume(sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "one two three"}], stream=True,
                stream_options={"include_usage": True}))
        return outcome(lambda: call("openai", sdk))

    ledger = tmp_path / "ledger.db"
    calls = 3
    original = vars(chat.Completions)["create"]
    bare, _ = run(wire, [Reply(text="a b c")], scenario)
    inst = instrumented(INSTRUMENTORS["openai"])
    inst.tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger)))
    if order == "peer_first":
        inst.uninstrument()
    peer.instrument(tracer_provider=inst.tracer_provider, meter_provider=inst.meter_provider)
    if order == "peer_first":
        inst.instrument()
    for _ in range(calls):
        assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
    ours = our_spans(inst)
    assert len(ours) == calls
    assert [sp.attributes.get(s.LLM_COST_USD) for sp in ours] == [GPT4O_13_3] * calls, ours[0].attributes
    assert len(_peer_spans(inst)) == calls
    # The ledger counts each call once: the peer's span for a call we cover is not a second cost.
    assert _ledger_rows(ledger) == [("openai", GPT4O_13_3)] * calls

    # Ours first: when ours is the inner wrapper, a naive unwrap (contrib's ``unwrap``
    # removes the outermost wrapper) would switch the peer off instead of us.
    inst.uninstrument()
    assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
    assert (len(our_spans(inst)), len(_peer_spans(inst))) == (calls, calls + 1)
    peer.uninstrument()
    assert run(wire, [Reply(text="a b c")], scenario)[0] == bare
    assert vars(chat.Completions)["create"] is original
    assert (len(our_spans(inst)), len(_peer_spans(inst))) == (calls, calls + 1)


def _peer_spans(inst):
    return [sp for sp in inst.spans() if sp.instrumentation_scope.name == PEER_SCOPE]
