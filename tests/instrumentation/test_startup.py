"""Start-up under the real ``opentelemetry-instrument``: no SDK imported until the app does.

With ``openai``, ``anthropic``, ``google-genai``, ``boto3`` and ``litellm`` installed and our entry
points loaded, an application that never imports an SDK must not pay for importing one
(hundreds of milliseconds together; the time itself is a benchmark figure,
``python -m bench.startup``, not a test). What is asserted here is the behaviour that
figure rests on: at the end of ``python -c`` none of the SDK modules is in
``sys.modules``, and an application that imports ``openai`` later still gets a priced
span (the wrappers go in when the SDK is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

SDK_MODULES = ("openai", "anthropic", "google.genai", "botocore", "boto3", "litellm")

NOTHING = textwrap.dedent(f"""
    import json, sys
    print("LOADED " + json.dumps([m for m in {SDK_MODULES!r} if m in sys.modules]))
    # The launcher did instrument ours (instrumentors are singletons), or the line above proves nothing.
    from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
    from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
    from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
    from otel_llm_cost.instrumentation.litellm import LiteLLMInstrumentor
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
    print("INSTRUMENTED " + json.dumps([cls().is_instrumented_by_opentelemetry
                                        for cls in (OpenAIInstrumentor, AnthropicInstrumentor, GeminiInstrumentor,
                                                    BedrockInstrumentor, LiteLLMInstrumentor)]))
""")

LATER = textwrap.dedent(f"""
    import json, sys
    before = [m for m in {SDK_MODULES!r} if m in sys.modules]
    import openai
    client = openai.OpenAI()
    reply = client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hello there"}}])
    print("LOADED " + json.dumps(before))
    print("REPLY " + reply.choices[0].message.content)
""")


def _instrument(code: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "startup-test", **env}
    full_env.pop("PYTHONPATH", None)  # the installed package (entry points), not the source tree
    full_env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
    exe = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    proc = subprocess.run([exe, sys.executable, "-c", code], env=full_env, capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(sys.executable))
    assert proc.returncode == 0, proc.stderr
    return proc


def _loaded(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith("LOADED "))
    return json.loads(line.removeprefix("LOADED "))


@pytest.mark.parametrize("sdk", ["openai", "anthropic", "google-genai", "boto3", "litellm"])
def test_the_sdks_are_installed(sdk):
    """Only meaningful with all three SDKs installed: fail, don't pass vacuously."""
    from importlib.metadata import version

    assert version(sdk)


def test_no_sdk_is_imported_for_an_app_that_uses_none():
    ours = {ep.name for ep in entry_points(group="opentelemetry_instrumentor") if ep.value.startswith("otel_llm_cost.")}
    assert ours == {"llm_cost_openai", "llm_cost_anthropic", "llm_cost_google_genai", "llm_cost_bedrock",
                    "llm_cost_litellm"}
    stdout = _instrument(NOTHING).stdout
    assert _loaded(stdout) == []
    assert "INSTRUMENTED [true, true, true, true, true]" in stdout, stdout


def test_an_sdk_imported_later_is_still_instrumented(wire):
    proc = _instrument(LATER, OPENAI_BASE_URL=wire.openai_base_url, OPENAI_API_KEY="test")
    assert _loaded(proc.stdout) == []
    assert "REPLY Hello!" in proc.stdout
    assert '"name": "chat gpt-4o"' in proc.stdout
    assert '"llm_cost.usd": "0.00004"' in proc.stdout
