"""``otel-llm-cost ledger prune``: old calls go, while writer processes keep writing."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._prune import prune
from otel_llm_cost.ledger._report import load_report

from . import _writer
from ._spans import llm_span, provider_with, unix_nano

_NOW = datetime.now(UTC)


def _seed(target: str, old: int, recent: int) -> None:
    """``old`` calls 100-101 days ago at 0.001 USD each, ``recent`` calls 1 day ago at 0.5."""
    memory = InMemorySpanExporter()
    tracer = provider_with(memory).get_tracer("otel_llm_cost")
    for i in range(old):
        llm_span(tracer, model="gpt-4o", cost="0.001", inp=1, out=1,
                 end_ns=unix_nano(_NOW - timedelta(days=100, seconds=i)))
    for i in range(recent):
        llm_span(tracer, model="gpt-4o", cost="0.5", inp=1, out=1,
                 end_ns=unix_nano(_NOW - timedelta(days=1, seconds=i)))
    exporter = LedgerSpanExporter(target)
    exporter.export(memory.get_finished_spans())
    exporter.shutdown()


def _prune_while_writing(target: str) -> int:
    """Prune in many small transactions while two processes write 400 calls each."""
    processes, per_process = 2, 400
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    workers = [ctx.Process(target=_writer.write, args=(target, 10 + p, per_process, barrier))
               for p in range(processes)]
    for w in workers:
        w.start()
    barrier.wait()  # the writers are writing now
    deleted = prune(target, _NOW - timedelta(days=90), batch=50).deleted
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0] * processes
    return deleted


def test_prune_on_sqlite_while_writers_run_loses_no_new_call(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    _seed(str(path), old=3_000, recent=20)
    assert _prune_while_writing(str(path)) == 3_000
    conn = sqlite3.connect(path)
    by_service = dict(conn.execute("SELECT service, COUNT(*) FROM llm_calls GROUP BY service"))
    assert by_service == {"test-svc": 20, "worker-10": 400, "worker-11": 400}
    oldest = conn.execute("SELECT MIN(end_time_unix_nano) FROM llm_calls").fetchone()[0]
    assert oldest >= unix_nano(_NOW - timedelta(days=2))
    report = load_report(path, "model", _NOW - timedelta(days=30))
    expected = Decimal("10") + sum((_writer.cost_of(p, i) for p in (10, 11) for i in range(400)), Decimal(0))
    assert report.total.cost == expected and report.total.calls == 820


def test_prune_vacuum_gives_space_back_and_later_prunes_do_it_incrementally(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ledger.db"
    _seed(str(path), old=4_000, recent=10)
    size = path.stat().st_size
    assert main(["ledger", "prune", "--before", "90d", "--db", str(path), "--vacuum"]) == 0
    assert "deleted 4,000 calls that ended before" in capsys.readouterr().out
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental from now on
    assert path.stat().st_size < size / 4
    conn.close()

    _seed(str(path), old=4_000, recent=0)
    assert main(["ledger", "prune", "--before", "90d", "--db", str(path)]) == 0
    assert "deleted 4,000 calls" in capsys.readouterr().out
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM llm_calls").fetchone()[0] == 10


def test_prune_on_postgres_while_writers_run(pg_url: str, capsys) -> None:
    _seed(pg_url, old=3_000, recent=20)
    assert _prune_while_writing(pg_url) == 3_000
    with psycopg.connect(pg_url) as conn:
        by_service = dict(conn.execute("SELECT service, COUNT(*) FROM llm_calls GROUP BY service").fetchall())
    assert by_service == {"test-svc": 20, "worker-10": 400, "worker-11": 400}
    assert main(["ledger", "prune", "--before", "90d", "--db", pg_url, "--vacuum"]) == 0
    out = capsys.readouterr().out
    assert "deleted 0 calls" in out and "820 kept; vacuumed" in out


def test_prune_of_a_missing_ledger_is_an_error_naming_it(tmp_path: Path, capsys) -> None:
    assert main(["ledger", "prune", "--before", "90d", "--db", str(tmp_path / "none.db")]) == 1
    assert f"no ledger at {tmp_path / 'none.db'}" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
