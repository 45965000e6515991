"""The otel-llm-cost command, in-process (main) and as a subprocess."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from otel_llm_cost.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
REF = ["cost", "--model", "gpt-4o-2024-08-06", "--input", "2048", "--output", "100", "--cache-read", "1024"]


def run(args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)


def test_cost_json_subprocess():
    proc = run([*REF, "--json"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["usd"] == "0.00484" and data["status"] == "priced" and data["model"] == "gpt-4o"
    assert data["components"] == {"input": "0.00256", "cache_read": "0.00128", "output": "0.001"}
    assert data["requested_model"] == "gpt-4o-2024-08-06"
    assert data["usage"]["cache_read"] == 1024


def test_cost_with_web_searches_and_audio(capsys):
    # claude-sonnet-4-5: 1000 × 3 + 500 × 15 per 1M, 3 searches × $10 per 1,000
    assert main(["cost", "--model", "claude-sonnet-4-5", "--input", "1000", "--output", "500",
                 "--web-search", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["usd"], data["components"]["web_search"]) == ("0.0405", "0.03")
    # gpt-4o-audio-preview: 600 × 2.5 + 400 × 40 per 1M; no file search price: said so
    assert main(["cost", "--model", "gpt-4o-audio-preview", "--input", "1000", "--output", "0",
                 "--input-audio", "400", "--file-search", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["usd"], data["unpriced"]) == ("0.0175", ["file_search"])
    assert main(["price", "gpt-4o", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["per_1k_calls"] == {"web_search": "10", "web_search_preview": "25",
                                                                   "file_search": "2.5"}


def test_cost_json_in_process(capsys):
    assert main([*REF, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["usd"], data["status"], data["model"]) == ("0.00484", "priced", "gpt-4o")
    assert isinstance(data["usd"], str)


def test_cost_text(capsys):
    assert main(REF) == 0
    out = capsys.readouterr().out
    assert out.startswith("0.00484 USD  (gpt-4o")
    assert "cache_read   0.00128" in out


def test_cost_anthropic_1h_batch(capsys):
    assert main(["cost", "--model", "claude-sonnet-4-20250514", "--input", "3100", "--output", "50",
                 "--cache-write", "3000", "--cache-write-1h", "2000", "--service-tier", "batch", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # batch: 100*1.50 + 1000*1.875 + 2000*3.00 + 50*7.50, per 1M
    assert data["usd"] == "0.0084"
    assert data["components"]["cache_write"] == "0.007875"


def test_cost_unknown_model_exit_3():
    proc = run(["cost", "--model", "my-model", "--input", "1", "--output", "1", "--json"])
    assert proc.returncode == 3
    data = json.loads(proc.stdout)
    assert data["usd"] is None and data["status"] == "unknown_model" and data["model"] is None
    assert "my-model" in data["reason"] and data["components"] == {}


def test_cost_unknown_text(capsys):
    assert main(["cost", "--model", "my-model", "--input", "1", "--output", "1"]) == 3
    assert "cost unknown" in capsys.readouterr().out


def test_cost_rejects_negative():
    with pytest.raises(SystemExit) as info:
        main(["cost", "--model", "gpt-4o", "--input", "-1", "--output", "1"])
    assert info.value.code == 2


def test_price_text_and_json(capsys):
    assert main(["price", "openai/GPT-4o-2024-08-06"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gpt-4o  (openai;")
    assert "input" in out and "2.5  USD / 1M tokens" in out
    assert main(["price", "gemini-2.5-pro", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "gemini-2.5-pro" and data["prices"]["input"] == "1.25"
    assert data["tiers"][0]["above_input_tokens"] == 200000 and data["tiers"][0]["input"] == "2.5"
    assert data["service_tiers"]["batch"]["output"] == "5"


def test_price_subprocess_json_and_unknown():
    proc = run(["price", "claude-sonnet-4-20250514", "--json"])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["prices"]["cache_write_5m"], data["prices"]["cache_write_1h"]) == ("3.75", "6")
    proc = run(["price", "nope-model"])
    assert proc.returncode == 3 and "unknown model 'nope-model'" in proc.stderr


def test_prices_check_good(tmp_path):
    path = tmp_path / "good.json"
    path.write_text(json.dumps({"schema": 1, "models": {"gpt-4o": {"input": "2"}},
                                "aliases": {"dep": "gpt-4o"}}))
    proc = run(["prices", "--check", str(path)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{path}: OK, 1 model(s), 1 alias(es)"


def test_prices_check_bad_lists_every_problem(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": 1, "models": {"a": {"provider": "x", "input": NaN, "output": "-1"},'
                    ' "b": {"input": "1", "what": 2}}}')
    for code, err in ((main(["prices", "--check", str(path)]), capsys.readouterr().err),
                      (run(["prices", "--check", str(path)]).returncode, run(["prices", "--check", str(path)]).stderr)):
        assert code == 1
        assert f"price file {path}: 5 problem(s)" in err
        for line in ("models.a.input: price must be finite", "models.a.output: price must not be negative",
                     "models.b: unknown field 'what'", "models.b: missing required field 'provider'",
                     "models.b: missing required field 'output'"):
            assert line in err


def test_prices_check_missing_file(capsys):
    assert main(["prices", "--check", "/nonexistent/prices.json"]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_prices_list(capsys):
    assert main(["prices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["model"] for r in rows} >= {"gpt-4o", "claude-sonnet-4", "gemini-2.5-pro"}
    assert main(["prices"]) == 0
    assert "models (USD per 1M tokens)" in capsys.readouterr().out
