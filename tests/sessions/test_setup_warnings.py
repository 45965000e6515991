"""Misspelt settings are named, once, with what was probably meant: an unknown
``OTEL_LLM_COST_*`` variable, and an exporter name no installed package provides (which
makes ``opentelemetry-instrument`` give up instrumenting, so sessions see nothing)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_llm_cost import config
from otel_llm_cost._simulator import Simulator

ROOT = Path(__file__).resolve().parents[2]

APP = """
import json, logging, sys
import openai
import otel_llm_cost
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
if "configure" in sys.argv:
    otel_llm_cost.configure()
client = openai.OpenAI(base_url=sys.argv[1], api_key="x", max_retries=0)
with otel_llm_cost.session(session_id="s1") as s:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print(json.dumps(s.summary().as_dict()))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHONPATH"))}
    return {**env, "OTEL_METRICS_EXPORTER": "none", **extra}


def _ours(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING otel_llm_cost")]


def test_unknown_variable_named_with_the_closest(caplog: pytest.LogCaptureFixture) -> None:
    env = {"OTEL_LLM_COST_LEDGR_PATH": "/tmp/x", "OTEL_LLM_COST_PRICES_FILE": "", "OTEL_LLM_COST_ZZZ": "1",
           "OTEL_LLM_COST_LEDGER_URL": "postgresql://h/db"}
    assert config.unknown_variables(env) == [("OTEL_LLM_COST_LEDGR_PATH", "OTEL_LLM_COST_LEDGER_PATH"),
                                             ("OTEL_LLM_COST_ZZZ", None)]


def test_every_variable_the_package_reads_is_known() -> None:
    """A setting read outside config.py (the ledger's spool, budgets, ...) must not be warned about
    as a misspelling: every ``OTEL_LLM_COST_*`` name in the package's source is a known one."""
    import re
    from pathlib import Path

    root = Path(config.__file__).parent
    names = {m for path in root.rglob("*.py") for m in re.findall(r"\bOTEL_LLM_COST_[A-Z0-9_]*[A-Z0-9]\b",
                                                                   path.read_text(encoding="utf-8"))}
    assert "OTEL_LLM_COST_LEDGER_SPOOL" in names
    assert config.unknown_variables(dict.fromkeys(names, "1")) == []


def test_unknown_variable_warned_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OTEL_LLM_COST_MODEL_ALIAS", "a=gpt-4o")
    with caplog.at_level(logging.WARNING, logger="otel_llm_cost"):
        config.load()
        config.load()
    lines = [r.getMessage() for r in caplog.records if "OTEL_LLM_COST_MODEL_ALIAS " in r.getMessage()]
    assert lines == ["otel_llm_cost: OTEL_LLM_COST_MODEL_ALIAS is not a setting of ours and is ignored "
                     "(did you mean OTEL_LLM_COST_MODEL_ALIASES?)"]


def test_configure_names_a_misspelt_exporter_in_one_line() -> None:
    with Simulator() as sim:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(APP), sim.openai_base_url, "configure"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=_env(OTEL_TRACES_EXPORTER="llm_cost_ledgr", OTEL_LLM_COST_LEDGR_PATH="/tmp/x"))
    assert done.returncode == 0, done.stderr
    ours = _ours(done.stderr)
    assert [line for line in ours if "OTEL_TRACES_EXPORTER" in line] == [
        "WARNING otel_llm_cost: OTEL_TRACES_EXPORTER=llm_cost_ledgr: no installed exporter has that name, so "
        "nothing is exported there (did you mean llm_cost_ledger?)"]
    assert sum("did you mean OTEL_LLM_COST_LEDGER_PATH?" in line for line in ours) == 1
    assert json.loads(done.stdout)["calls"] == 1  # instrumented all the same


def test_zero_code_with_a_misspelt_exporter_says_why_the_session_saw_nothing() -> None:
    launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert launcher, "opentelemetry-instrument is installed with the test extra"
    with Simulator() as sim:
        done = subprocess.run([launcher, sys.executable, "-c", textwrap.dedent(APP), sim.openai_base_url],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env=_env(OTEL_TRACES_EXPORTER="llm_cost_ledgr"))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["calls"], summary["cost_usd"], summary["unpriced_reason"]) == (0, None, "no instrumented calls")
    ours = _ours(done.stderr)
    assert sum("no LLM SDK is instrumented" in line for line in ours) == 1
    assert sum("OTEL_TRACES_EXPORTER=llm_cost_ledgr" in line and "did you mean llm_cost_ledger?" in line
               for line in ours) == 1
