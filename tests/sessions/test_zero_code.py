"""The zero-code path under the real ``opentelemetry-instrument`` command, and configure().

Needs the package installed with its entry points (``pip install -e . --no-deps``):
``opentelemetry-instrument`` finds our post-instrument hook through them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

from otel_llm_cost import semconv

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent(f"""
    import json
    from opentelemetry import trace
    import otel_llm_cost

    CONFIGURE = {{configure}}
    if CONFIGURE:
        otel_llm_cost.configure()
        otel_llm_cost.configure()  # idempotent
    provider = trace.get_tracer_provider()
    # A span from some other GenAI instrumentation: usage, no cost. Its SDK is one we do
    # not wrap (Azure AI Inference's own tracing): an "openai" span would not count while
    # our OpenAI instrumentation is on, as it is here (foreign_spans rule).
    tracer = trace.get_tracer("another-genai-instrumentation")
    with otel_llm_cost.session(session_id="zc-1", user_id="u-1") as s:
        with tracer.start_as_current_span("chat gpt-4o", attributes={{
            "{semconv.GEN_AI_OPERATION_NAME}": "chat", "{semconv.GEN_AI_SYSTEM}": "az.ai.inference",
            "{semconv.GEN_AI_REQUEST_MODEL}": "gpt-4o",
            "{semconv.GEN_AI_USAGE_INPUT_TOKENS}": 1000, "{semconv.GEN_AI_USAGE_OUTPUT_TOKENS}": 100}}):
            pass
        inside = str(s.cost)
    processors = [type(p).__name__ for p in provider._active_span_processor._span_processors]
    print("RESULT " + json.dumps({{"cost": inside, "processors": processors}}))
""")


def _json_documents(text: str) -> list:
    """Every JSON document the console exporters printed (they pretty-print, back to back)."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while (i := text.find("{", i)) != -1:
        try:
            doc, end = decoder.raw_decode(text, i)
        except ValueError:
            i += 1
            continue
        docs.append(doc)
        i = end
    return docs


def _metrics(docs: list) -> dict[str, tuple[str, list]]:
    out = {}
    for doc in docs:
        for rm in doc.get("resource_metrics", ()):
            for sm in rm["scope_metrics"]:
                for m in sm["metrics"]:
                    out[m["name"]] = (m["unit"], m["data"]["data_points"], rm["resource"]["attributes"])
    return out


def _run(argv: list[str], configure: bool, tmp_path: Path, **extra_env: str) -> tuple[dict, dict, list]:
    result, metrics, spans, _ = _run_with_stderr(argv, configure, tmp_path, **extra_env)
    return result, metrics, spans


def _run_with_stderr(argv: list[str], configure: bool, tmp_path: Path,
                     **extra_env: str) -> tuple[dict, dict, list, str]:
    app = tmp_path / "app.py"
    app.write_text(APP.replace("{configure}", str(configure)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="console", OTEL_LOGS_EXPORTER="none",
               OTEL_SERVICE_NAME="zero-code-app", PYTHONPATH=str(ROOT), **extra_env)
    proc = subprocess.run([*argv, str(app)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    docs = _json_documents(proc.stdout.replace(line, ""))
    spans = [d for d in docs if "context" in d and "attributes" in d]
    return json.loads(line[7:]), _metrics(docs), spans, proc.stderr


def _check(result: dict, metrics: dict, spans: list) -> None:
    assert Decimal(result["cost"]) == Decimal("0.0035")  # 1000 x 2.50/1M + 100 x 10.00/1M, priced from gen_ai.usage.*
    assert result["processors"].count("SessionSpanProcessor") == 1
    unit, points, resource = metrics[semconv.METRIC_SESSION_COST]
    assert unit == "USD" and points[0]["sum"] == 0.0035 and points[0]["count"] == 1
    assert resource["service.name"] == "zero-code-app"
    unit, points, _ = metrics[semconv.METRIC_SESSION_CALLS]
    assert unit == "{call}" and points[0]["sum"] == 1
    unit, points, _ = metrics[semconv.METRIC_SESSIONS_ACTIVE]
    assert unit == "{session}" and points[0]["value"] == 0
    # The foreign call is also in the per-call metrics, once.
    unit, points, _ = metrics[semconv.METRIC_OPERATION_DURATION]
    assert points[0]["count"] == 1 and points[0]["attributes"][semconv.LLM_COST_STATUS] == "priced"
    assert semconv.METRIC_CALLS not in metrics  # opt-in
    # Its histogram points wait for a collection; the periodic reader's last one, at
    # shutdown, still exports them.
    unit, points, _ = metrics[semconv.METRIC_TOKEN_USAGE]
    assert unit == "{token}"
    assert sorted((p["attributes"][semconv.GEN_AI_TOKEN_TYPE], p["count"], p["sum"]) for p in points) == [
        ("input", 1, 1000), ("output", 1, 100)]
    unit, points, _ = metrics[semconv.METRIC_OPERATION_DURATION]
    assert unit == "s" and [p["count"] for p in points] == [1]
    assert [s["name"] for s in spans] == ["chat gpt-4o"]
    # The exported span itself carries the cost (the exporter wrapper both paths install).
    exported = spans[0]["attributes"]
    assert (exported[semconv.GEN_AI_USAGE_COST], exported[semconv.LLM_COST_USD]) == (0.0035, "0.0035")
    assert exported[semconv.LLM_COST_STATUS] == "priced"


def _instrument() -> list[str]:
    return [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable]


def test_opentelemetry_instrument_attaches_the_session_processor(tmp_path):
    """Our configurator selected by name (the test venv also has the OpenTelemetry distro's)."""
    _check(*_run(_instrument(), False, tmp_path, OTEL_PYTHON_CONFIGURATOR="otel_llm_cost"))


def test_another_configurator_leaves_foreign_spans_unpriced_on_export_and_says_so(tmp_path):
    """The distro's configurator builds the pipeline: its batch processor's exporter is never
    reached into, so the exported foreign span has no cost; sessions and metrics still
    price it, and one warning says how to get the cost onto the span."""
    result, metrics, spans, stderr = _run_with_stderr(_instrument(), False, tmp_path,
                                                      OTEL_PYTHON_CONFIGURATOR="configurator")
    assert Decimal(result["cost"]) == Decimal("0.0035")
    assert metrics[semconv.METRIC_SESSION_COST][1][0]["sum"] == 0.0035
    (span,) = spans
    assert semconv.LLM_COST_STATUS not in span["attributes"] and semconv.GEN_AI_USAGE_COST not in span["attributes"]
    warnings = [ln for ln in stderr.splitlines() if "without cost" in ln]
    assert len(warnings) == 1 and "OTEL_PYTHON_CONFIGURATOR=otel_llm_cost" in warnings[0], stderr


def test_configure_in_code_does_the_same(tmp_path):
    _check(*_run([sys.executable], True, tmp_path))


VENDOR = textwrap.dedent("""
    from opentelemetry.sdk._configuration import _OTelSDKConfigurator

    class VendorConfigurator(_OTelSDKConfigurator):
        def _configure(self, **kwargs):
            print("VENDOR CONFIGURED", sorted(kwargs))
""")


def test_our_configurator_hands_over_to_another_packages_own_configurator(tmp_path):
    """Reached first among several, ours never takes the place of a vendor distro's configurator;
    selected by name it builds the pipeline itself. (The vendor package is a real installed
    distribution: a module and its dist-info with the entry point, on the path.)"""
    (tmp_path / "vendor_cfg.py").write_text(VENDOR)
    info = tmp_path / "vendor_cfg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-cfg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[opentelemetry_configurator]\nvendor = vendor_cfg:VendorConfigurator\n")
    code = ("from opentelemetry import trace\nfrom otel_llm_cost.configurator import CostConfigurator\n"
            "CostConfigurator().configure(auto_instrumentation_version='1')\n"
            "print('PROVIDER', type(trace.get_tracer_provider()).__name__)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]), OTEL_TRACES_EXPORTER="console")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "VENDOR CONFIGURED ['auto_instrumentation_version']" in run.stdout
    assert "PROVIDER ProxyTracerProvider" in run.stdout
    env["OTEL_PYTHON_CONFIGURATOR"] = "otel_llm_cost"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "VENDOR" not in run.stdout and "PROVIDER TracerProvider" in run.stdout
