"""Budgets of an allow-listed attribute (a tenant) and of users whose ids the ledger stores
as a digest, driven by the real OpenAI SDK over HTTP, on SQLite and on the real
PostgreSQL server: one tenant's users share its limit, hostile values match the rows they
were stored under, and the spend API, the CLI and the remaining-budget gauge show them."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import otel_llm_cost
from otel_llm_cost import budgets, semconv
from otel_llm_cost.budgets import BudgetExceeded
from otel_llm_cost.ledger._values import storable

ONE_CALL = Decimal("0.0035")
#: A JWT-sized user id and tenant: over the ledger's 256 characters, stored as a digest.
LONG_USER = "eyJhbGciOi." + "u" * 1000
LONG_TENANT = "tenant-" + "x" * 500


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    return str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def keep_tenant(monkeypatch):
    """The ledger keeps the ``tenant`` attribute (and only it: not a metric label)."""
    monkeypatch.setenv(semconv.ENV_LEDGER_ATTRIBUTES, "tenant")
    monkeypatch.delenv(semconv.ENV_METRIC_ATTRIBUTES, raising=False)


def test_a_tenants_users_share_its_hard_budget(app, clock, target, capsys):
    a = app(target=target)
    budgets.set_budgets("tenant:* 0.0075 per month hard", ledger=target, clock=clock,
                        default_reservation_usd="0.0035", meter_provider=a.meter_provider)
    with otel_llm_cost.session(user_id="ann", attributes={"tenant": "acme"}):
        a.call()
    with otel_llm_cost.session(user_id="bob", attributes={"tenant": "acme"}):
        a.call()
        sent = len(a.wire.requests)
        with pytest.raises(BudgetExceeded, match="tenant:\\*/month"):
            a.call()  # bob has spent nothing himself: acme's budget refuses him
    assert len(a.wire.requests) == sent
    with otel_llm_cost.session(user_id="cy", attributes={"tenant": "globex"}):
        a.call()  # another tenant has its own limit
    with otel_llm_cost.session(user_id="dee"):
        a.call()  # no tenant: no tenant budget applies
    acme = budgets.spend(tenant="acme")
    assert (acme.total, acme.calls, acme.limit, acme.remaining, acme.budget) == (
        2 * ONE_CALL, 2, Decimal("0.0075"), Decimal("0.0005"), "tenant:*/month")
    assert budgets.spend(attribute=("tenant", "globex")).total == ONE_CALL
    assert budgets.spend(app=True).total == 4 * ONE_CALL
    # The gauge: tenant is not a metric attribute here, so a per-tenant budget has no series.
    assert a.points(semconv.METRIC_BUDGET_REMAINING) == []
    declared = "tenant:* 0.0075 per month hard; tenant:globex 1 per day; attr:tenant=acme 2 per week"
    assert main_json(["budget", "--budgets", declared, "--db", target, "--json"], capsys) == {
        ("tenant:*/month", "acme"): ("0.007", "0.0005", 2),  # the biggest spender first
        ("tenant:*/month", "globex"): ("0.0035", "0.004", 1),
        ("tenant:globex/day", "globex"): ("0.0035", "0.9965", 1),
        ("tenant:acme/week", "acme"): ("0.007", "1.993", 2),  # attr:tenant= is tenant:
    }
    assert main_json(["budget", "--budgets", "tenant:* 1", "--db", target, "--tenant", "globex", "--json"],
                     capsys) == {("tenant:*/month", "globex"): ("0.0035", "0.9965", 1)}


def main_json(argv: list[str], capsys) -> dict:
    from otel_llm_cost.cli import main

    assert main(argv) == 0
    return {(r["budget"], r["id"]): (r["spent_usd"], r["remaining_usd"], r["calls"])
            for r in json.loads(capsys.readouterr().out)}


def test_the_remaining_gauge_carries_the_tenant_only_when_it_is_a_metric_attribute(app, clock, monkeypatch):
    monkeypatch.setenv(semconv.ENV_METRIC_ATTRIBUTES, "tenant")
    a = app()
    budgets.set_budgets("tenant:* 1 per day", ledger=a.ledger, clock=clock, meter_provider=a.meter_provider)
    with otel_llm_cost.session(user_id="ann", attributes={"tenant": "acme"}):
        a.call()
    assert a.points(semconv.METRIC_BUDGET_REMAINING) == [
        ({semconv.LLM_COST_BUDGET_NAME: "tenant:*/day", semconv.LLM_COST_BUDGET_SCOPE: "attr",
          semconv.LLM_COST_BUDGET_HARD: False, "tenant": "acme"}, float(1 - ONE_CALL))]


@pytest.mark.parametrize(("scope", "session"), [
    ("user:*", {"user_id": LONG_USER}),
    ("user:*", {"user_id": "ann\x00"}),
    ("tenant:*", {"user_id": "ann", "attributes": {"tenant": LONG_TENANT}}),
    ("tenant:*", {"user_id": "ann", "attributes": {"tenant": "ac\x00me\ud800"}}),
])
def test_hostile_ids_match_the_rows_they_were_stored_under(app, clock, target, scope, session):
    """The ledger stores an over-long id as a prefix and a digest, and drops NUL and lone
    surrogates; the budget looks the id up by the same function, so it sees its spend (and
    PostgreSQL, which refuses NUL in text, keeps its holds)."""
    a = app(target=target)
    budgets.set_budgets(f"{scope} 0.0075 per month hard on_unavailable=closed", ledger=target, clock=clock,
                        default_reservation_usd="0.0035")
    with otel_llm_cost.session(**session):
        a.call()
        a.call()
        with pytest.raises(BudgetExceeded, match="0.007 USD of 0.0075 USD spent or held"):
            a.call()
    assert len(a.wire.requests) == 2
    raw = session.get("attributes", {}).get("tenant") or session["user_id"]
    spent = budgets.spend(tenant=raw) if scope == "tenant:*" else budgets.spend(user=raw)
    assert (spent.total, spent.calls) == (2 * ONE_CALL, 2)
    # The stored form reads the same spend (what `otel-llm-cost budget` lists and passes back).
    stored = storable(raw)
    again = budgets.spend(tenant=stored) if scope == "tenant:*" else budgets.spend(user=stored)
    assert again.total == 2 * ONE_CALL
