"""examples/budget_app.py run as its docstring says (the ledger exporter and
OTEL_LLM_COST_BUDGETS in the environment), in its own process, against the wire server:
it tells the user what they used of their monthly limit and refuses the call past it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.wire import Reply

ROOT = Path(__file__).resolve().parents[2]
#: gpt-4o-mini at $0.15 / $0.60 per 1M: 1.20 + 0.3999996 = 1.5999996 USD a call.
USAGE = {"prompt_tokens": 8_000_000, "completion_tokens": 666_666, "total_tokens": 8_666_666}


def test_the_example_tells_a_user_what_they_used(wire, tmp_path):
    for _ in range(2):
        wire.enqueue(Reply(usage=USAGE))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": wire.openai_base_url,
           "OTEL_TRACES_EXPORTER": "llm_cost_ledger", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
           "OTEL_LLM_COST_LEDGER_PATH": str(tmp_path / "ledger.db"),
           "OTEL_LLM_COST_BUDGETS": "user:* 3.20 per month hard tz=Europe/Paris"}
    env.pop("OTEL_LLM_COST_LEDGER_URL", None)
    done = subprocess.run([sys.executable, "-m", "tests.budgets._example_client"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["answers"] == [200, 200]
    shown = out["shown"]
    assert shown["message"] == "you have used $3.20 of $3.20 this month"
    assert (shown["spent_usd"], shown["remaining_usd"]) == ("3.1999992", "0.0000008")
    assert shown["by_model"] == {"gpt-4o-mini": "3.1999992"}
    status, body = out["refused"]
    assert status == 402, body
    assert body["detail"] == "you have used $3.20 of $3.20 this month; your monthly budget is used up"
