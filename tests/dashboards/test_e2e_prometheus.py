"""End to end: real SDK calls → our metrics → a real Prometheus → every shipped query.

The real ``openai`` and ``anthropic`` SDKs call the local wire server through our
instrumentors; the OpenTelemetry SDK's ``PrometheusMetricReader`` exposes the
metrics over HTTP; a real ``prometheus`` process scrapes them every second and
loads our rule file. Then every query of ``grafana/queries.py`` — each dashboard
panel, each Grafana alert query, each Prometheus alert and recording rule — runs
through Prometheus' HTTP API and must return data, and the spend Prometheus holds
must equal the exact cost on the spans.

The traffic runs twice with identical label sets: ``rate``/``increase`` count
nothing for a series' first sample, so round 1 creates every series and round 2
is what the windows see. Round 2 alone is sized to cross every alert threshold of
``grafana/alerts/thresholds.yaml`` (over 50 USD, unpriced and estimated calls,
an expensive session that uses up its budget), so alert expressions, which only
return series while they fire, return data because they fire.

Adjusted for a test that lasts seconds, said here rather than hidden: scrape
interval 1s, and the rule groups' ``interval: 1m`` is rewritten to 1s in a temporary
copy of the rule file (the shipped one would first evaluate up to a minute after
start). Grafana's ``$__rate_interval`` is 5m in ``queries.BUILTINS``; every
window (5m, 15m, 1h) holds the whole test, so nothing needs shortening.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest
import yaml
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, start_http_server

from grafana import queries
from otel_llm_cost import budgets, semconv
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.pricing import get_catalog
from otel_llm_cost.sessions import SessionSpanProcessor, end_session, session
from tests.dashboards._prometheus import Prometheus
from tests.wire import Reply, WireServer

JOB = "llm-app"
SONNET = "claude-sonnet-4-5-20250929"
UNPRICED = "e2e-unpriced-model"
OPEN_SESSION = "e2e-open"
USER = [{"role": "user", "content": "how much does this cost"}]
RULES = Path(queries.RULES)

#: Per round. Token counts are large so one round costs over 50 USD (the hourly alert).
OPENAI_USAGE = {"prompt_tokens": 1_000_000, "completion_tokens": 3_000_000, "total_tokens": 4_000_000,
                "prompt_tokens_details": {"cached_tokens": 800_000}}
ANTHROPIC_USAGE = {"input_tokens": 20_000, "cache_read_input_tokens": 150_000,
                   "cache_creation_input_tokens": 10_000, "output_tokens": 2_000_000}
CALLS_PER_ROUND = 6  # 2 priced with cache reads, 1 unknown model, 2 estimated streams, 1 error


def _per_million(n: int, rate: Decimal) -> Decimal:
    return n * rate / 1_000_000


def expected_savings_per_round() -> Decimal:
    """Cache-read tokens × (input − cache-read rate), from the catalog's rates."""
    gpt = get_catalog().resolve("gpt-4o").rates_for(1_000_000)
    sonnet = get_catalog().resolve(SONNET).rates_for(180_000)
    return (_per_million(800_000, gpt.input - gpt.cache_read)
            + _per_million(150_000, sonnet.input - sonnet.cache_read))


@dataclass
class Run:
    prometheus: Prometheus
    spans: list
    #: Every query result, evaluated once after round 2 was scraped and rules ran.
    results: dict[int, list[dict]]


def _rules_every_second(tmp: Path) -> Path:
    data = yaml.safe_load(RULES.read_text())
    for group in data["groups"]:
        group["interval"] = "1s"
    path = tmp / "llm-cost-rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _round(wire: WireServer, oai: openai.OpenAI, claude: anthropic.Anthropic, n: int) -> None:
    """One round of traffic: the mix every panel and alert needs."""
    # A session of a known user with a 10 USD budget: the two big calls cost over
    # 60 USD, so it crosses 0.5, 0.8 and 1.0 of the budget and ends above 5 USD.
    with session(session_id=f"e2e-round-{n}", user_id="e2e-user", budget_usd=10):
        wire.enqueue(Reply(usage=OPENAI_USAGE))
        oai.chat.completions.create(model="gpt-4o", messages=USER)
        wire.enqueue(Reply(usage=ANTHROPIC_USAGE))
        claude.messages.create(model=SONNET, max_tokens=64, messages=USER)
    oai.chat.completions.create(model=UNPRICED, messages=USER)  # no price: unknown_model
    for _ in range(2):  # no stream_options.include_usage: usage estimated locally
        wire.enqueue(Reply(text="a streamed answer", chunks=3))
        for _chunk in oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True):
            pass
    wire.enqueue(Reply(status=400))
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt-4o", messages=USER)


def _calls_seen(prom: Prometheus, job: str, n: int, timeout: float) -> None:
    prom.wait_for(f'sum(gen_ai_client_operation_duration_seconds_count{{llm_cost_status!="", job="{job}"}})',
                  lambda v: v == n, timeout=timeout)


def _alerts_active(prom: Prometheus, timeout: float) -> None:
    """Wait until every alert of the rule file is pending or firing."""
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        groups = prom.api("rules", type="alert")["groups"]
        states = {r["name"]: r["state"] for g in groups for r in g["rules"]}
        if states and all(s in ("pending", "firing") for s in states.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"alerts not all active after round 2: {states}")


@contextmanager
def instrumented_app(tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Iterator[None]:
    """Our OpenAI and Anthropic instrumentations on the app's providers, ``user.id`` on
    the metrics; on exit the open session ends and both are uninstrumented."""
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]
    ledger = Path(tempfile.mkdtemp(prefix="e2e-budgets-")) / "ledger.db"
    with pytest.MonkeyPatch.context() as env:
        env.setenv(semconv.ENV_METRIC_ATTRIBUTES, semconv.USER_ID)  # read at instrument()
        for inst in instrumentors:
            inst.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        # Declared budgets: the round's user's, which its session's calls use up (both
        # declared-budget alerts fire), and the application's, with plenty left.
        budgets.set_budgets("user:e2e-user 20 per day; app 100000 per day", ledger=ledger,
                            meter_provider=meter_provider)
    try:
        yield
    finally:
        budgets.clear_budgets()
        shutil.rmtree(ledger.parent, ignore_errors=True)
        end_session(OPEN_SESSION)
        for inst in instrumentors:
            if inst.is_instrumented_by_opentelemetry:
                inst.uninstrument()


def two_rounds(wire_server: WireServer, prom: Prometheus, job: str, timeout: float) -> dict[int, list[dict]]:
    """Two rounds of traffic with a session left open between them, waited for until
    Prometheus has every call of ``job`` and every alert is active; then every shipped query."""
    wire_server.reset()
    oai = openai.OpenAI(base_url=wire_server.openai_base_url, api_key="test", max_retries=0)
    claude = anthropic.Anthropic(base_url=wire_server.base_url, api_key="test", max_retries=0)
    _round(wire_server, oai, claude, 1)
    _calls_seen(prom, job, CALLS_PER_ROUND, timeout)
    with session(session_id=OPEN_SESSION, end=False):  # still live when queried
        pass
    _round(wire_server, oai, claude, 2)
    _calls_seen(prom, job, 2 * CALLS_PER_ROUND, timeout)
    _alerts_active(prom, timeout)
    return {i: prom.query(q.expr) for i, q in enumerate(ALL)}


@pytest.fixture(scope="module")
def run(wire_server: WireServer, tmp_path_factory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("e2e-prometheus")
    registry = CollectorRegistry()  # private: the global REGISTRY stays untouched
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)],
                                   resource=Resource.create({"service.name": JOB}))
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer_provider.add_span_processor(SessionSpanProcessor(meter_provider))
    httpd, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    prom = Prometheus(tmp, f"127.0.0.1:{httpd.server_port}", JOB, [_rules_every_second(tmp)])
    try:
        with instrumented_app(tracer_provider, meter_provider):
            prom.start()
            try:
                results = two_rounds(wire_server, prom, JOB, timeout=15)
                yield Run(prom, list(spans.get_finished_spans()), results)
            finally:
                prom.stop()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
        meter_provider.shutdown()
        tracer_provider.shutdown()


ALL = queries.all_queries()
#: Queries whose correct value is 0 with any traffic: the recorded threshold constants
#: that are 0 by default (unpriced_call_share). Non-empty is still required.
ZERO_BY_DESIGN = {("alerts/llm-cost-rules.yaml", "llm_cost:threshold_unpriced_call_share")}


@pytest.mark.parametrize("index", range(len(ALL)), ids=[f"{q.source}:{q.title}" for q in ALL])
def test_every_shipped_query_returns_data(run, index):
    q = ALL[index]
    result = run.results[index]
    assert result, f"no data: {q.expr}"
    values = [float(sample["value"][1]) for sample in result]
    assert all(math.isfinite(v) for v in values), (q.expr, result)
    if (q.source, q.title) not in ZERO_BY_DESIGN:
        assert any(v > 0 for v in values), (q.expr, result)


def test_query_list_is_complete():
    """What was evaluated is every dashboard target, Grafana alert query and rule."""
    dashboards = {s for s in (q.source for q in ALL) if s.startswith("dashboards/")}
    assert dashboards == {"dashboards/llm-cost-overview.json", "dashboards/llm-cost-sessions.json"}
    rules = yaml.safe_load(RULES.read_text())
    n_rules = sum(len(g["rules"]) for g in rules["groups"])
    assert sum(q.source == "alerts/llm-cost-rules.yaml" for q in ALL) == n_rules
    assert len(ALL) >= 50


def test_spend_in_prometheus_equals_exact_span_costs(run):
    ours = [s for s in run.spans if s.instrumentation_scope.name == semconv.SCOPE_NAME]
    assert len(ours) == 2 * CALLS_PER_ROUND
    exact = sum((Decimal(s.attributes[semconv.LLM_COST_USD]) for s in ours
                 if semconv.LLM_COST_USD in s.attributes), Decimal(0))
    assert exact > 100  # two rounds of > 50 USD
    stored = run.prometheus.value(f'sum(llm_cost_spend_USD_total{{job="{JOB}"}})')
    assert stored == pytest.approx(float(exact), rel=1e-9)


def test_cache_savings_in_prometheus_equal_the_rate_difference(run):
    stored = run.prometheus.value(f'sum(llm_cost_cache_savings_USD_total{{job="{JOB}"}})')
    assert stored == pytest.approx(float(2 * expected_savings_per_round()), rel=1e-9)


def test_calls_by_status_and_source(run):
    by = {(m["metric"]["llm_cost_status"], m["metric"]["llm_cost_usage_source"]): float(m["value"][1])
          for m in run.prometheus.query(
              f'sum by (llm_cost_status, llm_cost_usage_source) '
              f'(gen_ai_client_operation_duration_seconds_count{{llm_cost_status!="", job="{JOB}"}})')}
    # The duration histogram's count is the call count; the calls counter is opt-in.
    assert run.prometheus.query(f'llm_cost_calls_total{{job="{JOB}"}}') == []
    assert by == {("priced", "reported"): 4, ("priced", "estimated"): 4,
                  ("unknown_model", "reported"): 2, ("no_usage", "reported"): 2}


def test_session_figures(run):
    """Session cost in Prometheus is the exact cost of the sessions' calls; crossings counted."""
    in_sessions = [s for s in run.spans if str(s.attributes.get(semconv.SESSION_ID, "")).startswith("e2e-round-")]
    assert len(in_sessions) == 4
    exact = sum((Decimal(s.attributes[semconv.LLM_COST_USD]) for s in in_sessions), Decimal(0))
    prom = run.prometheus
    assert prom.value(f'sum(llm_cost_session_cost_USD_sum{{job="{JOB}"}})') == pytest.approx(float(exact), rel=1e-9)
    assert prom.value(f'sum(llm_cost_session_cost_USD_count{{job="{JOB}"}})') == 2
    assert prom.value(f'sum(llm_cost_session_calls_sum{{job="{JOB}"}})') == 4
    assert prom.value(f'sum(llm_cost_sessions_active{{job="{JOB}"}})') == 1
    crossings = {m["metric"]["llm_cost_budget_threshold"]: float(m["value"][1]) for m in prom.query(
        f'sum by (llm_cost_budget_threshold) (llm_cost_budget_crossings_total{{job="{JOB}", '
        f'llm_cost_budget_scope="session"}})')}
    assert crossings == {"0.5": 2, "0.8": 2, "1.0": 2}
    users = prom.query(f'sum by (user_id) (llm_cost_spend_USD_total{{job="{JOB}", user_id!=""}})')
    assert [u["metric"]["user_id"] for u in users] == ["e2e-user"]


def test_every_alert_is_active_after_round_two(run):
    groups = run.prometheus.api("rules", type="alert")["groups"]
    states = {r["name"]: r["state"] for g in groups for r in g["rules"]}
    shipped = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert set(states) == shipped
    assert all(s in ("pending", "firing") for s in states.values()), states


def test_real_series_are_the_documented_ones(run):
    """What Prometheus scraped from real traffic is exactly the docs/metrics.md table."""
    from grafana.contract import known_labels, known_series

    series = run.prometheus.api("series", **{"match[]": f'{{job="{JOB}", otel_scope_name="{semconv.SCOPE_NAME}"}}'})
    names = {s["__name__"] for s in series}
    assert names == known_series(opt_in=False)
    extra = {"__name__", "instance", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
    labels = {k for s in series for k in s} - extra
    assert labels <= known_labels(), labels - known_labels()
