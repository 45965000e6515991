"""End to end through our Collector: real SDKs → OTLP → ``otel-collector.yaml`` → Prometheus.

The same traffic as ``tests/dashboards/test_e2e_prometheus.py`` (two rounds, sized to
cross every alert threshold), but the application exports the way users run it: the
OTLP exporters (traces over gRPC, metrics over HTTP) to a real Collector running the
shipped ``collector-config/otel-collector.yaml``, whose ``prometheus`` exporter a real
``prometheus`` scrapes with ``honor_labels`` like ``grafana/alerts/prometheus.yml``.
Traces go, through the config's ``otlp_grpc/traces`` exporter, to a second Collector
(``trace-sink.yaml``) that writes them to a file, which is read back span by span.

Both metric temporalities run through the same config: ``cumulative`` (the SDK
default) and ``delta`` (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``,
made cumulative again by the config's ``delta_to_cumulative`` processor).

Changed from the shipped files for a test that lasts seconds on a shared machine,
and nothing else: listen addresses (free ports on 127.0.0.1, via ``--set``), the
traces endpoint (env vars the config documents), the scrape interval (1s), the rule
groups' interval (1s, as in the Prometheus-only test) and the app's export interval (1s).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from grafana import queries
from otel_llm_cost import semconv
from otel_llm_cost.sessions import SessionSpanProcessor
from tests.collector._otelcol import CONFIG, Collector, free_port, wait_until
from tests.collector._traces import read_spans, sdk_view
from tests.dashboards._prometheus import Prometheus
from tests.dashboards.test_e2e_prometheus import (
    CALLS_PER_ROUND,
    ZERO_BY_DESIGN,
    _rules_every_second,
    expected_savings_per_round,
    instrumented_app,
    two_rounds,
)
from tests.wire import WireServer

JOB = "llm-app-via-collector"
HERE = Path(__file__).resolve().parent
ALL = queries.all_queries()


@dataclass
class Run:
    temporality: str
    prometheus: Prometheus
    spans: list
    sink_file: Path
    results: dict[int, list[dict]]


def start_app(tmp: Path, grpc: str, http: str, resource: Resource, delta: bool, monkeypatch):
    """The application side: SDK providers with the OTLP exporters, our processors."""
    if delta:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    metric_exporter = OTLPMetricExporter(endpoint=f"http://{http}/v1/metrics")
    if delta:
        from opentelemetry.sdk.metrics import Counter, Histogram
        assert metric_exporter._preferred_temporality[Counter] is AggregationTemporality.DELTA
        assert metric_exporter._preferred_temporality[Histogram] is AggregationTemporality.DELTA
    meter_provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(metric_exporter, export_interval_millis=1000)],
        resource=resource)
    memory = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://{grpc}", insecure=True), schedule_delay_millis=200))
    tracer_provider.add_span_processor(SessionSpanProcessor(meter_provider))
    return tracer_provider, meter_provider, memory


def main_collector(tmp: Path, name: str, sink_endpoint: str, grpc: str, http: str, prom: str) -> Collector:
    return Collector(
        tmp, name, CONFIG / "otel-collector.yaml",
        sets={"receivers::otlp::protocols::grpc::endpoint": grpc,
              "receivers::otlp::protocols::http::endpoint": http,
              "exporters::prometheus::endpoint": prom},
        env={"TRACES_EXPORTER": "otlp_grpc/traces", "TRACES_OTLP_ENDPOINT": sink_endpoint,
             "TRACES_OTLP_INSECURE": "true"})


def trace_sink(tmp: Path, name: str) -> tuple[Collector, str, Path]:
    endpoint = f"127.0.0.1:{free_port()}"
    path = tmp / f"{name}.json"
    sink = Collector(tmp, name, HERE / "trace-sink.yaml",
                     env={"SINK_OTLP_ENDPOINT": endpoint, "SINK_FILE": str(path)})
    return sink, endpoint, path


@pytest.fixture(scope="module", params=["cumulative", "delta"])
def run(request, wire_server: WireServer, tmp_path_factory) -> Iterator[Run]:
    delta = request.param == "delta"
    tmp = tmp_path_factory.mktemp(f"e2e-collector-{request.param}")
    sink, sink_endpoint, sink_file = trace_sink(tmp, "sink")
    grpc, http, prom_ep = (f"127.0.0.1:{free_port()}" for _ in range(3))
    collector = main_collector(tmp, "collector", sink_endpoint, grpc, http, prom_ep)
    prom = Prometheus(tmp, prom_ep, "otel-collector", [_rules_every_second(tmp)], honor_labels=True)
    resource = Resource.create({"service.name": JOB, "service.instance.id": f"e2e-{request.param}"})
    with pytest.MonkeyPatch.context() as env:
        tracer_provider, meter_provider, memory = start_app(tmp, grpc, http, resource, delta, env)
    try:
        with instrumented_app(tracer_provider, meter_provider):
            sink.start()
            collector.start()
            prom.start()
            results = two_rounds(wire_server, prom, JOB, timeout=30)
            tracer_provider.force_flush()
            finished = list(memory.get_finished_spans())
            wait_until(lambda: len(read_spans(sink_file)) >= len(finished), 20, "spans in the sink")
            yield Run(request.param, prom, finished, sink_file, results)
    finally:
        meter_provider.shutdown()
        tracer_provider.shutdown()
        prom.stop()
        collector.stop()
        sink.stop()


@pytest.mark.parametrize("index", range(len(ALL)), ids=[f"{q.source}:{q.title}" for q in ALL])
def test_every_shipped_query_returns_data(run, index):
    q = ALL[index]
    result = run.results[index]
    assert result, f"no data ({run.temporality}): {q.expr}"
    values = [float(sample["value"][1]) for sample in result]
    assert all(math.isfinite(v) for v in values), (q.expr, result)
    if (q.source, q.title) not in ZERO_BY_DESIGN:
        assert any(v > 0 for v in values), (q.expr, result)


def _ours(spans) -> list:
    return [s for s in spans if s.instrumentation_scope.name == semconv.SCOPE_NAME]


def test_spend_in_prometheus_equals_exact_span_costs(run):
    ours = _ours(run.spans)
    assert len(ours) == 2 * CALLS_PER_ROUND
    exact = sum((Decimal(s.attributes[semconv.LLM_COST_USD]) for s in ours
                 if semconv.LLM_COST_USD in s.attributes), Decimal(0))
    assert exact > 100
    stored = run.prometheus.value(f'sum(llm_cost_spend_USD_total{{job="{JOB}"}})')
    assert stored == pytest.approx(float(exact), rel=1e-9)
    saved = run.prometheus.value(f'sum(llm_cost_cache_savings_USD_total{{job="{JOB}"}})')
    assert saved == pytest.approx(float(2 * expected_savings_per_round()), rel=1e-9)


def test_calls_and_sessions(run):
    prom = run.prometheus
    by = {(m["metric"]["llm_cost_status"], m["metric"]["llm_cost_usage_source"]): float(m["value"][1])
          for m in prom.query(
              f'sum by (llm_cost_status, llm_cost_usage_source) '
              f'(gen_ai_client_operation_duration_seconds_count{{llm_cost_status!="", job="{JOB}"}})')}
    # The duration histogram's count is the call count; the calls counter is opt-in.
    assert prom.query(f'llm_cost_calls_total{{job="{JOB}"}}') == []
    assert by == {("priced", "reported"): 4, ("priced", "estimated"): 4,
                  ("unknown_model", "reported"): 2, ("no_usage", "reported"): 2}
    in_sessions = [s for s in run.spans if str(s.attributes.get(semconv.SESSION_ID, "")).startswith("e2e-round-")]
    exact = sum((Decimal(s.attributes[semconv.LLM_COST_USD]) for s in in_sessions), Decimal(0))
    assert prom.value(f'sum(llm_cost_session_cost_USD_sum{{job="{JOB}"}})') == pytest.approx(float(exact), rel=1e-9)
    assert prom.value(f'sum(llm_cost_session_cost_USD_count{{job="{JOB}"}})') == 2
    assert prom.value(f'sum(llm_cost_sessions_active{{job="{JOB}"}})') == 1


def test_job_and_instance_come_from_the_resource(run):
    """service.name → job, service.instance.id → instance, kept by honor_labels."""
    got = run.prometheus.query(f'count by (job, instance) (llm_cost_spend_USD_total{{job="{JOB}"}})')
    assert [m["metric"] for m in got] == [{"job": JOB, "instance": f"e2e-{run.temporality}"}]


def test_every_alert_is_active_after_round_two(run):
    groups = run.prometheus.api("rules", type="alert")["groups"]
    states = {r["name"]: r["state"] for g in groups for r in g["rules"]}
    shipped = {r["alert"] for g in yaml.safe_load(Path(queries.RULES).read_text())["groups"]
               for r in g["rules"] if "alert" in r}
    assert set(states) == shipped
    assert all(s in ("pending", "firing") for s in states.values()), states


def test_series_are_the_documented_ones(run):
    """The names the Collector produced are exactly the docs/metrics.md table."""
    from grafana.contract import known_labels, known_series

    series = run.prometheus.api("series", **{"match[]": f'{{job="{JOB}", otel_scope_name="{semconv.SCOPE_NAME}"}}'})
    assert {s["__name__"] for s in series} == known_series(opt_in=False)
    extra = {"__name__", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
    labels = {k for s in series for k in s} - extra
    assert labels <= known_labels(), labels - known_labels()


def test_every_span_reaches_the_sink_with_every_attribute(run):
    """Each span the SDK finished is in the sink once, with name, ids, scope, resource,
    attributes (the exact cost string included) and events unchanged."""
    stored = read_spans(run.sink_file)
    by_id = {}
    for s in stored:
        assert s["span_id"] not in by_id, f"span stored twice: {s['span_id']}"
        by_id[s["span_id"]] = s
    expected = [sdk_view(s) for s in run.spans]
    assert len(expected) >= 2 * CALLS_PER_ROUND
    assert set(by_id) == {e["span_id"] for e in expected}
    for e in expected:
        assert by_id[e["span_id"]] == e
    costs = [s["attributes"][semconv.LLM_COST_USD] for s in stored if semconv.LLM_COST_USD in s["attributes"]]
    assert costs and all(isinstance(c, str) for c in costs)
