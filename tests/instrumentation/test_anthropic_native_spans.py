"""Issue 10: every call counted once when the Anthropic SDK traces itself.

Real ``anthropic`` SDK, its own tracing on (client option ``open_telemetry`` with our
test tracer provider) or off (``open_telemetry=False``), our instrumentation on or
off, sync / async / ``stream=True`` / ``messages.stream``. The finished spans are
counted with :func:`foreign_spans.should_count` and priced as a roll-up would: our
span by its ``llm_cost.usd``, a foreign one from its attributes.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from otel_llm_cost import foreign_spans, semconv
from otel_llm_cost.cost import price_usage
from otel_llm_cost.instrumentation._shared import LLMCall, Telemetry
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor, _Accumulator
from tests.sdk_versions import needs_anthropic_self_tracing
from tests.wire import Reply

from ._provider_fixtures import SONNET, USER, anthropic_client, otel, sonnet_cost  # noqa: F401

CACHED = {"input_tokens": 9, "cache_read_input_tokens": 500, "cache_creation_input_tokens": 120,
          "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 100}}
EXACT = sonnet_cost(9, 3, read=500, write_5m=20, write_1h=100)  # the call's true cost


def _price(span) -> Decimal:
    attrs = span.attributes
    if span.instrumentation_scope.name == semconv.SCOPE_NAME:
        return Decimal(attrs[semconv.LLM_COST_USD])
    usage = foreign_spans.usage_from_foreign_span(span.instrumentation_scope.name, attrs)
    model = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)
    return price_usage(model, usage).usd


def _call(client, mode: str) -> None:
    kw = {"model": SONNET, "max_tokens": 50, "messages": USER}
    if mode == "sync":
        client.messages.create(**kw)
    elif mode == "stream":
        list(client.messages.create(stream=True, **kw))
    elif mode == "helper":
        with client.messages.stream(**kw) as stream:
            stream.until_done()
    else:
        async def run():
            await client.messages.create(**kw)
        asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async", "stream", "helper"])
@pytest.mark.parametrize("ours", [True, False], ids=["ours-on", "ours-off"])
@pytest.mark.parametrize("native", [pytest.param(True, marks=needs_anthropic_self_tracing), False],
                         ids=["native-on", "native-off"])
def test_one_priced_span_per_call_and_exact_total(wire, otel, mode, ours, native):
    inst = AnthropicInstrumentor()
    if ours:
        inst.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    try:
        wire.enqueue(Reply(text="a b c", usage=CACHED))
        _call(anthropic_client(wire, otel, is_async=mode == "async", native=native), mode)
    finally:
        if ours:
            inst.uninstrument()
            foreign_spans.mark_provider_instrumented("anthropic", True)  # judge as while it ran
    try:
        spans = otel.exporter.get_finished_spans()
        scopes = sorted(s.instrumentation_scope.name for s in spans)
        expected = sorted(([semconv.SCOPE_NAME] if ours else []) + ([semconv.ANTHROPIC_SDK_SCOPE] if native else []))
        assert scopes == expected  # the user's tracing choice is kept either way
        counted = [s for s in spans if foreign_spans.should_count(s)]
        if not (ours or native):
            assert counted == []  # nothing traced the call: nothing to count
            return
        assert len(counted) == 1
        assert sum(_price(s) for s in counted) == EXACT == Decimal("0.000897")  # 27 + 45 + 150 + 75 + 600 micro-USD
        if ours and native:
            ours_span = next(s for s in spans if s.instrumentation_scope.name == semconv.SCOPE_NAME)
            native_span = next(s for s in spans if s is not ours_span)
            assert native_span.parent.span_id == ours_span.context.span_id  # nested under the priced span
            assert semconv.LLM_COST_USD not in native_span.attributes
    finally:
        foreign_spans.mark_provider_instrumented("anthropic", False)


@needs_anthropic_self_tracing
def test_native_span_usage_reads_anthropic_attributes_exactly(wire, otel):
    wire.enqueue(Reply(text="a b c", usage=CACHED))
    _call(anthropic_client(wire, otel, native=True), "sync")
    (span,) = otel.exporter.get_finished_spans()
    # anthropic 2.12 already adds the cache to gen_ai.usage.input_tokens: 9 + 500 + 120.
    assert span.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 629
    usage = foreign_spans.usage_from_foreign_span(span.instrumentation_scope.name, span.attributes)
    assert usage.as_dict() == {"input": 629, "output": 3, "cache_read": 500, "cache_write": 120,
                               "cache_write_1h": 100, "reasoning": 0}


def test_other_genai_scope_counts_unless_its_provider_is_ours(otel):
    tracer = otel.tracer_provider.get_tracer("some.other.genai.instrumentation")
    attrs = {semconv.GEN_AI_PROVIDER_NAME: "anthropic", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10,
             semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 2}
    tracer.start_span("chat", attributes=attrs).end()
    tracer.start_span("http").end()  # no usage: never counted
    other, http = otel.exporter.get_finished_spans()
    assert foreign_spans.should_count(other) and not foreign_spans.should_count(http)
    foreign_spans.mark_provider_instrumented("anthropic", True)
    try:
        assert not foreign_spans.should_count(other)
    finally:
        foreign_spans.mark_provider_instrumented("anthropic", False)


def test_gateway_input_on_message_delta_and_latest_output(otel):
    """A compatible gateway: input 0 on message_start, the real numbers on message_delta.

    The wire server speaks Anthropic's own order, so the events are built with the
    SDK's event types and fed to the accumulator directly.
    """
    from anthropic.types import Message, MessageDeltaUsage, RawMessageDeltaEvent, RawMessageStartEvent, Usage

    start = RawMessageStartEvent(type="message_start", message=Message(
        id="msg_1", type="message", role="assistant", model=SONNET, content=[], stop_reason=None,
        stop_sequence=None, usage=Usage(input_tokens=0, output_tokens=1)))

    def delta(out: int, **inp: int) -> RawMessageDeltaEvent:
        return RawMessageDeltaEvent(type="message_delta", delta={"stop_reason": "end_turn"},
                                    usage=MessageDeltaUsage(output_tokens=out, **inp))

    events = _Accumulator()
    for event in (start, delta(4, input_tokens=40, cache_read_input_tokens=100), delta(7)):
        events.on_item(event)
    call = LLMCall(Telemetry(otel.tracer_provider, otel.meter_provider), "chat", "anthropic", SONNET, {})
    events.finish(call, True)
    call.end()
    attrs = otel.span().attributes
    assert (attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS], attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]) == (140, 7)
    assert Decimal(attrs[semconv.LLM_COST_USD]) == sonnet_cost(40, 7, read=100)
