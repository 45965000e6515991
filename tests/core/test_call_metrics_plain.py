"""The per-call metrics are plain SDK instruments, recorded in the call's context.

So what the SDK offers every instrument works on ours: exemplars that point to the
LLM call's span, and user Views that select by instrument type or name.
"""

from __future__ import annotations

from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import DropAggregation, SumAggregation, View
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import semconv
from otel_llm_cost.config import Settings
from otel_llm_cost.instrumentation._call import LLMCall, Telemetry
from otel_llm_cost.usage import Usage


def _metrics(reader: InMemoryMetricReader) -> dict:
    data = reader.get_metrics_data()
    return {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _call(telemetry: Telemetry, model: str = "gpt-4o-mini", operation: str = "chat") -> LLMCall:
    call = LLMCall(telemetry, operation, "openai", model, {})
    call.set_response(model=model, usage=Usage(1000, 100 if operation == "chat" else 0, cache_read_tokens=400))
    call.end()
    return call


def _with_calls() -> Settings:
    return Settings(metric_calls=True)


def test_the_instruments_are_the_sdks_own_histograms_and_counters() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    metrics = telemetry.metrics
    assert isinstance(metrics.token_usage, Histogram) and isinstance(metrics.duration, Histogram)
    assert all(isinstance(c, Counter) for c in (metrics.spend, metrics.calls, metrics.cache_savings))


def test_exemplars_point_to_the_calls_own_span() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]), _with_calls())
    calls = [_call(telemetry) for _ in range(3)]
    span_ids = {c.span.get_span_context().span_id for c in calls}
    found = _metrics(reader)
    for name in (semconv.METRIC_TOKEN_USAGE, semconv.METRIC_OPERATION_DURATION, semconv.METRIC_CALLS,
                 semconv.METRIC_SPEND):
        exemplar_ids = {e.span_id for p in found[name].data.data_points for e in p.exemplars}
        assert exemplar_ids and exemplar_ids <= span_ids, name


def test_user_views_select_our_instruments_by_type_and_name() -> None:
    reader = InMemoryMetricReader()
    views = [
        View(instrument_type=Counter, instrument_name=semconv.METRIC_CALLS, name="llm.calls.renamed",
             attribute_keys={semconv.GEN_AI_PROVIDER_NAME}),
        View(instrument_name=semconv.METRIC_OPERATION_DURATION, aggregation=DropAggregation()),
        View(instrument_name=semconv.METRIC_TOKEN_USAGE, aggregation=SumAggregation()),
    ]
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader], views=views), _with_calls())
    _call(telemetry)
    _call(telemetry, "gpt-4o")
    found = _metrics(reader)
    assert semconv.METRIC_OPERATION_DURATION not in found
    renamed = found["llm.calls.renamed"].data.data_points
    assert [(dict(p.attributes), p.value) for p in renamed] == [({semconv.GEN_AI_PROVIDER_NAME: "openai"}, 2)]
    tokens = sorted((p.attributes[semconv.GEN_AI_REQUEST_MODEL], p.attributes[semconv.GEN_AI_TOKEN_TYPE], p.value)
                    for p in found[semconv.METRIC_TOKEN_USAGE].data.data_points)
    assert tokens == [("gpt-4o", "input", 1000), ("gpt-4o", "output", 100),
                      ("gpt-4o-mini", "input", 1000), ("gpt-4o-mini", "output", 100)]


def test_delta_temporality_exports_each_interval_once() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA,
                                                         Histogram: AggregationTemporality.DELTA})
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]), _with_calls())
    _call(telemetry)
    first = _metrics(reader)[semconv.METRIC_CALLS].data.data_points
    _call(telemetry)
    _call(telemetry)
    second = _metrics(reader)[semconv.METRIC_CALLS].data.data_points
    assert [p.value for p in first] == [1] and [p.value for p in second] == [2]


def test_allow_listed_span_attributes_reach_the_metrics() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]),
                          Settings(metric_attributes=("tenant",)))
    call = LLMCall(telemetry, "chat", "openai", "gpt-4o", {"tenant": "acme", "user.id": "u1"})
    call.set_response(model="gpt-4o", usage=Usage(10, 1))
    call.end()
    found = _metrics(reader)
    for name in (semconv.METRIC_OPERATION_DURATION, semconv.METRIC_TOKEN_USAGE, semconv.METRIC_SPEND):
        points = found[name].data.data_points
        assert points and [p.attributes.get("tenant") for p in points] == ["acme"] * len(points), name
        assert all("user.id" not in p.attributes for p in points)


def test_the_calls_counter_is_opt_in_and_adds_nothing_else() -> None:
    """Off by default: the duration histogram's count, with the same status labels, is the
    call count (docs/metrics.md). On, it is one more point per call and changes nothing else."""
    off, on = InMemoryMetricReader(), InMemoryMetricReader()
    _call(Telemetry(TracerProvider(), MeterProvider(metric_readers=[off])))
    _call(Telemetry(TracerProvider(), MeterProvider(metric_readers=[on]), _with_calls()))
    without, with_calls = _metrics(off), _metrics(on)
    assert semconv.METRIC_CALLS in with_calls and semconv.METRIC_CALLS not in without
    assert set(with_calls) - {semconv.METRIC_CALLS} == set(without)
    for name, metric in without.items():
        assert [p.attributes for p in metric.data.data_points] == \
            [p.attributes for p in with_calls[name].data.data_points], name
    [counted] = with_calls[semconv.METRIC_CALLS].data.data_points
    [timed] = without[semconv.METRIC_OPERATION_DURATION].data.data_points
    # The same status labels; the counter keeps the attributes it always had (no response model).
    timed_attributes = {k: v for k, v in timed.attributes.items() if k != semconv.GEN_AI_RESPONSE_MODEL}
    assert dict(counted.attributes) == timed_attributes and counted.value == timed.count == 1
    assert semconv.LLM_COST_STATUS in timed_attributes


def test_the_duration_carries_each_calls_status_and_usage_source() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    _call(telemetry)
    _call(telemetry, "no-such-model-anywhere")
    estimated = LLMCall(telemetry, "chat", "openai", "gpt-4o-mini", {})
    estimated.set_response(model="gpt-4o-mini", usage=Usage(10, 2, source=semconv.SOURCE_ESTIMATED))
    estimated.end()
    got = sorted((p.attributes[semconv.GEN_AI_REQUEST_MODEL], p.attributes[semconv.LLM_COST_STATUS],
                  p.attributes[semconv.LLM_COST_USAGE_SOURCE], p.count)
                 for p in _metrics(reader)[semconv.METRIC_OPERATION_DURATION].data.data_points)
    assert got == [("gpt-4o-mini", semconv.STATUS_PRICED, semconv.SOURCE_ESTIMATED, 1),
                   ("gpt-4o-mini", semconv.STATUS_PRICED, semconv.SOURCE_REPORTED, 1),
                   ("no-such-model-anywhere", semconv.STATUS_UNKNOWN_MODEL, semconv.SOURCE_REPORTED, 1)]


def test_embeddings_record_no_output_token_point() -> None:
    """The conventions' token usage of an embeddings call is its input; a zero output
    point would only add a sample of 0 to the output histogram."""
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    _call(telemetry, "text-embedding-3-small", operation="embeddings")
    _call(telemetry)
    types = sorted((p.attributes[semconv.GEN_AI_OPERATION_NAME], p.attributes[semconv.GEN_AI_TOKEN_TYPE])
                   for p in _metrics(reader)[semconv.METRIC_TOKEN_USAGE].data.data_points)
    assert types == [("chat", "input"), ("chat", "output"), ("embeddings", "input")]


def test_the_calls_switch_reads_its_variable(monkeypatch) -> None:
    from otel_llm_cost import config

    monkeypatch.setenv(semconv.ENV_METRIC_CALLS, "on")
    assert config.load().metric_calls is True
    monkeypatch.setenv(semconv.ENV_METRIC_CALLS, "")
    assert config.load().metric_calls is False  # empty: the default
    monkeypatch.delenv(semconv.ENV_METRIC_CALLS)
    assert config.load().metric_calls is False
