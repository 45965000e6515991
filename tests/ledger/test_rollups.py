"""Per-day and per-hour rollups: kept exact by the writers and by prune, built by migrate,
checked by ``ledger verify``, and read by the report — which must print what a scan of
every row prints, on SQLite and on PostgreSQL."""

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
from otel_llm_cost.ledger import LedgerSpanExporter, _keys
from otel_llm_cost.ledger._render import render
from otel_llm_cost.ledger._report import load_report
from otel_llm_cost.ledger._rollup import (
    DAY,
    GRAINS,
    HOUR,
    ROLLUP_SQLITE,
    batches,
    rebuild,
    recompute,
    spend,
    stored,
    verify,
)
from otel_llm_cost.ledger._schema import CURRENT_VERSION
from otel_llm_cost.ledger._store import open_store

from ._spans import llm_span, provider_with, unix_nano
from ._sql import execute

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
#: More windows that start mid-day: on a whole hour (no rows read, hours only), in the
#: day's last hour (rows only, no whole hour), and a second after midnight; and windows of
#: calls within a day (charted per hour: hour cells and a partial first hour's rows).
MORE_SINCES = [_T0 + timedelta(hours=30), _T0 + timedelta(hours=47, minutes=30),
               _T0 + timedelta(days=2, seconds=1), _T0 + timedelta(hours=90), _T0 + timedelta(hours=90, minutes=30),
               _T0 + timedelta(hours=95, minutes=1)]


@pytest.mark.parametrize("by", ["model", "provider", "user", "session", "day"])
def test_the_report_from_rollups_is_the_report_from_rows(ledger: str, by: str) -> None:
    for since in SINCES + MORE_SINCES:
        fast = load_report(ledger, by, since)
        slow = load_report(ledger, by, since, exact=True)
        assert fast.source == "rollups"
        assert fast.bucket == ("hour" if since is not None and since >= SINCES[-1] else "day")  # within a day
        assert fast.total.calls > 0
        for fmt in ("json", "csv", "table"):
            assert render(fast, fmt) == render(slow, fmt), (by, since, fmt)
    total = load_report(ledger, by).total
    assert total.calls == 120 and total.unpriced == 20 and total.failed == 20 and total.estimated == 20


def test_a_cell_sum_past_64_bits_gives_way_to_the_rows(ledger: str) -> None:
    """Cells whose sum no 64-bit integer holds (only a tampered ledger has them: 9.2·10¹²
    USD): SQLite raises, PostgreSQL's cast back to bigint raises, and the report adds the
    rows' decimals instead — the rows' exact totals, never a wrapped or rounded sum."""
    execute(ledger, f"UPDATE llm_rollup SET pico_hi = pico_hi + {2**62} WHERE dim = 'provider'")
    for by in ("provider", "model"):
        report = load_report(ledger, by, SINCES[1])
        assert report.source == "rows"
        assert render(report, "json") == render(load_report(ledger, by, SINCES[1], exact=True), "json")


def test_verify_after_writes_prune_and_tampering(ledger: str, capsys) -> None:
    assert main(["ledger", "verify", "--db", ledger]) == 0
    assert "equal the sums of the 120 rows" in capsys.readouterr().out
    assert main(["ledger", "prune", "--before", (_T0 + timedelta(hours=40)).isoformat(), "--db", ledger]) == 0
    assert main(["ledger", "verify", "--db", ledger]) == 0
    assert load_report(ledger, "user").total.calls == load_report(ledger, "user", exact=True).total.calls == 70
    execute(ledger, "UPDATE llm_rollup SET pico_lo = pico_lo + 1 WHERE dim = 'user' AND key = 'u1' "
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
    conn.execute("DROP TABLE llm_rollup_hour")
    conn.execute("DROP TABLE llm_key_totals")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    assert load_report(path, "model").source == "rows"  # read as it is, never migrated by a report
    assert main(["ledger", "migrate", "--db", str(path)]) == 0
    assert main(["ledger", "verify", "--db", str(path)]) == 0
    assert load_report(path, "model").source == "rollups"
    conn = sqlite3.connect(path)
    for grain in GRAINS:
        assert stored(conn, grain) == recompute(conn, "sqlite", grain) and stored(conn, grain)
    conn.close()


def test_a_version_6_ledger_is_rekeyed_in_place_with_its_cells_unchanged(ledger: str, capsys) -> None:
    """Schema 7 keys the rollups by (dim, key, day) (SQLite: the table's order; PostgreSQL:
    an index) and indexes the decimal rests; the migration keeps every cell as it was (and
    schema 8's step builds the service dim from the rows: the cells the writers kept)."""
    with open_store(ledger) as store:
        before = stored(store.conn)
    execute(ledger, "DELETE FROM llm_rollup WHERE dim = 'service'")  # not in schema 6 (nor 7)
    execute(ledger, "DROP TABLE llm_call_attributes")
    execute(ledger, "ALTER TABLE llm_calls DROP COLUMN attributes")
    if ledger.startswith("postgresql://"):
        with psycopg.connect(ledger, autocommit=True) as conn:  # as version 6 left it
            conn.execute("DROP TABLE llm_rollup_hour")
            conn.execute("DROP TABLE llm_key_totals")
            conn.execute("DROP INDEX llm_rollup_key")
            conn.execute("DROP INDEX llm_rollup_rest")
            conn.execute("UPDATE llm_ledger_schema SET version = 6")
    else:
        conn = sqlite3.connect(ledger)
        conn.execute("DROP TABLE llm_rollup_hour")
        conn.execute("DROP TABLE llm_key_totals")
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
        kept_hours = {cell: value for cell, value in stored(store.conn, HOUR).items()
                      if not cell[1].startswith("2025-03-11")}
        day_ns = 86_400 * 10**9
        assert [lo // day_ns for lo, _ in batches(store.conn)] == [
            unix_nano(_T0 + timedelta(days=d)) // day_ns for d in (0, 2, 3)]
        if store.kind == "postgresql":
            with store.conn.transaction():
                assert rebuild(store.conn, store.kind) == len(kept)
                assert rebuild(store.conn, store.kind, HOUR) == len(kept_hours)
        else:
            store.conn.execute("BEGIN IMMEDIATE")
            assert rebuild(store.conn, store.kind) == len(kept)
            assert rebuild(store.conn, store.kind, HOUR) == len(kept_hours)
            store.conn.execute("COMMIT")
        assert stored(store.conn) == kept and stored(store.conn, HOUR) == kept_hours
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


def test_hour_cells_are_kept_by_writes_and_prune_and_checked_by_verify(ledger: str, capsys) -> None:
    """``llm_rollup_hour`` (schema 9): the writers' cells are the rows' sums per UTC hour, in
    the rows' transaction (a span exported twice counted once); prune takes its rows out;
    ``ledger verify`` recomputes them and names a tampered hour."""
    with open_store(ledger) as store:
        hours, days = stored(store.conn, HOUR), stored(store.conn, DAY)
        assert hours == recompute(store.conn, store.kind, HOUR)
        assert {cell[1] for cell in hours} == {f"{(_T0 + timedelta(hours=i * 0.8)):%Y-%m-%dT%H}" for i in range(120)}
        for dim in ("model", "provider", "user", "session"):  # the hours of a day add up to the day
            for (d, day, key), cell in days.items():
                if d == dim:
                    calls = sum(c.sums[0] for (hd, hour, hk), c in hours.items()
                                if hd == dim and hk == key and hour.startswith(day))
                    assert calls == cell.sums[0], (dim, day, key)
    assert main(["ledger", "prune", "--before", (_T0 + timedelta(hours=40, minutes=30)).isoformat(),
                 "--db", ledger]) == 0
    with open_store(ledger) as store:
        hours = stored(store.conn, HOUR)
        assert hours == recompute(store.conn, store.kind, HOUR)
        assert min(cell[1] for cell in hours) == "2025-03-11T16"  # 40.8 h: the first call kept
    assert main(["ledger", "verify", "--db", ledger]) == 0
    capsys.readouterr()
    execute(ledger, "UPDATE llm_rollup_hour SET calls = calls + 1 WHERE dim = 'session' AND key = 's1' "
                     "AND hour = (SELECT MIN(hour) FROM llm_rollup_hour WHERE dim = 'session' AND key = 's1')")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    err = capsys.readouterr().err
    assert "1 rollup(s) differ" in err and "session/2025-03-1" in err and "T" in err.split("session/")[1][:14]


def test_a_version_8_ledger_gets_its_hour_cells_and_key_totals_built(ledger: str, capsys) -> None:
    """The v8 → v9 step builds ``llm_rollup_hour`` from the rows (one day per statement) and
    ``llm_key_totals`` from the day cells, leaves the day cells as they were, and reports
    read them; until then a report reads the unmigrated ledger as it is (rows for the
    edge, the top sessions ranked from the cells)."""
    with open_store(ledger) as store:
        days, hours = stored(store.conn), stored(store.conn, HOUR)
    execute(ledger, "DROP TABLE llm_rollup_hour")
    execute(ledger, "DROP TABLE llm_key_totals")
    if ledger.startswith("postgresql://"):
        execute(ledger, "UPDATE llm_ledger_schema SET version = 8")
    else:
        execute(ledger, "PRAGMA user_version = 8")
    reference = {(by, top): render(load_report(ledger, by, SINCES[2], exact=True, top=top), "json")
                 for by in ("model", "session") for top in (None, 2)}
    for (by, top), text in reference.items():  # read as version 8: day cells, the partial day from rows
        assert render(load_report(ledger, by, SINCES[2], top=top), "json") == text
    assert main(["ledger", "verify", "--db", ledger]) == 0  # the day cells only
    assert main(["ledger", "migrate", "--db", ledger]) == 0
    assert f"at schema version {CURRENT_VERSION}" in capsys.readouterr().out
    with open_store(ledger) as store:
        assert "llm_rollup_hour" in store.tables
        assert stored(store.conn) == days and stored(store.conn, HOUR) == hours and len(hours) > 100
        assert {dim for dim, _, _ in hours} == {"model", "provider", "user", "session", "service"}
        # Keys: 3 models, 2 providers, 5 users and 10 sessions (each with "(none)"), 1 service.
        assert _keys.stored(store.conn) == _keys.expected(days) and len(_keys.stored(store.conn)) == 3 + 2 + 5 + 10 + 1
    assert main(["ledger", "verify", "--db", ledger]) == 0
    for (by, top), text in reference.items():
        assert render(load_report(ledger, by, SINCES[2], top=top), "json") == text


def test_key_totals_are_kept_by_writes_and_prune_and_checked_by_verify(ledger: str, capsys) -> None:
    """``llm_key_totals`` (schema 9): each key's first and last day, calls and normalised
    pico-dollar cost are what its day cells add up to, after writes (a span exported twice
    counted once) and after prune (a key whose calls are all pruned is gone, the others'
    first day moves); ``ledger verify`` names a tampered key."""
    with open_store(ledger) as store:
        keys = _keys.stored(store.conn)
        assert keys == _keys.expected(recompute(store.conn, store.kind))
        assert keys[("session", "s1")][:3] == ("2025-03-10", "2025-03-13", 14)
        assert all(0 <= lo < 10**6 for *_, lo in keys.values())
    assert main(["ledger", "prune", "--before", (_T0 + timedelta(hours=50)).isoformat(), "--db", ledger]) == 0
    with open_store(ledger) as store:
        keys = _keys.stored(store.conn)
        assert keys == _keys.expected(recompute(store.conn, store.kind))
        assert keys[("session", "s1")][:3] == ("2025-03-12", "2025-03-13", 7)
        assert sum(total[2] for (dim, _), total in keys.items() if dim == "model") == 57
    assert main(["ledger", "verify", "--db", ledger]) == 0
    capsys.readouterr()
    execute(ledger, "UPDATE llm_key_totals SET pico_lo = pico_lo + 1 WHERE dim = 'user' AND key = 'u2'")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    assert "key user/u2: rows give" in capsys.readouterr().err


def test_the_top_keys_walk_stops_early_and_gives_up_when_it_would_read_too_much(ledger: str) -> None:
    """``_keys.top_keys`` ranks a window's keys from their lifetime totals: the same keys and
    count as ranking the window's cells, and None (the report then ranks the cells) when
    more keys than its budget would have to be read."""
    with open_store(ledger) as store:
        for day in (None, "2025-03-11", "2025-03-12", "2025-03-13"):
            for dim in ("session", "user", "model"):
                cells: dict[str, tuple[int, int]] = {}
                for (d, cell_day, key), cell in stored(store.conn).items():
                    if d == dim and (day is None or cell_day >= day):
                        pico, calls = cells.get(key, (0, 0))
                        cells[key] = (pico + cell.sums[6] * 10**6 + cell.sums[7], calls + cell.sums[0])
                order = sorted(cells, key=lambda k: (-cells[k][0], -cells[k][1], k or "(none)"))
                for top in (1, 3):
                    assert _keys.top_keys(store, dim, day, top) == (order[:top], len(cells)), (day, dim, top)
        assert _keys.top_keys(store, "session", "2025-03-13", 3, budget=4) is None


def _rebuilt(ledger: str) -> None:
    """Every rollup rebuilt from the rows, as ``ledger migrate`` builds them."""
    with open_store(ledger, write=True) as store:
        if store.kind == "postgresql":
            with store.conn.transaction():
                for grain in GRAINS:
                    rebuild(store.conn, store.kind, grain)
        else:
            store.conn.execute("BEGIN IMMEDIATE")
            for grain in GRAINS:
                rebuild(store.conn, store.kind, grain)
            store.conn.execute("COMMIT")


def test_verify_goes_day_by_day_and_files_a_row_under_the_day_its_end_time_names(ledger: str, capsys) -> None:
    """``ledger verify`` compares one UTC day at a time (so that it never holds every cell of
    a big ledger). A row whose ``end_time`` text names another day than its unix time adds to
    that day's cells, as the writers and ``rebuild`` file it: verify holds its cells for that
    day — one with rows of its own, and one with none — and agrees with a rebuild; it still
    names a tampered cell of such a day, a cell of a day without rows, and a missing key."""
    first = _T0 + timedelta(hours=1)
    execute(ledger,
            # A row of the first day filed under the third (which has rows of its own) ...
            "UPDATE llm_calls SET end_time = '2025-03-12' || substr(end_time, 11) WHERE end_time_unix_nano = "
            f"(SELECT MIN(end_time_unix_nano) FROM llm_calls WHERE end_time_unix_nano >= {unix_nano(first)})",
            # ... and one of the last day under a day that has no rows at all.
            "UPDATE llm_calls SET end_time = '2025-03-20' || substr(end_time, 11) WHERE end_time_unix_nano = "
            "(SELECT MAX(end_time_unix_nano) FROM llm_calls)")
    assert main(["ledger", "verify", "--db", ledger]) == 2  # the rollups still hold them where they were
    capsys.readouterr()
    _rebuilt(ledger)
    with open_store(ledger) as store:
        assert verify(store.conn, store.kind) == []
        assert any(day == "2025-03-20" for _, day, _ in stored(store.conn))
        assert {day for _, day, _ in stored(store.conn)} == {day for _, day, _ in recompute(store.conn, store.kind)}
    execute(ledger, "UPDATE llm_rollup SET calls = calls + 1 WHERE dim = 'model' AND day = '2025-03-20'",
            "UPDATE llm_rollup_hour SET calls = calls + 1 WHERE dim = 'user' AND hour LIKE '2025-03-12T%'",
            "INSERT INTO llm_rollup (dim, key, day, calls) VALUES ('user', 'ghost', '2025-04-01', 3)",
            "DELETE FROM llm_key_totals WHERE dim = 'provider'")
    assert main(["ledger", "verify", "--db", ledger]) == 2
    err = capsys.readouterr().err
    assert "model/2025-03-20/" in err and "user/2025-03-12T" in err
    assert "user/2025-04-01/ghost: rows give nothing" in err
    assert "key provider/" in err and "the rollup holds nothing" in err


def test_key_totals_are_read_a_page_at_a_time(ledger: str) -> None:
    with open_store(ledger) as store:
        whole = _keys.stored(store.conn)
        paged = list(_keys.stored_pages(store.conn, store.kind, page=3))
    assert len(whole) > 10 and dict(paged) == whole and len(paged) == len(whole)
