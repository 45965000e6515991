"""Per-day rollups: kept exact by the writers and by prune, built by migrate, checked by
``ledger verify``, and read by the report — which must print what a scan of every row
prints, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv as s
from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._render import render
from otel_llm_cost.ledger._report import load_report
from otel_llm_cost.ledger._rollup import ROLLUP_SQLITE, batches, rebuild, spend, stored, verify
from otel_llm_cost.ledger._schema import CURRENT_VERSION
from otel_llm_cost.ledger._store import open_store

from ._spans import llm_span, provider_with, unix_nano

_T0 = datetime(2025, 3, 10, tzinfo=UTC)


def _spans() -> list:
    """Four days of calls of every kind: priced, finer than a pico-dollar, unknown, failed
    without usage, estimated; several users, sessions, providers."""
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    t = provider.get_tracer("otel_llm_cost")
    for i in range(120):
        hours = i * 0.8  # 0 … 95 h
        kind = i % 6
        kwargs = dict(model=["gpt-4o", "claude-sonnet-4-5", "o3"][i % 3],
                      provider=["openai", "anthropic", "openai"][i % 3], inp=100 + i, out=10 + i,
                      session=f"s{i % 9}", user=f"u{i % 4}",
                      end_ns=unix_nano(_T0) + int(hours * 3600 * 1e9))
        if kind == 0:
            kwargs["cost"] = f"0.00{i:03d}17"
        elif kind == 1:
            kwargs["cost"] = f"0.000000000000{i:03d}3"  # finer than a pico-dollar
        elif kind == 2:
            pass  # unknown model: unpriced
        elif kind == 3:
            kwargs.update(inp=None, error="RateLimitError", status=s.STATUS_NO_USAGE)
        elif kind == 4:
            kwargs.update(cost="0.0123", source=s.SOURCE_ESTIMATED)
        else:
            kwargs.update(cost="1.5", session=None, user=None)
        llm_span(t, **kwargs)
    provider.shutdown()
    return list(memory.get_finished_spans())


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path: Path) -> str:
    target = str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    spans = _spans()
    exporter = LedgerSpanExporter(target)
    assert exporter.export(spans[:70]) is SpanExportResult.SUCCESS
    assert exporter.export(spans[50:]) is SpanExportResult.SUCCESS  # 20 spans twice: stored once
    exporter.shutdown()
    return target


SINCES = [None, _T0 + timedelta(days=1), _T0 + timedelta(hours=30, minutes=7), _T0 + timedelta(hours=80)]


@pytest.mark.parametrize("by", ["model", "provider", "user", "session", "day"])
def test_the_report_from_rollups_is_the_report_from_rows(ledger: str, by: str) -> None:
    for since in SINCES:
        fast = load_report(ledger, by, since)
        slow = load_report(ledger, by, since, exact=True)
        assert fast.source == ("rollups" if since != SINCES[-1] else "rows")  # under a day: hourly, from rows
        for fmt in ("json", "csv", "table"):
            assert render(fast, fmt) == render(slow, fmt), (by, since, fmt)
    total = load_report(ledger, by).total
    assert total.calls == 120 and total.unpriced == 20 and total.failed == 20 and total.estimated == 20


def test_verify_after_writes_prune_and_tampering(ledger: str, capsys) -> None:
    assert main(["ledger", "verify", "--db", ledger]) == 0
    assert "equal the sums of the 120 rows" in capsys.readouterr().out
    assert main(["ledger", "prune", "--before", (_T0 + timedelta(hours=40)).isoformat(), "--db", ledger]) == 0
    assert main(["ledger", "verify", "--db", ledger]) == 0
    assert load_report(ledger, "user").total.calls == load_report(ledger, "user", exact=True).total.calls == 70
    _execute(ledger, "UPDATE llm_rollup SET pico_lo = pico_lo + 1 WHERE dim = 'user' AND key = 'u1' "
                     "AND day = '2025-03-12'")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    assert "user/2025-03-12/u1: rows give" in capsys.readouterr().err


def test_migrate_builds_the_rollups_of_an_existing_ledger(tmp_path: Path, capsys) -> None:
    path = tmp_path / "old.db"
    exporter = LedgerSpanExporter(path)
    assert exporter.export(_spans()) is SpanExportResult.SUCCESS
    exporter.shutdown()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE llm_rollup")  # as version 5 left it
    conn.execute("DROP TABLE llm_call_attributes")
    conn.execute("ALTER TABLE llm_calls DROP COLUMN attributes")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    assert load_report(path, "model").source == "rows"  # read as it is, never migrated by a report
    assert main(["ledger", "migrate", "--db", str(path)]) == 0
    assert main(["ledger", "verify", "--db", str(path)]) == 0
    assert load_report(path, "model").source == "rollups"


def test_a_version_6_ledger_is_rekeyed_in_place_with_its_cells_unchanged(ledger: str, capsys) -> None:
    """Schema 7 keys the rollups by (dim, key, day) (SQLite: the table's order; PostgreSQL:
    an index) and indexes the decimal rests; the migration keeps every cell as it was (and
    schema 8's step builds the service dim from the rows: the cells the writers kept)."""
    with open_store(ledger) as store:
        before = stored(store.conn)
    _execute(ledger, "DELETE FROM llm_rollup WHERE dim = 'service'")  # not in schema 6 (nor 7)
    _execute(ledger, "DROP TABLE llm_call_attributes")
    _execute(ledger, "ALTER TABLE llm_calls DROP COLUMN attributes")
    if ledger.startswith("postgresql://"):
        with psycopg.connect(ledger, autocommit=True) as conn:  # as version 6 left it
            conn.execute("DROP INDEX llm_rollup_key")
            conn.execute("DROP INDEX llm_rollup_rest")
            conn.execute("UPDATE llm_ledger_schema SET version = 6")
    else:
        conn = sqlite3.connect(ledger)
        conn.execute(ROLLUP_SQLITE.replace("CREATE TABLE llm_rollup", "CREATE TABLE llm_rollup_v6"))
        conn.execute("INSERT INTO llm_rollup_v6 SELECT dim, day, key, calls, input_tokens, output_tokens, "
                     "cache_read_tokens, cache_write_tokens, reasoning_tokens, pico_hi, pico_lo, priced, summed, "
                     "estimated, failed, free, cost_rest FROM llm_rollup")
        conn.execute("DROP TABLE llm_rollup")
        conn.execute("ALTER TABLE llm_rollup_v6 RENAME TO llm_rollup")
        conn.execute("PRAGMA user_version = 6")
        conn.commit()
        conn.close()
    assert main(["ledger", "migrate", "--db", ledger]) == 0
    assert f"at schema version {CURRENT_VERSION}" in capsys.readouterr().out
    with open_store(ledger) as store:
        assert stored(store.conn) == before and len(before) > 50
        if store.kind == "sqlite":
            [(sql,)] = store.query("SELECT sql FROM sqlite_master WHERE name = 'llm_rollup'")
            assert "PRIMARY KEY (dim, key, day)" in sql and "WITHOUT ROWID" in sql
            plan = " ".join(str(r) for r in store.query(
                "EXPLAIN QUERY PLAN SELECT key, SUM(calls) FROM llm_rollup WHERE dim = 'session' "
                "AND day >= '2025-03-11' GROUP BY key"))
            assert "TEMP B-TREE" not in plan  # the ranking streams in key order: no sort
        indexes = {name for (name,) in store.query(
            "SELECT name FROM sqlite_master WHERE type = 'index'" if store.kind == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'llm_rollup'")}
        assert {"llm_rollup_rest"} <= indexes
        assert store.kind == "sqlite" or "llm_rollup_key" in indexes
    assert main(["ledger", "verify", "--db", ledger]) == 0
    for by in ("session", "user"):
        assert render(load_report(ledger, by, SINCES[2], top=3), "json") == render(
            load_report(ledger, by, SINCES[2], exact=True, top=3), "json")


def test_rebuild_and_verify_read_a_day_per_statement_and_give_the_cells_the_writers_kept(ledger: str) -> None:
    """Rebuilt one day per statement (what keeps each statement short on a big PostgreSQL
    ledger, under its statement_timeout), the rollups are the ones the writers kept, cell
    for cell; a day without calls between two with calls is skipped."""
    with open_store(ledger, write=True) as store:
        store.execute("DELETE FROM llm_calls WHERE end_time_unix_nano >= ? AND end_time_unix_nano < ?",
                      (unix_nano(_T0 + timedelta(days=1)), unix_nano(_T0 + timedelta(days=2))))
        kept = {cell: value for cell, value in stored(store.conn).items() if cell[1] != "2025-03-11"}
        day_ns = 86_400 * 10**9
        assert [lo // day_ns for lo, _ in batches(store.conn)] == [
            unix_nano(_T0 + timedelta(days=d)) // day_ns for d in (0, 2, 3)]
        if store.kind == "postgresql":
            with store.conn.transaction():
                assert rebuild(store.conn, store.kind) == len(kept)
        else:
            store.conn.execute("BEGIN IMMEDIATE")
            assert rebuild(store.conn, store.kind) == len(kept)
            store.conn.execute("COMMIT")
        assert stored(store.conn) == kept
        assert verify(store.conn, store.kind) == []


def test_spend_of_a_user_over_a_period_is_exact(ledger: str) -> None:
    start, end = _T0 + timedelta(hours=13, minutes=5), _T0 + timedelta(days=3, hours=2)
    with open_store(ledger) as store:
        got = spend(store, "user", "u2", start, end)
        rows = store.query("SELECT cost_usd FROM llm_calls WHERE user_id = 'u2' AND end_time_unix_nano >= ? "
                           "AND end_time_unix_nano < ?", (unix_nano(start), unix_nano(end)))
    expected = sum((Decimal(str(c)) for (c,) in rows if c is not None), Decimal(0))
    assert got.cost == expected and got.calls == len(rows) and got.calls > 0


def test_top_sessions_are_the_most_expensive_and_the_total_counts_all(ledger: str, capsys) -> None:
    for by in ("session", "user", "model"):
        for since in SINCES[:3]:  # all, whole days, and a partial first day
            everything = load_report(ledger, by, since, exact=True)
            for n in (1, 3):
                top = load_report(ledger, by, since, top=n)
                assert top.source == "rollups"
                assert [(g.key, g.cost, g.calls) for g in top.groups] == [
                    (g.key, g.cost, g.calls) for g in everything.groups[:n]], (by, since, n)
                assert top.hidden == len(everything.groups) - n and top.total.cost == everything.total.cost
    everything = load_report(ledger, "session")
    assert main(["report", "--db", ledger, "--by", "session", "--top", "3", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups_not_shown"] == len(everything.groups) - 3


def _execute(target: str, sql: str) -> None:
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(sql)
        return
    conn = sqlite3.connect(target)
    conn.execute(sql)
    conn.commit()
    conn.close()
