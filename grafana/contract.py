"""The Prometheus side of the metrics contract, verified against the real exporter.

OpenTelemetry names (``llm_cost.spend``, unit ``USD``) are not what Prometheus
stores (``llm_cost_spend_USD_total``): the exporter appends unit and type
suffixes and rewrites dots. Dashboards and alerts must use the Prometheus names,
so we do not guess them: :func:`render_exposition` records one value on every
instrument we emit, through the OpenTelemetry SDK and its Prometheus exporter, and
returns the text a scrape would see. ``docs/metrics.md`` holds the resulting
table and :func:`parse_metrics_table` reads it back so tests can hold the table,
the exposition and every PromQL query to one another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from otel_llm_cost import semconv as s

ROOT = Path(__file__).resolve().parent.parent
METRICS_DOC = ROOT / "docs" / "metrics.md"

_BASE = {
    s.GEN_AI_PROVIDER_NAME: "openai",
    s.GEN_AI_REQUEST_MODEL: "gpt-4o",
    s.GEN_AI_OPERATION_NAME: "chat",
}
#: Optional allow-listed attributes (OTEL_LLM_COST_METRIC_ATTRIBUTES) we show on the
#: spend and cache-savings counters so their Prometheus label names are verified too.
_ALLOW_LISTED = {s.USER_ID: "u-1", "tenant": "acme"}


def render_exposition() -> str:
    """Record on every instrument of the contract and return the Prometheus text.

    A private ``CollectorRegistry`` keeps the global registry (and other tests)
    untouched. Instrument names, units and buckets come from ``semconv`` so this
    follows the contract if it changes.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.metrics import Observation
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry)
    provider = MeterProvider(
        metric_readers=[reader], resource=Resource.create({"service.name": "contract"})
    )
    try:
        meter = provider.get_meter(s.SCOPE_NAME)
        meter.create_counter(s.METRIC_SPEND, unit=s.UNIT_USD).add(
            0.5, {**_BASE, s.LLM_COST_COMPONENT: "cache_read", **_ALLOW_LISTED}
        )
        meter.create_counter(s.METRIC_CACHE_SAVINGS, unit=s.UNIT_USD).add(0.25, {**_BASE, **_ALLOW_LISTED})
        meter.create_counter(s.METRIC_CALLS, unit=s.UNIT_CALL).add(
            1,
            {
                **_BASE,
                s.LLM_COST_STATUS: s.STATUS_PRICED,
                s.LLM_COST_USAGE_SOURCE: s.SOURCE_ESTIMATED,
                s.LLM_COST_ESTIMATE: s.ESTIMATE_LOWER_BOUND,
                s.ERROR_TYPE: "timeout",
            },
        )
        meter.create_histogram(
            s.METRIC_TOKEN_USAGE, unit=s.UNIT_TOKEN,
            explicit_bucket_boundaries_advisory=s.TOKEN_USAGE_BUCKETS,
        ).record(100, {**_BASE, s.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06", s.ERROR_TYPE: "timeout",
                    s.GEN_AI_TOKEN_TYPE: "input"})
        meter.create_histogram(
            s.METRIC_OPERATION_DURATION, unit=s.UNIT_SECONDS,
            explicit_bucket_boundaries_advisory=s.DURATION_BUCKETS,
        ).record(1.5, {**_BASE, s.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06", s.ERROR_TYPE: "timeout",
                       s.LLM_COST_STATUS: s.STATUS_PRICED, s.LLM_COST_USAGE_SOURCE: s.SOURCE_ESTIMATED,
                       s.LLM_COST_ESTIMATE: s.ESTIMATE_LOWER_BOUND})
        meter.create_histogram(
            s.METRIC_SESSION_COST, unit=s.UNIT_USD,
            explicit_bucket_boundaries_advisory=s.SESSION_COST_BUCKETS,
        ).record(0.02, {s.LLM_COST_STATUS: s.STATUS_PRICED})
        meter.create_histogram(
            s.METRIC_SESSION_TOKENS, unit=s.UNIT_TOKEN,
            explicit_bucket_boundaries_advisory=s.TOKEN_USAGE_BUCKETS,
        ).record(300, {s.GEN_AI_TOKEN_TYPE: "input"})
        meter.create_histogram(
            s.METRIC_SESSION_CALLS, unit=s.UNIT_CALL,
            explicit_bucket_boundaries_advisory=s.SESSION_CALLS_BUCKETS,
        ).record(3)
        meter.create_up_down_counter(s.METRIC_SESSIONS_ACTIVE, unit=s.UNIT_SESSION).add(1)
        meter.create_counter(s.METRIC_BUDGET_CROSSINGS, unit=s.UNIT_CROSSING).add(
            1, {s.LLM_COST_BUDGET_SCOPE: "user", s.LLM_COST_BUDGET_THRESHOLD: "0.8",
                s.LLM_COST_BUDGET_NAME: "user:*/month"}
        )
        declared = {s.LLM_COST_BUDGET_NAME: "user:*/month", s.LLM_COST_BUDGET_SCOPE: "user",
                    s.LLM_COST_BUDGET_HARD: True, s.USER_ID: "u1"}
        meter.create_observable_gauge(s.METRIC_BUDGET_REMAINING, unit=s.UNIT_USD, callbacks=[
            lambda _options: [Observation(6.8, declared)]])
        meter.create_observable_gauge(s.METRIC_BUDGET_LIMIT, unit=s.UNIT_USD, callbacks=[
            lambda _options: [Observation(10.0, declared)]])
        return generate_latest(registry).decode()
    finally:
        provider.shutdown()


@dataclass(frozen=True)
class MetricRow:
    """One row of the table in docs/metrics.md."""

    otel_name: str
    prom_type: str
    series: tuple[str, ...]
    labels: tuple[str, ...]
    #: Recorded only when switched on (marked "(opt-in)" after the OTel name).
    opt_in: bool = False


_CODE = re.compile(r"`([^`]+)`")


def parse_metrics_table(path: Path = METRICS_DOC) -> list[MetricRow]:
    """Read the mapping table: rows whose first cell is a backticked OTel name.

    Columns: OTel name | OTel type | unit | Prometheus type | series | labels.
    """
    rows = []
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[0].startswith("`"):
            continue
        rows.append(
            MetricRow(
                otel_name=_CODE.findall(cells[0])[0],
                prom_type=cells[3].strip("`"),
                series=tuple(_CODE.findall(cells[4])),
                labels=tuple(_CODE.findall(cells[5])),
                opt_in="(opt-in)" in cells[0],
            )
        )
    return rows


def known_series(rows: list[MetricRow] | None = None, *, opt_in: bool = True) -> set[str]:
    """Every Prometheus series name in the table; ``opt_in=False``: only those recorded
    by default (what real traffic with default settings produces)."""
    return {n for r in rows or parse_metrics_table() if opt_in or not r.opt_in for n in r.series}


def known_labels(rows: list[MetricRow] | None = None) -> set[str]:
    """Every Prometheus label name in the table (plus ``le`` and ``job``)."""
    return {n for r in rows or parse_metrics_table() for n in r.labels} | {"le", "job"}
