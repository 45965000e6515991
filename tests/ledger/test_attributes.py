"""A call's allow-listed attributes in the ledger (schema 8): kept on the row, indexed in
``llm_call_attributes``, summed in the rollup dims ``attr:<name>`` in the rows' transaction,
taken out by prune, checked by ``ledger verify``; hostile values stored by the ledger's one
rule; and a version 7 ledger with rows migrated in place — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._rollup import stored, verify
from otel_llm_cost.ledger._schema import CURRENT_VERSION
from otel_llm_cost.ledger._store import open_store
from otel_llm_cost.ledger._values import DIGEST_MARK, storable

from ._spans import llm_span, provider_with, unix_nano
from ._sql import execute

_T0 = datetime(2025, 3, 10, tzinfo=UTC)
#: Values a caller may send as a tenant: over the ledger's length limit, with a NUL, with
#: a lone surrogate, quotes and JSON syntax.
LONG = "t" * 300 + "-end"
HOSTILE = [LONG, "ac\x00me", "bad\ud800x", '"},{"tenant":"x', "ÿ" * 257]


def _spans(tenants: list[Any]) -> list:
    memory = InMemorySpanExporter()
    provider = provider_with(memory)
    t = provider.get_tracer("otel_llm_cost")
    for i in range(60):
        attributes: dict[str, Any] = {"plan": ["free", "pro"][i % 2], "ignored": "not allow-listed"}
        tenant = tenants[i % len(tenants)]
        if tenant is not None:
            attributes["tenant"] = tenant
        llm_span(t, model="gpt-4o", cost=f"0.00{i:03d}17" if i % 5 else f"0.000000000000{i:03d}3",
                 inp=10, out=1, user=f"u{i % 3}", session=f"s{i % 4}",
                 end_ns=unix_nano(_T0) + int(i * 1.7 * 3600 * 1e9), attributes=attributes)
    provider.shutdown()
    return list(memory.get_finished_spans())


TENANTS = ["acme", "globex", None, *HOSTILE]


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request, tmp_path: Path) -> str:
    target = str(tmp_path / "ledger.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    spans = _spans(TENANTS)
    exporter = LedgerSpanExporter(target, attributes=["tenant", "plan", "user.id"])
    assert exporter.export(spans[:40]) is SpanExportResult.SUCCESS
    assert exporter.export(spans[30:]) is SpanExportResult.SUCCESS  # 10 spans twice: stored once
    assert exporter.counters["quarantined"] == 0
    exporter.shutdown()
    return target


def _query(target: str, sql: str) -> list[tuple]:
    with open_store(target) as store:
        return store.query(sql)


def _expected(tenant: str) -> Decimal:
    """What the calls of ``tenant`` (as the ledger stores it) cost."""
    total = Decimal(0)
    for i in range(60):
        value = TENANTS[i % len(TENANTS)]
        if value is not None and storable(value) == tenant:
            total += Decimal(f"0.00{i:03d}17" if i % 5 else f"0.000000000000{i:03d}3")
    return total


def test_rows_keep_the_allow_listed_attributes_and_the_index_and_rollups_follow(ledger: str, capsys) -> None:
    rows = _query(ledger, "SELECT attributes FROM llm_calls ORDER BY end_time_unix_nano")
    assert len(rows) == 60
    kept = [json.loads(text) if text else {} for (text,) in rows]
    assert kept[0] == {"plan": "free", "tenant": "acme"}
    assert kept[2] == {"plan": "free"}  # no tenant; "ignored" and user.id (a column) never kept
    assert all(set(k) <= {"plan", "tenant"} for k in kept)
    # Hostile values are stored as the ledger stores any text: over-long as prefix + digest.
    values = {k.get("tenant") for k in kept} - {None}
    assert values == {storable(v) for v in TENANTS if v is not None}
    assert storable(LONG) in values and DIGEST_MARK in storable(LONG) and len(storable(LONG)) == 256
    assert "acme" in values and "bad\ufffdx" in values  # NUL removed, surrogate replaced
    index = _query(ledger, "SELECT name, value FROM llm_call_attributes")
    assert len(index) == 60 + sum(1 for i in range(60) if TENANTS[i % len(TENANTS)] is not None)
    with open_store(ledger) as store:
        cells = stored(store.conn)
    by_tenant: dict[str, Decimal] = {}
    for (dim, _day, key), cell in cells.items():
        if dim == "attr:tenant":
            pico = Decimal(cell.sums[6] * 1_000_000 + cell.sums[7]).scaleb(-12)
            by_tenant[key] = by_tenant.get(key, Decimal(0)) + pico + (cell.rest or 0)
    assert by_tenant == {v: _expected(v) for v in values}
    assert {dim for dim, _d, _k in cells} == {"model", "provider", "user", "session", "service", "attr:tenant",
                                              "attr:plan"}
    assert main(["ledger", "verify", "--db", ledger]) == 0
    capsys.readouterr()


def test_verify_fails_on_a_tampered_attribute_rollup_or_index_and_prune_keeps_them_true(ledger: str,
                                                                                        capsys) -> None:
    execute(ledger, "UPDATE llm_rollup SET pico_lo = pico_lo + 1 WHERE dim = 'attr:tenant' AND key = 'globex' "
                     "AND day = '2025-03-10'")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    assert "attr:tenant/2025-03-10/globex: rows give" in capsys.readouterr().err
    execute(ledger, "UPDATE llm_rollup SET pico_lo = pico_lo - 1 WHERE dim = 'attr:tenant' AND key = 'globex' "
                     "AND day = '2025-03-10'")
    assert main(["ledger", "verify", "--db", ledger]) == 0
    execute(ledger, "DELETE FROM llm_call_attributes WHERE value = 'acme' AND end_time_unix_nano = "
                     f"{unix_nano(_T0)}")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    assert "llm_call_attributes: missing tenant='acme'" in capsys.readouterr().err
    execute(ledger, "INSERT INTO llm_call_attributes VALUES ('tenant', 'acme', "
                     f"{unix_nano(_T0)}, (SELECT trace_id FROM llm_calls ORDER BY end_time_unix_nano LIMIT 1), "
                     "(SELECT span_id FROM llm_calls ORDER BY end_time_unix_nano LIMIT 1))")
    execute(ledger, "INSERT INTO llm_call_attributes VALUES ('tenant', 'ghost', 5, 'no-trace', 'no-span')")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    assert "llm_call_attributes: 1 entries of no ledger row" in capsys.readouterr().err
    execute(ledger, "DELETE FROM llm_call_attributes WHERE value = 'ghost'")
    assert main(["ledger", "prune", "--before", (_T0 + timedelta(hours=50)).isoformat(), "--db", ledger]) == 0
    assert main(["ledger", "verify", "--db", ledger]) == 0
    [(left,)] = _query(ledger, "SELECT COUNT(*) FROM llm_call_attributes WHERE end_time_unix_nano < "
                               f"{unix_nano(_T0 + timedelta(hours=50))}")
    assert left == 0


def _as_version_7(target: str) -> None:
    """The ledger as schema 7 left it: no attributes column, index table or service dim (nor
    schema 9's hour cells and key totals)."""
    execute(target, "DROP TABLE llm_rollup_hour", "DROP TABLE llm_key_totals", "DROP TABLE llm_call_attributes",
            "ALTER TABLE llm_calls DROP COLUMN attributes",
            "DELETE FROM llm_rollup WHERE dim = 'service' OR dim LIKE 'attr:%'",
            "UPDATE llm_ledger_schema SET version = 7" if target.startswith("postgresql://")
            else "PRAGMA user_version = 7")


def test_a_version_7_ledger_with_rows_is_migrated_in_place(ledger: str, capsys) -> None:
    with open_store(ledger) as store:
        before = {k: v for k, v in stored(store.conn).items() if not k[0].startswith("attr:")}
        rows = store.query("SELECT trace_id, span_id, cost_usd, user_id FROM llm_calls ORDER BY trace_id, span_id")
    _as_version_7(ledger)
    assert main(["ledger", "verify", "--db", ledger]) == 1  # an older schema: says to migrate
    assert "run `otel-llm-cost ledger migrate`" in capsys.readouterr().err
    assert main(["ledger", "migrate", "--db", ledger]) == 0
    assert f"at schema version {CURRENT_VERSION}" in capsys.readouterr().out
    with open_store(ledger) as store:
        # Every row kept as it was; the service dim built from the rows equals what the
        # writers kept; rows from before have no attributes (nothing was recorded).
        assert store.query("SELECT trace_id, span_id, cost_usd, user_id FROM llm_calls "
                           "ORDER BY trace_id, span_id") == rows
        assert stored(store.conn) == before and any(k[0] == "service" for k in before)
        assert store.query("SELECT COUNT(*) FROM llm_calls WHERE attributes IS NOT NULL") == [(0,)]
        assert verify(store.conn, store.kind) == []
    # New calls are written with their attributes and summed from then on.
    exporter = LedgerSpanExporter(ledger, attributes=["tenant"])
    provider = provider_with(exporter)
    llm_span(provider.get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.25", inp=1, out=1,
             end_ns=unix_nano(_T0 + timedelta(days=9)), attributes={"tenant": "acme"})
    provider.shutdown()
    assert _query(ledger, "SELECT key, pico_hi FROM llm_rollup WHERE dim = 'attr:tenant'") == [("acme", 250000)]
    assert main(["ledger", "verify", "--db", ledger]) == 0


def test_the_allow_list_comes_from_the_ledger_setting_else_the_metric_one(monkeypatch) -> None:
    monkeypatch.delenv("OTEL_LLM_COST_LEDGER_ATTRIBUTES", raising=False)
    monkeypatch.setenv("OTEL_LLM_COST_METRIC_ATTRIBUTES", "tenant, user.id,plan")
    assert LedgerSpanExporter("/nonexistent/ledger.db").attributes == ("tenant", "plan")
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_ATTRIBUTES", "org.id,session.id")
    assert LedgerSpanExporter("/nonexistent/ledger.db").attributes == ("org.id",)
    monkeypatch.setenv("OTEL_LLM_COST_LEDGER_ATTRIBUTES", "")
    assert LedgerSpanExporter("/nonexistent/ledger.db").attributes == ()  # set empty: none


def test_a_batch_spooled_before_the_attributes_column_is_delivered(tmp_path: Path) -> None:
    """A spool file from a version whose rows had one column fewer is still delivered."""
    from otel_llm_cost.ledger._exporter import row_for

    [span] = _spans(["acme"])[:1]
    exporter = LedgerSpanExporter(tmp_path / "ledger.db", spool_dir=tmp_path / "spool", attributes=["tenant"])
    assert exporter.spool is not None
    exporter.spool.put([row_for(span)[:-1]])
    llm_span(provider_with(exporter).get_tracer("otel_llm_cost"), model="gpt-4o", cost="1", inp=1, out=1,
             attributes={"tenant": "acme"})
    assert exporter.counters["delivered"] == 1
    assert sorted(_query(str(tmp_path / "ledger.db"), "SELECT attributes FROM llm_calls"),
                  key=lambda r: r[0] or "") == [(None,), ('{"tenant":"acme"}',)]
    exporter.shutdown()
