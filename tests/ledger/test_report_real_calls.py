"""``otel-llm-cost report`` / ``session`` over ledgers written by real SDK calls: failed
calls, unpriced groups, and ids that are terminal escapes, newlines or formulas.

The calls go through the real ``openai`` SDK to the wire server, instrumented by ours;
the ledger is written by the real exporter; the reports are the installed console
script's output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_llm_cost
from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.ledger import LedgerSpanExporter
from tests.wire import Reply

MESSAGES = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture(scope="module")
def script() -> str:
    found = shutil.which("otel-llm-cost")
    assert found, "the otel-llm-cost console script is not on PATH (pip install -e '.[test]')"
    return found


def report(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
    done = subprocess.run([script, *args], capture_output=True, env=env, timeout=120)
    assert done.returncode in (0, 3), done.stderr
    return done.stdout.decode()  # not text=True: that would turn a CR inside a CSV cell into LF


class Recorded:
    def __init__(self, path: Path, wire) -> None:
        self.path = path
        self.wire = wire

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.wire.openai_base_url, api_key="k", max_retries=0)


def _recording(tmp_path: Path, wire, service: str = "svc") -> Iterator[Recorded]:
    path = tmp_path / "ledger.db"
    provider = TracerProvider(resource=Resource.create({s.SERVICE_NAME: service}))
    provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(path)))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield Recorded(path, wire)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.fixture
def recorded(tmp_path: Path, wire) -> Iterator[Recorded]:
    yield from _recording(tmp_path, wire)


def _total_row(table: str) -> list[str]:
    (line,) = [ln for ln in table.splitlines() if ln.startswith("TOTAL")]
    return [c.strip() for c in line.split("  ") if c.strip()]


def test_a_failed_call_on_a_priced_model_is_failed_not_unpriced(recorded: Recorded, script: str) -> None:
    client = recorded.client()
    recorded.wire.enqueue(Reply(text="a b c d"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    recorded.wire.enqueue(Reply(status=429))
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    exact = Decimal(15) * Decimal("0.15") / 10**6 + Decimal(4) * Decimal("0.6") / 10**6

    table = report(script, "report", "--db", str(recorded.path))
    assert _total_row(table) == ["TOTAL", "2", "15", "4", "0", "0", "0", str(exact.normalize()), "1 failed"]
    assert "≥" not in table and " unpriced)" not in table and "Add prices" not in table
    assert "1 call(s) failed" in table

    data = json.loads(report(script, "report", "--db", str(recorded.path), "--format", "json"))
    assert data["total"]["cost_usd"] == str(exact.normalize())
    assert (data["total"]["unpriced_calls"], data["total"]["failed_calls"], data["total"]["cost_complete"]) == (
        0, 1, True)
    rows = list(csv.DictReader(io.StringIO(report(script, "report", "--db", str(recorded.path), "--format", "csv"))))
    assert [(r["model"], r["cost_usd"], r["unpriced_calls"], r["failed_calls"]) for r in rows] == [
        ("gpt-4o-mini", str(exact.normalize()), "0", "1")]


def test_a_failed_call_in_a_session_view(recorded: Recorded, script: str) -> None:
    client = recorded.client()
    with otel_llm_cost.session("conv-7"):
        recorded.wire.enqueue(Reply(status=500))
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    view = report(script, "session", "conv-7", "--db", str(recorded.path))
    assert "1 calls, cost 0 USD (1 failed)" in view and "unpriced" not in view
    data = json.loads(report(script, "session", "conv-7", "--db", str(recorded.path), "--format", "json"))
    assert (data["total"]["cost_usd"], data["total"]["unpriced_calls"], data["total"]["failed_calls"]) == (
        "0", 0, 1)


def test_a_group_whose_calls_are_all_unpriced_has_no_cost(recorded: Recorded, script: str) -> None:
    client = recorded.client()
    for _ in range(2):
        recorded.wire.enqueue(Reply(text="a b"))
        client.chat.completions.create(model="no-price-for-this-model", messages=MESSAGES)
    recorded.wire.enqueue(Reply(text="a b"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    rows = list(csv.DictReader(io.StringIO(report(script, "report", "--db", str(recorded.path), "--format", "csv"))))
    by_model = {r["model"]: r for r in rows}
    assert by_model["no-price-for-this-model"]["cost_usd"] == ""  # unknown: no number, not 0
    assert by_model["no-price-for-this-model"]["unpriced_calls"] == "2"
    assert by_model["gpt-4o-mini"]["cost_usd"] != ""
    data = json.loads(report(script, "report", "--db", str(recorded.path), "--format", "json"))
    group = next(g for g in data["groups"] if g["model"] == "no-price-for-this-model")
    assert (group["cost_usd"], group["unpriced_calls"], group["cost_complete"]) == (None, 2, False)
    # The total has a priced part: a lower bound, with the count of what it lacks.
    assert data["total"]["cost_usd"] is not None and data["total"]["unpriced_calls"] == 2
    table = report(script, "report", "--db", str(recorded.path))
    # The group with no priced call has no number in the table either (not "≥ 0").
    assert "unknown (2 unpriced)" in table and "≥ 0 (" not in table
    assert "2 call(s) have no price" in table


#: Ids an attacker controls (a session id from a request, a model name from a proxy's reply).
_ESC = "\x1b"
HOSTILE_SESSION = f"s{_ESC}[2J{_ESC}]0;pwned\x07\nTOTAL  999"
HOSTILE_USER = "=HYPERLINK(\"http://x\",\"y\")"
HOSTILE_MODEL = "-gpt-evil\x9b31m\u202egnp.exe\r@SUM(A1)"
HOSTILE_SERVICE = "+svc\ttab"


def _unsafe(text: str) -> list[str]:
    """Characters that act on a terminal, other than the line breaks between lines."""
    return [c for c in text if c != "\n" and (unicodedata.category(c) in ("Cc", "Zl", "Zp") or c == "\u202e")]


@pytest.fixture
def hostile(tmp_path: Path, wire) -> Iterator[Recorded]:
    for rec in _recording(tmp_path, wire, service=HOSTILE_SERVICE):
        client = rec.client()
        with otel_llm_cost.session(HOSTILE_SESSION, user_id=HOSTILE_USER):
            wire.enqueue(Reply(text="a b c"))
            client.chat.completions.create(model=HOSTILE_MODEL, messages=MESSAGES)
        yield rec


@pytest.mark.parametrize("by", ["session", "user", "model"])
def test_table_shows_hostile_ids_escaped(hostile: Recorded, script: str, by: str) -> None:
    table = report(script, "report", "--db", str(hostile.path), "--by", by)
    assert _unsafe(table) == []
    assert sum(1 for ln in table.splitlines() if ln.startswith("TOTAL")) == 1  # no forged row
    expected = {"session": "s\\x1b[2J\\x1b]0;pwned\\x07\\nTOTAL  999",
                "user": HOSTILE_USER,
                "model": "-gpt-evil\\x9b31m\\u202egnp.exe\\r@SUM(A1)"}[by]
    assert expected in table


def test_session_view_shows_hostile_ids_escaped(hostile: Recorded, script: str) -> None:
    view = report(script, "session", HOSTILE_SESSION, "--db", str(hostile.path))
    assert _unsafe(view) == []
    assert "1 calls" in view
    assert "s\\x1b[2J\\x1b]0;pwned\\x07\\nTOTAL  999" in view
    assert "+svc\\ttab" in view and "-gpt-evil\\x9b31m\\u202egnp.exe\\r@SUM(A1)" in view


@pytest.mark.parametrize("by", ["session", "user", "model"])
def test_csv_neutralises_formulas_and_stays_valid(hostile: Recorded, script: str, by: str) -> None:
    text = report(script, "report", "--db", str(hostile.path), "--by", by, "--format", "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2  # the header and one group: a newline in an id forges no row
    cell = rows[1][0]
    original = {"session": HOSTILE_SESSION, "user": HOSTILE_USER, "model": HOSTILE_MODEL}[by]
    if by == "session":
        assert cell == original  # starts with "s": kept exactly (quoted by the CSV writer)
    else:
        assert cell == "'" + original  # "=…", "-…": a formula, shown as text
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_json_keeps_ids_exact(hostile: Recorded, script: str) -> None:
    for by, original in (("session", HOSTILE_SESSION), ("user", HOSTILE_USER), ("model", HOSTILE_MODEL)):
        text = report(script, "report", "--db", str(hostile.path), "--by", by, "--format", "json")
        assert _unsafe(text.replace("\n", "")) == []  # escaped by the JSON encoder
        assert [g[by] for g in json.loads(text)["groups"]] == [original]
    view = json.loads(report(script, "session", HOSTILE_SESSION, "--db", str(hostile.path), "--format", "json"))
    assert (view["session"], view["users"], [g["service"] for g in view["by_service"]],
            [g["model"] for g in view["by_model"]]) == (HOSTILE_SESSION, [HOSTILE_USER], [HOSTILE_SERVICE],
                                                         [HOSTILE_MODEL])
