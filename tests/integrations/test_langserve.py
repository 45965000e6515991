"""A real LangServe app (FastAPI on uvicorn, 127.0.0.1) serving a two-LLM-call RAG chain
against the local OpenAI wire server: every endpoint reports exactly what its calls cost.

Expected numbers come two ways: from the finished provider spans (the source of truth)
and, independently, from the requests the wire server received and its published
token rule with hard-coded gpt-4o prices.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import langserve
import pytest
from fastapi import FastAPI
from langserve import RemoteRunnable

from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.integrations.langserve import (
    LangServeUsageMiddleware,
    add_routes,
    capture_usage,
)
from tests.wire import Reply

from ._rag import Expected, Telemetry, from_spans, from_wire, rag_chain
from ._serve import serve


@pytest.fixture(scope="module")
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    yield tel
    instrumentor.uninstrument()


@pytest.fixture(scope="module")
def server(wire_server, telemetry) -> Iterator[str]:
    """The app on a real uvicorn; yields its base URL. ``/rag`` reports usage, ``/plain`` not."""
    app = FastAPI()
    chain = rag_chain(wire_server.openai_base_url)
    add_routes(app, chain, path="/rag")
    langserve.add_routes(app, chain, path="/plain")
    with serve(app) as url:
        yield url


@pytest.fixture
def fresh(wire, telemetry):
    """Empty wire log and span store before each test."""
    telemetry.exporter.clear()
    return wire


def sse_events(text: str) -> list[tuple[str, Any]]:
    """(event, parsed data) of an SSE body, in order."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if event:
            out.append((event, json.loads("\n".join(data)) if data else None))
    return out


def both(telemetry: Telemetry, wire) -> Expected:
    """The spans' sum, checked against the wire server's own count first."""
    spans = from_spans(telemetry.llm_spans())
    assert spans == from_wire(wire.requests)
    return spans


def test_invoke_body_carries_exact_usage(server, fresh, telemetry):
    r = httpx.post(f"{server}/rag/invoke", json={"input": {"question": "what do spans carry"}})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"output", "metadata"} and body["output"] == "Hello!"
    assert set(body["metadata"]) == {"run_id", "feedback_tokens", "usage"}
    expected = both(telemetry, fresh)
    assert expected.calls == 2
    expected.check(body["metadata"]["usage"])
    assert r.headers["content-length"] == str(len(r.content))


def test_batch_reports_each_input_and_the_total(server, fresh, telemetry):
    questions = ["tag1x short", "tag2x a longer question here", "tag3x the longest question of all of them"]
    r = httpx.post(f"{server}/rag/batch", json={"inputs": [{"question": q} for q in questions]})
    assert r.status_code == 200
    body = r.json()
    assert body["output"] == ["Hello!"] * 3
    meta = body["metadata"]
    both(telemetry, fresh).check(meta["usage"])
    for i, response in enumerate(meta["responses"]):
        own = [req for req in fresh.requests if f"tag{i + 1}x" in req.raw.decode()]
        assert len(own) == 2
        from_wire(own).check(response["usage"])
    # Inputs of different lengths: the per-input numbers really are per input.
    assert len({resp["usage"]["tokens"]["input"] for resp in meta["responses"]}) == 3


@pytest.mark.parametrize("endpoint", ["stream", "stream_log", "stream_events"])
def test_streams_end_with_a_usage_event_and_are_otherwise_unchanged(server, fresh, telemetry, endpoint):
    payload = {"input": {"question": "what does langserve serve"}}
    ours = sse_events(httpx.post(f"{server}/rag/{endpoint}", json=payload).text)
    expected = both(telemetry, fresh)
    assert expected.calls == 2
    plain = sse_events(httpx.post(f"{server}/plain/{endpoint}", json=payload).text)

    assert [e for e, _ in ours[-2:]] == ["metadata", "end"]
    expected.check(ours[-2][1]["usage"])
    # Everything else is what LangServe sends without us (run ids, timings and the
    # route name aside): same events, same order, same streamed data.
    rest = ours[:-2] + ours[-1:]
    assert [e for e, _ in rest] == [e for e, _ in plain]
    if endpoint == "stream":
        assert [d for e, d in rest if e == "data"] == [d for e, d in plain if e == "data"]
    if endpoint == "stream_events":
        kinds = [(d["event"], d["name"].replace("/plain", "/rag")) for e, d in plain if e == "data"]
        assert [(d["event"], d["name"]) for e, d in rest if e == "data"] == kinds
        assert any(k == ("on_chat_model_stream", "ChatOpenAI") for k in kinds)


def read_until_cut(url: str, payload: dict) -> str:
    """An SSE body read as far as it goes: LangServe re-raises after its ``error``
    event, so the server cuts the connection (with or without us)."""
    text = ""
    with httpx.stream("POST", url, json=payload) as r:
        try:
            for piece in r.iter_text():
                text += piece
        except httpx.RemoteProtocolError:
            pass
    return text


def test_a_failed_stream_reports_what_was_spent_before_the_error(server, fresh, telemetry):
    fresh.enqueue(Reply(status=500))  # the answer call fails
    plain = sse_events(read_until_cut(f"{server}/plain/stream", {"input": {"question": "q"}}))
    assert [e for e, _ in plain[-1:]] == ["error"]
    telemetry.exporter.clear()
    fresh.enqueue(Reply())  # condense succeeds
    fresh.enqueue(Reply(status=500))  # the answer call fails
    events = sse_events(read_until_cut(f"{server}/rag/stream", {"input": {"question": "q"}}))
    assert [e for e, _ in events[-2:]] == ["metadata", "error"]
    usage = events[-2][1]["usage"]
    assert usage["calls"] == 2 and usage["errors"] == 1
    ok = [s for s in telemetry.llm_spans() if "llm_cost.usd" in s.attributes]
    # The failed call (a 500, no usage) cost nothing: the total is exact, the call an error.
    assert usage["unpriced_calls"] == 0
    assert Decimal(usage["cost_usd"]) == Decimal(usage["priced_cost_usd"]) == from_spans(ok).cost > 0


def test_concurrent_requests_never_mix(server, fresh, telemetry):
    async def run() -> list[tuple[str, Any]]:
        async with httpx.AsyncClient(base_url=server, timeout=30) as client:
            async def one(i: int, endpoint: str):
                question = f"tag{i}x " + "word " * (3 * i)
                r = await client.post(f"/rag/{endpoint}", json={"input": {"question": question}})
                if endpoint == "invoke":
                    return f"tag{i}x", r.json()["metadata"]["usage"]
                return f"tag{i}x", sse_events(r.text)[-2][1]["usage"]
            return await asyncio.gather(*(one(i, ("invoke", "stream", "stream_events")[i % 3])
                                          for i in range(1, 10)))

    results = asyncio.run(run())
    requests = fresh.requests
    assert len(requests) == 18
    for tag, usage in results:
        own = [r for r in requests if tag in r.raw.decode()]
        assert len(own) == 2
        from_wire(own).check(usage)
    assert len({u["tokens"]["input"] for _, u in results}) == 9


def test_remote_runnable_reads_usage_sync(server, fresh, telemetry):
    remote = RemoteRunnable(f"{server}/rag/")
    with capture_usage(remote) as usage:
        assert remote.invoke({"question": "tag1x one"}) == "Hello!"
        assert remote.batch([{"question": "tag2x two"}, {"question": "tag3x three more words"}]) == ["Hello!"] * 2
        assert "".join(remote.stream({"question": "tag4x four"})) == "Hello!"
    assert [u.endpoint for u in usage.responses] == ["invoke", "batch", "stream"]
    requests = fresh.requests

    def of(*tags: str) -> Expected:
        return from_wire([r for r in requests if any(t in r.raw.decode() for t in tags)])

    of("tag1x").check(usage.responses[0].usage)
    of("tag2x", "tag3x").check(usage.responses[1].usage)
    of("tag2x").check(usage.responses[1].per_input[0])
    of("tag3x").check(usage.responses[1].per_input[1])
    of("tag4x").check(usage.last.usage)
    both(telemetry, fresh)


def test_remote_runnable_reads_usage_async_and_per_task(server, fresh, telemetry):
    remote = RemoteRunnable(f"{server}/rag/")

    async def invoke(tag: str):
        with capture_usage(remote) as usage:
            await remote.ainvoke({"question": f"{tag} " + "x " * len(tag)})
        return tag, usage

    async def stream(tag: str):
        with capture_usage(remote) as usage:
            chunks = [c async for c in remote.astream({"question": f"{tag} long long long"})]
        assert "".join(chunks) == "Hello!"
        return tag, usage

    async def events(tag: str):
        with capture_usage(remote) as usage:
            names = [e["event"] async for e in remote.astream_events({"question": f"{tag} q"}, version="v2")]
        assert "on_chat_model_stream" in names
        return tag, usage

    async def run():
        try:
            return await asyncio.gather(invoke("tag1x"), invoke("tag22x"), stream("tag3x"), events("tag4x"))
        finally:
            await remote.async_client.aclose()  # in this loop, not in LangServe's GC finaliser

    results = asyncio.run(run())
    for tag, usage in results:
        assert len(usage.responses) == 1, (tag, usage.responses)
        from_wire([r for r in fresh.requests if tag in r.raw.decode()]).check(usage.last.usage)
    both(telemetry, fresh)


def test_other_responses_pass_through(server, fresh):
    plain = httpx.post(f"{server}/plain/invoke", json={"input": {"question": "q"}}).json()
    assert "usage" not in plain["metadata"]
    schema = httpx.get(f"{server}/rag/input_schema")
    assert schema.status_code == 200 and "usage" not in schema.text
    bad = httpx.post(f"{server}/rag/invoke", json={"nope": 1})
    assert bad.status_code == 422 and "usage" not in bad.text
    assert len(fresh.requests) == 2  # the plain route's calls only


def test_add_routes_installs_the_middleware_once():
    app = FastAPI()
    from langchain_core.runnables import RunnableLambda

    add_routes(app, RunnableLambda(lambda x: x), path="/a")
    add_routes(app, RunnableLambda(lambda x: x), path="/b")
    assert [m.cls for m in app.user_middleware].count(LangServeUsageMiddleware) == 1
