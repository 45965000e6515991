"""Opt-in: a real LangServe app (FastAPI on uvicorn) puts, beside each response's usage,
where the declared budgets its calls fell under stand — the user's spend of the period,
limit and remaining amount, read from the ledger — and leaves them out, without failing
the response, when the ledger cannot be read.

The app identifies its user from a header and opens ``session(user_id=…)`` in a plain
ASGI middleware, as an application would. The budgets' ledger is a SQLite file: each
finished call is settled there (its hold takes the exact cost), which is what the spend
counts until the exporter's row arrives (here no exporter writes rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import otel_llm_cost
from otel_llm_cost import budgets
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.integrations.langserve import LangServeUsageMiddleware, add_routes

from ._rag import Telemetry, from_spans, rag_chain
from ._serve import serve
from .test_langserve import sse_events


class _UserFromHeader:
    """The application's own identification: ``x-user`` becomes the session's user."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        user = dict(scope.get("headers") or ()).get(b"x-user")
        if scope.get("type") != "http" or user is None:
            await self.app(scope, receive, send)
            return
        with otel_llm_cost.session(user_id=user.decode()):
            await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    yield tel
    instrumentor.uninstrument()


@pytest.fixture(scope="module")
def server(wire_server, telemetry) -> Iterator[str]:
    app = FastAPI()
    add_routes(app, rag_chain(wire_server.openai_base_url), path="/rag", budgets=True)
    app.add_middleware(_UserFromHeader)
    with serve(app) as url:
        yield url


@pytest.fixture
def fresh(wire, telemetry) -> Iterator[Any]:
    telemetry.exporter.clear()
    yield wire
    budgets.clear_budgets()


def _cost(telemetry: Telemetry) -> Decimal:
    cost = from_spans(telemetry.llm_spans()).cost
    telemetry.exporter.clear()
    return cost


def test_responses_show_where_the_users_budget_stands(server, fresh, telemetry, tmp_path):
    budgets.set_budgets("user:* 1 per month hard; app 100 per day", ledger=tmp_path / "ledger.db")
    r = httpx.post(f"{server}/rag/invoke", json={"input": {"question": "what do spans carry"}},
                   headers={"x-user": "ann"}, timeout=30)
    assert r.status_code == 200 and r.json()["output"] == "Hello!"
    first = _cost(telemetry)
    meta = r.json()["metadata"]
    assert Decimal(meta["usage"]["cost_usd"]) == first
    standing = {s["budget"]: s for s in meta["budgets"]}
    assert set(standing) == {"user:*/month", "app/day"}
    mine = standing["user:*/month"]
    assert (mine["scope"], mine["id"], mine["hard"], mine["period"]) == ("user", "ann", True, "month")
    assert Decimal(mine["spent_usd"]) == first and mine["calls"] == 2
    assert Decimal(mine["remaining_usd"]) == 1 - first and Decimal(mine["limit_usd"]) == 1
    assert Decimal(mine["reserved_usd"]) == 0  # the request's calls have all ended

    # A stream: the closing metadata event carries the budgets too, with the month so far.
    events = sse_events(httpx.post(f"{server}/rag/stream", json={"input": {"question": "and metrics"}},
                                   headers={"x-user": "ann"}, timeout=30).text)
    second = _cost(telemetry)
    assert [e for e, _ in events[-2:]] == ["metadata", "end"]
    data = events[-2][1]
    assert Decimal(data["usage"]["cost_usd"]) == second
    mine = {s["budget"]: s for s in data["budgets"]}["user:*/month"]
    assert Decimal(mine["spent_usd"]) == first + second and mine["calls"] == 4

    # Another user sees their own budget, and the app's total.
    r = httpx.post(f"{server}/rag/invoke", json={"input": {"question": "who am i"}}, headers={"x-user": "bob"},
                   timeout=30)
    third = _cost(telemetry)
    standing = {(s["budget"], s["id"]): s for s in r.json()["metadata"]["budgets"]}
    assert set(standing) == {("user:*/month", "bob"), ("app/day", None)}
    assert Decimal(standing[("user:*/month", "bob")]["spent_usd"]) == third
    assert Decimal(standing[("app/day", None)]["spent_usd"]) == first + second + third


def test_an_unreadable_ledger_leaves_the_budgets_out_and_the_response_intact(server, fresh, telemetry):
    # A port nobody listens on: every read fails at once; the budget fails open.
    budgets.set_budgets("user:* 1 per month hard", ledger="postgresql://nobody@127.0.0.1:9/none", timeout_s=0.5)
    r = httpx.post(f"{server}/rag/invoke", json={"input": {"question": "q"}}, headers={"x-user": "ann"},
                   timeout=30)
    assert r.status_code == 200 and r.json()["output"] == "Hello!"
    meta = r.json()["metadata"]
    assert Decimal(meta["usage"]["cost_usd"]) == _cost(telemetry)
    assert "budgets" not in meta


def test_budgets_are_opt_in_and_switched_on_once_per_app():
    app = FastAPI()
    add_routes(app, _Echo(), path="/a")
    [ours] = [m for m in app.user_middleware if m.cls is LangServeUsageMiddleware]
    assert not ours.kwargs.get("budgets")
    add_routes(app, _Echo(), path="/b", budgets=True)
    [ours] = [m for m in app.user_middleware if m.cls is LangServeUsageMiddleware]
    assert ours.kwargs == {"budgets": True}


def _Echo() -> Any:
    from langchain_core.runnables import RunnableLambda

    return RunnableLambda(lambda x: x)
