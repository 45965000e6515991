"""Foreign GenAI spans (another tool's) in flight when a session's block exits.

A span that another instrumentation (or an SDK that traces itself) starts inside
``with session()`` is one of the session's calls in flight, as ours are: the session
ends when the block has exited *and* that span has ended, with the call in its
metrics and its "ended" summary — which then no longer changes.
"""

from __future__ import annotations

from decimal import Decimal

import anthropic
import pytest
from opentelemetry import trace

import otel_llm_cost
from otel_llm_cost import semconv
from otel_llm_cost.cost import price_usage
from otel_llm_cost.usage import Usage
from tests.sdk_versions import anthropic_tracing_option, needs_anthropic_self_tracing
from tests.wire import Reply

#: 1000 input + 100 output tokens of gpt-4o.
GPT4O_COST = Decimal(1000) * Decimal("2.5") / 10**6 + Decimal(100) * Decimal(10) / 10**6


def _session_metrics(otel) -> tuple[float, int]:
    (_, _, cost), = otel.points(semconv.METRIC_SESSION_COST)
    (_, _, calls), = otel.points(semconv.METRIC_SESSION_CALLS)
    return cost.sum, calls.sum


def test_a_foreign_span_ending_after_the_block_ends_the_session_with_it(otel):
    """A GenAI span of another instrumentation, through the real SDK tracer."""
    tracer = trace.get_tracer("another-genai-instrumentation", tracer_provider=otel.tracer_provider)
    with otel_llm_cost.session("foreign-1") as tally:
        span = tracer.start_span("chat gpt-4o", attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"})
    # The block is over, the foreign call is not: the session is still live.
    assert not tally.ended and otel.points(semconv.METRIC_SESSION_COST) == []
    span.set_attributes({semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100})
    span.end()
    summary = tally.summary()
    assert summary.ended and summary.calls == 1 and summary.cost == GPT4O_COST
    assert _session_metrics(otel) == (pytest.approx(float(GPT4O_COST)), 1)
    assert otel_llm_cost.end_session("foreign-1") is None  # ended once, by its last call
    assert tally.summary() == summary


def test_a_foreign_span_that_is_not_counted_still_lets_the_session_end(otel):
    """No usage on the span: not a call to count, but no longer in flight either."""
    tracer = trace.get_tracer("another-genai-instrumentation", tracer_provider=otel.tracer_provider)
    with otel_llm_cost.session("foreign-2") as tally:
        span = tracer.start_span("chat gpt-4o", attributes={
            semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"})
    assert not tally.ended
    span.end()
    assert tally.summary().ended and tally.summary().calls == 0


def test_a_foreign_span_ended_inside_the_block_changes_nothing(otel):
    tracer = trace.get_tracer("another-genai-instrumentation", tracer_provider=otel.tracer_provider)
    with otel_llm_cost.session("foreign-3") as tally:
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
                semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 100}):
            pass
    summary = tally.summary()
    assert summary.ended and summary.calls == 1 and summary.cost == GPT4O_COST


@needs_anthropic_self_tracing
def test_the_anthropic_sdks_own_stream_span_read_after_the_block(otel, wire):
    """The real ``anthropic`` SDK tracing itself (ours off): its span of a stream that is
    read after the block is in flight until the stream is done."""
    client = anthropic.Anthropic(base_url=wire.base_url, api_key="test", max_retries=0,
                                 **anthropic_tracing_option({"tracer_provider": otel.tracer_provider}))
    wire.enqueue(Reply(text="a b c"))
    with otel_llm_cost.session("native-stream") as tally:
        stream = client.messages.create(model="claude-sonnet-4-5", max_tokens=50, stream=True,
                                        messages=[{"role": "user", "content": "one two three"}])
    assert not tally.ended and otel.points(semconv.METRIC_SESSION_COST) == []
    events = list(stream)
    assert events
    (span,) = [s for s in otel.spans.get_finished_spans()
               if s.instrumentation_scope.name == semconv.ANTHROPIC_SDK_SCOPE]
    usage = Usage.from_anthropic_span_attributes(span.attributes)
    exact = price_usage("claude-sonnet-4-5", usage).usd
    assert exact is not None and exact > 0
    summary = tally.summary()
    assert summary.ended and summary.calls == 1 and summary.cost == exact
    assert _session_metrics(otel) == (pytest.approx(float(exact)), 1)
    assert tally.summary() == summary
