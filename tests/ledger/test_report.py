"""``otel-llm-cost report``: every --by in every format, exact totals, --since, errors."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.cli import main
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._report import parse_since
from otel_llm_cost.ledger._schema import SCHEMA_V1

from ._spans import llm_span, provider_with, unix_nano

_T0 = datetime(2025, 3, 10, tzinfo=UTC)


def _at(hours: float) -> int:
    return unix_nano(_T0 + timedelta(hours=hours)) if hours == int(hours) else \
        unix_nano(_T0 + timedelta(hours=int(hours))) + int((hours % 1) * 3600) * 1_000_000_000


@pytest.fixture(scope="module")
def ledger(tmp_path_factory) -> Path:
    """Six calls over three days: priced, estimated, unknown model, a failure, reasoning."""
    path = tmp_path_factory.mktemp("report") / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    t = provider.get_tracer("otel_llm_cost")
    llm_span(t, model="gpt-4o", cost="0.00405", inp=1000, out=200, cache_read=400,
             user="alice", session="s1", end_ns=_at(10))
    llm_span(t, model="gpt-4o", cost="0.00175", inp=500, out=50, source=s.SOURCE_ESTIMATED,
             user="bob", session="s2", end_ns=_at(11.5))
    llm_span(t, model="claude-sonnet-4-5", provider="anthropic", cost="0.01275", inp=2000, out=300,
             cache_write=1000, user="alice", session="s1", end_ns=_at(24 + 9))
    llm_span(t, model="my-custom-model", provider="anthropic", inp=100, out=10,
             user="alice", session="s1", end_ns=_at(24 + 9.25))
    llm_span(t, model="gpt-4o-mini", inp=None, error="RateLimitError", status=s.STATUS_NO_USAGE,
             end_ns=_at(48 + 8))
    llm_span(t, model="o3", cost="0.0082", inp=100, out=1000, reasoning=800,
             user="bob", session="s2", end_ns=_at(48 + 9))
    provider.shutdown()
    return path


def _run(capsys, *args: str) -> str:
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


#: --by → [(key, calls, input, output, cache_read, cache_write, reasoning, cost, unpriced, estimated, failed)]
_EXPECTED = {
    "model": [
        ("claude-sonnet-4-5", 1, 2000, 300, 0, 1000, 0, "0.01275", 0, 0, 0),
        ("o3", 1, 100, 1000, 0, 0, 800, "0.0082", 0, 0, 0),
        ("gpt-4o", 2, 1500, 250, 400, 0, 0, "0.0058", 0, 1, 0),
        ("gpt-4o-mini", 1, 0, 0, 0, 0, 0, "0", 0, 0, 1),  # failed, no usage: cost nothing
        ("my-custom-model", 1, 100, 10, 0, 0, 0, None, 1, 0, 0),  # no number: never a made-up 0
    ],
    "provider": [
        ("openai", 4, 1600, 1250, 400, 0, 800, "0.014", 0, 1, 1),
        ("anthropic", 2, 2100, 310, 0, 1000, 0, "0.01275", 1, 0, 0),
    ],
    "user": [
        ("alice", 3, 3100, 510, 400, 1000, 0, "0.0168", 1, 0, 0),
        ("bob", 2, 600, 1050, 0, 0, 800, "0.00995", 0, 1, 0),
        ("(none)", 1, 0, 0, 0, 0, 0, "0", 0, 0, 1),
    ],
    "session": [
        ("s1", 3, 3100, 510, 400, 1000, 0, "0.0168", 1, 0, 0),
        ("s2", 2, 600, 1050, 0, 0, 800, "0.00995", 0, 1, 0),
        ("(none)", 1, 0, 0, 0, 0, 0, "0", 0, 0, 1),
    ],
    "day": [
        ("2025-03-10", 2, 1500, 250, 400, 0, 0, "0.0058", 0, 1, 0),
        ("2025-03-11", 2, 2100, 310, 0, 1000, 0, "0.01275", 1, 0, 0),
        ("2025-03-12", 1 + 1, 100, 1000, 0, 0, 800, "0.0082", 0, 0, 1),
    ],
}
_TOTAL = (6, 3700, 1560, 400, 1000, 800, "0.02675", 1, 1, 1)


@pytest.mark.parametrize("by", sorted(_EXPECTED))
def test_csv_by(by: str, ledger: Path, capsys) -> None:
    rows = list(csv.reader(io.StringIO(_run(capsys, "--db", str(ledger), "--by", by, "--format", "csv"))))
    assert rows[0] == [by, "calls", "input_tokens", "output_tokens", "cache_read_tokens",
                       "cache_write_tokens", "reasoning_tokens", "cost_usd", "unpriced_calls",
                       "estimated_calls", "failed_calls"]
    assert rows[1:] == [["" if v is None else str(v) for v in row] for row in _EXPECTED[by]]
    assert sum(Decimal(r[7] or 0) for r in rows[1:]) == Decimal(_TOTAL[6])


@pytest.mark.parametrize("by", sorted(_EXPECTED))
def test_json_by(by: str, ledger: Path, capsys) -> None:
    data = json.loads(_run(capsys, "--db", str(ledger), "--by", by, "--format", "json"))
    assert data["by"] == by and data["since"] is None and data["ledger"] == str(ledger)
    got = [(g[by], g["calls"], *g["tokens"].values(), g["cost_usd"], g["unpriced_calls"],
            g["estimated_calls"], g["failed_calls"]) for g in data["groups"]]
    assert got == _EXPECTED[by]
    assert [g["cost_complete"] for g in data["groups"]] == [row[8] == 0 for row in _EXPECTED[by]]
    total = data["total"]
    assert (total["calls"], *total["tokens"].values(), total["cost_usd"], total["unpriced_calls"],
            total["estimated_calls"], total["failed_calls"]) == _TOTAL
    timeline = data["spend_over_time"]
    assert timeline == {"bucket": "day", "points": [  # the calls span more than a day
        {"start": "2025-03-10T00:00:00+00:00", "cost_usd": "0.0058"},
        {"start": "2025-03-11T00:00:00+00:00", "cost_usd": "0.01275"},
        {"start": "2025-03-12T00:00:00+00:00", "cost_usd": "0.0082"}]}


def _table_rows(text: str) -> dict[str, list[str]]:
    """The table's rows by first cell (the lines up to TOTAL; the chart follows)."""
    rows = {}
    for line in text.splitlines():
        cells = [c for c in line.split("  ") if c.strip()]
        if cells:
            rows[cells[0].strip()] = [c.strip() for c in cells[1:]]
            if cells[0] == "TOTAL":
                break
    return rows


@pytest.mark.parametrize("by", sorted(_EXPECTED))
def test_table_by(by: str, ledger: Path, capsys) -> None:
    out = _run(capsys, "--db", str(ledger), "--by", by)
    rows = _table_rows(out)
    for key, calls, *tokens, cost, unpriced, estimated, failed in _EXPECTED[by]:
        if unpriced:  # no priced call in the group: no number at all, not "≥ 0"
            cost_cell = f"≥ {cost} ({unpriced} unpriced)" if cost is not None else f"unknown ({unpriced} unpriced)"
        else:
            cost_cell = cost
        notes = ", ".join(n for n in (f"{estimated} estimated" if estimated else "",
                                      f"{failed} failed" if failed else "") if n)
        expected = [f"{calls:,}", *(f"{t:,}" for t in tokens), cost_cell] + ([notes] if notes else [])
        assert rows[key] == expected, key
    assert rows["TOTAL"] == ["6", "3,700", "1,560", "400", "1,000", "800", "≥ 0.02675 (1 unpriced)",
                             "1 estimated, 1 failed"]
    assert "1 call(s) have no price" in out and "1 call(s) reported no usage" in out
    assert "1 call(s) failed (error.type)" in out
    assert "Spend per day (UTC):" in out
    chart = [line for line in out.splitlines() if line.startswith("  2025-")]
    assert chart == [f"  2025-03-10  {'█' * 18}▏{' ' * 21}  0.0058",
                     f"  2025-03-11  {'█' * 40}  0.01275",
                     f"  2025-03-12  {'█' * 25}▋{' ' * 14}  0.0082"]


def test_hour_buckets_within_a_day_and_the_chart_keeps_the_last_31(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    t = provider.get_tracer("otel_llm_cost")
    for hour, cost in ((1, "0.002"), (1.5, "0.002"), (3, "0.001")):
        llm_span(t, model="gpt-4o", cost=cost, inp=1, out=1, end_ns=_at(hour))
    provider.shutdown()
    out = _run(capsys, "--db", str(path))
    lines = [line for line in out.splitlines() if line.startswith("  2025-03-10 ")]
    assert lines == [f"  2025-03-10 01:00  {'█' * 40}  0.004",
                     f"  2025-03-10 02:00  {' ' * 40}  0",
                     f"  2025-03-10 03:00  {'█' * 10}{' ' * 30}  0.001"]

    provider = provider_with(LedgerSpanExporter(path))
    llm_span(provider.get_tracer("otel_llm_cost"), model="gpt-4o", cost="0.01", inp=1, out=1, end_ns=_at(24 * 40))
    provider.shutdown()
    out = _run(capsys, "--db", str(path))
    assert "Spend per day (UTC), last 31 of 41 days:" in out
    days = [line for line in out.splitlines() if line.startswith("  2025-")]
    assert len(days) == 31 and days[-1].startswith("  2025-04-19  " + "█" * 40)


def test_day_buckets_when_calls_span_more_than_two_days(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    t = provider.get_tracer("otel_llm_cost")
    for day, cost in ((0, "0.5"), (1, "0.25"), (4, "1")):
        llm_span(t, model="gpt-4o", cost=cost, inp=1, out=1, end_ns=_at(24 * day + 12))
    provider.shutdown()
    out = _run(capsys, "--db", str(path))
    assert "Spend per day (UTC):" in out
    lines = [line for line in out.splitlines() if line.startswith("  2025-03-")]
    assert [line.split()[0] for line in lines] == [f"2025-03-{d}" for d in range(10, 15)]
    assert lines[0].endswith("█" * 20 + " " * 22 + "0.5")
    assert lines[2].endswith(" " * 42 + "0")
    assert lines[4].endswith("█" * 40 + "  1")


def test_since_filters_relative_and_iso(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    t = provider.get_tracer("otel_llm_cost")
    now = datetime.now(UTC)
    for hours_ago, cost in ((2, "0.001"), (30, "0.02"), (24 * 10, "0.3")):
        llm_span(t, model="gpt-4o", cost=cost, inp=1, out=1,
                 end_ns=unix_nano(now - timedelta(hours=hours_ago)))
    provider.shutdown()

    def total(*args: str) -> tuple[int, str]:
        data = json.loads(_run(capsys, "--db", str(path), "--format", "json", *args))
        return data["total"]["calls"], data["total"]["cost_usd"]

    assert total() == (3, "0.321")
    assert total("--since", "24h") == (1, "0.001")
    assert total("--since", "7d") == (2, "0.021")
    assert total("--since", "30m") == (0, "0")
    assert total("--since", (now - timedelta(days=20)).date().isoformat()) == (3, "0.321")
    assert "No LLM calls recorded in this period." in _run(capsys, "--db", str(path), "--since", "1m")


def test_parse_since() -> None:
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == datetime(2025, 3, 10, 11, 30, tzinfo=UTC)
    assert parse_since("24h", now) == datetime(2025, 3, 9, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    assert parse_since("2025-03-01", now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_since("2025-03-01T08:00:00Z", now) == datetime(2025, 3, 1, 8, tzinfo=UTC)
    with pytest.raises(Exception, match="not a duration"):
        parse_since("yesterday", now)


def test_bad_since_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "--db", str(tmp_path / "x.db"), "--since", "yesterday"])
    assert exc.value.code == 2
    assert "'yesterday' is not a duration" in capsys.readouterr().err


def test_missing_ledger_names_the_file_and_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ledger.db"
    done = subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "report", "--db", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"no ledger at {missing}" in done.stderr
    assert not missing.parent.exists()  # a report never creates anything


def test_ledger_path_from_environment(ledger: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(s.ENV_LEDGER_PATH, str(ledger))
    data = json.loads(_run(capsys, "--format", "json"))
    assert data["ledger"] == str(ledger) and data["total"]["cost_usd"] == "0.02675"


def test_not_a_ledger_names_the_file(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite " * 100)
    assert main(["report", "--db", str(junk)]) == 1
    err = capsys.readouterr().err
    assert str(junk) in err and "cannot read the ledger" in err
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    empty.write_bytes(b"")  # an empty file is a valid, empty SQLite database
    assert main(["report", "--db", str(empty)]) == 1
    assert f"{empty}: not an otel-llm-cost ledger" in capsys.readouterr().err


def test_an_unmigrated_v1_ledger_is_read_without_writing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute("PRAGMA user_version = 1")
    conn.executemany(
        "INSERT INTO llm_calls (end_time, end_time_unix_nano, provider, model, input_tokens, "
        "output_tokens, cost_usd, trace_id, span_id) VALUES (?, ?, 'openai', ?, ?, 1, ?, ?, ?)",
        [("2024-01-01T00:00:00.000000Z", 1704067200000000000, "gpt-4", 10, "0.0003", "a", "1"),
         ("2024-01-01T01:00:00.000000Z", 1704070800000000000, "gpt-4", 20, "0.0006", "a", "2")])
    conn.commit()
    conn.close()
    data = json.loads(_run(capsys, "--db", str(path), "--by", "user", "--format", "json"))
    assert data["groups"] == [{"user": "(none)", "calls": 2, "cost_usd": "0.0009", "cost_complete": True,
                               "tokens": {"input": 30, "output": 2, "cache_read": 0, "cache_write": 0,
                                          "reasoning": 0},
                               "unpriced_calls": 0, "estimated_calls": 0, "failed_calls": 0}]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 1
