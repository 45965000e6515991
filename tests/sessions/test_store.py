"""end_session summaries, session metrics, idle expiry, the live-session cap, flat memory."""

from __future__ import annotations

import gc
import time
import tracemalloc
from decimal import Decimal

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

import otel_llm_cost
from otel_llm_cost import semconv
from otel_llm_cost.sessions import STORE, set_limits
from otel_llm_cost.usage import Usage

ONE_CALL = Decimal("0.0035")


def test_end_session_with_unpriced_estimated_and_failed_calls(otel):
    with otel_llm_cost.session(session_id="conv-1", user_id="u", end=False) as s:
        otel.call()                                         # priced
        otel.call(model="my-private-model")                 # unknown model: unpriced
        otel.call(estimate=Usage(400, 0, source="estimated"))  # estimated by tokenizer
        otel.call(error=TimeoutError("slow"))               # failed before usage
    assert s.cost is None and s.priced_cost == ONE_CALL + Decimal("0.001")
    time.sleep(0.01)
    summary = otel_llm_cost.end_session("conv-1")
    assert summary.session_id == "conv-1" and summary.user_id == "u" and summary.ended
    assert summary.cost is None
    assert summary.priced_cost == Decimal("0.0045")  # 0.0035 + 400 * 2.5e-6
    assert summary.unpriced_reason == "unknown_model: my-private-model"
    # The unknown model only: the failed call reported no usage and cost nothing (an error).
    assert summary.calls == 4 and summary.unpriced_calls == 1
    assert summary.estimated_calls == 1 and summary.errors == 1
    assert summary.tokens["input"] == 2400 and summary.tokens["output"] == 200
    assert summary.duration_s >= 0.01
    assert summary.by_model["gpt-4o"].calls == 3
    # The failed gpt-4o call cost nothing: the model's share is exact.
    assert summary.by_model["gpt-4o"].cost == ONE_CALL + Decimal("0.001")
    assert summary.by_model["gpt-4o"].unpriced_calls == 0
    assert summary.by_model["my-private-model"].usage.input_tokens == 1000
    body = summary.as_dict()
    assert body["cost_usd"] is None and body["priced_cost_usd"] == "0.0045"
    assert otel_llm_cost.end_session("conv-1") is None  # ended once


def test_session_metrics_points(otel, monkeypatch):
    with otel_llm_cost.session(session_id="m1"):
        otel.call()
        otel.call()
        assert otel.points(semconv.METRIC_SESSIONS_ACTIVE)[0][2].value == 1
    with otel_llm_cost.session(session_id="m2"):
        otel.call(model="mystery")

    (unit, attrs, point), = otel.points(semconv.METRIC_SESSIONS_ACTIVE)
    assert unit == "{session}" and point.value == 0
    cost = {a[semconv.LLM_COST_STATUS]: (u, p) for u, a, p in otel.points(semconv.METRIC_SESSION_COST)}
    assert cost["priced"][0] == "USD" and cost["priced"][1].count == 1
    assert cost["priced"][1].sum == pytest.approx(0.007)
    assert cost["incomplete"][1].sum == 0 and cost["incomplete"][1].count == 1
    assert list(cost["priced"][1].explicit_bounds) == list(semconv.SESSION_COST_BUCKETS)
    tokens = {a[semconv.GEN_AI_TOKEN_TYPE]: (u, p) for u, a, p in otel.points(semconv.METRIC_SESSION_TOKENS)}
    assert tokens["input"][0] == "{token}" and tokens["input"][1].sum == 3000 and tokens["input"][1].count == 2
    assert tokens["output"][1].sum == 300
    (unit, attrs, point), = otel.points(semconv.METRIC_SESSION_CALLS)
    assert unit == "{call}" and point.sum == 3 and point.count == 2 and attrs == {}


def test_session_metric_attributes_are_allow_listed_and_never_ids(monkeypatch):
    monkeypatch.setenv(semconv.ENV_METRIC_ATTRIBUTES, "tenant")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_llm_cost.sessions._metrics import SessionMetrics

    reader = InMemoryMetricReader()
    metrics = SessionMetrics(MeterProvider(metric_readers=[reader]))
    session, _ = STORE.open("secret-id", "secret-user", {"tenant": "acme", "plan": "pro"})
    metrics.session_started(session)
    metrics.session_ended(session)
    STORE.reset()
    names = {}
    for rm in reader.get_metrics_data().resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                names[m.name] = [dict(p.attributes) for p in m.data.data_points]
    assert names[semconv.METRIC_SESSION_CALLS] == [{"tenant": "acme"}]
    assert names[semconv.METRIC_SESSION_COST] == [{"tenant": "acme", semconv.LLM_COST_STATUS: "priced"}]
    assert "secret" not in repr(names)


def test_idle_sessions_expire_and_record_metrics(otel):
    set_limits(idle_timeout_s=0.05)
    with otel_llm_cost.session(session_id="idle", end=False):
        otel.call()
    with otel_llm_cost.session(session_id="held") as held:
        time.sleep(0.08)
        with otel_llm_cost.session(session_id="fresh", end=False):  # any activity sweeps
            otel.call()
        assert otel_llm_cost.end_session("idle") is None  # expired
        assert "held" in STORE.sessions  # an open block is never idle
    (_, _, calls), = otel.points(semconv.METRIC_SESSION_CALLS)
    assert calls.count == 2 and calls.sum == 2  # idle (1 call) + held (the nested fresh call)
    assert held.calls == 1
    assert otel_llm_cost.end_session("fresh").calls == 1


_RESOURCE = Resource.create({})


def _span(session_id: str, span_id: int, scope: InstrumentationScope) -> ReadableSpan:
    """A finished foreign GenAI span naming its session by attribute only."""
    return ReadableSpan(
        name="chat gpt-4o",
        context=SpanContext(trace_id=1, span_id=span_id, is_remote=False),
        attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_SYSTEM: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100,
            semconv.SESSION_ID: session_id,
        },
        instrumentation_scope=scope,
        resource=_RESOURCE,
        start_time=1, end_time=2,
    )


def test_processor_caps_live_sessions_and_ends_the_evicted_ones(otel):
    """Spans naming 20 000 sessions through the real processor, with 1 000 allowed live."""
    set_limits(max_sessions=1_000)
    processor = otel.tracer_provider._active_span_processor._span_processors[-1]
    scope = InstrumentationScope("another-genai-instrumentation")
    for i in range(20_000):
        processor.on_end(_span(f"sess-{i}", i + 1, scope))
    assert len(STORE.sessions) == 1_000
    assert next(reversed(STORE.sessions)) == "sess-19999" and next(iter(STORE.sessions)) == "sess-19000"
    (_, _, calls), = otel.points(semconv.METRIC_SESSION_CALLS)
    assert calls.count == 19_000 and calls.sum == 19_000  # every evicted session ended once
    (_, _, active), = otel.points(semconv.METRIC_SESSIONS_ACTIVE)
    assert active.value == 1_000
    assert otel_llm_cost.end_session("sess-19999").cost == ONE_CALL


def test_a_million_sessions_keep_memory_flat():
    """1M sessions with one call each through the registry; 10 000 live at most.

    tracemalloc runs over the last 50 000 sessions (it slows allocation ~10x): 10 000
    sessions after it starts every older session has been evicted, so the traced size
    *is* the live set, and it must not grow between 965 000 and 1 000 000 sessions.
    """
    STORE.reset()
    STORE.metrics = None
    set_limits(max_sessions=10_000, idle_timeout_s=3600)
    usd, usage = Decimal("0.0035"), Usage(1000, 100)
    start = time.perf_counter()
    try:
        for i in range(1_000_000):
            if i == 950_000:
                gc.collect()
                tracemalloc.start()
            elif i == 965_000:
                at_965k = tracemalloc.get_traced_memory()[0]
            session, _ = STORE.open(f"sess-{i}", None)
            STORE.add(session.chain, usd, usage, "gpt-4o", False, None)
        at_1m, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert len(STORE.sessions) == 10_000
    assert abs(at_1m - at_965k) < 1_000_000, (at_965k, at_1m)
    assert at_1m < 10_000_000 and peak < 12_000_000, (at_1m, peak)
    print(f"1M sessions: {elapsed:.1f}s, live set {at_1m / 1e6:.1f} MB (peak {peak / 1e6:.1f} MB)")
    STORE.reset()


def test_user_tallies_are_bounded_too():
    STORE.reset()
    STORE.metrics = None
    set_limits(max_sessions=1_000, idle_timeout_s=3600)
    for i in range(30_000):
        session, _ = STORE.open(f"sess-{i}", f"user-{i}")
        STORE.add(session.chain, Decimal(1), None, "m", False, None)
    assert len(STORE.sessions) == 1_000 and len(STORE.users) == 1_000
    assert STORE.user("user-29999").priced_cost == 1
    STORE.reset()
