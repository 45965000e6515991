"""The installed ``otel-llm-cost`` console script says which prices it used, and why not others.

Each test runs the real console script (the one ``pip install`` put next to this
Python) in a subprocess, with our settings cleared from its environment.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from otel_llm_cost import semconv as s

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = pathlib.Path(sys.executable).parent / "otel-llm-cost"


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_LLM_COST_")}
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, env=clean, timeout=60)


def test_cost_says_a_service_tier_the_model_does_not_have_was_not_used():
    proc = script("cost", "--model", "gpt-4o", "--input", "1000", "--output", "5", "--service-tier", "flex")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("0.00255 USD  (gpt-4o, catalog 2026.12.07)")
    assert "rates: gpt-4o has no flex price in catalog 2026.12.07: standard rates used" in proc.stdout
    data = json.loads(script("cost", "--model", "gpt-4o", "--input", "1000", "--output", "5",
                             "--service-tier", "flex", "--json").stdout)
    assert data["rates"]["requested_service_tier"] == "flex" and data["rates"]["service_tier"] is None


def test_cost_says_the_service_tier_it_used():
    data = json.loads(script("cost", "--model", "gpt-5", "--input", "1000", "--output", "5",
                             "--service-tier", "flex", "--json").stdout)
    # gpt-5 flex: 0.625 / 5.00 per 1M
    assert (data["usd"], data["rates"]["service_tier"], data["rates"]["note"]) == (
        "0.00065", "flex", "flex service tier")


def test_cost_says_the_context_tier():
    long = script("cost", "--model", "gemini-2.5-pro", "--input", "250000", "--output", "5", "--json")
    short = script("cost", "--model", "gemini-2.5-pro", "--input", "200000", "--output", "5")
    data = json.loads(long.stdout)
    # above 200k: 2.50 / 15.00 per 1M for every token
    assert (data["usd"], data["rates"]["above_input_tokens"]) == ("0.625075", 200000)
    assert "tier above 200000 input tokens" in data["rates"]["note"]
    assert "rates: standard rates; below the tier above 200000 input tokens" in short.stdout
    batch = script("cost", "--model", "gemini-2.5-pro", "--input", "250000", "--output", "5",
                   "--service-tier", "batch")
    assert "rates: batch service tier; its price above 200000 input tokens is not in the catalog" in batch.stdout


def test_cost_of_an_unknown_model_says_to_name_the_provider():
    proc = script("cost", "--model", "accounts/fireworks/models/yi-large", "--input", "10", "--output", "5")
    assert proc.returncode == 3 and "give the provider the call goes to" in proc.stdout
    proc = script("cost", "--model", "accounts/fireworks/models/yi-large", "--input", "1000000",
                  "--output", "1000000", "--provider", "fireworks")
    assert proc.returncode == 0 and proc.stdout.startswith("6 USD  (fireworks_ai/accounts/fireworks/models/yi-large")


def test_price_uses_the_provider():
    proc = script("price", "accounts/fireworks/models/yi-large", "--provider", "fireworks", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["model"], data["prices"]["input"], data["catalog"]) == (
        "fireworks_ai/accounts/fireworks/models/yi-large", "3", "litellm 1.110.2 (bundled snapshot)")
    missing = script("price", "accounts/fireworks/models/yi-large")
    assert missing.returncode == 3 and "without --provider" in missing.stderr
    at_groq = script("price", "gpt-4o", "--provider", "groq")
    assert at_groq.returncode == 3 and "at provider 'groq'" in at_groq.stderr


def test_prices_check_lists_what_it_skipped(tmp_path):
    path = tmp_path / "model_prices_and_context_window.json"
    path.write_text(json.dumps({
        "sample_spec": {"mode": "one of: chat, embedding"},
        "gpt-x": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
                  "output_cost_per_token": 2e-06},
        "dall-e-9": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04},
        "whisper-9": {"litellm_provider": "openai", "mode": "audio_transcription", "input_cost_per_second": 0.0001},
        "free-thing": {"litellm_provider": "openai", "mode": "chat"},
    }))
    proc = script("prices", "--check", str(path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"{path}: OK, 1 model(s), 0 alias(es)"
    assert lines[1] == "skipped 4 entries (no per-token input price: never used to price a call):"
    assert lines[2:] == [
        "  sample_spec: LiteLLM's description of the format, not a model",
        "  dall-e-9: image_generation: no input_cost_per_token (priced by output_cost_per_image)",
        "  whisper-9: audio_transcription: no input_cost_per_token (priced by input_cost_per_second)",
        "  free-thing: chat: no price",
    ]


def test_prices_names_every_layer_with_its_version(tmp_path):
    proc = script("prices")
    assert proc.returncode == 0, proc.stderr
    assert "  1. your files:   none\n" in proc.stdout
    assert "  2. our list:     2026.12.07, " in proc.stdout
    assert "  3. genai-prices: genai-prices 0.2.3, " in proc.stdout
    assert "  4. fallback:     litellm 1.110.2 (bundled snapshot), " in proc.stdout
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps({"schema": 1, "version": "2026.12.01",
                                "models": {"my-model": {"provider": "acme", "input": "1", "output": "1"}}}))
    off = script("prices", **{s.ENV_PRICE_SOURCE: "bundled", s.ENV_FALLBACK_PRICES_FILE: "none",
                              s.ENV_PRICES_FILE: str(ours)})
    assert f"  1. your files:   {ours} (2026.12.01)\n" in off.stdout
    assert f"  3. genai-prices: off ({s.ENV_PRICE_SOURCE}=bundled)\n" in off.stdout
    assert f"  4. fallback:     off ({s.ENV_FALLBACK_PRICES_FILE}=none)\n" in off.stdout
