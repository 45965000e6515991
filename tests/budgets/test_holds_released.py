"""The exporter deletes a call's settled holds in the transaction that writes its row (on
SQLite and on the real PostgreSQL server), and nothing else: a hold still in flight, or one
whose row has not been written, stays — no sweep runs here."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv
from otel_llm_cost.budgets._ledger import BudgetLedger, scope_of
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._schema import resolve_target
from tests.budgets._holds import hold_ids
from tests.ledger._spans import llm_span, provider_with


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_exporter_deletes_the_holds_of_the_rows_it_writes(kind, tmp_path, request):
    target = request.getfixturevalue("pg_url") if kind == "postgresql" else tmp_path / "ledger.db"
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    for _ in range(2):
        llm_span(provider.get_tracer(semconv.SCOPE_NAME), model="gpt-4o", cost="0.001", user="ann")
    spans = memory.get_finished_spans()
    ledger = BudgetLedger(resolve_target(target))
    now = time.time_ns()
    scope = scope_of("user", "ann")
    try:
        ledger.hold("b", scope, now - 10**12, now + 10**12, now, "in-flight", 10**9, now + 10**12,
                    limit=Decimal(1))
        for n, span in enumerate(spans):  # each call ended: its hold settled to its row's key
            ledger.hold("b", scope, now - 10**12, now + 10**12, now, f"call-{n}", 10**9, now + 10**12,
                        model="gpt-4o", trace_id=format(span.context.trace_id, "032x"),
                        span_id=format(span.context.span_id, "016x"))
    finally:
        ledger.close()
    assert hold_ids(target) == {"in-flight", "call-0", "call-1"}
    exporter = LedgerSpanExporter(target)
    exporter.export(spans[:1])
    assert hold_ids(target) == {"in-flight", "call-1"}
    exporter.export(spans)  # the first again (already written: nothing to delete) and the second
    exporter.shutdown()
    assert hold_ids(target) == {"in-flight"}

