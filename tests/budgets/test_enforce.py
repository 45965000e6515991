"""Declared budgets over a SQLite ledger, driven by the real OpenAI SDK over HTTP: hard
refusals before anything is sent, spend read back exactly, periods in a declared time
zone (crossed by moving the injected clock), soft crossings, and the ledger's holds."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

import pytest

import otel_llm_cost
from otel_llm_cost import budgets, semconv
from otel_llm_cost.budgets import Budget, BudgetExceeded
from otel_llm_cost.cost import format_usd
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.sessions._reserve import worst_case
from tests.ledger._spans import llm_span, provider_with, unix_nano

ONE_CALL = Decimal("0.0035")
#: The worst case of App.call's request, as the session budgets compute it.
WORST = worst_case({"model": "gpt-4o", "max_tokens": 100, "messages": [{"role": "user", "content": "hello"}]})[0]


def test_a_users_monthly_hard_budget_refuses_before_sending(app, clock):
    a = app()
    budgets.set_budgets([Budget("user", "0.0075", "month", hard=True)], ledger=a.ledger, clock=clock,
                        default_reservation_usd="1")
    with otel_llm_cost.session(user_id="ann"):
        for _ in range(2):
            a.call()
        sent = len(a.wire.requests)
        # 0.0070 spent + the call's worst case (its text's bytes as input tokens and its
        # max_tokens=100 as output, at gpt-4o's prices) > 0.0075
        refusal = f"user:\\*/month.*up to {re.escape(format_usd(WORST))} USD \\(max_tokens\\)"
        with pytest.raises(BudgetExceeded, match=refusal):
            a.call()
    assert len(a.wire.requests) == sent  # refused before the request was sent
    with otel_llm_cost.session(user_id="bob"):
        a.call()  # each user has their own limit
    ann = budgets.spend(user="ann")
    assert (ann.total, ann.calls, ann.limit, ann.remaining) == (2 * ONE_CALL, 2, Decimal("0.0075"),
                                                                 Decimal("0.0075") - 2 * ONE_CALL)
    assert ann.by_model == {"gpt-4o": 2 * ONE_CALL}
    assert ann.unpriced_calls == 0 and ann.reserved == 0
    assert budgets.spend(user="bob").total == ONE_CALL


def _past_spend(ledger, user: str, cost: str, when: datetime) -> None:
    """A call of ``user`` recorded in the ledger at ``when`` (a real span through the exporter)."""
    provider = provider_with(LedgerSpanExporter(ledger))
    llm_span(provider.get_tracer(semconv.SCOPE_NAME), model="gpt-4o", cost=cost, inp=1000, out=100, user=user,
             end_ns=unix_nano(when))
    provider.shutdown()


def test_a_month_boundary_in_the_declared_time_zone_starts_a_new_budget(app, clock):
    a = app()
    # 30 Nov 22:30 UTC is 23:30 in Paris: November there.
    _past_spend(a.ledger, "ann", "0.004", datetime(2026, 11, 30, 22, 30, tzinfo=UTC))
    budgets.set_budgets("user:* 0.005 per month hard tz=Europe/Paris name=paris; "
                        "user:* 0.005 per month hard name=utc", ledger=a.ledger, clock=clock,
                        default_reservation_usd="0.002")
    clock.now = datetime(2026, 11, 30, 22, 59, tzinfo=UTC)  # 23:59 in Paris
    november = budgets.spend(user="ann", budget="paris")
    assert (november.total, november.remaining) == (Decimal("0.004"), Decimal("0.001"))
    with otel_llm_cost.session(user_id="ann"), pytest.raises(BudgetExceeded, match="'paris'"):
        a.call()
    # 23:00 UTC is midnight in Paris: December has begun there, not yet in UTC.
    clock.now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    december = budgets.spend(user="ann", budget="paris")
    assert december.start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert december.total == 0 and december.remaining == Decimal("0.005")
    assert budgets.spend(user="ann", budget="utc").total == Decimal("0.004")
    budgets.set_budgets("user:* 0.005 per month hard tz=Europe/Paris name=paris", ledger=a.ledger, clock=clock,
                        default_reservation_usd="0.002")
    with otel_llm_cost.session(user_id="ann"):
        a.call()  # the Paris budget has a new month


def test_spend_is_exact_and_shows_the_pending_row_of_a_finished_call(app, clock, tmp_path):
    a = app()
    budgets.set_budgets([Budget("user", 10, "day", hard=True, name="daily")], ledger=a.ledger, clock=clock)
    with otel_llm_cost.session(user_id="ann"):
        for _ in range(3):
            a.call()
    spend = budgets.spend(user="ann", budget="daily")
    assert spend.total == 3 * ONE_CALL and spend.remaining == 10 - 3 * ONE_CALL
    with sqlite3.connect(a.ledger) as conn:
        # The exporter deleted each call's hold in the transaction that wrote its row.
        assert conn.execute("SELECT COUNT(*) FROM llm_budget_holds").fetchall() == [(0,)]
    # Budgets on a ledger the exporter does not write: no row arrives, the settled holds count.
    pending = tmp_path / "pending.db"
    budgets.set_budgets([Budget("user", 10, "day", hard=True, name="daily")], ledger=pending, clock=clock)
    with otel_llm_cost.session(user_id="ann"):
        for _ in range(3):
            a.call()
    spend = budgets.spend(user="ann", budget="daily")
    assert spend.total == 3 * ONE_CALL and spend.calls == 3 and spend.by_model == {"gpt-4o": 3 * ONE_CALL}
    with sqlite3.connect(pending) as conn:
        # Every hold was settled to the call's exact cost and span.
        rows = conn.execute("SELECT usd_pico, trace_id IS NOT NULL FROM llm_budget_holds").fetchall()
    assert rows == [(3_500_000_000, 1)] * 3


def test_soft_budget_announces_each_threshold_once(app, clock):
    a = app(service="chat")
    seen = []
    budgets.set_budgets([Budget("service", "0.007", "day", id="chat", thresholds=(0.5, 1))], ledger=a.ledger,
                        clock=clock, on_crossing=seen.append, meter_provider=a.meter_provider)
    for _ in range(3):
        a.call()
    assert [(c.threshold, c.spent_usd) for c in seen] == [(Decimal("0.5"), ONE_CALL),
                                                          (Decimal(1), 2 * ONE_CALL)]
    events = [[e.name for e in s.events] for s in a.spans.get_finished_spans()]
    assert events == [[semconv.BUDGET_EVENT], [semconv.BUDGET_EVENT], []]
    crossings = {(p[semconv.LLM_COST_BUDGET_THRESHOLD], v) for p, v in a.points(semconv.METRIC_BUDGET_CROSSINGS)}
    assert crossings == {(0.5, 1), (1.0, 1)}
    remaining = a.points(semconv.METRIC_BUDGET_REMAINING)
    assert remaining == [({semconv.LLM_COST_BUDGET_NAME: "service:chat/day", semconv.LLM_COST_BUDGET_SCOPE: "service",
                           semconv.LLM_COST_BUDGET_HARD: False}, 0.0)]


def test_the_budget_command_shows_where_each_budget_stands(app, clock, capsys):
    from otel_llm_cost.cli import main

    a = app()
    budgets.set_budgets("user:* 0.01 per month hard", ledger=a.ledger, clock=clock,
                        default_reservation_usd="0.0035")
    for user, calls in (("ann", 2), ("bob", 1)):
        with otel_llm_cost.session(user_id=user):
            for _ in range(calls):
                a.call()
    declared = "user:* 0.01 per month hard; user:bob 1 per day; app 5 per rolling:24h"
    assert main(["budget", "--budgets", declared, "--db", str(a.ledger), "--json"]) == 0
    rows = {(r["budget"], r["id"]): (r["spent_usd"], r["remaining_usd"], r["calls"])
            for r in json.loads(capsys.readouterr().out)}
    assert rows == {
        ("user:*/month", "ann"): ("0.007", "0.003", 2),  # the biggest spender first
        ("user:*/month", "bob"): ("0.0035", "0.0065", 1),
        ("user:bob/day", "bob"): ("0.0035", "0.9965", 1),
        ("app/rolling:24h", None): ("0.0105", "4.9895", 3),
    }
    assert main(["budget", "--budgets", declared, "--db", str(a.ledger)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["budget", "id", "kind"] and "70%" in table[1]
    assert main(["budget", "--budgets", "user:* 1 per aeon", "--db", str(a.ledger)]) == 2
    assert "unknown budget period 'aeon'" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_a_sqlite_ledger_locked_by_another_writer_fails_as_declared(app, clock, caplog, mode):
    """Another process's write transaction holds the SQLite file: the check waits its
    timeout (``busy_timeout``), not for the other writer, then fails open or closed."""
    a = app()
    budgets.set_budgets(f"user:* 1 per day hard on_unavailable={mode}", ledger=a.ledger, clock=clock, timeout_s=0.2)
    with otel_llm_cost.session(user_id="ann"):
        a.call()  # the ledger and the holds table exist
    other = sqlite3.connect(a.ledger, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # held until the end of the test
        with otel_llm_cost.session(user_id="ann"):
            if mode == "open":
                a.call()
                assert len(a.wire.requests) == 2
                assert "the call goes ahead (on_unavailable=open)" in caplog.text
            else:
                with pytest.raises(BudgetExceeded, match="fails closed"):
                    a.call()
                assert len(a.wire.requests) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
