"""The fleet race: 4 processes × 8 threads, each the real OpenAI SDK over HTTP, race one
user's monthly hard budget on a shared PostgreSQL ledger (a real server). However the
calls interleave, the user's spend in the ledger never exceeds the limit; and when the
ledger cannot be reached, a hard budget fails open or closed as declared, without waiting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

import otel_llm_cost
from otel_llm_cost import budgets
from otel_llm_cost.budgets import BudgetExceeded
from otel_llm_cost.sessions._reserve import worst_case

ROOT = Path(__file__).resolve().parents[2]
LIMIT = Decimal("0.005")
#: Each call's exact cost (11 prompt tokens and 1 output token of gpt-4o).
COST = Decimal("0.0000375")
#: What each call holds before it is sent: its worst case from the request (the racer's
#: request: its text's bytes as input tokens, its max_tokens=1 as output, at gpt-4o's prices).
WORST = worst_case({"model": "gpt-4o", "max_tokens": 1, "messages": [{"role": "user", "content": "race"}]})[0]


def _race(pg_url: str, wire_url: str, processes: int, threads: int, *scope: str) -> tuple[int, int]:
    """``processes`` racers of ``threads`` threads each (``tests/budgets/_racer.py``) against
    one budget until every thread was refused three times: the calls sent and refused."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.budgets._racer", pg_url, wire_url, str(threads),
                               str(LIMIT), "0.5", *scope], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["errors"] for r in results) == 0
    assert all(r["refused"] >= threads * 3 for r in results)  # every thread was refused in the end
    return sum(r["sent"] for r in results), sum(r["refused"] for r in results)


def test_four_processes_of_eight_threads_never_overspend_a_users_budget(pg_url, wire):
    sent, refused = _race(pg_url, wire.base_url, 4, 8)
    with psycopg.connect(pg_url) as conn:
        calls, spent, biggest = conn.execute(
            "SELECT COUNT(*), SUM(cost_usd), MAX(cost_usd) FROM llm_calls WHERE user_id = 'racer'").fetchone()
    assert calls == sent == len(wire.requests)  # nothing refused was sent; everything sent was recorded
    assert biggest == COST
    assert COST < WORST < 2 * COST  # a tight worst case: any race between check and hold would overspend
    assert spent <= LIMIT, f"{sent} calls spent {spent} USD of a {LIMIT} USD budget"
    # And the budget was used, not refused from the start: less than one worst case was left over.
    assert spent > LIMIT - WORST
    print(f"fleet race: {sent} calls sent, {refused} refused, spent {spent} of {LIMIT} USD")


def test_three_processes_of_six_threads_never_overspend_a_tenants_budget(pg_url, wire):
    """The same race on a tenant's budget: every thread is another user of the tenant
    ``racers``; the tenant's spend, read back through the ledger's attribute index, never
    exceeds the limit."""
    sent, refused = _race(pg_url, wire.base_url, 3, 6, "tenant")
    with psycopg.connect(pg_url) as conn:
        calls, users, spent = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT c.user_id), SUM(c.cost_usd) FROM llm_calls c JOIN llm_call_attributes a "
            "ON a.trace_id = c.trace_id AND a.span_id = c.span_id WHERE a.name = 'tenant' AND a.value = 'racers'"
        ).fetchone()
        [(rows,)] = conn.execute("SELECT COUNT(*) FROM llm_calls").fetchall()
    assert calls == rows == sent == len(wire.requests)
    assert users >= 2  # one tenant, several users: only the tenant's budget held them
    assert spent <= LIMIT, f"{sent} calls spent {spent} USD of a {LIMIT} USD tenant budget"
    assert spent > LIMIT - WORST
    print(f"tenant fleet race: {sent} calls sent, {refused} refused, spent {spent} of {LIMIT} USD")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_an_unreachable_ledger_fails_as_declared_without_waiting(app, mode):
    a = app(target=None)
    # A port nobody listens on: the connection is refused at once, every time.
    budgets.set_budgets(f"user:* 1 per day hard on_unavailable={mode}",
                        ledger="postgresql://nobody@127.0.0.1:9/none", timeout_s=0.5)
    with otel_llm_cost.session(user_id="ann"):
        if mode == "open":
            a.call()
            assert len(a.wire.requests) == 1
        else:
            with pytest.raises(BudgetExceeded, match="fails closed"):
                a.call()
            assert a.wire.requests == []


def test_a_ledger_that_never_answers_does_not_hold_the_call(app):
    """A server that accepts the connection and then says nothing (frozen, a black-holed
    proxy): the check gives up after its client-side timeouts and fails closed."""
    a = app(target=None)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        budgets.set_budgets("user:* 1 per day hard on_unavailable=closed",
                            ledger=f"postgresql://nobody@127.0.0.1:{port}/none", timeout_s=0.5)
        with otel_llm_cost.session(user_id="ann"), pytest.raises(BudgetExceeded, match="fails closed"):
            a.call()
        with otel_llm_cost.session(user_id="ann"), pytest.raises(BudgetExceeded, match="not retrying yet"):
            a.call()  # within RETRY_S of the failure: refused at once, no second wait
    assert a.wire.requests == []
