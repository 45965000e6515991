"""The shared ledger on a real PostgreSQL server: rows, idempotence, the same report as
SQLite, many writer processes at once, and a database that is down."""

from __future__ import annotations

import json
import logging
import multiprocessing
import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv as s
from otel_llm_cost.cli import main
from otel_llm_cost.ledger import CURRENT_VERSION, LedgerSpanExporter
from otel_llm_cost.ledger._report import load_report

from . import _writer
from ._spans import llm_span, provider_with, unix_nano

_T0 = datetime(2025, 3, 10, tzinfo=UTC)


def _rows(url: str) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM llm_calls ORDER BY id")
        names = [d.name for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _sample_spans() -> list:
    """Calls of every kind, over three days: priced, estimated, unknown, failed, a cost
    finer than a pico-dollar (a user's price file can give one), reasoning."""
    memory = InMemorySpanExporter()
    provider = provider_with(memory, service="svc-a")
    t = provider.get_tracer("otel_llm_cost")

    def at(hours: float) -> int:
        return unix_nano(_T0) + int(hours * 3600) * 1_000_000_000

    llm_span(t, model="gpt-4o", cost="0.00405", inp=1000, out=200, cache_read=400, user="alice",
             session="s1", end_ns=at(10))
    llm_span(t, model="gpt-4o", cost="0.00175", inp=500, out=50, source=s.SOURCE_ESTIMATED, user="bob",
             session="s2", end_ns=at(11.5))
    llm_span(t, model="claude-sonnet-4-5", provider="anthropic", cost="0.01275", inp=2000, out=300,
             cache_write=1000, user="alice", session="s1", end_ns=at(33))
    llm_span(t, model="my-custom-model", provider="anthropic", inp=100, out=10, user="alice", session="s1",
             end_ns=at(33.25))
    llm_span(t, model="gpt-4o-mini", inp=None, error="RateLimitError", status=s.STATUS_NO_USAGE, end_ns=at(56))
    llm_span(t, model="o3", cost="0.0082", inp=100, out=1000, reasoning=800, user="bob", session="s2",
             end_ns=at(57))
    llm_span(t, model="tiny-priced", cost="0.0000000000003333", inp=1, out=1, user="carol", session="s3",
             end_ns=at(58))
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_rows_on_postgres_have_every_field_and_an_exact_numeric_cost(pg_url: str) -> None:
    ledger = LedgerSpanExporter(pg_url)
    assert (ledger.url, ledger.path) == (pg_url, None)
    assert ledger.export(_sample_spans()) is SpanExportResult.SUCCESS
    ledger.shutdown()
    rows = _rows(pg_url)
    assert len(rows) == 7
    first = rows[0]
    assert (first["service"], first["provider"], first["model"], first["response_model"], first["operation"]) == (
        "svc-a", "openai", "gpt-4o", "gpt-4o-resp", "chat")
    assert (first["input_tokens"], first["output_tokens"], first["cache_read_tokens"]) == (1000, 200, 400)
    assert (first["session_id"], first["user_id"], first["status"], first["usage_source"]) == (
        "s1", "alice", "priced", "reported")
    assert first["end_time"] == "2025-03-10T10:00:00.000000Z"
    assert len(first["trace_id"]) == 32 and len(first["span_id"]) == 16
    assert [r["cost_usd"] for r in rows] == [Decimal("0.00405"), Decimal("0.00175"), Decimal("0.01275"), None,
                                             None, Decimal("0.0082"), Decimal("0.0000000000003333")]
    # whole pico-dollars for the database to sum; NULL where the cost is not one (or unknown)
    assert [r["cost_pico"] for r in rows] == [4_050_000_000, 1_750_000_000, 12_750_000_000, None, None,
                                              8_200_000_000, None]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM llm_ledger_schema").fetchall() == [(CURRENT_VERSION,)]


@pytest.mark.parametrize("by", ["model", "provider", "user", "session", "day"])
def test_the_report_on_postgres_is_the_report_on_sqlite(by: str, pg_url: str, tmp_path: Path, capsys) -> None:
    spans = _sample_spans()
    for target in (pg_url, str(tmp_path / "ledger.db")):
        exporter = LedgerSpanExporter(target)
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        exporter.shutdown()
    outputs = {}
    for target in (pg_url, str(tmp_path / "ledger.db")):
        for fmt in ("json", "csv", "table"):
            assert main(["report", "--db", target, "--by", by, "--format", fmt]) == 0
            outputs[target, fmt] = capsys.readouterr().out.replace(target, "<ledger>")
    for fmt in ("json", "csv", "table"):
        assert outputs[pg_url, fmt] == outputs[str(tmp_path / "ledger.db"), fmt], fmt
    data = json.loads(outputs[pg_url, "json"])
    # 0.00405 + 0.00175 + 0.01275 + 0.0082 + 0.0000000000003333, the last added as a Decimal
    assert data["total"]["cost_usd"] == "0.0267500000003333"
    # an unknown model's call is unpriced; the failed call with no usage cost nothing
    assert (data["total"]["calls"], data["total"]["unpriced_calls"], data["total"]["failed_calls"]) == (7, 1, 1)
    # the database's integer sums and the all-Decimal reference agree group by group
    for target in (pg_url, tmp_path / "ledger.db"):
        fast, exact = load_report(target, by), load_report(target, by, exact=True)
        assert [(g.key, g.cost, g.calls, g.unpriced) for g in fast.groups] == [
            (g.key, g.cost, g.calls, g.unpriced) for g in exact.groups]
        assert fast.timeline == exact.timeline and fast.total.cost == exact.total.cost


def test_a_retried_batch_and_a_second_exporter_store_each_call_once(pg_url: str) -> None:
    spans = _sample_spans()
    first, second = LedgerSpanExporter(pg_url), LedgerSpanExporter(pg_url)
    assert first.export(spans) is SpanExportResult.SUCCESS
    assert first.export(spans) is SpanExportResult.SUCCESS  # the SDK retried the batch
    assert second.export(spans[2:5]) is SpanExportResult.SUCCESS  # another pipeline saw some of them
    first.shutdown()
    second.shutdown()
    assert len(_rows(pg_url)) == 7


def test_many_processes_and_two_exporters_each_store_every_call_once(pg_url: str) -> None:
    processes, per_process = 4, 500
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    # The database is empty: the writers also race to create the ledger's tables.
    workers = [ctx.Process(target=_writer.write, args=(pg_url, p, per_process, barrier, 2))
               for p in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(180)
    assert [w.exitcode for w in workers] == [0] * processes

    with psycopg.connect(pg_url) as conn:
        count, distinct = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (trace_id, span_id)) FROM llm_calls").fetchone()
        per_service = dict(conn.execute("SELECT service, COUNT(*) FROM llm_calls GROUP BY service").fetchall())
        stored, pico = conn.execute("SELECT SUM(cost_usd), SUM(cost_pico) FROM llm_calls").fetchone()
        versions = conn.execute("SELECT version FROM llm_ledger_schema").fetchall()
    print(f"\n{processes} processes x {per_process} calls, 2 exporters each: {count} rows stored, "
          f"{count - distinct} duplicates")
    assert count == distinct == processes * per_process  # 4,000 exports, 2,000 rows, 0 duplicates
    assert per_service == {f"worker-{p}": per_process for p in range(processes)}
    expected = sum((_writer.cost_of(p, i) for p in range(processes) for i in range(per_process)), Decimal(0))
    assert stored == expected == Decimal("304.990000034")
    assert Decimal(pico).scaleb(-12) == expected
    assert versions == [(CURRENT_VERSION,)]  # migrated once
    report = load_report(pg_url, "session")
    assert report.total.cost == expected and report.total.calls == processes * per_process
    # The rollups the eight exporters kept at once, duplicates offered, equal the rows.
    assert main(["ledger", "verify", "--db", pg_url]) == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_database_that_is_down_fails_the_export_logs_once_and_hides_the_password(caplog) -> None:
    url = f"postgresql://app:s3cret-pw@127.0.0.1:{_closed_port()}/costs"
    ledger = LedgerSpanExporter(url)
    spans = _sample_spans()
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        results = [ledger.export(spans) for _ in range(3)]
    assert results == [SpanExportResult.FAILURE] * 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "postgresql://app:***@127.0.0.1" in message and "cannot connect" in message
    assert "s3cret-pw" not in caplog.text
    # after a refused connection the next batches fail without trying again at once
    assert "not retrying the connection yet" in caplog.text
    ledger.shutdown()


def test_url_from_the_environment_for_the_exporter_and_the_report(pg_url: str, monkeypatch, capsys,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv(s.ENV_LEDGER_PATH, str(tmp_path / "not-this.db"))
    monkeypatch.setenv(s.ENV_LEDGER_URL, pg_url)
    exporter = LedgerSpanExporter()
    assert exporter.url == pg_url
    provider = provider_with(exporter, service="from-env")
    llm_span(provider.get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.5", inp=1, out=1,
             end_ns=unix_nano(datetime.now(UTC) - timedelta(minutes=5)))
    provider.shutdown()
    assert main(["report", "--since", "1h", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ledger"] == pg_url and data["total"]["cost_usd"] == "0.5"
    assert not (tmp_path / "not-this.db").exists()


def test_a_report_on_an_empty_database_says_so(pg_url: str, capsys) -> None:
    assert main(["report", "--db", pg_url]) == 1
    assert "no ledger in this database yet" in capsys.readouterr().err


def _settings(conn) -> dict[str, str]:
    names = ("statement_timeout", "search_path", "application_name", "default_transaction_read_only")
    return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def test_a_ledger_in_its_own_schema_through_the_urls_options(pg_url: str, capsys) -> None:
    """``?options=-c search_path=costs`` (or ``PGOPTIONS``) is the user's: the exporter writes
    its tables there and the report reads them there; our statement timeout is merged in
    before theirs, never in place of them."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA costs")
    url = f"{pg_url}?options=-c%20search_path%3Dcosts&application_name=billing"
    exporter = LedgerSpanExporter(url)
    provider = provider_with(exporter)
    llm_span(provider.get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.25", inp=1, out=1,
             end_ns=unix_nano(datetime.now(UTC) - timedelta(minutes=5)))
    provider.shutdown()
    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                             "WHERE table_schema = 'costs'")}
        assert {"llm_calls", "llm_rollup", "llm_key_totals"} <= tables
        assert conn.execute("SELECT to_regclass('public.llm_calls')").fetchone()[0] is None
    assert main(["report", "--db", url, "--since", "1h", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["cost_usd"] == "0.25"
    from otel_llm_cost.ledger._store import open_store

    with open_store(url) as store:
        assert _settings(store.conn) == {"statement_timeout": "30s", "search_path": "costs",
                                         "application_name": "billing", "default_transaction_read_only": "on"}


def test_the_users_settings_win_and_a_reader_stays_read_only(pg_url: str, monkeypatch) -> None:
    from otel_llm_cost.ledger._pg import connect_pg
    from otel_llm_cost.ledger._store import StoreError, open_store

    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=1234 -c default_transaction_read_only=off")
    monkeypatch.setenv("PGAPPNAME", "nightly-report")
    connect_pg(pg_url).close()  # the ledger's tables
    with connect_pg(pg_url, migrate=False) as conn:  # a writer: the user's read_only=off stands
        assert _settings(conn) == {"statement_timeout": "1234ms", "search_path": '"$user", public',
                                   "application_name": "nightly-report", "default_transaction_read_only": "off"}
    with open_store(pg_url) as store:  # a reader is read-only whatever the options say
        assert _settings(store.conn)["default_transaction_read_only"] == "on"
        assert _settings(store.conn)["statement_timeout"] == "1234ms"
        with pytest.raises(StoreError, match="read-only transaction"):
            store.query("DELETE FROM llm_calls")
    monkeypatch.delenv("PGOPTIONS")
    monkeypatch.delenv("PGAPPNAME")
    with connect_pg(f"{pg_url}?connect_timeout=7", migrate=False) as conn:
        assert conn.info.get_parameters()["connect_timeout"] == "7"
        assert _settings(conn)["statement_timeout"] == "30s"
        assert _settings(conn)["application_name"] == "otel-llm-cost"
