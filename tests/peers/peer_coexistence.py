"""Ours next to another instrumentation of the same SDK, in one process, in both orders.

Run in the peer venvs only (``tests/matrix/run.py``; the file name keeps the main run
from collecting it, and it fails outright without ``OTEL_LLM_COST_PEER_ENV``): the
peers are not in the ``test`` extra, so neither users nor the main suite install them.

For each peer of the group and each order of instrumenting (ours first / theirs
first), with the real SDK over the wire server:

* the application sees exactly what it sees with the peer alone (return values, the
  stream's class, stream items and their types — described as ``_harness`` does);
* our priced span is there once per call, with the catalog's exact cost, and the call
  is counted once in sessions, in our metrics and in the ledger — the peer's span for
  the same call, usage attributes and all, is not a second cost;
* the peer's spans are still emitted, one per call;
* uninstrumenting either leaves the other working; once both are off, ours adds
  nothing and the peer behaves as after its own ``uninstrument()`` alone (checked
  first, in the same test: some peers keep tracing).
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from decimal import Decimal

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm_cost
from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.sessions import install
from tests.peers.envs import PEERS
from tests.reliability._harness import (
    INSTRUMENTORS,
    MODELS,
    PROMPT,
    assert_cost_consistent,
    call,
    calls_metric,
    client,
    consume,
    our_spans,
    outcome,
    run,
    usd,
)
from tests.wire import Reply

GROUP = os.environ.get("OTEL_LLM_COST_PEER_ENV", "")
if GROUP not in PEERS:
    raise RuntimeError(f"OTEL_LLM_COST_PEER_ENV={GROUP!r}: run this file through tests/matrix/run.py "
                       f"(one of {sorted(PEERS)})")
CALLS = 3
#: The SDK's own span (anthropic traces itself) is neither ours nor the peer's.
NOT_PEER = {s.SCOPE_NAME, s.ANTHROPIC_SDK_SCOPE}


def _peer(provider: str):
    module, _, cls = PEERS[GROUP][provider].partition(":")
    return getattr(importlib.import_module(module), cls)()


def _scenario(provider: str, sdk, stream: bool):
    def chat():
        if provider == "openai":
            return sdk.chat.completions.create(model=MODELS[provider], messages=[{"role": "user", "content": PROMPT}],
                                               stream=stream, **({"stream_options": {"include_usage": True}}
                                                                 if stream else {}))
        if provider == "anthropic":
            return sdk.messages.create(model=MODELS[provider], max_tokens=256,
                                       messages=[{"role": "user", "content": PROMPT}], stream=stream)
        if provider == "bedrock":  # converse / converse_stream's EventStream
            return call(provider, sdk, stream=stream)
        if stream:
            return sdk.models.generate_content_stream(model=MODELS[provider], contents=PROMPT)
        return sdk.models.generate_content(model=MODELS[provider], contents=PROMPT)

    if stream:  # the stream's class as the application sees it (``isinstance``), then its items
        return lambda: (lambda s: ((s.__class__.__module__, s.__class__.__qualname__), consume(s)))(chat())
    return lambda: outcome(chat)


def _ledger(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT provider, cost_usd FROM llm_calls").fetchall()


def _peer_spans(inst) -> list:
    return [sp for sp in inst.spans() if sp.instrumentation_scope.name not in NOT_PEER]


@pytest.fixture
def peer_of():
    made = []

    def make(provider: str):
        made.append(_peer(provider))
        return made[-1]

    yield make
    for peer in made:
        if peer.is_instrumented_by_opentelemetry:
            peer.uninstrument()


@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", sorted(PEERS[GROUP]))
def test_ours_next_to_the_peer(wire, instrumented, peer_of, tmp_path, provider, stream, order):
    sdk = client(provider, wire)
    scenario = _scenario(provider, sdk, stream)
    reply = [Reply(text="a b c")]
    # The peer alone first: what the application sees with it (a peer may hand out stream
    # wrappers of its own), and after its own uninstrument() — some peers keep tracing
    # (OpenLLMetry 0.62.4's openai instrumentation leaves its wrapper in place).
    alone = InMemorySpanExporter()
    alone_provider = TracerProvider()
    alone_provider.add_span_processor(SimpleSpanProcessor(alone))
    peer = peer_of(provider)
    peer.instrument(tracer_provider=alone_provider)
    assert peer.is_instrumented_by_opentelemetry, f"{type(peer).__module__} did not instrument this SDK"
    with_peer, _ = run(wire, reply, scenario)
    peer.uninstrument()
    peer_off, _ = run(wire, reply, scenario)
    lingers = len(alone.get_finished_spans()) - 1

    inst = instrumented(INSTRUMENTORS[provider])
    ledger = tmp_path / "ledger.db"
    inst.tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger)))
    install(inst.tracer_provider, inst.meter_provider)
    if order == "peer_first":
        inst.uninstrument()
    peer.instrument(tracer_provider=inst.tracer_provider, meter_provider=inst.meter_provider)
    if order == "peer_first":
        inst.instrument()
    # A peer whose declared SDK range excludes the installed SDK stays off without a word.
    assert peer.is_instrumented_by_opentelemetry

    with otel_llm_cost.session(session_id=f"{provider}-{order}") as session:
        for _ in range(CALLS):
            assert run(wire, reply, scenario)[0] == with_peer
    ours = our_spans(inst)
    assert len(ours) == CALLS
    for span in ours:
        assert_cost_consistent(span)
    cost = usd(ours[0])
    assert cost is not None and {usd(sp) for sp in ours} == {cost}, ours[0].attributes
    assert len(_peer_spans(inst)) == CALLS, [(sp.instrumentation_scope.name, sp.name) for sp in inst.spans()]

    summary = session.summary()
    assert (summary.calls, summary.cost) == (CALLS, cost * CALLS)
    assert calls_metric(inst) == CALLS
    rows = _ledger(ledger)
    assert len(rows) == CALLS and {Decimal(c) for _, c in rows} == {cost}

    # Either uninstrumented first, the other keeps working; both off, as after the peer alone.
    inst.uninstrument()
    assert run(wire, reply, scenario)[0] == with_peer
    assert (len(our_spans(inst)), len(_peer_spans(inst))) == (CALLS, CALLS + 1)
    peer.uninstrument()
    assert run(wire, reply, scenario)[0] == peer_off
    # Ours stays off; the peer traces after its uninstrument() exactly as it does alone.
    assert (len(our_spans(inst)), len(_peer_spans(inst))) == (CALLS, CALLS + 1 + lingers)
