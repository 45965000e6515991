"""One conversation across three services, summed once in the shared PostgreSQL ledger.

Three processes (see ``_service.py``): ``frontend`` opens the session and calls OpenAI,
then asks ``agent`` over HTTP, which calls Anthropic (whose SDK also emits its own span)
and asks ``tools``, which calls Gemini. Real SDKs, real HTTP to the wire server, the
session only in W3C baggage between the services, every service running the session
processor. The ledger must hold exactly one row per call, and ``report --by session``
and ``session ID`` must give the exact total with its per-service and per-model parts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_llm_cost.cli import main
from otel_llm_cost.cost import price_usage
from otel_llm_cost.usage import Usage

ROOT = Path(__file__).resolve().parents[2]
SESSION, USER = "conv-7f3a", "dana"


def _env(pg_url: str, service: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_SERVICE_NAME": service,
            "OTEL_TRACES_EXPORTER": "llm_cost_ledger", "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none", "OTEL_LLM_COST_LEDGER_URL": pg_url,
            # All three services are ours: they trust each other's session baggage.
            "OTEL_LLM_COST_TRUST_BAGGAGE": "true"}


@pytest.fixture
def services(pg_url: str, wire) -> Iterator[dict[str, str]]:
    """``tools`` and ``agent`` running as HTTP services; yields their URLs."""
    procs: list[subprocess.Popen] = []
    urls: dict[str, str] = {}
    try:
        for role, nxt in (("tools", "-"), ("agent", None)):
            nxt = nxt or urls["tools"]
            proc = subprocess.Popen([sys.executable, "-m", "tests.ledger._service", role, wire.base_url, nxt],
                                    env=_env(pg_url, role), cwd=ROOT, stdout=subprocess.PIPE, text=True)
            procs.append(proc)
            port = proc.stdout.readline().strip()
            assert port.isdigit(), f"{role} did not start"
            urls[role] = f"http://127.0.0.1:{port}/work"
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def test_a_conversation_across_three_services_is_summed_once(pg_url: str, wire, services, capsys) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.ledger._service", "frontend", wire.base_url,
                           services["agent"], SESSION, USER],
                          env=_env(pg_url, "frontend"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    local = json.loads(done.stdout.strip().splitlines()[-1])

    # The wire server saw the three calls, one per provider, and the baggage went along.
    paths = [r.path for r in wire.requests]
    assert len(paths) == 3 and "/v1/chat/completions" in paths[0] and "/v1/messages" in paths[1]
    assert "generateContent" in paths[2]

    with psycopg.connect(pg_url) as conn:
        cur = conn.execute("SELECT service, model, input_tokens, output_tokens, cost_usd, session_id, user_id "
                           "FROM llm_calls ORDER BY id")
        rows = cur.fetchall()

    # One row per call: not the Anthropic SDK's own span, nothing from the session processors.
    assert sorted((r[0], r[1]) for r in rows) == [
        ("agent", "claude-sonnet-4-5"), ("frontend", "gpt-4o"), ("tools", "gemini-2.5-flash")]
    assert {(r[5], r[6]) for r in rows} == {(SESSION, USER)}
    costs = {}
    for service, model, inp, out, cost, *_ in rows:
        expected = price_usage(model, Usage(input_tokens=inp, output_tokens=out)).usd
        assert cost == expected and cost > 0, service
        costs[service] = cost
    total = sum(costs.values(), Decimal(0))

    # Each process alone knows only its own part; the frontend's session saw one call.
    assert (Decimal(local["local_cost"]), local["local_calls"]) == (costs["frontend"], 1)

    assert main(["session", SESSION, "--db", pg_url, "--format", "json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["users"] == [USER]
    assert (view["total"]["calls"], Decimal(view["total"]["cost_usd"]), view["total"]["unpriced_calls"]) == (
        3, total, 0)
    assert {g["service"]: Decimal(g["cost_usd"]) for g in view["by_service"]} == costs
    assert {g["model"]: g["calls"] for g in view["by_model"]} == {
        "gpt-4o": 1, "claude-sonnet-4-5": 1, "gemini-2.5-flash": 1}
    assert sum(Decimal(g["cost_usd"]) for g in view["by_model"]) == total

    assert main(["session", SESSION, "--db", pg_url]) == 0
    table = capsys.readouterr().out
    assert f"3 calls, cost {total} USD" in table and "user: dana" in table

    assert main(["report", "--db", pg_url, "--by", "session", "--format", "json"]) == 0
    [group] = json.loads(capsys.readouterr().out)["groups"]
    assert (group["session"], group["calls"], Decimal(group["cost_usd"])) == (SESSION, 3, total)

    assert main(["session", "no-such-session", "--db", pg_url]) == 3
    assert "No LLM calls recorded for this session." in capsys.readouterr().out
