"""Our money arithmetic in our own decimal context, whatever the application set.

``decimal.getcontext()`` is the application's (thread-local, and inherited by new
threads from ``DefaultContext``). An application that sets ``prec = 3`` for its own
reasons must not round our session totals nor move our budget decisions: 201 real
OpenAI calls over the wire server (gpt-4o-mini, 1,000 input + 641 output tokens:
0.0005346 USD each) total exactly 201 × that, and a 0.105 USD hard budget refuses
exactly the calls past it.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import openai
import pytest

import otel_llm_cost
from otel_llm_cost import BudgetExceeded
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

MODEL = "gpt-4o-mini"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 641, "total_tokens": 1641}
ONE_CALL = Decimal(1000) * Decimal("0.15") / 10**6 + Decimal(641) * Decimal("0.6") / 10**6  # 0.0005346
CALLS = 201


@pytest.fixture
def app_precision_3():
    ctx = decimal.getcontext()
    saved = ctx.prec
    ctx.prec = 3
    try:
        yield
    finally:
        ctx.prec = saved


@pytest.fixture
def client(otel, wire):
    with instrumented_openai(otel.tracer_provider, otel.meter_provider):
        yield openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)


def _call(client):
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                          max_tokens=641)


def test_201_calls_total_exactly_under_an_application_precision_of_3(otel, wire, client, app_precision_3):
    wire.enqueue_many([Reply(usage=USAGE) for _ in range(CALLS)])
    with otel_llm_cost.session("prec-3", user_id="p3") as tally:
        for _ in range(CALLS):
            _call(client)
    assert ONE_CALL == Decimal("0.0005346")
    exact = Decimal("0.1074546")  # 201 × 0.0005346, written out
    assert tally.cost == exact
    assert tally.summary().by_model[MODEL].cost == exact
    assert tally.user is not None and tally.user.cost == exact
    assert decimal.getcontext().prec == 3  # the application's context is left as it was


def _hard_budget_run(client, wire, name):
    wire.enqueue_many([Reply(usage=USAGE) for _ in range(CALLS)])
    made = refused = 0
    with otel_llm_cost.session(name, budget_usd="0.105", hard=True) as tally:
        for _ in range(CALLS):
            try:
                _call(client)
                made += 1
            except BudgetExceeded:
                refused += 1
    return made, refused, tally.cost


def test_a_hard_budget_refuses_correctly_under_an_application_precision_of_3(otel, wire, client):
    reference = _hard_budget_run(client, wire, "prec-default")
    ctx = decimal.getcontext()
    saved, ctx.prec = ctx.prec, 3
    try:
        under_3 = _hard_budget_run(client, wire, "prec-3")
    finally:
        ctx.prec = saved
    made, refused, cost = under_3
    assert under_3 == reference
    assert cost == made * ONE_CALL <= Decimal("0.105")
    assert made + refused == CALLS and refused > 0
