"""``otel-llm-cost report --html``: one self-contained page, opened in headless Chromium.

The ledger is written by the real exporter; the page by the real command; Chromium lays
it out and paints it, and the test reads back what it rendered: the charts' bars (their
size on screen and exact costs), and the totals' text, which must equal the report's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._render import cost_text
from otel_llm_cost.ledger._report import load_report

from ._browser import browser
from ._spans import llm_span, provider_with, unix_nano

ROOT = Path(__file__).resolve().parents[2]
DAY0 = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
MODELS = [("gpt-4o", "openai", "0.00405"), ("claude-sonnet-4-6", "anthropic", "0.01275"),
          ("gpt-4o-mini", "openai", "0.00012375"), ("gemini-2.5-flash", "gcp.gemini", "0.0006125")]


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fortnight of calls: four models, eight sessions of four users, unpriced,
    estimated and failed calls; costs chosen to need every decimal place."""
    path = tmp_path_factory.mktemp("html") / "ledger.db"
    exporter = LedgerSpanExporter(str(path))
    tracer = provider_with(exporter).get_tracer("test")
    for day in range(14):
        for i, (model, provider, cost) in enumerate(MODELS):
            for n in range((day + i) % 4 + 1):
                when = DAY0 + timedelta(days=day, minutes=7 * n + i)
                llm_span(tracer, model=model, provider=provider, cost=str(Decimal(cost) * (n + 1)), inp=1000 * (n + 1),
                         out=100, session=f"conv-{(day + n) % 8}", user=f"user-{(day + i) % 4}",
                         end_ns=unix_nano(when))
        if day % 3 == 0:
            llm_span(tracer, model="my-finetune", cost=None, inp=500, out=20, session=f"conv-{day % 8}",
                     user="user-0", end_ns=unix_nano(DAY0 + timedelta(days=day, hours=2)))
        if day % 4 == 1:
            llm_span(tracer, model="gpt-4o", cost="0.00175", inp=500, out=50, source=s.SOURCE_ESTIMATED,
                     session=f"conv-{day % 8}", user="user-1", end_ns=unix_nano(DAY0 + timedelta(days=day, hours=3)))
    llm_span(tracer, model="gpt-4o-mini", inp=None, error="RateLimitError", status=s.STATUS_NO_USAGE,
             end_ns=unix_nano(DAY0 + timedelta(days=5, hours=4)))
    exporter.shutdown()
    return path


def _report(ledger: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "report", "--db", str(ledger), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(ledger: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("page") / "spend.html"
    done = _report(ledger, "--html", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out}: ")
    return out


def test_the_page_needs_no_network(page: Path) -> None:
    text = page.read_text()
    assert "<script" not in text.lower()
    # Nothing fetched: no src/href attribute, no CSS url() or @import (the SVG namespace is a name, not a fetch).
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", text, re.I)


def test_chromium_renders_the_charts_and_the_ledgers_totals(ledger: Path, page: Path, tmp_path: Path) -> None:
    by_model = load_report(ledger, "model")
    by_day = load_report(ledger, "day")
    table = _report(ledger)  # the text table a person would compare with
    data = json.loads(_report(ledger, "--format", "json").stdout)
    with browser() as chrome:
        chrome.open(page.as_uri())
        shown = chrome.run("""
            const bars = sel => [...document.querySelectorAll(sel)].map(b => {
                const r = b.getBoundingClientRect();
                return {w: r.width, h: r.height, usd: b.dataset.usd, day: b.dataset.day, key: b.dataset.key,
                        calls: b.dataset.calls, cls: b.getAttribute('class')};
            });
            const text = sel => document.querySelector(sel).innerText;
            return {days: bars('#chart-days rect.bar'), sessions: bars('#chart-sessions rect.bar'),
                    users: bars('#chart-users rect.bar'), quality: bars('#chart-quality rect.bar'),
                    total: text('#total-cost b'), calls: text('#total-calls b'),
                    unpriced: text('#total-unpriced b'), estimated: text('#total-estimated b'),
                    modelTotal: text('#table-model tfoot td.usd'), dayRows: document.querySelectorAll(
                        '#table-day tbody tr').length, title: document.title};
        """)
        shot = Path(os.environ.get("OTEL_LLM_COST_TEST_SCREENSHOT") or tmp_path / "report.png")
        chrome.full_screenshot(str(shot))
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") >= 800

    # The totals a person reads are the ledger's, as the table prints them.
    total = cost_text(by_model.total)
    assert shown["total"] == shown["modelTotal"] == total
    assert re.search(rf"^TOTAL .*{re.escape(total)}", table.stdout, re.M)
    assert total.startswith(f"≥ {data['total']['cost_usd']} ")  # unpriced calls: a lower bound
    assert (shown["calls"], shown["unpriced"], shown["estimated"]) == (
        f"{data['total']['calls']:,}", str(data["total"]["unpriced_calls"]), str(data["total"]["estimated_calls"]))

    # Spend per day by model: every bar painted, and each day's bars add up to that day's exact cost.
    assert shown["days"] and all(b["w"] > 0 and b["h"] > 0 for b in shown["days"])
    per_day: dict[str, Decimal] = {}
    for b in shown["days"]:
        per_day[b["day"]] = per_day.get(b["day"], Decimal(0)) + Decimal(b["usd"])
    assert per_day == {g.key: g.cost for g in by_day.groups}
    assert shown["dayRows"] == 14
    # Top sessions and users: the ten (or fewer) most expensive, biggest first, bars drawn to scale.
    for chart, by in (("sessions", "session"), ("users", "user")):
        groups = load_report(ledger, by).groups[:10]
        bars = shown[chart]
        assert [b["key"] for b in bars] == [g.key for g in groups]
        assert [Decimal(b["usd"]) for b in bars if b["usd"]] == [g.cost for g in groups if g.cost_known]
        assert [b["w"] for b in bars] == sorted((b["w"] for b in bars), reverse=True)
    # Unpriced and estimated calls are drawn.
    drawn = {kind: sum(int(b["calls"]) for b in shown["quality"] if f"calls-{kind}" in b["cls"] and b["w"] > 0)
             for kind in ("unpriced", "estimated")}
    assert drawn == {"unpriced": by_model.total.unpriced, "estimated": by_model.total.estimated} == {
        "unpriced": 5, "estimated": 4}
    assert "LLM spend" in shown["title"]


def test_an_unwritable_file_is_an_io_error(ledger: Path, tmp_path: Path) -> None:
    done = _report(ledger, "--html", str(tmp_path / "no" / "such" / "dir.html"))
    assert done.returncode == 1 and "cannot write" in done.stderr


def test_hostile_ids_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    exporter = LedgerSpanExporter(str(path))
    llm_span(provider_with(exporter).get_tracer("t"), model="gpt-4o", cost="0.001", inp=1, out=1,
             session="<script>alert(1)</script>", user='"><img src=x onerror=alert(1)>')
    exporter.shutdown()
    out = tmp_path / "page.html"
    assert _report(path, "--html", str(out)).returncode == 0
    text = out.read_text()
    assert "<script>" not in text and "<img" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
