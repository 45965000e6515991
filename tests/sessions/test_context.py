"""Session scopes: nesting, concurrency (threads, asyncio tasks), ids on spans, baggage."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from opentelemetry import baggage, propagate
from opentelemetry import context as otel_context

import otel_llm_cost
from otel_llm_cost import semconv

# gpt-4o: 2.50 USD / 1M input, 10.00 USD / 1M output -> 1000 in + 100 out = 0.0035
ONE_CALL = Decimal("0.0035")


def test_session_total_updates_as_soon_as_the_span_ends(otel):
    with otel_llm_cost.session(session_id="s-1", user_id="alice") as s:
        assert s.cost == 0 and s.calls == 0
        otel.call()
        assert s.cost == ONE_CALL
        otel.call(input_tokens=2000, output_tokens=0)
        assert s.cost == Decimal("0.0085")
        assert s.usage.input_tokens == 3000 and s.usage.output_tokens == 100
    assert s.id == "s-1" and s.user_id == "alice" and s.calls == 2
    spans = otel.spans.get_finished_spans()
    assert [sp.attributes[semconv.SESSION_ID] for sp in spans] == ["s-1", "s-1"]
    assert [sp.attributes[semconv.USER_ID] for sp in spans] == ["alice", "alice"]


def test_nested_sessions_count_in_every_open_session(otel):
    with otel_llm_cost.session(session_id="outer", user_id="bob") as outer:
        otel.call()
        with otel_llm_cost.session(session_id="inner") as inner:
            otel.call()
            otel.call()
        otel.call()
    assert inner.cost == 2 * ONE_CALL and inner.calls == 2
    assert outer.cost == 4 * ONE_CALL and outer.calls == 4
    assert inner.user_id == "bob"  # inherited from the enclosing session
    ids = [sp.attributes[semconv.SESSION_ID] for sp in otel.spans.get_finished_spans()]
    assert ids == ["outer", "inner", "inner", "outer"]
    # Both ended with their blocks; nothing stays live.
    assert otel_llm_cost.end_session("outer") is None and otel_llm_cost.end_session("inner") is None


def test_reentering_the_same_session_does_not_double_count(otel):
    with otel_llm_cost.session(session_id="same") as a:
        with otel_llm_cost.session(session_id="same") as b:
            otel.call()
    assert a is b and a.calls == 1 and a.cost == ONE_CALL


def test_calls_outside_any_session_count_nowhere(otel):
    with otel_llm_cost.session() as s:
        pass
    otel.call()
    assert s.calls == 0
    assert semconv.SESSION_ID not in otel.spans.get_finished_spans()[0].attributes
    assert otel_llm_cost.current_usage().calls == 0


def test_threads_given_the_context_count_and_do_not_leak(otel):
    results = {}

    def worker(name: str, n: int) -> None:
        with otel_llm_cost.session(session_id=name) as s:
            barrier.wait()
            for _ in range(n):
                otel.call()
            results[name] = s

    barrier = threading.Barrier(8)
    threads = [threading.Thread(target=worker, args=(f"t{i}", i + 1)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert results[f"t{i}"].calls == i + 1
        assert results[f"t{i}"].cost == (i + 1) * ONE_CALL

    # A pool thread sees the session only when handed the context.
    with otel_llm_cost.session(session_id="parent") as parent, ThreadPoolExecutor(2) as pool:
        ctx = contextvars.copy_context()
        pool.submit(ctx.run, otel.call).result()
        pool.submit(otel.call).result()  # no context handed over: not in the session
    assert parent.calls == 1


async def _agent(otel, name: str, n: int) -> otel_llm_cost.Session:
    async with otel_llm_cost.session(session_id=name) as s:
        for _ in range(n):
            await asyncio.sleep(0)
            otel.call()
        return s


def test_asyncio_tasks_are_isolated_and_inherit(otel):
    async def main():
        sessions = await asyncio.gather(*(_agent(otel, f"a{i}", i + 1) for i in range(10)))
        async with otel_llm_cost.session(session_id="run") as run:
            async def step():
                otel.call()
            await asyncio.gather(*(asyncio.create_task(step()) for _ in range(3)))
        return sessions, run

    sessions, run = asyncio.run(main())
    assert [s.calls for s in sessions] == list(range(1, 11))
    assert [s.cost for s in sessions] == [(i + 1) * ONE_CALL for i in range(10)]
    assert run.calls == 3 and run.cost == 3 * ONE_CALL


def test_decorator_opens_a_fresh_session_per_call(otel):
    seen = []

    @otel_llm_cost.session(user_id="carol")
    def handle(n):
        for _ in range(n):
            otel.call()
        seen.append(otel_llm_cost.current_usage())

    @otel_llm_cost.session()
    async def ahandle():
        otel.call()
        return otel_llm_cost.current_usage()

    handle(1)
    handle(2)
    assert [u.calls for u in seen] == [1, 2]
    assert asyncio.run(ahandle()).cost == ONE_CALL
    spans = otel.spans.get_finished_spans()
    assert len({sp.attributes[semconv.SESSION_ID] for sp in spans}) == 3


def test_session_ids_travel_as_baggage_and_are_tallied_downstream(otel, monkeypatch):
    # The downstream service trusts its callers' baggage (all of them are ours).
    monkeypatch.setenv("OTEL_LLM_COST_TRUST_BAGGAGE", "true")
    carrier: dict[str, str] = {}
    with otel_llm_cost.session(session_id="conv-9", user_id="dave"):
        propagate.inject(carrier)
    assert "session.id=conv-9" in carrier["baggage"] and "user.id=dave" in carrier["baggage"]

    # "Another service": no local session, only the incoming baggage.
    token = otel_context.attach(propagate.extract(carrier))
    try:
        assert baggage.get_baggage(semconv.SESSION_ID) == "conv-9"
        otel.call()
        otel.call()
    finally:
        otel_context.detach(token)
    span = otel.spans.get_finished_spans()[-1]
    assert span.attributes[semconv.SESSION_ID] == "conv-9" and span.attributes[semconv.USER_ID] == "dave"
    summary = otel_llm_cost.end_session("conv-9")
    assert summary.calls == 2 and summary.cost == 2 * ONE_CALL and summary.user_id == "dave"


def test_session_attributes_go_on_spans(otel):
    with otel_llm_cost.session(attributes={"tenant": "acme"}):
        otel.call()
    assert otel.spans.get_finished_spans()[0].attributes["tenant"] == "acme"
