"""``otel-llm-cost simulator`` as a user runs it: a server process, their own app pointed at
it through the SDKs' standard environment variables, the ledger and report afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator() -> Iterator[tuple[dict[str, str], subprocess.Popen]]:
    """The command on a free port; the variables it printed, parsed from its output."""
    proc = subprocess.Popen([sys.executable, "-m", "otel_llm_cost.cli", "simulator", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    env: dict[str, str] = {}
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            env.update(re.findall(r"(\w+)=(\S+)", line) if line.lstrip().startswith("export ") else [])
            if line.startswith("Ctrl-C"):
                break
        yield env, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_prints_every_sdks_variables(simulator: tuple[dict[str, str], subprocess.Popen]) -> None:
    env, _ = simulator
    assert set(env) == {"OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
                        "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"}
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", env["OPENAI_BASE_URL"])


def test_the_quick_start_app_is_priced_and_recorded(simulator: tuple[dict[str, str], subprocess.Popen],
                                                    tmp_path: Path) -> None:
    env, proc = simulator
    ledger = tmp_path / "ledger.db"
    run_env = {**os.environ, **env, "OTEL_TRACES_EXPORTER": "llm_cost_ledger", "OTEL_METRICS_EXPORTER": "none",
               "OTEL_LLM_COST_LEDGER_PATH": str(ledger)}
    app = subprocess.run([sys.executable, "examples/simulator_app.py"], cwd=ROOT, env=run_env,
                         capture_output=True, text=True, timeout=120)
    assert app.returncode == 0, app.stderr
    cost = re.search(r"2 calls, .* cost (\S+) USD", app.stdout)
    assert cost, app.stdout
    report = subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "report", "--db", str(ledger),
                             "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    data = json.loads(report.stdout)
    assert data["total"]["calls"] == 2 and data["total"]["cost_usd"] == cost.group(1)
    assert {g["model"] for g in data["groups"]} == {"gpt-4o-mini", "claude-sonnet-4-6"}
    # The server logged one line per request, and is still serving.
    proc.terminate()
    out, _ = proc.communicate(10)
    assert re.search(r"openai\s+gpt-4o-mini\s+call\s+\d+ in", out)
    assert re.search(r"anthropic\s+claude-sonnet-4-6\s+call", out)


def test_a_busy_port_is_an_io_error(simulator: tuple[dict[str, str], subprocess.Popen]) -> None:
    env, _ = simulator
    port = env["OPENAI_BASE_URL"].rsplit(":", 1)[1].split("/")[0]
    busy = subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "simulator", "--port", port], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1 and "cannot listen" in busy.stderr
