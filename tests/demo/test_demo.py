"""``otel-llm-cost demo`` end to end, as a user runs it: a subprocess, a real ledger file.

The expected costs are computed here, independently of the instrumentation: token
counts from the simulator's documented counting rule (words + fixed overheads, system
prompt cached) replayed over the demo's script, priced by hand with the catalog's
per-million rates. They must agree with the per-call lines, the ledger rows summed as
``Decimal``, the report's total and the session summary.
"""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import wrapt

from otel_llm_cost import _simulator, demo
from otel_llm_cost.pricing import get_catalog
from otel_llm_cost.tokens import estimate_usage

ROOT = Path(__file__).resolve().parents[2]
MILLION = Decimal(1_000_000)
#: Words in the simulator's canned reply: its output token count, and each assistant turn's words.
REPLY_WORDS = len(_simulator._REPLY.split())
SYSTEM = len(demo.SYSTEM_PROMPT.split()) + 4


def _expected_calls() -> list[dict]:
    """Replay the script through the simulator's counting rule; price each call by hand.

    Input = 10 + (system words + 4) + each other message's words + 4; output = reply
    words. OpenAI reads a system prompt it saw before from cache; Anthropic writes a
    ``cache_control`` system prompt the first time and reads it after.
    """
    calls, history_words, seen_openai, seen_anthropic = [], 0, False, False
    for n, turn in enumerate(demo.SCRIPT):
        messages = 2 * n + 1
        rest = history_words + len(turn.prompt.split())
        total_in = 10 + SYSTEM + rest + 4 * messages
        read = write = 0
        if turn.sdk == "openai":
            read = SYSTEM if seen_openai else 0
            seen_openai = True
        elif turn.cache:
            read, write = (SYSTEM, 0) if seen_anthropic else (0, SYSTEM)
            seen_anthropic = True
        estimated = turn.stream and not turn.stream_usage
        if estimated:  # no usage on the wire: the instrumentation estimates with tiktoken
            prompt = [{"role": "system", "content": demo.SYSTEM_PROMPT}]
            for previous in demo.SCRIPT[:n]:
                prompt += [{"role": "user", "content": previous.prompt},
                           {"role": "assistant", "content": _simulator._REPLY}]
            prompt.append({"role": "user", "content": turn.prompt})
            usage = estimate_usage(turn.model, prompt, _simulator._REPLY)
            total_in, out, read, write = usage.input_tokens, usage.output_tokens, 0, 0
        else:
            out = REPLY_WORDS
        entry = get_catalog().resolve(turn.model)
        cost = None
        if entry is not None:
            r = entry.rates
            cost = ((total_in - read - write) * r.input + read * r.cache_read + write * r.cache_write_5m
                    + out * r.output) / MILLION
        calls.append({"turn": turn, "input": total_in, "read": read, "write": write, "output": out,
                      "cost": cost, "estimated": estimated})
        history_words += len(turn.prompt.split()) + REPLY_WORDS
    return calls


EXPECTED = _expected_calls()
PRICED_TOTAL = sum((c["cost"] for c in EXPECTED if c["cost"] is not None), Decimal(0))


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _demo(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "demo", *args], cwd=ROOT,
                          env=full_env, capture_output=True, text=True, timeout=120)


def _ledger_rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM llm_calls ORDER BY end_time_unix_nano").fetchall()
    finally:
        conn.close()


def test_script_covers_every_case() -> None:
    kinds = {(c["turn"].sdk, c["turn"].stream) for c in EXPECTED}
    assert kinds == {("openai", False), ("openai", True), ("anthropic", False), ("anthropic", True)}
    assert [c["cost"] is None for c in EXPECTED].count(True) == 1
    assert sum(c["estimated"] for c in EXPECTED) == 1
    assert any(c["read"] and c["turn"].sdk == "openai" for c in EXPECTED)
    assert any(c["write"] for c in EXPECTED) and any(c["read"] and c["turn"].sdk == "anthropic" for c in EXPECTED)
    assert len({c["turn"].model for c in EXPECTED}) >= 3


def test_demo_table_output_and_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    done = _demo("--db", str(ledger))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "SIMULATOR" in out and str(ledger) in out

    lines = [line for line in out.splitlines() if re.match(r"\s+\[\d/\d\] ", line)]
    assert len(lines) == len(demo.SCRIPT)
    for n, (line, call) in enumerate(zip(lines, EXPECTED, strict=True), 1):
        turn = call["turn"]
        assert line.lstrip().startswith(f"[{n}/{len(demo.SCRIPT)}] {turn.sdk}"), line
        assert turn.model in line and turn.shows in line
        assert f"{call['input']} in" in line and f", {call['output']} out" in line
        if call["read"]:
            assert f"{call['read']} cached" in line
        if call["write"]:
            assert f"{call['write']} cache write" in line
        if call["cost"] is None:
            assert line.endswith("cost unknown: no price for this model")
        else:
            assert f" {_fmt(call['cost'])} USD" in line
        assert ("estimated" in line.split("USD")[-1]) == call["estimated"]

    # The session roll-up: exact priced total, shown as a lower bound because of the unpriced call.
    head = re.search(r"^Session (demo-\S+), user demo-user: 6 calls in [\d.]+s \(1 unpriced, 1 estimated\)$",
                     out, re.M)
    assert head, out
    session_id = head.group(1)
    tokens = {k: sum(c[k] for c in EXPECTED) for k in ("input", "read", "write", "output")}
    assert (f"  tokens  {tokens['input']:,} in ({tokens['read']:,} cache read, {tokens['write']:,} cache write), "
            f"{tokens['output']:,} out") in out
    assert f"  cost    ≥ {_fmt(PRICED_TOTAL)} USD (1 unpriced) — a lower bound" in out
    assert "sim-unpriced-1 unknown" in out

    # The report over the run, rendered by the report module.
    assert f"Ledger {ledger}" in out and "by model" in out
    total_line = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert f"≥ {_fmt(PRICED_TOTAL)} (1 unpriced)" in total_line and "1 estimated" in total_line
    assert "1 call(s) have no price" in out

    rows = _ledger_rows(ledger)
    assert len(rows) == len(demo.SCRIPT)
    assert [r["model"] for r in rows] == [c["turn"].model for c in EXPECTED]
    assert [(r["input_tokens"], r["cache_read_tokens"], r["cache_write_tokens"], r["output_tokens"])
            for r in rows] == [(c["input"], c["read"], c["write"], c["output"]) for c in EXPECTED]
    unpriced = [r for r in rows if r["cost_usd"] is None]
    assert [(r["model"], r["status"]) for r in unpriced] == [("sim-unpriced-1", "unknown_model")]
    ledger_sum = sum((Decimal(r["cost_usd"]) for r in rows if r["cost_usd"] is not None), Decimal(0))
    assert ledger_sum == PRICED_TOTAL
    assert [r["usage_source"] for r in rows].count("estimated") == 1
    assert {(r["session_id"], r["user_id"]) for r in rows} == {(session_id, "demo-user")}


def test_demo_json_uses_a_fresh_temp_ledger_by_default(tmp_path: Path) -> None:
    real = tmp_path / "real" / "ledger.db"
    done = _demo("--format", "json", env={"TMPDIR": str(tmp_path), "OTEL_LLM_COST_LEDGER_PATH": str(real),
                                          "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # stdout is one JSON document; progress went to stderr
    assert len(re.findall(r"\[\d/\d\]", done.stderr)) == len(demo.SCRIPT)

    ledger = Path(data["ledger"])
    assert ledger.parent.parent == tmp_path and ledger.parent.name.startswith("otel-llm-cost-demo-")
    assert not real.exists() and not (tmp_path / "xdg").exists()  # the user's ledger is untouched
    assert len(_ledger_rows(ledger)) == len(demo.SCRIPT)

    assert [c["cost_usd"] for c in data["calls"]] == [
        None if c["cost"] is None else _fmt(c["cost"]) for c in EXPECTED]
    session = data["session"]
    assert (session["cost_usd"], session["priced_cost_usd"], session["calls"], session["unpriced_calls"],
            session["estimated_calls"], session["user_id"]) == (
        None, _fmt(PRICED_TOTAL), len(demo.SCRIPT), 1, 1, "demo-user")
    assert session["by_model"]["sim-unpriced-1"]["cost_usd"] is None
    total = data["report"]["total"]
    assert (total["cost_usd"], total["cost_complete"], total["unpriced_calls"], total["calls"]) == (
        _fmt(PRICED_TOTAL), False, 1, len(demo.SCRIPT))


def test_demo_names_the_file_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    done = _demo("--db", str(blocker / "ledger.db"))
    assert done.returncode == 1
    assert str(blocker) in done.stderr and done.stdout == ""


def test_demo_in_process_uninstruments_and_leaves_no_thread(tmp_path: Path) -> None:
    import openai.resources.chat.completions as chat

    from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    before = set(threading.enumerate())
    out = io.StringIO()
    assert demo.run(tmp_path / "ledger.db", out=out) == 0
    assert len(_ledger_rows(tmp_path / "ledger.db")) == len(demo.SCRIPT)
    # Nothing new left behind (earlier threads may end) but the one process-wide thread
    # that ends what finalizers hand off (instrumentation/_handoff.py): started at the
    # first stream proxy of the process, which may be the demo's when it runs first.
    left = {t for t in set(threading.enumerate()) - before if t.name != "otel_llm_cost-finalizers"}
    assert left == set()
    assert not OpenAIInstrumentor().is_instrumented_by_opentelemetry
    assert not AnthropicInstrumentor().is_instrumented_by_opentelemetry
    assert not isinstance(vars(chat.Completions)["create"], wrapt.ObjectProxy)  # unwrapped

