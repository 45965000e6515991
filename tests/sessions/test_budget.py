"""Budgets: soft thresholds (span event, counter, callback), per user, and hard refusals."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

import otel_llm_cost
from otel_llm_cost import BudgetExceeded, observers, semconv

ONE_CALL = Decimal("0.0035")


def _events(otel):
    return [[(e.name, dict(e.attributes)) for e in sp.events] for sp in otel.spans.get_finished_spans()]


def test_soft_thresholds_mark_the_call_that_crossed(otel):
    crossings = []
    # Budget 0.01: 0.5 -> 0.005 (crossed by call 2: 0.007), 0.8 -> 0.008 and 1.0 -> 0.01 (call 3: 0.0105).
    with otel_llm_cost.session(budget_usd="0.01", on_budget=crossings.append) as s:
        for _ in range(4):
            otel.call()
    assert s.cost == 4 * ONE_CALL
    events = _events(otel)
    assert events[0] == [] and events[3] == []
    assert events[1] == [(semconv.BUDGET_EVENT, {semconv.LLM_COST_BUDGET_SCOPE: "session",
                                                 semconv.LLM_COST_BUDGET_THRESHOLD: 0.5,
                                                 semconv.LLM_COST_BUDGET_USD: 0.01})]
    assert [a[semconv.LLM_COST_BUDGET_THRESHOLD] for _, a in events[2]] == [0.8, 1.0]
    assert [(c.scope, c.threshold, c.spent_usd) for c in crossings] == [
        ("session", Decimal("0.5"), Decimal("0.0070")),
        ("session", Decimal("0.8"), Decimal("0.0105")),
        ("session", Decimal("1"), Decimal("0.0105")),
    ]
    points = {a[semconv.LLM_COST_BUDGET_THRESHOLD]: (u, p.value)
              for u, a, p in otel.points(semconv.METRIC_BUDGET_CROSSINGS)}
    assert points == {0.5: ("{crossing}", 1), 0.8: ("{crossing}", 1), 1.0: ("{crossing}", 1)}


def test_user_budget_spans_sessions(otel):
    crossings = []
    with otel_llm_cost.session(user_id="erin", user_budget_usd="0.01", thresholds=[1],
                               on_budget=crossings.append):
        otel.call()
        otel.call()
    with otel_llm_cost.session(user_id="erin"):
        otel.call()  # the user's third call: 0.0105 >= 0.01
    assert [(c.scope, c.id, c.threshold) for c in crossings] == [("user", "erin", Decimal(1))]
    assert _events(otel)[2][0][1][semconv.LLM_COST_BUDGET_SCOPE] == "user"


def test_concurrent_calls_announce_each_threshold_once(otel):
    crossings = []
    barrier = threading.Barrier(20)
    with otel_llm_cost.session(budget_usd="0.035", on_budget=crossings.append) as s:
        import contextvars

        def worker():
            barrier.wait()
            otel.call()

        threads = [threading.Thread(target=contextvars.copy_context().run, args=(worker,)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert s.cost == 20 * ONE_CALL
    assert sorted(c.threshold for c in crossings) == [Decimal("0.5"), Decimal("0.8"), Decimal("1")]
    assert sum(len(e) for e in _events(otel)) == 3


def test_hard_budget_refuses_the_next_call_before_it_starts(otel):
    # These calls name no model in their request: each reserves the default 0.01 USD.
    with otel_llm_cost.session(budget_usd="0.015", hard=True) as s:
        otel.call()  # 0 + 0.01 reserved fits; costs 0.0035
        otel.call()  # 0.0035 + 0.01 fits; 0.0070 now
        with pytest.raises(BudgetExceeded, match="0.015 USD budget"):
            observers.before_call()  # what every wrapped SDK method runs first
    assert s.calls == 2
    assert len(otel.spans.get_finished_spans()) == 2


def test_a_soft_budget_never_refuses(otel):
    with otel_llm_cost.session(budget_usd="0.001") as s:
        otel.call()
        observers.before_call()
        otel.call()
    assert s.calls == 2
