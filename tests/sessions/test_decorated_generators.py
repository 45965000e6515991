"""``@session(...)`` on a generator or async-generator function spans the iteration.

Calling a generator function runs none of its body: a session opened and closed around
that call would be over before the first item, and every LLM call in the body would
count nowhere. The decorated generator instead is in its session while each step of
its body runs — and only then: the consumer's code between items is not in it.
"""

from __future__ import annotations

import asyncio

import pytest

import otel_llm_cost
from otel_llm_cost.sessions import current_session

ONE_CALL = 1000 * 2.5e-6 + 100 * 10e-6  # gpt-4o, 1000 in / 100 out


def test_generator_function_runs_in_its_session(otel):
    @otel_llm_cost.session("gen", user_id="ann")
    def answer(n):
        for _ in range(n):
            otel.call()
            yield current_session()
        return "done"

    gen = answer(3)
    seen = []
    for tally in gen:
        seen.append(tally)
        assert current_session() is None  # the consumer is not in the session
    assert len({id(t) for t in seen}) == 1 and seen[0].id == "gen"
    assert seen[0].calls == 3 and float(seen[0].cost) == pytest.approx(3 * ONE_CALL)
    assert seen[0].ended  # ended when the iteration finished


def test_generator_return_value_send_and_close(otel):
    @otel_llm_cost.session("echo")
    def echo():
        received = yield "first"
        otel.call()
        yield received
        return "end"

    gen = echo()
    assert next(gen) == "first"
    assert gen.send("hello") == "hello"
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == "end"

    gen = echo()
    next(gen)
    tally = current_session()
    assert tally is None
    gen.close()  # abandoned early: the session still ends
    assert otel_llm_cost.end_session("echo") is None


def test_exception_thrown_into_the_generator_reaches_its_body(otel):
    caught = []

    @otel_llm_cost.session("thrown")
    def gen():
        try:
            yield 1
        except KeyError as exc:
            caught.append(exc)
            yield 2

    g = gen()
    next(g)
    assert g.throw(KeyError("k")) == 2
    assert len(caught) == 1


def test_async_generator_function_runs_in_its_session(otel):
    @otel_llm_cost.session("agen")
    async def answer(n):
        for _ in range(n):
            await asyncio.sleep(0)
            otel.call()
            yield current_session()

    async def consume():
        out = []
        async for tally in answer(2):
            assert current_session() is None
            out.append(tally)
        return out

    seen = asyncio.run(consume())
    assert seen[0] is seen[1] and seen[0].calls == 2 and seen[0].ended


def test_async_generator_asend_and_aclose(otel):
    @otel_llm_cost.session("aecho")
    async def echo():
        received = yield "first"
        otel.call()
        yield received

    async def drive():
        gen = echo()
        assert await gen.__anext__() == "first"
        assert await gen.asend("x") == "x"
        await gen.aclose()

    asyncio.run(drive())
    assert otel_llm_cost.end_session("aecho") is None  # ended by aclose()
