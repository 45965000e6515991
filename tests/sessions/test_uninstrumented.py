"""A session in a process where nothing is instrumented says so: its cost is unknown
("no instrumented calls"), never a priced zero, and a warning is logged once.

Each case is a fresh interpreter: whether anything is instrumented is process-wide
(other tests turn instrumentors and session processors on), and the warning is once
per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from otel_llm_cost._simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]

APP = """
import json, logging, sys
import openai
import otel_llm_cost
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
if sys.argv[2] == "configure":
    otel_llm_cost.configure()
client = openai.OpenAI(base_url=sys.argv[1], api_key="x", max_retries=0)
out = []
for sid in ("first", "second"):
    with otel_llm_cost.session(session_id=sid) as s:
        for _ in range(2):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    out.append(s.summary().as_dict())
print(json.dumps(out))
"""


def _run(sim: Simulator, mode: str) -> tuple[list[dict], str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(APP), sim.openai_base_url, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none",
                               "OTEL_METRICS_EXPORTER": "none", "HOME": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_real_calls_with_nothing_instrumented_are_unknown_not_zero() -> None:
    with Simulator() as sim:
        summaries, stderr = _run(sim, "plain")
    for summary in summaries:
        assert summary["calls"] == 0 and summary["cost_usd"] is None
        assert summary["unpriced_reason"] == "no instrumented calls"
    warnings = [line for line in stderr.splitlines() if "no LLM SDK is instrumented" in line]
    assert len(warnings) == 1 and "'first'" in warnings[0] and "configure()" in warnings[0]


def test_instrumented_sessions_are_priced_and_quiet() -> None:
    with Simulator() as sim:
        summaries, stderr = _run(sim, "configure")
    for summary in summaries:
        assert summary["calls"] == 2 and summary["cost_usd"] is not None and summary["unpriced_reason"] is None
    assert "no LLM SDK is instrumented" not in stderr


def test_an_empty_session_with_instrumentation_on_is_a_true_zero() -> None:
    import otel_llm_cost
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
    with otel_llm_cost.session(session_id="empty-but-watched") as s:
        pass
    summary = s.summary()
    assert (summary.calls, summary.cost, summary.unpriced_reason) == (0, 0, None)
