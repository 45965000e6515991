"""Declaring budgets: the documented syntax, inline or in a file; periods in a time zone;
and a bad declaration — in code or in OTEL_LLM_COST_BUDGETS — changes nothing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from otel_llm_cost import budgets
from otel_llm_cost.budgets import BudgetDeclarationError, parse_budgets
from otel_llm_cost.budgets._periods import parse_period
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

UTC = UTC


def test_the_documented_syntax():
    declared = parse_budgets("""
        user:*        10    per month  hard  tz=Europe/Paris   # each user
        user:alice    $2.50 per day    soft  thresholds=0.5,0.9,1
        service:chat  500usd per day   hard  on_unavailable=closed
        app           2000  per rolling:7d
        tenant:*      100   per month  hard
        attr:org.id=acme 20 per day
        attr:plan=*   5     per week
    """)
    assert [(b.name, b.limit, b.hard, b.tz, b.on_unavailable) for b in declared] == [
        ("user:*/month", Decimal(10), True, "Europe/Paris", "open"),
        ("user:alice/day", Decimal("2.50"), False, "UTC", "open"),
        ("service:chat/day", Decimal(500), True, "UTC", "closed"),
        ("app/rolling:7d", Decimal(2000), False, "UTC", "open"),
        ("tenant:*/month", Decimal(100), True, "UTC", "open"),
        ("attr:org.id=acme/day", Decimal(20), False, "UTC", "open"),
        ("attr:plan=*/week", Decimal(5), False, "UTC", "open"),
    ]
    assert [(b.scope, b.attribute, b.id, b.each) for b in declared[4:]] == [
        ("attr", "tenant", "*", True), ("attr", "org.id", "acme", False), ("attr", "plan", "*", True)]
    assert budgets.Budget("tenant", 1, id="acme") == declared[4].__class__("attr", 1, attribute="tenant", id="acme")
    assert declared[1].thresholds == (Decimal("0.5"), Decimal("0.9"), Decimal(1))


@pytest.mark.parametrize(("text", "message"), [
    ("team:acme 10 per day", "unknown budget scope 'team'"),
    ("attr:tenant 10 per day", "declared attr:<attribute>=<value>"),
    ("attr:=acme 10 per day", "declared attr:<attribute>=<value>"),
    ("attr:user.id=ann 10 per day", "user.id has a scope of its own: user"),
    ("attr:session.id=* 10 per day", "session.id has a scope of its own"),
    ("user:* ten per day", "not a decimal amount"),
    ("user:* -1 per day", "must be a positive amount"),
    ("user:* 10 per fortnight", "unknown budget period 'fortnight'"),
    ("user:* 10 per rolling:0h", "must be positive"),
    ("user:* 10 per month tz=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("user:* 10 per month on_unavailable=maybe", "one of open, closed"),
    ("user:* 10 per month colour=red", "unknown option 'colour'"),
    ("user:* 10; user:* 20", "declared twice"),
    ("app:x 10", "the app scope takes no id"),
])
def test_errors_name_the_budget_and_what_is_wrong(text, message):
    with pytest.raises(BudgetDeclarationError, match=message) as info:
        parse_budgets(text)
    assert "OTEL_LLM_COST_BUDGETS, budget" in str(info.value)


def test_a_bad_declaration_in_code_changes_nothing(tmp_path):
    budgets.set_budgets("user:* 10 per month hard", ledger=tmp_path / "l.db")
    try:
        with pytest.raises(BudgetDeclarationError):
            budgets.set_budgets("user:* 10 per month; user:* oops", ledger=tmp_path / "l.db")
        assert [b.name for b in budgets.current_budgets()] == ["user:*/month"]
    finally:
        budgets.clear_budgets()


def test_the_environment_variable_names_a_file_and_a_bad_one_is_logged(tmp_path, monkeypatch, caplog):
    declaration = tmp_path / "budgets.txt"
    declaration.write_text("# our limits\nuser:* 10 per month hard\napp 100 per day\n")
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_PATH", str(tmp_path / "l.db"))
    monkeypatch.setenv("OTEL_LLM_COST_BUDGETS", f"@{declaration}")
    instrumentor = OpenAIInstrumentor()
    try:
        instrumentor.instrument()
        assert [b.name for b in budgets.current_budgets()] == ["user:*/month", "app/day"]
    finally:
        instrumentor.uninstrument()
        budgets.clear_budgets()
    monkeypatch.setenv("OTEL_LLM_COST_BUDGETS", "user:* 10 per eon")
    with caplog.at_level(logging.ERROR, "otel_llm_cost"):
        assert budgets.from_environment() is False
    assert "unknown budget period 'eon'" in caplog.text and "no budget" in caplog.text
    assert budgets.current_budgets() == ()


@pytest.mark.parametrize(("period", "tz", "now", "start", "end"), [
    # Paris in winter is UTC+1: its December starts at 23:00 UTC on 30 November.
    ("month", "Europe/Paris", datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
     datetime(2026, 11, 30, 23, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 0, tzinfo=UTC)),
    ("month", "Europe/Paris", datetime(2026, 11, 30, 22, 59, 59, tzinfo=UTC),
     datetime(2026, 10, 31, 23, 0, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
    # A day across the end of daylight saving time is 25 hours long.
    ("day", "Europe/Paris", datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
     datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
    # Weeks start on Monday; 7 December 2026 is one.
    ("week", "UTC", datetime(2026, 12, 9, 8, 0, tzinfo=UTC),
     datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 14, tzinfo=UTC)),
    ("month", "America/New_York", datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
     datetime(2026, 12, 1, 5, 0, tzinfo=UTC), datetime(2027, 1, 1, 5, 0, tzinfo=UTC)),
    ("rolling:24h", "UTC", datetime(2026, 12, 9, 8, 0, tzinfo=UTC),
     datetime(2026, 12, 8, 8, 0, tzinfo=UTC), datetime(2026, 12, 9, 8, 0, tzinfo=UTC)),
])
def test_periods(period, tz, now, start, end):
    assert parse_period(period, tz).bounds(now) == (start, end)
    assert parse_period(period, tz).bounds(now)[1] - parse_period(period, tz).bounds(now)[0] > timedelta(0)
