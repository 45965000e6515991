"""current_usage() in a real ASGI app: each response carries its own request's usage."""

from __future__ import annotations

from decimal import Decimal

import openai
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

import otel_llm_cost
from otel_llm_cost.sessions import UsageMiddleware
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

MODEL = "gpt-4o-mini"


def _app(base_url: str) -> Starlette:
    aclient = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    client = openai.OpenAI(base_url=base_url, api_key="k", max_retries=0)

    async def chain(request: Request) -> JSONResponse:
        question = request.query_params["q"]
        # "retrieval" step, then a streamed answer: both counted for this request.
        await aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}])
        stream = await aclient.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], stream=True,
            stream_options={"include_usage": True})
        answer = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return JSONResponse({"answer": answer, "usage": otel_llm_cost.current_usage().as_dict()})

    def sync_endpoint(request: Request) -> JSONResponse:  # runs in Starlette's threadpool
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
        return JSONResponse({"usage": otel_llm_cost.current_usage().as_dict()})

    async def in_session(request: Request) -> JSONResponse:
        async with otel_llm_cost.session(user_id="gina") as s:
            await aclient.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
        return JSONResponse({"session": str(s.cost), "request": otel_llm_cost.current_usage().as_dict()})

    return Starlette(routes=[Route("/chain", chain), Route("/sync", sync_endpoint),
                             Route("/session", in_session)],
                     middleware=[Middleware(UsageMiddleware)])


def test_each_response_carries_its_own_usage(otel, wire):
    with instrumented_openai(otel.tracer_provider, otel.meter_provider):
        with TestClient(_app(wire.openai_base_url)) as http:
            wire.enqueue_many([Reply(text="ctx"), Reply(text="the answer is 42")])
            first = http.get("/chain", params={"q": "what is six times seven"}).json()
            wire.enqueue_many([Reply(text="ctx"), Reply(text="blue")])
            second = http.get("/chain", params={"q": "sky colour"}).json()
            third = http.get("/sync").json()
            fourth = http.get("/session").json()
    assert first["answer"] == "the answer is 42"
    u = first["usage"]
    # input: 2 x (10 + 5 words); output: 1 + 4 deltas
    assert u["calls"] == 2 and u["tokens"]["input"] == 30 and u["tokens"]["output"] == 5
    assert Decimal(u["cost_usd"]) == Decimal(30) * Decimal("0.15e-6") + Decimal(5) * Decimal("0.6e-6")
    assert second["usage"]["calls"] == 2 and second["usage"]["tokens"] == {
        "input": 24, "output": 2, "cache_read": 0, "cache_write": 0, "cache_write_1h": 0, "reasoning": 0}
    assert third["usage"]["calls"] == 1 and third["usage"]["tokens"]["input"] == 11
    assert third["usage"]["by_model"][MODEL]["calls"] == 1
    # A session inside the request: counted in both; the request total includes it.
    assert fourth["request"]["calls"] == 1 and Decimal(fourth["session"]) == Decimal(fourth["request"]["cost_usd"])


def test_without_a_collector_current_usage_is_empty(otel):
    summary = otel_llm_cost.current_usage()
    assert summary.calls == 0 and summary.cost == 0
