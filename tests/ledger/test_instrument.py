"""The exporter chosen by name, ``OTEL_TRACES_EXPORTER=llm_cost_ledger``, under the real
``opentelemetry-instrument`` launcher, and read back by the real ``otel-llm-cost`` script.

Needs this checkout installed (``pip install -e . --no-deps``): entry points exist only
for installed distributions.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import otel_llm_cost

_SCRIPT = textwrap.dedent('''
    from opentelemetry import trace
    from otel_llm_cost import semconv as s

    # Spans as our instrumentation writes them (its scope): while our OpenAI instrumentor
    # is active, an "openai" span from another scope is another tool's and not counted.
    tracer = trace.get_tracer(s.SCOPE_NAME)
    with tracer.start_as_current_span("handle request"):  # not an LLM span: not in the ledger
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai",
            s.GEN_AI_REQUEST_MODEL: "gpt-4o", s.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            s.GEN_AI_USAGE_OUTPUT_TOKENS: 80, s.LLM_COST_USD: "0.0038",
            s.LLM_COST_STATUS: "priced", s.USER_ID: "carol"}):
            pass
        with tracer.start_as_current_span("chat mystery", attributes={
            s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai",
            s.GEN_AI_REQUEST_MODEL: "mystery", s.GEN_AI_USAGE_INPUT_TOKENS: 5,
            s.GEN_AI_USAGE_OUTPUT_TOKENS: 1, s.LLM_COST_STATUS: "unknown_model"}):
            pass
    print("app done")
''')


@pytest.fixture(scope="module")
def installed() -> str:
    names = {e.name: e.value for e in entry_points(group="opentelemetry_traces_exporter")}
    assert names.get("llm_cost_ledger") == "otel_llm_cost.ledger:LedgerSpanExporter", (
        "the package is not installed with its entry points: run `pip install -e . --no-deps`")
    launcher = shutil.which("opentelemetry-instrument")
    assert launcher, "opentelemetry-instrument not found (pip install opentelemetry-distro)"
    return launcher


def test_exporter_selected_by_name_under_opentelemetry_instrument(installed: str, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    script = tmp_path / "app.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "llm_cost_ledger", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "instrumented-app",
           "OTEL_LLM_COST_LEDGER_PATH": str(db),
           # import this checkout's package whatever the current directory
           "PYTHONPATH": str(Path(otel_llm_cost.__file__).parents[1])}
    done = subprocess.run([installed, sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "app done\n"
    rows = sqlite3.connect(db).execute(
        "SELECT service, model, input_tokens, cost_usd, status, user_id FROM llm_calls ORDER BY model").fetchall()
    assert rows == [("instrumented-app", "gpt-4o", 1200, "0.0038", "priced", "carol"),
                    ("instrumented-app", "mystery", 5, None, "unknown_model", None)]

    script_cli = shutil.which("otel-llm-cost")
    assert script_cli, "the otel-llm-cost console script is not installed"
    report = subprocess.run([script_cli, "report", "--format", "json"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    total = json.loads(report.stdout)["total"]
    assert (total["calls"], total["cost_usd"], total["unpriced_calls"]) == (2, "0.0038", 1)
