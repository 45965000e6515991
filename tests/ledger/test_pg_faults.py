"""A shared ledger whose server restarts, drops idle connections, freezes or is away:
nothing is lost, nothing waits for ever (against real PostgreSQL servers of the test's own).

Rows stored / spooled / delivered / dropped are asserted in each case from the exporter's
counters and the table itself.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path

import psycopg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.ledger import LedgerSpanExporter

from ._spans import llm_span, provider_with


def _spans(n: int, tag: str) -> list:
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    tracer = provider.get_tracer("otel_llm_cost")
    for i in range(n):
        llm_span(tracer, model="gpt-4o", cost="0.001", inp=10, out=2, session=f"{tag}-{i}")
    provider.shutdown()
    return list(memory.get_finished_spans())


def _count(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM llm_calls").fetchone()[0]


def _database(cluster) -> str:
    with psycopg.connect(f"{cluster.url}/postgres", autocommit=True) as conn:
        conn.execute('CREATE DATABASE "faults"')
    return f"{cluster.url}/faults"


def test_a_server_restart_loses_no_batch(pg_cluster, tmp_path: Path) -> None:
    url = _database(pg_cluster)
    ledger = LedgerSpanExporter(url, spool_dir=tmp_path / "spool")
    results = [ledger.export(_spans(3, "before"))]
    pg_cluster.stop("fast")
    pg_cluster.start()
    # The exporter still holds the connection the restart cut: the batch is written again on
    # a new one, not lost (6 of 9 were stored before).
    results += [ledger.export(_spans(3, f"after-{n}")) for n in range(2)]
    ledger.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 3
    assert _count(url) == 9
    assert ledger.counters == {"stored": 9, "quarantined": 0, "spooled": 0, "delivered": 0, "dropped": 0}


def test_idle_session_timeout_drops_no_batch(pg_url: str, tmp_path: Path) -> None:
    # What managed databases, pgbouncer and NAT time-outs do to a quiet service: the server
    # closes a connection idle for 1 s; a call every 1.5 s (3 of 6 were stored before).
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{pg_url.rsplit('/', 1)[1]}\" SET idle_session_timeout = '1s'")
    ledger = LedgerSpanExporter(pg_url, spool_dir=tmp_path / "spool")
    results = []
    for n in range(6):
        if n:
            time.sleep(1.5)
        results.append(ledger.export(_spans(1, f"call-{n}")))
    ledger.shutdown()
    assert results == [SpanExportResult.SUCCESS] * 6
    assert _count(pg_url) == 6
    assert ledger.counters["stored"] == 6 and ledger.counters["spooled"] == 0


def test_a_frozen_server_holds_neither_shutdown_nor_a_row(pg_cluster, tmp_path: Path, caplog) -> None:
    url = _database(pg_cluster)
    spool = tmp_path / "spool"
    ledger = LedgerSpanExporter(url, spool_dir=spool, write_timeout=2.0)
    provider = TracerProvider(resource=Resource.create({"service.name": "frozen"}))
    provider.add_span_processor(BatchSpanProcessor(ledger, schedule_delay_millis=60_000, max_export_batch_size=4))
    tracer = provider.get_tracer("otel_llm_cost")
    assert ledger.export(_spans(2, "warm")) is SpanExportResult.SUCCESS  # connected, then
    pids = pg_cluster.freeze()  # the server stops answering on its open connection
    try:
        for i in range(10):
            llm_span(tracer, model="gpt-4o", cost="0.001", inp=10, out=2, session=f"frozen-{i}")
        done = threading.Event()
        with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
            worker = threading.Thread(target=lambda: (provider.shutdown(), done.set()), daemon=True)
            worker.start()
            # A liveness check, not a timing one: before, shutdown was still blocked after 50 s.
            assert done.wait(120), "TracerProvider.shutdown() blocked on a frozen database"
    finally:
        pg_cluster.thaw(pids)
    counters = ledger.counters
    assert counters["spooled"] == 10 and counters["dropped"] == 0, counters
    assert "they wait in" in caplog.text
    # Owner-only, whatever the umask: the spool holds user and session ids.
    assert stat.S_IMODE(os.stat(spool).st_mode) == 0o700
    files = list(spool.glob("*.json"))
    assert files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    # Back: the next export (of any process writing there) delivers the spool, exactly once
    # each, though the frozen connection may itself have committed a batch after the thaw.
    later = LedgerSpanExporter(url, spool_dir=spool)
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
        assert later.export(_spans(1, "after")) is SpanExportResult.SUCCESS
    later.shutdown()
    assert _count(url) == 2 + 10 + 1
    assert later.counters["delivered"] == 10 and not list(spool.glob("*.json"))


def test_a_server_that_is_away_spools_within_its_bound_and_delivers(pg_cluster, tmp_path: Path, caplog,
                                                                    monkeypatch) -> None:
    url = _database(pg_cluster)
    spool = tmp_path / "spool"
    ledger = LedgerSpanExporter(url, spool_dir=spool)
    assert ledger.export(_spans(1, "up")) is SpanExportResult.SUCCESS
    pg_cluster.stop("fast")
    first = _spans(5, "down")
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        assert ledger.export(first) is SpanExportResult.FAILURE
        size = sum(f.stat().st_size for f in spool.glob("*.json"))
        # A bound just over what is there: the next batch does not fit and is dropped, counted, logged.
        ledger.spool.max_bytes = size + 10  # type: ignore[union-attr]
        assert ledger.export(_spans(5, "over")) is SpanExportResult.FAILURE
    assert ledger.counters == {"stored": 1, "quarantined": 0, "spooled": 5, "delivered": 0, "dropped": 5}
    assert "DROPPED" in caplog.text or "dropped" in caplog.text
    pg_cluster.start()
    ledger._writer._next_attempt = 0.0  # type: ignore[attr-defined]  # skip the 5 s back-off
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
        assert ledger.export(_spans(1, "back")) is SpanExportResult.SUCCESS
    ledger.shutdown()
    assert _count(url) == 1 + 5 + 1
    assert ledger.counters == {"stored": 7, "quarantined": 0, "spooled": 5, "delivered": 5, "dropped": 5}
    assert "answers again" in caplog.text
