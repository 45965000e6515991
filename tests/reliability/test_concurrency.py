"""Concurrent calls in overlapping sessions: every call's cost lands in exactly its sessions.

64 threads and 1,000 asyncio tasks call the real OpenAI SDK over the wire server at
once, each inside a session of its own nested in a session shared with others (open at
the same time, joined concurrently). Every call has a distinct prompt length, so a
cost booked to the wrong session, twice, or not at all changes some total. Checked:

* each span carries its own (innermost) session id;
* each session's exact total equals the sum of its spans' ``llm_cost.usd`` *and* the
  price computed independently from the prompts; a shared session's total is the sum
  over its members; the grand total equals the sum of all spans;
* the application saw the same replies as without instrumentation.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import openai
import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import STORE, end_session, install, session

from ._harness import our_spans

THREADS, CALLS_PER_THREAD, TEAMS = 64, 3, 8
TASKS, GROUPS = 1000, 50
IN_RATE, OUT_RATE = Decimal("2.50") / 10**6, Decimal("10.00") / 10**6  # gpt-4o


def _prompt(words: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": " ".join(["w"] * words)}]


def _price(words: int) -> Decimal:
    """The wire server's usage for a prompt of ``words`` words: 10 + words in, 1 out."""
    return (10 + words) * IN_RATE + 1 * OUT_RATE


def _seen(response: Any) -> tuple:
    """What the app reads, without the per-request ids (they follow arrival order)."""
    return response.choices[0].message.content, response.usage.model_dump()


@pytest.fixture
def sessions(instrumented) -> Iterator[Any]:
    STORE.reset()
    inst = instrumented(OpenAIInstrumentor)
    inst.uninstrument()  # the bare run goes first
    install(inst.tracer_provider, inst.meter_provider)
    yield inst
    STORE.reset()


def _by_session(spans) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for span in spans:
        totals[span.attributes[s.SESSION_ID]] += Decimal(span.attributes[s.LLM_COST_USD])
    return totals


def _check_totals(spans, expected: dict[str, Decimal], groups: dict[str, list[str]]) -> None:
    per_span = _by_session(spans)
    assert per_span == expected  # each span in its innermost session, exactly priced
    for inner, usd in expected.items():
        summary = end_session(inner)
        assert summary is not None and summary.cost == usd, inner
    for outer, members in groups.items():
        summary = end_session(outer)
        assert summary.cost == sum(expected[m] for m in members), outer
        assert summary.calls == sum(1 for sp in spans if sp.attributes[s.SESSION_ID] in members)
    assert sum(Decimal(sp.attributes[s.LLM_COST_USD]) for sp in spans) == sum(expected.values())


def test_64_threads_in_overlapping_sessions(wire, sessions):
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)

    def work(t: int, out: dict) -> None:
        with session(f"team-{t % TEAMS}", end=False):
            with session(f"thread-{t}", end=False):
                for i in range(CALLS_PER_THREAD):
                    words = t * CALLS_PER_THREAD + i + 1
                    try:
                        out[(t, i)] = _seen(client.chat.completions.create(model="gpt-4o", messages=_prompt(words)))
                    except Exception as exc:  # noqa: BLE001 - an outcome to compare, not to lose
                        out[(t, i)] = repr(exc)

    def run_all() -> dict:
        out: dict = {}
        barrier = threading.Barrier(THREADS)
        threads = [threading.Thread(target=lambda t=t: (barrier.wait(), work(t, out))) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        return out

    wire.reset()
    bare = run_all()
    STORE.reset()
    sessions.instrument()
    assert all(isinstance(v, tuple) for v in bare.values())  # every bare call succeeded
    assert run_all() == bare and len(bare) == THREADS * CALLS_PER_THREAD
    spans = our_spans(sessions)
    assert len(spans) == THREADS * CALLS_PER_THREAD
    expected = {f"thread-{t}": sum(_price(t * CALLS_PER_THREAD + i + 1) for i in range(CALLS_PER_THREAD))
                for t in range(THREADS)}
    groups = {f"team-{k}": [f"thread-{t}" for t in range(THREADS) if t % TEAMS == k] for k in range(TEAMS)}
    _check_totals(spans, expected, groups)


def test_1000_asyncio_tasks_in_overlapping_sessions(wire, sessions):
    async def run_all() -> dict:
        # openai >= 3.63 sends through httpx2: its client takes httpx2's Limits.
        # A long connect timeout: on a loaded machine 1000 tasks may wait seconds for the
        # 4 connections, and this test is about sessions, not latency.
        http = openai.DefaultAsyncHttpxClient(limits=httpx2.Limits(max_connections=4), timeout=httpx2.Timeout(120))
        client = openai.AsyncOpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0,
                                    http_client=http)
        out: dict = {}

        async def task(i: int) -> None:
            async with session(f"group-{i % GROUPS}", end=False):
                await asyncio.sleep(0)  # interleave: every group session is open by many tasks at once
                async with session(f"task-{i}", end=False):
                    response = await client.chat.completions.create(model="gpt-4o", messages=_prompt(i + 1))
                    out[i] = _seen(response)

        await asyncio.gather(*(task(i) for i in range(TASKS)))
        await client.close()
        return out

    wire.reset()
    bare = asyncio.run(run_all())
    STORE.reset()
    sessions.instrument()
    assert asyncio.run(run_all()) == bare and len(bare) == TASKS
    spans = our_spans(sessions)
    assert len(spans) == TASKS
    expected = {f"task-{i}": _price(i + 1) for i in range(TASKS)}
    groups = {f"group-{g}": [f"task-{i}" for i in range(TASKS) if i % GROUPS == g] for g in range(GROUPS)}
    _check_totals(spans, expected, groups)
