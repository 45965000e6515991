"""The budgets' sweep deletes the holds that expired or whose call is now a ledger row,
and nothing else; on PostgreSQL it probes ``llm_calls``' key once per hold whatever the
planner expects, instead of reading every call (it runs on a calling thread every few
seconds). Both against the real server the suite starts."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv
from otel_llm_cost.budgets._ledger import SWEEP_PG, SWEEP_SQLITE, BudgetLedger, scope_of
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._schema import resolve_target
from tests.budgets._holds import hold_ids
from tests.ledger._spans import llm_span, provider_with


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_sweep_deletes_expired_and_written_holds_only(kind, tmp_path, request):
    target = request.getfixturevalue("pg_url") if kind == "postgresql" else tmp_path / "ledger.db"
    memory = InMemorySpanExporter()
    llm_span(provider_with(memory).get_tracer(semconv.SCOPE_NAME), model="gpt-4o", cost="0.001", user="ann")
    [span] = memory.get_finished_spans()
    exporter = LedgerSpanExporter(target)
    exporter.export([span])
    exporter.shutdown()
    ledger = BudgetLedger(resolve_target(target))
    now = time.time_ns()
    scope = scope_of("user", "ann")
    window = (now - 10**12, now + 10**12, now)
    try:
        ledger.hold("b", scope, *window, "in-flight", 10**9, now + 10**12, limit=Decimal(1))
        ledger.hold("b", scope, *window, "expired", 10**9, now - 1, limit=Decimal(1))
        # A hold whose row was written after the exporter's transaction ran (so that
        # transaction did not delete it): the sweep's to remove.
        ledger.hold("b", scope, *window, "written", 10**9, now + 10**12, model="gpt-4o",
                    trace_id=format(span.context.trace_id, "032x"), span_id=format(span.context.span_id, "016x"))
        ledger.hold("b", scope, *window, "not-written", 10**9, now + 10**12, model="gpt-4o",
                    trace_id="f" * 32, span_id="e" * 16)
        assert hold_ids(target) == {"in-flight", "expired", "written", "not-written"}
        ledger.sweep(time.time_ns())
    finally:
        ledger.close()
    assert hold_ids(target) == {"in-flight", "not-written"}


def _plan_reads_every_call(conn: Any, sql: str) -> bool:
    """Whether the statement's plan scans ``llm_calls`` whole (a sequential scan of it)."""
    [(plan,)] = conn.execute("EXPLAIN (FORMAT JSON) " + sql.replace("?", "%s"), (time.time_ns(),)).fetchall()

    def nodes(node: dict) -> Any:
        yield node
        for child in node.get("Plans", ()):
            yield from nodes(child)

    return any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "llm_calls" for n in nodes(plan[0]["Plan"]))


def test_the_postgresql_sweep_never_reads_every_call(pg_url):
    # A ledger of 20,000 calls, analysed, and a holds table the planner knows nothing of
    # (never analysed, as on a new ledger or between autovacuum's visits): the condition in
    # which the plain EXISTS form becomes a hashed subplan over every call.
    memory = InMemorySpanExporter()
    llm_span(provider_with(memory).get_tracer(semconv.SCOPE_NAME), model="gpt-4o", cost="0.001", user="ann")
    exporter = LedgerSpanExporter(pg_url)
    exporter.export(memory.get_finished_spans())  # the schema (holds included) and one call
    exporter.shutdown()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        columns = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'llm_calls' "
            "AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'").fetchall()}
        assert columns <= {"trace_id", "span_id", "end_time_unix_nano", "end_time"}, columns
        conn.execute("INSERT INTO llm_calls (trace_id, span_id, end_time_unix_nano, end_time) "
                     "SELECT md5(i::text), left(md5((-i)::text), 16), i, '2026-12-01T00:00:00Z' "
                     "FROM generate_series(1, 20000) AS i")
        conn.execute("ANALYZE llm_calls")
        conn.execute("INSERT INTO llm_budget_holds (id, budget, scope_key, usd_pico, trace_id, span_id, "
                     "expires_unix_nano) VALUES ('h', 'b', 'user:ann', 1, md5('7'), left(md5('-7'), 16), 0)")
        # The statement the sweep used to send: its plan reads every call here — so this
        # test shows the fault it guards against.
        assert _plan_reads_every_call(conn, SWEEP_SQLITE)
        assert not _plan_reads_every_call(conn, SWEEP_PG)
        conn.execute(SWEEP_PG.replace("?", "%s"), (1,))
        assert conn.execute("SELECT count(*) FROM llm_budget_holds").fetchall() == [(0,)]
