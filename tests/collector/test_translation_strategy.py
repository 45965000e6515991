"""The metric names Prometheus stores, by the ``prometheus`` exporter's ``translation_strategy``.

One application (real SDK calls over the wire server, our instrumentation) exports
the same metrics to three Collectors running ``otel-collector.yaml``, each scraped by
its own Prometheus:

* ``pinned`` — the file as shipped (``UnderscoreEscapingWithSuffixes``);
* ``default`` — the same file with the ``translation_strategy`` lines removed, i.e.
  the exporter's default, which must give the same names (so the pin changes nothing
  today and guards against a change of default);
* ``without-suffixes`` — ``UnderscoreEscapingWithoutSuffixes`` set with ``--set``,
  which renames the series: the dashboards, tied to the pinned names, then find nothing.

``NoUTF8EscapingWithSuffixes`` (``llm_cost.spend_USD_total``) needs a Prometheus with
UTF-8 names (3.x); Debian's Prometheus here is 2.42, so that row of the README's table
is not run.
"""

from __future__ import annotations

import time
from pathlib import Path

import anthropic
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from grafana import queries
from grafana.contract import known_series
from otel_llm_cost import budgets
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import SessionSpanProcessor, session
from tests.collector._otelcol import CONFIG, Collector, free_port
from tests.dashboards._prometheus import Prometheus
from tests.wire import Reply, WireServer

JOB = "llm-app-naming"
STRATEGIES = ("pinned", "default", "without-suffixes")
USER = [{"role": "user", "content": "how much does this cost"}]


def _config_for(tmp: Path, strategy: str) -> tuple[Path, dict[str, str]]:
    shipped = CONFIG / "otel-collector.yaml"
    if strategy == "pinned":
        return shipped, {}
    if strategy == "default":
        text = shipped.read_text()
        assert "translation_strategy: UnderscoreEscapingWithSuffixes" in text
        path = tmp / "otel-collector-default-strategy.yaml"
        path.write_text("\n".join(ln for ln in text.splitlines() if "translation_strategy:" not in ln) + "\n")
        return path, {}
    return shipped, {"exporters::prometheus::translation_strategy": "UnderscoreEscapingWithoutSuffixes"}


@pytest.fixture(scope="module")
def names(wire_server: WireServer, tmp_path_factory) -> dict[str, dict[str, set[str]]]:
    """Per strategy: the series names stored, and which shipped queries returned data."""
    tmp = tmp_path_factory.mktemp("translation")
    stack = []
    readers = []
    for strategy in STRATEGIES:
        config, sets = _config_for(tmp, strategy)
        http, prom_ep = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        collector = Collector(tmp, f"collector-{strategy}", config, sets={
            "receivers::otlp::protocols::grpc::endpoint": f"127.0.0.1:{free_port()}",
            "receivers::otlp::protocols::http::endpoint": http,
            "exporters::prometheus::endpoint": prom_ep, **sets})
        workdir = tmp / strategy
        workdir.mkdir()
        prom = Prometheus(workdir, prom_ep, "otel-collector", [], honor_labels=True)
        stack.append((strategy, collector, prom))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"http://{http}/v1/metrics"),
                                                     export_interval_millis=500))
    meter_provider = MeterProvider(metric_readers=readers, resource=Resource.create({"service.name": JOB}))
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SessionSpanProcessor(meter_provider))
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    for inst in instrumentors:
        inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    # A declared budget, so that its gauges (llm_cost.budget.remaining/.limit) are exported too.
    budgets.set_budgets("app 100000 per day", ledger=tmp / "ledger.db", meter_provider=meter_provider)
    try:
        for _, collector, prom in stack:
            collector.start()
            prom.start()
        wire_server.reset()
        oai = openai.OpenAI(base_url=wire_server.openai_base_url, api_key="test", max_retries=0)
        claude = anthropic.Anthropic(base_url=wire_server.base_url, api_key="test", max_retries=0)
        with session(session_id="naming", budget_usd="0.000001"):
            wire_server.enqueue(Reply(usage={"prompt_tokens_details": {"cached_tokens": 4}}))
            oai.chat.completions.create(model="gpt-4o", messages=USER)
            claude.messages.create(model="claude-sonnet-4-5-20250929", max_tokens=64, messages=USER)
        meter_provider.force_flush()
        out = {}
        for _strategy, _, prom in stack:
            # Every instrument of the contract has a series once the whole export is in.
            prom.wait_for(f'count(count by (__name__) ({{job="{JOB}"}}))',
                          lambda v: v >= len(known_series(opt_in=False)), timeout=30)
        time.sleep(3)  # a few more scrapes: rate() needs two samples in its window
        for strategy, _, prom in stack:
            series = prom.api("series", **{"match[]": f'{{job="{JOB}"}}'})
            answered = {q.title for q in queries.dashboard_queries() if prom.query(q.expr)}
            out[strategy] = {"names": {s["__name__"] for s in series} - {"target_info"}, "answered": answered}
        yield out
    finally:
        budgets.clear_budgets()
        for inst in instrumentors:
            if inst.is_instrumented_by_opentelemetry:
                inst.uninstrument()
        meter_provider.shutdown()
        tracer_provider.shutdown()
        for _, collector, prom in stack:
            prom.stop()
            collector.stop()


def test_pinned_strategy_gives_the_documented_names(names):
    assert names["pinned"]["names"] == known_series(opt_in=False)


def test_exporter_default_is_the_pinned_strategy(names):
    assert names["default"]["names"] == names["pinned"]["names"]


def test_without_suffixes_renames_and_the_dashboards_go_empty(names):
    got = names["without-suffixes"]["names"]
    assert "llm_cost_spend" in got and "llm_cost_spend_USD_total" not in got
    assert "gen_ai_client_operation_duration_bucket" in got  # no _seconds
    # The same traffic: every dashboard query that answered with the pinned names ...
    assert len(names["pinned"]["answered"]) >= 15, names["pinned"]["answered"]
    # ... and the spend, cost and call panels find nothing with the other strategy.
    lost = names["pinned"]["answered"] - names["without-suffixes"]["answered"]
    assert {"Spend in time range", "Top models by spend", "Calls by status (calls/min)"} <= lost, lost
    print(f"\nanswered: pinned {len(names['pinned']['answered'])}, without suffixes "
          f"{len(names['without-suffixes']['answered'])}: {sorted(names['without-suffixes']['answered'])}")
