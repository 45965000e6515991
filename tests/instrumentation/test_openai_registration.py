"""Azure, content capture, (un)instrumenting, suppression, and the real
``opentelemetry-instrument`` command loading us through the entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import openai
import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from tests.sdk_versions import OPENAI_HAS_RESPONSES

from ._helpers import all_attribute_text
from ._openai_expect import HELLO, assert_hello_metrics, assert_span, gpt4o_hello, sync_client

TIER = {s.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER: "default"}


def test_azure_client(wire, otel):
    client = openai.AzureOpenAI(azure_endpoint=wire.base_url, api_version="2024-10-21", api_key="x",
                                max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert wire.requests[-1].path.startswith("/openai/deployments/gpt-4o/chat/completions")
    assert_span(otel, gpt4o_hello(wire, "chatcmpl-wire000001", provider="azure.ai.openai", **TIER))
    assert_hello_metrics(otel, provider="azure.ai.openai")


def test_no_content_by_default(wire, otel):
    secret = "my secret prompt words"
    client = sync_client(wire)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": secret}])
    list(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": secret}],
                                        stream=True))
    if OPENAI_HAS_RESPONSES:
        client.responses.create(model="gpt-4o", input=secret)
    text = all_attribute_text(otel.spans())
    assert len(otel.spans()) == (3 if OPENAI_HAS_RESPONSES else 2)
    assert "secret" not in text and "Hello!" not in text


def test_content_captured_when_enabled(wire, instrumented, monkeypatch):
    monkeypatch.setenv(s.ENV_CAPTURE_CONTENT, "true")
    otel = instrumented(OpenAIInstrumentor)
    sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)
    attrs = otel.span().attributes
    assert attrs[s.GEN_AI_INPUT_MESSAGES] == '[{"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]'
    assert attrs[s.GEN_AI_OUTPUT_MESSAGES] == (
        '[{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}], "finish_reason": "stop"}]')


def test_reinstrument_leaves_one_layer(wire, otel):
    otel.uninstrument()
    otel.instrument()
    create = openai.resources.chat.completions.Completions.__dict__["create"]
    assert isinstance(create, wrapt.FunctionWrapper) and not isinstance(create.__wrapped__, wrapt.FunctionWrapper)
    client = sync_client(wire)
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert len(otel.spans()) == 1
    otel.uninstrument()
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    assert len(otel.spans()) == 1
    assert not isinstance(openai.resources.chat.completions.Completions.__dict__["create"], wrapt.FunctionWrapper)


def test_cached_raw_wrapper_goes_quiet_after_uninstrument(wire, otel):
    raw_api = sync_client(wire).chat.completions.with_raw_response  # binds the wrapped method now
    otel.uninstrument()
    raw_api.create(model="gpt-4o", messages=HELLO).parse()
    assert otel.spans() == []


def test_suppress_instrumentation(wire, otel):
    with suppress_instrumentation():
        sync_client(wire).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert otel.spans() == []


SCRIPT = textwrap.dedent("""
    import sys
    import openai
    client = openai.OpenAI(max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hello there"}])
    # One write: the console exporter's thread prints spans to the same stdout, and
    # print("REPLY", x) writes its parts separately, so a span could land between them.
    sys.stdout.write("REPLY " + reply.choices[0].message.content + "\\n")
""")


def _run_instrumented(wire, tmp_path, **env):
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    full_env = {**os.environ, "OPENAI_BASE_URL": wire.openai_base_url, "OPENAI_API_KEY": "test",
                "OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none", "OTEL_SERVICE_NAME": "llm-cost-test", **env}
    full_env.pop("PYTHONPATH", None)  # the installed package (entry point), not the source tree
    exe = os.path.join(os.path.dirname(sys.executable), "opentelemetry-instrument")
    return subprocess.run([exe, sys.executable, str(script)], env=full_env, capture_output=True, text=True,
                          timeout=120)


def test_opentelemetry_instrument_command(wire, tmp_path):
    proc = _run_instrumented(wire, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "REPLY Hello!" in proc.stdout
    assert '"name": "chat gpt-4o"' in proc.stdout
    assert '"llm_cost.usd": "0.00004"' in proc.stdout
    assert '"kind": "SpanKind.CLIENT"' in proc.stdout


def test_disabled_instrumentations_env(wire, tmp_path):
    """Ours is turned off by its own entry-point name, ``llm_cost_openai``."""
    proc = _run_instrumented(wire, tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="llm_cost_openai")
    assert proc.returncode == 0, proc.stderr
    assert "REPLY Hello!" in proc.stdout
    assert '"otel_llm_cost"' not in proc.stdout and "llm_cost.usd" not in proc.stdout


def test_disabling_the_contrib_name_leaves_ours_on(wire, tmp_path):
    """``openai`` is the official contrib instrumentation's entry-point name, not ours."""
    proc = _run_instrumented(wire, tmp_path, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai,openai_v2")
    assert proc.returncode == 0, proc.stderr
    assert "REPLY Hello!" in proc.stdout
    assert proc.stdout.count('"name": "chat gpt-4o"') == 1, proc.stdout
