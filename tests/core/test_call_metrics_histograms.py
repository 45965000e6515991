"""The semconv histograms are queued per call and recorded when the meter collects.

Whatever a reader exports must be exactly what recording each point synchronously
would have exported: same buckets, counts, sums, attribute sets and exemplars, under
any temporality, from any number of threads, and with the queue bounded.
"""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from otel_llm_cost import _metrics, semconv
from otel_llm_cost._metrics import CallMetrics
from otel_llm_cost.cost import price_usage
from otel_llm_cost.usage import Usage

_ATTRS = {semconv.GEN_AI_PROVIDER_NAME: "openai", semconv.GEN_AI_OPERATION_NAME: "chat",
          semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18"}
_HISTOGRAMS = (semconv.METRIC_TOKEN_USAGE, semconv.METRIC_OPERATION_DURATION)


def _histograms(reader: InMemoryMetricReader) -> dict:
    """name -> sorted [(attributes, count, sum, bucket counts, exemplar span ids)]."""
    out: dict = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name in _HISTOGRAMS:
                    out[metric.name] = sorted(
                        ((dict(p.attributes), p.count, p.sum, tuple(p.bucket_counts),
                          sorted(e.span_id for e in p.exemplars)) for p in metric.data.data_points),
                        key=repr)
    return out


def _synchronous(calls: list[tuple[Usage, float]]) -> dict:
    """The same points recorded straight into SDK histograms made like ours."""
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("reference")
    tokens = meter.create_histogram(semconv.METRIC_TOKEN_USAGE,
                                    explicit_bucket_boundaries_advisory=list(semconv.TOKEN_USAGE_BUCKETS))
    duration = meter.create_histogram(semconv.METRIC_OPERATION_DURATION,
                                      explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS))
    base = {k: _ATTRS[k] for k in _ATTRS}
    for usage, seconds in calls:
        duration.record(seconds, base)
        tokens.record(usage.input_tokens, {**base, semconv.GEN_AI_TOKEN_TYPE: "input"})
        tokens.record(usage.output_tokens, {**base, semconv.GEN_AI_TOKEN_TYPE: "output"})
    return _histograms(reader)


def _calls(n: int) -> list[tuple[Usage, float]]:
    return [(Usage(input_tokens=10 + 37 * i, output_tokens=3 + 11 * i), 0.05 * (i % 9)) for i in range(n)]


def _record(metrics: CallMetrics, calls: list[tuple[Usage, float]]) -> None:
    for usage, seconds in calls:
        metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), seconds)


def test_points_wait_for_the_collection_and_export_what_synchronous_recording_would() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    calls = _calls(40)
    _record(metrics, calls)
    assert len(metrics._deferred._queue) == 40  # one entry per call, nothing recorded yet
    assert _histograms(reader) == _synchronous(calls)
    assert len(metrics._deferred._queue) == 0
    # Cumulative: a second collection re-exports the same totals, and nothing else.
    assert _histograms(reader) == _synchronous(calls)


def test_delta_temporality_gets_each_point_in_exactly_one_collection() -> None:
    reader = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    first, second = _calls(5), _calls(3)
    _record(metrics, first)
    assert _histograms(reader) == _synchronous(first)
    _record(metrics, second)
    assert _histograms(reader) == _synchronous(second)


def test_exemplars_point_to_the_span_of_the_call() -> None:
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    span = TracerProvider().get_tracer("t").start_span("chat gpt-4o-mini")
    usage = Usage(input_tokens=10, output_tokens=5)
    metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), 0.2, span.get_span_context())
    points = [p for rows in _histograms(reader).values() for p in rows]
    assert len(points) == 3
    assert all(p[4] == [span.get_span_context().span_id] for p in points)


def test_the_queue_is_bounded_and_past_it_calls_record_directly(monkeypatch) -> None:
    monkeypatch.setattr(_metrics, "_MAX_DEFERRED", 4)  # the bound itself, not our logic, is shrunk
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    calls = _calls(10)
    for usage, seconds in calls:
        metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), seconds)
        assert len(metrics._deferred._queue) <= 4
    assert _histograms(reader) == _synchronous(calls)


def test_a_busy_queue_is_recorded_by_the_worker_before_any_collection(monkeypatch) -> None:
    monkeypatch.setattr(_metrics, "_DRAIN_AT", 4)  # the mark itself, not our logic, is shrunk
    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    calls = _calls(50)
    _record(metrics, calls)
    deadline = time.monotonic() + 10
    while metrics._deferred._queue and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(metrics._deferred._queue) == 0  # no collection has run: the worker did it
    assert _histograms(reader) == _synchronous(calls)


@pytest.mark.parametrize("drain_at", [_metrics._DRAIN_AT, 8])
def test_every_call_metrics_on_one_meter_shares_one_queue_and_nothing_is_lost_across_threads(
        monkeypatch, drain_at: int) -> None:
    # With a low mark the worker drains while calls are queued and a reader collects.
    monkeypatch.setattr(_metrics, "_DRAIN_AT", drain_at)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = CallMetrics(provider), CallMetrics(provider)
    assert first._deferred is second._deferred
    usage = Usage(input_tokens=10, output_tokens=5)
    cost = price_usage("gpt-4o-mini", usage)
    stop = threading.Event()
    exported: list[int] = []

    def collect() -> None:  # a reader collecting while calls are recorded
        while not stop.is_set():
            _histograms(reader)

    def record(metrics: CallMetrics) -> None:
        for _ in range(2000):
            metrics.record(_ATTRS, usage, cost, 0.1)

    collector = threading.Thread(target=collect)
    collector.start()
    workers = [threading.Thread(target=record, args=(m,)) for m in (first, second) * 4]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    collector.join()
    for attrs, count, total, _, _ in _histograms(reader)[semconv.METRIC_TOKEN_USAGE]:
        exported.append(count)
        assert total == count * (10 if attrs[semconv.GEN_AI_TOKEN_TYPE] == "input" else 5)
    assert exported == [16_000, 16_000]


def test_off_the_sdk_nothing_is_queued() -> None:
    from opentelemetry.metrics import NoOpMeterProvider

    metrics = CallMetrics(NoOpMeterProvider())
    assert metrics._deferred is None
    usage = Usage(input_tokens=10, output_tokens=5)
    metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), 0.1)  # recorded (into nothing) at once


def test_a_forked_child_does_not_export_the_points_its_parent_queued() -> None:
    import os

    reader = InMemoryMetricReader()
    metrics = CallMetrics(MeterProvider(metric_readers=[reader]))
    usage = Usage(input_tokens=10, output_tokens=5)
    metrics.record(_ATTRS, usage, price_usage("gpt-4o-mini", usage), 0.1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own collection must not see the parent's point
        try:
            os.write(write, str(len(_histograms(reader))).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 16) == b"0"
    os.close(read)
    # The parent still exports its point.
    assert [row[1] for row in _histograms(reader)[semconv.METRIC_OPERATION_DURATION]] == [1]
