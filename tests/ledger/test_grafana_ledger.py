"""The ledger dashboard: generated exactly, and every query run on a real PostgreSQL ledger.

No Grafana binary runs here, so its SQL macros are expanded by :func:`_expand` as Grafana's
PostgreSQL data source documents them (``$__unixEpochNanoFilter(col)`` →
``(col >= FROM AND col <= TO)`` in nanoseconds; a multi-value ``$service`` → quoted values
joined by commas); everything after that is PostgreSQL's own work on real ledger rows.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from grafana import build_ledger_dashboard as gen
from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter

from ._spans import llm_span, provider_with, unix_nano

_NOW = datetime.now(UTC).replace(microsecond=0)


def _expand(sql: str, start: datetime, end: datetime, services: list[str]) -> str:
    sql = re.sub(r"\$__unixEpochNanoFilter\((\w+)\)",
                 lambda m: f"({m.group(1)} >= {unix_nano(start)} AND {m.group(1)} <= {unix_nano(end)})", sql)
    sql = sql.replace("$service", ",".join("'" + v.replace("'", "''") + "'" for v in services))
    assert "$" not in sql, sql
    return sql


def _panels() -> dict[str, gen.SQLPanel]:
    return {p.title: p for _, panels in gen.PANELS for p in panels}


@pytest.fixture
def ledger(pg_url: str) -> str:
    """Calls in three services over the last day, and two outside the dashboard's choice."""
    spans = []
    for service, calls in {
        "web": [("gpt-4o", "0.00405", "s1", "alice", s.SOURCE_REPORTED), ("gpt-4o", None, "s2", "bob", None)],
        "agent": [("claude-sonnet-4-5", "0.01275", "s1", "alice", s.SOURCE_REPORTED),
                  ("gpt-4o-mini", "0.0000000000003333", "s2", "bob", s.SOURCE_ESTIMATED)],
        "tools": [("gemini-2.5-flash", "0.0000073", "s1", "alice", s.SOURCE_REPORTED)],
        "batch": [("gpt-4o", "5", "s9", "zed", s.SOURCE_REPORTED)],  # a service not selected
    }.items():
        memory = InMemorySpanExporter()
        tracer = provider_with(memory, service=service).get_tracer("otel_llm_cost")
        for i, (model, cost, session, user, source) in enumerate(calls):
            llm_span(tracer, model=model, cost=cost, inp=10, out=1, session=session, user=user,
                     source=source or s.SOURCE_REPORTED, end_ns=unix_nano(_NOW - timedelta(hours=2 + i)))
        spans += memory.get_finished_spans()
    memory = InMemorySpanExporter()
    llm_span(provider_with(memory, service="web").get_tracer("otel_llm_cost"), model="gpt-4o", cost="7",
             inp=1, out=1, session="s1", user="alice", end_ns=unix_nano(_NOW - timedelta(days=30)))  # too old
    spans += memory.get_finished_spans()
    exporter = LedgerSpanExporter(pg_url)
    exporter.export(spans)
    exporter.shutdown()
    return pg_url


def _run(url: str, title: str, services=("agent", "tools", "web")) -> list[tuple]:
    sql = _expand(_panels()[title].sql, _NOW - timedelta(days=7), _NOW, list(services))
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def test_the_dashboard_is_regenerated_exactly() -> None:
    assert gen.OUT.read_text() == gen.render(), "stale: run python -m grafana.build_ledger_dashboard"


def test_every_panel_queries_the_ledger_data_source() -> None:
    data = json.loads(gen.OUT.read_text())
    assert {v["name"] for v in data["templating"]["list"]} == {"ledger", "service"}
    panels = [p for p in data["panels"] if p["type"] != "row"]
    assert len(panels) == len(_panels())
    for p in panels:
        [target] = p["targets"]
        assert target["datasource"] == {"type": "grafana-postgresql-datasource", "uid": "${ledger}"}
        assert target["rawSql"] == _panels()[p["title"]].sql and target["format"] == _panels()[p["title"]].fmt
        assert "$__unixEpochNanoFilter(end_time_unix_nano)" in target["rawSql"]


def test_spend_and_counts(ledger: str) -> None:
    [(spend,)] = _run(ledger, "Spend")
    assert spend == Decimal("0.00405") + Decimal("0.01275") + Decimal("0.0000073") + Decimal("0.0000000000003333")
    assert _run(ledger, "Calls") == [(5, 1, 1, 0)]  # calls, unpriced, estimated, failed
    assert _run(ledger, "Spend", services=["batch"]) == [(Decimal("5"),)]
    points = _run(ledger, "Spend per hour")
    assert sum(v for _, v in points) == spend and all(t.tzinfo is not None for t, _ in points)


def test_top_sessions_users_and_models_by_exact_cost(ledger: str) -> None:
    sessions = _run(ledger, "Top sessions")
    assert sessions == [("s1", "agent, tools, web", 3, "0.0168073", 0, 0),
                        ("s2", "agent, web", 2, "0.0000000000003333", 1, 1)]
    users = _run(ledger, "Top users")
    assert [(u, calls, cost) for u, calls, cost, *_ in users] == [
        ("alice", 3, "0.0168073"), ("bob", 2, "0.0000000000003333")]
    models = _run(ledger, "Top models")
    assert [m for m, *_ in models] == ["claude-sonnet-4-5", "gpt-4o", "gemini-2.5-flash", "gpt-4o-mini"]
    assert models[1][1:4] == (2, "0.00405", 1)  # calls, exact cost, unpriced
    assert _run(ledger, "Unpriced and estimated calls by model") == [("gpt-4o", 1, 0, 2), ("gpt-4o-mini", 0, 1, 1)]
    all_services = _run(ledger, "Top sessions", services=["agent", "batch", "tools", "web"])
    assert all_services[0][:4] == ("s9", "batch", 1, "5")


def test_a_failed_call_without_usage_is_failed_not_unpriced(pg_url: str) -> None:
    """The dashboard counts as ``otel-llm-cost report`` does (docs/reliability.md, decision 13)."""
    memory = InMemorySpanExporter()
    tracer = provider_with(memory, service="web").get_tracer("otel_llm_cost")
    end = unix_nano(_NOW - timedelta(hours=1))
    llm_span(tracer, model="gpt-4o", cost="0.001", inp=10, out=1, end_ns=end)
    llm_span(tracer, model="gpt-4o", inp=None, error="RateLimitError", status=s.STATUS_NO_USAGE, end_ns=end)
    llm_span(tracer, model="mystery", inp=10, out=1, end_ns=end)
    exporter = LedgerSpanExporter(pg_url)
    exporter.export(memory.get_finished_spans())
    exporter.shutdown()
    assert _run(pg_url, "Calls", services=["web"]) == [(3, 1, 0, 1)]  # calls, unpriced, estimated, failed
    assert _run(pg_url, "Unpriced and estimated calls by model", services=["web"]) == [("mystery", 1, 0, 1)]
    models = {m: row for m, *row in _run(pg_url, "Top models", services=["web"])}
    assert models["gpt-4o"][:3] == [2, "0.001", 0]  # calls, exact cost, unpriced
