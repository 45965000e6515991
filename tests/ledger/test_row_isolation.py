"""One value the database refuses costs at most its own row, on SQLite and PostgreSQL.

Each case is a batch of ordinary calls from other sessions with one hostile value among
them (a lone surrogate a gateway sent as the model, a NUL in a session id, a JWT-sized
user id, a cost of ``1e-17000``); before row isolation each one cost the whole batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._values import DIGEST_MARK, MAX_TEXT, storable

from ._spans import llm_span, provider_with

_JWT = "eyJhbGciOiJIUzI1NiJ9." + "x" * 3000 + ".sig"


def _batch(hostile: dict, calls: int = 20) -> list:
    """``calls`` spans, the 8th carrying the ``hostile`` keyword arguments."""
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    tracer = provider.get_tracer("otel_llm_cost")
    for i in range(calls):
        kwargs = {"model": "gpt-4o", "cost": "0.001", "inp": 10, "out": 2, "session": f"s{i}", "user": "u"}
        if i == 7:
            kwargs.update(hostile)
        llm_span(tracer, **kwargs)
    provider.shutdown()
    return list(memory.get_finished_spans())


def _rows(target: str | Path, table: str = "llm_calls") -> list[dict]:
    if isinstance(target, str):
        with psycopg.connect(target) as conn:
            cur = conn.execute(f"SELECT * FROM {table} ORDER BY id")
            names = [d.name for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn = sqlite3.connect(target)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
    finally:
        conn.close()


HOSTILE = {
    "surrogate-model": {"model": "gpt-4o\ud800"},
    "nul-model": {"model": "gpt-4o\x00"},
    "nul-session": {"session": "sess\x00ion"},
    "jwt-user": {"user": _JWT},
    "jwt-session": {"session": _JWT},
    "tiny-cost": {"cost": "1e-17000"},
    "huge-exponent-cost": {"cost": "1e+999990"},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path: Path) -> str | Path:
    if request.param == "sqlite":
        return tmp_path / "ledger.db"
    return request.getfixturevalue("pg_url")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_one_hostile_value_costs_no_other_row(case: str, target, caplog) -> None:
    ledger = LedgerSpanExporter(target)
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        assert ledger.export(_batch(HOSTILE[case])) is SpanExportResult.SUCCESS
    ledger.shutdown()
    rows = _rows(target)
    assert len(rows) == 20, f"{len(rows)} of 20 calls stored"
    assert ledger.counters["stored"] == 20 and ledger.counters["quarantined"] == 0
    assert "not writable" not in caplog.text and "cannot write" not in caplog.text
    odd = rows[7]
    for column in ("model", "session_id", "user_id"):
        assert "\x00" not in odd[column] and len(odd[column]) <= MAX_TEXT
    if case == "surrogate-model":
        assert odd["model"] == "gpt-4o\ufffd"
    if case.startswith("jwt"):
        column = "user_id" if case == "jwt-user" else "session_id"
        assert odd[column] == storable(_JWT) and DIGEST_MARK in odd[column]
        assert odd[column].startswith(_JWT[:100])
    if case.endswith("cost"):
        assert odd["cost_usd"] is None  # out of the declared range: unknown, never a huge number
    else:
        assert Decimal(odd["cost_usd"]) == Decimal("0.001")


def test_a_long_session_id_is_found_by_the_id_the_application_knows(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ledger.db"
    ledger = LedgerSpanExporter(path)
    assert ledger.export(_batch({"session": _JWT})) is SpanExportResult.SUCCESS
    ledger.shutdown()
    assert main(["session", _JWT, "--db", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["calls"] == 1 and data["session"] == storable(_JWT)
    assert main(["report", "--db", str(path), "--by", "session", "--format", "json"]) == 0
    keys = {g["session"] for g in json.loads(capsys.readouterr().out)["groups"]}
    assert storable(_JWT) in keys


def test_a_row_that_still_fails_is_quarantined_with_its_reason(target, caplog) -> None:
    # A span that ended after 2262 (a broken clock): its end time fits no 64-bit column,
    # and it is not ours to change. The row is kept aside with the reason; the other 19
    # are stored.
    ledger = LedgerSpanExporter(target)
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
        assert ledger.export(_batch({"end_ns": 2**63 + 10**6, "session": "the-odd-one"})) is SpanExportResult.SUCCESS
    ledger.shutdown()
    rows = _rows(target)
    assert len(rows) == 19 and "the-odd-one" not in {r["session_id"] for r in rows}
    [kept] = _rows(target, "llm_quarantine")
    assert kept["reason"] and kept["span_id"] and len(kept["trace_id"]) == 32
    row = json.loads(kept["row_json"])
    assert row["session_id"] == "the-odd-one" and row["end_time_unix_nano"] == "<integer of 64 bits>"
    assert ledger.counters["quarantined"] == 1 and ledger.counters["stored"] == 19
    assert "refused 1 of 20 rows" in caplog.text and "llm_quarantine" in caplog.text


def test_a_span_whose_row_cannot_be_built_is_quarantined_not_the_batch(tmp_path: Path) -> None:
    # An end time past datetime's range: the row cannot even be built.
    path = tmp_path / "ledger.db"
    ledger = LedgerSpanExporter(path)
    assert ledger.export(_batch({"end_ns": 10**30})) is SpanExportResult.SUCCESS
    ledger.shutdown()
    assert len(_rows(path)) == 19
    [kept] = _rows(path, "llm_quarantine")
    assert json.loads(kept["row_json"])["end_time_unix_nano"] == "<integer of 100 bits>"
    assert ledger.counters["quarantined"] == 1 and ledger.counters["stored"] == 19
