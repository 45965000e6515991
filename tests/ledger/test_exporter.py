"""LedgerSpanExporter: rows, dedup, unknown cost, failures, several writer processes."""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
from decimal import Decimal
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import CURRENT_VERSION, LedgerSpanExporter, default_path
from otel_llm_cost.ledger._schema import SCHEMA_V1

from . import _writer
from ._spans import llm_span, provider_with


def _rows(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM llm_calls ORDER BY id")]
    finally:
        conn.close()


def test_one_row_per_llm_span_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path), service="checkout")
    tracer = provider.get_tracer("otel_llm_cost")
    llm_span(tracer, model="claude-sonnet-4-5", provider="anthropic", cost="0.0127500",
             inp=2000, out=300, cache_read=100, cache_write=1000, cache_write_1h=400, reasoning=20,
             session="sess-1", user="alice", catalog_model="claude-sonnet-4-5",
             end_ns=1_741_600_800_123_456_789)
    with tracer.start_as_current_span("GET /"):  # not an LLM span: skipped
        pass
    with tracer.start_as_current_span("execute_tool search", attributes={  # a GenAI span, not a model call
            s.GEN_AI_OPERATION_NAME: "execute_tool"}):
        pass
    provider.shutdown()

    [row] = _rows(path)
    assert row["end_time"] == "2025-03-10T10:00:00.123456Z"
    assert row["end_time_unix_nano"] == 1_741_600_800_123_456_789
    assert (row["service"], row["provider"], row["model"], row["response_model"],
            row["catalog_model"], row["operation"]) == (
        "checkout", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5-resp", "claude-sonnet-4-5", "chat")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"],
            row["cache_write_1h_tokens"], row["reasoning_tokens"]) == (2000, 300, 100, 1000, 400, 20)
    assert row["cost_usd"] == "0.01275"  # exact text, canonical form
    assert (row["status"], row["usage_source"], row["error_type"]) == ("priced", "reported", None)
    assert (row["session_id"], row["user_id"]) == ("sess-1", "alice")
    assert len(row["trace_id"]) == 32 and len(row["span_id"]) == 16
    int(row["trace_id"], 16), int(row["span_id"], 16)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION


def test_unknown_or_malformed_cost_is_null_not_zero(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    tracer = provider.get_tracer("otel_llm_cost")
    llm_span(tracer, model="my-own-model", inp=10, out=5)  # unknown_model: no llm_cost.usd
    llm_span(tracer, model="gpt-4o", inp=None, error="APITimeoutError", status=s.STATUS_NO_USAGE)
    llm_span(tracer, model="gpt-4o", cost="not-a-number", inp=1, out=1)
    provider.shutdown()
    rows = _rows(path)
    assert [r["cost_usd"] for r in rows] == [None, None, None]
    assert [r["status"] for r in rows] == ["unknown_model", "no_usage", "priced"]
    failed = rows[1]
    assert (failed["input_tokens"], failed["output_tokens"], failed["usage_source"],
            failed["error_type"]) == (0, 0, None, "APITimeoutError")


def test_anthropic_sdk_spans_are_read_in_their_counting_and_priced(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    tracer = provider.get_tracer(s.ANTHROPIC_SDK_SCOPE)
    with tracer.start_as_current_span("chat", attributes={
        s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_SYSTEM: "anthropic",
        s.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-20250514",
        s.GEN_AI_USAGE_INPUT_TOKENS: 180, s.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        s.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 50,
        s.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 30,
    }):
        pass
    provider.shutdown()
    [row] = _rows(path)
    # anthropic 2.12's own span counts the cache inside input_tokens already (180 = 100 + 50 + 30).
    assert (row["provider"], row["input_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (
        "anthropic", 180, 50, 30)
    # priced by us: 100 x 3.00 + 50 x 0.30 + 30 x 3.75 + 7 x 15.00 per 1M
    assert (row["cost_usd"], row["status"]) == ("0.0005325", "priced")


def test_a_retried_export_is_stored_once(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    tracer = provider.get_tracer("otel_llm_cost")
    for i in range(3):
        llm_span(tracer, model="gpt-4o", cost=f"0.00{i}1", inp=i, out=1)
    spans = memory.get_finished_spans()
    ledger = LedgerSpanExporter(tmp_path / "ledger.db")
    assert ledger.export(spans) is SpanExportResult.SUCCESS
    assert ledger.export(spans) is SpanExportResult.SUCCESS
    assert ledger.export(spans[1:2]) is SpanExportResult.SUCCESS
    rows = _rows(ledger.path)
    assert [r["cost_usd"] for r in rows] == ["0.0001", "0.0011", "0.0021"]
    ledger.shutdown()
    assert ledger.export(spans) is SpanExportResult.FAILURE  # after shutdown, as the SDK expects


def test_unwritable_path_fails_the_export_and_logs_once_with_the_path(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    ledger = LedgerSpanExporter(blocker / "ledger.db")
    memory = InMemorySpanExporter()
    llm_span(provider_with(memory).get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.1", inp=1, out=1)
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        results = [ledger.export(memory.get_finished_spans()) for _ in range(3)]
    assert results == [SpanExportResult.FAILURE] * 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert str(blocker / "ledger.db") in errors[0].getMessage()


def test_path_from_environment_then_xdg_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(s.ENV_LEDGER_PATH, str(tmp_path / "env.db"))
    assert LedgerSpanExporter().path == tmp_path / "env.db"
    assert LedgerSpanExporter(tmp_path / "arg.db").path == tmp_path / "arg.db"
    monkeypatch.delenv(s.ENV_LEDGER_PATH)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert LedgerSpanExporter().path == tmp_path / "xdg" / "otel-llm-cost" / "ledger.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_path() == tmp_path / "home" / ".local" / "share" / "otel-llm-cost" / "ledger.db"


def test_v1_ledger_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO llm_calls (end_time, end_time_unix_nano, model, input_tokens, cost_usd, "
                 "trace_id, span_id) VALUES ('2024-01-01T00:00:00.000000Z', 1704067200000000000, "
                 "'gpt-4', 10, '0.0003', 'aa', 'bb')")
    conn.commit()
    conn.close()

    provider = provider_with(LedgerSpanExporter(path))
    llm_span(provider.get_tracer("otel_llm_cost"), model="o3", cost="0.0082", inp=100, out=1000, reasoning=800,
             user="bob")
    provider.shutdown()
    old, new = _rows(path)
    assert (old["model"], old["cost_usd"], old["reasoning_tokens"], old["user_id"]) == ("gpt-4", "0.0003", 0, None)
    assert (new["model"], new["reasoning_tokens"], new["user_id"]) == ("o3", 800, "bob")
    # v3: the old row's cost was converted to pico-dollars by the migration, the new row's by the exporter
    assert (old["cost_pico"], new["cost_pico"]) == (300_000_000, 8_200_000_000)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION == 10
    indexes = [r[1] for r in conn.execute("PRAGMA index_list(llm_calls)")]
    assert {"llm_calls_end_time", "llm_calls_session", "llm_calls_user"} <= set(indexes)


def test_a_ledger_from_a_newer_version_is_refused_not_damaged(tmp_path: Path, caplog) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE llm_calls (x)")
    conn.execute(f"PRAGMA user_version = {CURRENT_VERSION + 1}")
    conn.commit()
    conn.close()
    ledger = LedgerSpanExporter(path)
    memory = InMemorySpanExporter()
    llm_span(provider_with(memory).get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.1", inp=1, out=1)
    with caplog.at_level(logging.ERROR, logger="otel_llm_cost"):
        assert ledger.export(memory.get_finished_spans()) is SpanExportResult.FAILURE
    assert "newer than this otel-llm-cost" in caplog.text and str(path) in caplog.text
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION + 1


def test_several_processes_writing_at_once_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # not created yet: the writers race to create and migrate it
    processes, per_process = 4, 500
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    workers = [ctx.Process(target=_writer.write, args=(str(path), p, per_process, barrier))
               for p in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * processes

    conn = sqlite3.connect(path)
    count, distinct = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT trace_id || span_id) FROM llm_calls").fetchone()
    assert count == distinct == processes * per_process
    per_service = dict(conn.execute("SELECT service, COUNT(*) FROM llm_calls GROUP BY service"))
    assert per_service == {f"worker-{p}": per_process for p in range(processes)}
    stored = sum((Decimal(c) for (c,) in conn.execute("SELECT cost_usd FROM llm_calls")), Decimal(0))
    expected = sum((_writer.cost_of(p, i) for p in range(processes) for i in range(per_process)), Decimal(0))
    assert stored == expected
    # 500 × 0.1 × (0+1+2+3) + 4 × 1e-5 × Σi + 2000 × 17e-12: the last digits survive.
    assert expected == Decimal("304.990000034")
    tokens = conn.execute("SELECT SUM(input_tokens) FROM llm_calls").fetchone()[0]
    assert tokens == processes * per_process * (per_process + 1) // 2


def test_a_forked_child_writes_through_its_own_connection(tmp_path: Path) -> None:
    """A pre-fork server: the parent has written (its connection is open), then forks."""
    import os

    path = tmp_path / "ledger.db"
    exporter = LedgerSpanExporter(path)
    provider = provider_with(exporter)
    tracer = provider.get_tracer("otel_llm_cost")
    llm_span(tracer, model="parent-before", cost="0.1")
    parent_conn = exporter._writer._conn
    assert parent_conn is not None
    pid = os.fork()
    if pid == 0:  # the child: one call, then leave without running the parent's exit hooks
        code = 1
        try:
            llm_span(tracer, model="child", cost="0.2")
            code = 0 if exporter._writer._conn is not parent_conn else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    llm_span(tracer, model="parent-after", cost="0.3")  # the parent's connection still works
    assert exporter._writer._conn is parent_conn
    provider.shutdown()
    assert sorted(r["model"] for r in _rows(path)) == ["child", "parent-after", "parent-before"]


def test_a_sqlite_ledger_locked_past_its_busy_timeout_spools_and_delivers(tmp_path: Path, caplog) -> None:
    """A SQLite file another process holds locked longer than the 10 s busy timeout (a
    ``VACUUM``, a long transaction) costs no row: the batch waits in the spool and the next
    export delivers it."""
    path, spool = tmp_path / "ledger.db", tmp_path / "spool"
    ledger = LedgerSpanExporter(path, spool_dir=spool)
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    tracer = provider.get_tracer("otel_llm_cost")
    for i in range(5):
        llm_span(tracer, model="gpt-4o", cost=f"0.00{i}1", inp=10, out=2, session=f"s{i}")
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    assert ledger.export(spans[:1]) is SpanExportResult.SUCCESS
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # as VACUUM holds it
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
        assert ledger.export(spans[1:4]) is SpanExportResult.FAILURE
    assert "locked" in caplog.text and str(spool) in caplog.text
    assert len(list(spool.glob("*.json"))) == 1 and (spool.stat().st_mode & 0o777) == 0o700
    holder.execute("ROLLBACK")
    holder.close()
    assert ledger.export(spans[4:]) is SpanExportResult.SUCCESS
    ledger.shutdown()
    assert ledger.counters == {"stored": 5, "quarantined": 0, "spooled": 3, "delivered": 3, "dropped": 0}
    assert not list(spool.glob("*.json"))
    with sqlite3.connect(path) as conn:
        count, pico = conn.execute("SELECT COUNT(*), SUM(cost_pico) FROM llm_calls").fetchone()
    assert (count, Decimal(pico).scaleb(-12)) == (5, sum(Decimal(f"0.00{i}1") for i in range(5)))
