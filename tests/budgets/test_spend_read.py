"""The spend a hard budget's check reads: whole UTC days from the ledger's per-day rollups,
the partial days at the period's edges from the rows — exact, whatever the period's time
zone, on SQLite and on the real PostgreSQL server, and read through indexes only."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_llm_cost import semconv
from otel_llm_cost.budgets._ledger import BudgetLedger, scope_of, spend_sql
from otel_llm_cost.budgets._periods import parse_period, to_unix_nano
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._schema import resolve_target
from tests.ledger._spans import llm_span, provider_with

#: Calls around the turn of November in Paris (23:00 UTC on 30 November) and of the UTC
#: day, and within whole days on either side.
_EDGES = [datetime(2026, 11, 30, 22, 30, tzinfo=UTC), datetime(2026, 11, 30, 23, 0, tzinfo=UTC),
          datetime(2026, 11, 30, 23, 30, tzinfo=UTC), datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
          datetime(2026, 12, 31, 22, 59, tzinfo=UTC), datetime(2026, 12, 31, 23, 0, tzinfo=UTC)]


def _calls() -> list[tuple[str, str, Decimal, datetime, str]]:
    """(user, service, cost, end, tenant) of every call written, at whole seconds (the spans')."""
    rng = random.Random(33)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for _ in range(160):
        when = start + timedelta(seconds=rng.randrange(0, 45 * 86_400))
        out.append((rng.choice(["ann", "bob"]), rng.choice(["chat", "batch"]),
                    Decimal(rng.randrange(1, 10**8)).scaleb(-12), when, rng.choice(["acme", "globex", ""])))
    for i, when in enumerate(_EDGES):
        out.append(("ann", "chat", Decimal(f"0.00{i + 1}"), when, "acme"))
    return out


def _write(target: Any, calls: list[tuple[str, str, Decimal, datetime, str]]) -> None:
    """Each call through the real exporter (which keeps the rollups and the attribute index
    in the rows' transaction), keeping the ``tenant`` attribute."""
    for service in ("chat", "batch"):
        provider = provider_with(LedgerSpanExporter(target, attributes=["tenant"]), service=service)
        tracer = provider.get_tracer(semconv.SCOPE_NAME)
        for user, svc, cost, when, tenant in calls:
            if svc == service:
                llm_span(tracer, model="gpt-4o", cost=str(cost), inp=10, out=1, user=user,
                         end_ns=to_unix_nano(when), attributes={"tenant": tenant} if tenant else None)
        provider.shutdown()


_WINDOWS = [("month", "Europe/Paris", datetime(2026, 12, 2, 12, tzinfo=UTC)),   # from 23:00 UTC on 30 Nov
            ("month", "Europe/Paris", datetime(2026, 11, 30, 22, 59, tzinfo=UTC)),  # November, to 23:00 UTC
            ("month", "UTC", datetime(2026, 12, 31, 23, 30, tzinfo=UTC)),
            ("week", "America/New_York", datetime(2026, 12, 1, 3, tzinfo=UTC)),
            ("day", "Asia/Kolkata", datetime(2026, 11, 30, 20, tzinfo=UTC)),  # a half-hour offset
            ("rolling:3d", "UTC", datetime(2026, 12, 1, 5, 17, 3, tzinfo=UTC)),
            ("rolling:90m", "UTC", datetime(2026, 12, 1, 0, 10, tzinfo=UTC))]


def _check(target: Any) -> None:
    written = _calls()
    _write(target, written)
    ledger = BudgetLedger(resolve_target(target))
    try:
        for name, tz, now in _WINDOWS:
            period = parse_period(name, tz)
            start, end = period.bounds(now)
            start_ns, end_ns = to_unix_nano(start), to_unix_nano(end) + (1 if period.window else 0)
            for kind, sid, pick in (("user", "ann", lambda c: c[0] == "ann"),
                                    ("user", "bob", lambda c: c[0] == "bob"),
                                    ("service", "chat", lambda c: c[1] == "chat"),
                                    ("attr", "acme", lambda c: c[4] == "acme"),
                                    ("attr", "globex", lambda c: c[4] == "globex"),
                                    ("app", None, lambda c: True)):
                want = sum((c[2] for c in written if pick(c) and start_ns <= to_unix_nano(c[3]) < end_ns),
                           Decimal(0))
                scope = scope_of(kind, sid, "tenant" if kind == "attr" else None)
                # The check itself (on PostgreSQL the server-side function): with a limit of 0
                # it refuses, and says the spend it read.
                got, held = ledger.hold("b", scope, start_ns, end_ns, to_unix_nano(now), "h", 1,
                                        to_unix_nano(now) + 10**9, usd=Decimal(0), limit=Decimal(0))
                assert got == want and not held, (name, tz, now, kind, sid)
                # spend(): whole days from the rollups (by_model=False, and app's breakdown by
                # model: its rollup dim), or the period's rows (a scope's breakdown by model).
                calls = sum(1 for c in written if pick(c) and start_ns <= to_unix_nano(c[3]) < end_ns)
                for by_model in (False, True):
                    totals = ledger.totals(scope, start_ns, end_ns, to_unix_nano(now), by_model=by_model)
                    assert (totals.total, totals.calls) == (want, calls), (name, tz, now, kind, sid, by_model)
                    assert totals.by_model == ({"gpt-4o": want} if by_model and calls else {})
    finally:
        ledger.close()


def test_the_check_reads_exact_spend_over_periods_in_any_time_zone_on_sqlite(tmp_path):
    _check(tmp_path / "ledger.db")


def test_the_check_reads_exact_spend_over_periods_in_any_time_zone_on_postgresql(pg_url):
    _check(pg_url)


def test_a_months_spend_is_read_by_index_from_the_rollups_and_the_edge_days_rows(tmp_path):
    target = tmp_path / "ledger.db"
    _write(target, _calls()[:4])
    period = parse_period("month", "Europe/Paris")
    start, end = period.bounds(datetime(2026, 12, 2, 12, tzinfo=UTC))
    sql, params = spend_sql(scope_of("user", "ann"), to_unix_nano(start), to_unix_nano(end))
    assert sql.count("FROM llm_rollup") == 2 and sql.count("FROM llm_calls") == 4  # two edges
    with sqlite3.connect(target) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    reads = [step for step in plan if step.startswith(("SCAN", "SEARCH"))]
    assert reads and all(step.startswith("SEARCH") for step in reads), plan
    # The rows by the user's index; the rollup cells by one range of the primary key
    # (dim, key, day): the key's days are adjacent.
    assert all("USING INDEX llm_calls_user (user_id=? AND end_time_unix_nano>? AND end_time_unix_nano<?)" in step
               or "llm_rollup USING PRIMARY KEY (dim=? AND key=? AND day>? AND day<?)" in step
               for step in reads), plan
    assert sum("llm_rollup" in step for step in reads) == 2


def test_a_tenants_month_is_read_by_index_from_its_rollup_dim_and_the_attribute_index(tmp_path):
    """A budget for tenant=acme reads the rollup cells of dim ``attr:tenant`` by primary key
    and the edge days' calls through the attribute index (then each call by its unique key)."""
    target = tmp_path / "ledger.db"
    _write(target, _calls()[:4])
    period = parse_period("month", "Europe/Paris")
    start, end = period.bounds(datetime(2026, 12, 2, 12, tzinfo=UTC))
    sql, params = spend_sql(scope_of("attr", "acme", "tenant"), to_unix_nano(start), to_unix_nano(end))
    assert sql.count("FROM llm_rollup") == 2 and sql.count("FROM llm_call_attributes") == 4
    assert params.count("attr:tenant") == 2
    with sqlite3.connect(target) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    reads = [step for step in plan if step.startswith(("SCAN", "SEARCH"))]
    assert reads and all(step.startswith("SEARCH") for step in reads), plan
    # ``a`` is the attribute index, ``c`` the calls (the aliases of ``Scope.rows``).
    assert sum(step == "SEARCH a USING PRIMARY KEY (name=? AND value=? AND end_time_unix_nano>? "
               "AND end_time_unix_nano<?)" for step in reads) == 4, plan
    assert sum(step.startswith("SEARCH c USING INDEX") and "(trace_id=? AND span_id=?)" in step
               for step in reads) == 4, plan
    assert sum("llm_rollup USING PRIMARY KEY" in step for step in reads) == 2, plan
    assert len(reads) == 10, plan


def test_the_checks_connection_keeps_the_users_search_path_and_application_name(pg_url):
    """The budgets' connection adds its timeouts to the user's URL settings and replaces
    none of them: with ``options=-c search_path=…`` the ledger's tables, holds and check
    function live in the user's schema, and their application name is the one the server
    shows."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("CREATE SCHEMA billing")
    ledger = BudgetLedger(resolve_target(f"{pg_url}?application_name=billing-api&options=-c%20search_path%3Dbilling"))
    try:
        now = to_unix_nano(datetime(2026, 12, 7, tzinfo=UTC))
        got, held = ledger.hold("b", scope_of("app", None, None), now - 10**12, now + 1, now, "h", 1,
                                now + 10**12, usd=Decimal("0.5"), limit=Decimal(1))
        assert (got, held) == (Decimal(0), True)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            names = {row[0] for row in admin.execute(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")}
            schemas = {row[0] for row in admin.execute(
                "SELECT table_schema FROM information_schema.tables"
                " WHERE table_name IN ('llm_calls', 'llm_budget_holds')")}
        assert "billing-api" in names and "otel-llm-cost-budgets" not in names
        assert schemas == {"billing"}
    finally:
        ledger.close()
