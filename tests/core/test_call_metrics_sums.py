"""``llm_cost.calls`` (when switched on) and ``llm_cost.spend`` are sums per attribute set.

They must export exactly what a synchronous ``Counter`` would: a monotonic Sum per
attribute set, in either temporality, bounded in cardinality.
"""

from __future__ import annotations

from decimal import Decimal

from opentelemetry.sdk.metrics import Counter, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

from otel_llm_cost import semconv
from otel_llm_cost._metrics import CallMetrics
from otel_llm_cost.cost import price_usage
from otel_llm_cost.usage import Usage

_ATTRS = {semconv.GEN_AI_PROVIDER_NAME: "openai", semconv.GEN_AI_OPERATION_NAME: "chat",
          semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18"}


def _points(reader: InMemoryMetricReader, name: str) -> list:
    data = reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    return [metric.data, sorted(((dict(p.attributes), p.value) for p in metric.data.data_points),
                                                key=repr)]
    return [None, []]


def test_calls_and_spend_are_monotonic_sums_per_attribute_set() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]), calls=True)
    usage = Usage(input_tokens=1000, output_tokens=500)
    cost = price_usage("gpt-4o-mini", usage)
    for _ in range(3):
        metrics.record(_ATTRS, usage, cost, 0.25)
    data, calls = _points(reader, semconv.METRIC_CALLS)
    assert data.is_monotonic and data.aggregation_temporality == AggregationTemporality.CUMULATIVE
    base = {k: _ATTRS[k] for k in (semconv.GEN_AI_PROVIDER_NAME, semconv.GEN_AI_OPERATION_NAME,
                                   semconv.GEN_AI_REQUEST_MODEL)}
    assert calls == [({**base, semconv.LLM_COST_STATUS: "priced", semconv.LLM_COST_USAGE_SOURCE: "reported"}, 3)]
    _, spend = _points(reader, semconv.METRIC_SPEND)
    # gpt-4o-mini: 0.15 / 0.60 USD per 1M tokens.
    expected = {"input": 3 * float(Decimal("0.00015")), "output": 3 * float(Decimal("0.0003"))}
    assert {attrs[semconv.LLM_COST_COMPONENT]: value for attrs, value in spend} == expected
    # Collecting again re-exports the same cumulative totals, as a sync counter does.
    assert _points(reader, semconv.METRIC_CALLS)[1] == calls


def test_delta_temporality_exports_what_was_added_since_the_last_collection() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA,
                                                         ObservableCounter: AggregationTemporality.DELTA})
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]), calls=True)
    usage = Usage(input_tokens=10, output_tokens=5)
    cost = price_usage("gpt-4o-mini", usage)
    metrics.record(_ATTRS, usage, cost, 0.1)
    metrics.record(_ATTRS, usage, cost, 0.1)
    assert [v for _, v in _points(reader, semconv.METRIC_CALLS)[1]] == [2]
    metrics.record(_ATTRS, usage, cost, 0.1)
    assert [v for _, v in _points(reader, semconv.METRIC_CALLS)[1]] == [1]


def test_every_call_metrics_on_one_provider_counts_into_the_same_series() -> None:
    # The instrumentors and the session processor each build a CallMetrics on the
    # same provider; a meter keeps one callback per name, so they must share sums.
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = CallMetrics(provider, calls=True), CallMetrics(provider, calls=True)
    usage = Usage(input_tokens=10, output_tokens=5)
    cost = price_usage("gpt-4o-mini", usage)
    first.record(_ATTRS, usage, cost, 0.1)
    second.record(_ATTRS, usage, cost, 0.1)
    second.record(_ATTRS, usage, cost, 0.1)
    assert [v for _, v in _points(reader, semconv.METRIC_CALLS)[1]] == [3]
    # A separate provider has its own series.
    other_reader = InMemoryMetricReader()
    CallMetrics(MeterProvider(metric_readers=[other_reader]), calls=True).record(_ATTRS, usage, cost, 0.1)
    assert [v for _, v in _points(other_reader, semconv.METRIC_CALLS)[1]] == [1]
    assert [v for _, v in _points(reader, semconv.METRIC_CALLS)[1]] == [3]


def test_off_the_sdk_the_counters_are_plain_counters() -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    metrics = CallMetrics(NoOpMeterProvider())
    usage = Usage(input_tokens=10, output_tokens=5)
    metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), 0.1)  # no error, nothing kept
