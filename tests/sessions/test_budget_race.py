"""A hard budget that concurrency cannot overrun: reservations, like a card authorization.

16 threads race one session's hard budget with the real OpenAI SDK over the wire
server, all released at once by a barrier. Checking "spent < budget" before each call
let every call already in flight through (18 calls ran and spent 6.75× the budget
before refusals began). Each call now reserves its worst case (input bounded by its
text's bytes, output by ``max_tokens``, at gpt-4o-mini's prices) before it is sent and
settles to its exact cost when it ends: the spend never exceeds the budget, and the
calls that did not fit are refused and counted.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import openai
import pytest

import otel_llm_cost
from otel_llm_cost import BudgetExceeded, semconv
from otel_llm_cost.sessions._reserve import worst_case
from tests.sessions._openai_harness import instrumented_openai
from tests.wire import Reply

THREADS, ROUNDS = 16, 4
MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "one two three four five"}]
REQUEST = {"model": MODEL, "messages": MESSAGES, "max_tokens": 20}
USAGE = {"prompt_tokens": 15, "completion_tokens": 20, "total_tokens": 35}
#: 15 input + 20 output tokens of gpt-4o-mini.
ONE_CALL = Decimal(15) * Decimal("0.15") / 10**6 + Decimal(20) * Decimal("0.6") / 10**6
BUDGET = ONE_CALL * 5


@pytest.fixture
def client(otel, wire):
    with instrumented_openai(otel.tracer_provider, otel.meter_provider):
        yield openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)


def test_16_threads_racing_a_hard_budget_never_spend_past_it(otel, wire, client):
    wire.enqueue_many([Reply(usage=USAGE) for _ in range(THREADS * ROUNDS)])
    barrier = threading.Barrier(THREADS)
    made, refused, errors = [0] * THREADS, [0] * THREADS, []

    def work(t: int, ctx) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait(30)
                try:
                    ctx.run(client.chat.completions.create, **REQUEST)
                    made[t] += 1
                except BudgetExceeded:
                    refused[t] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    import contextvars

    with otel_llm_cost.session("race", budget_usd=BUDGET, hard=True) as tally:
        threads = [threading.Thread(target=work, args=(t, contextvars.copy_context())) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    assert errors == [] and not any(th.is_alive() for th in threads)
    calls, refusals = sum(made), sum(refused)
    assert calls + refusals == THREADS * ROUNDS
    assert tally.calls == calls and tally.cost == calls * ONE_CALL
    assert tally.cost <= BUDGET, f"{calls} calls spent {tally.cost} of {BUDGET}"
    assert refusals > 0 and calls >= 1
    assert tally.reserved == 0  # every hold settled
    worst, source = worst_case(REQUEST)
    assert source == "max_tokens" and worst >= ONE_CALL  # the reservation bounds the real cost
    # Each call says on its span what it reserved.
    spans = otel.spans.get_finished_spans()
    assert {(s.attributes[semconv.LLM_COST_BUDGET_RESERVATION],
             s.attributes[semconv.LLM_COST_BUDGET_RESERVED_USD]) for s in spans} == {("max_tokens", float(worst))}
