"""Property-based cases (hypothesis): random usage blocks and random chunk sequences.

* Any usage block — any field any JSON-ish value — read by ``Usage.from_*`` never
  raises, gives non-negative int64 counts with consistent subsets, and prices to a
  total that is exactly the sum of its components.
* Random usage blocks and random streams (deltas, usage chunk or not, failure kind and
  point) sent by the wire server through the real SDKs: the app sees the same thing
  bare and instrumented, exactly one span ends, and its cost is exactly the price of
  the usage it reports or exactly marked unknown.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from otel_llm_cost import semconv as s
from otel_llm_cost.cost import price_usage
from otel_llm_cost.instrumentation.anthropic import _Accumulator
from otel_llm_cost.usage import MAX_TOKENS, Usage, to_int
from tests.instrumentation._helpers import Instrumented
from tests.wire import Reply

from ._harness import INSTRUMENTORS, assert_cost_consistent, call, client, consume, our_spans, run

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                 st.text(max_size=6), st.lists(st.integers(), max_size=2),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
COUNT = st.one_of(st.integers(0, 10**7), JUNK)

OPENAI_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens", "input_tokens", "output_tokens")
ANTHROPIC_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
GEMINI_FIELDS = ("prompt_token_count", "candidates_token_count", "thoughts_token_count",
                 "cached_content_token_count")


def _block(fields, **nested):
    return st.fixed_dictionaries({}, optional={**{f: COUNT for f in fields}, **nested})


DETAILS = st.one_of(JUNK, _block(("cached_tokens", "reasoning_tokens")))
BLOCKS = {
    Usage.from_openai: _block(OPENAI_FIELDS, prompt_tokens_details=DETAILS, completion_tokens_details=DETAILS,
                              input_tokens_details=DETAILS, output_tokens_details=DETAILS),
    Usage.from_anthropic: _block(ANTHROPIC_FIELDS, cache_creation=st.one_of(
        JUNK, _block(("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")))),
    Usage.from_gemini: _block(GEMINI_FIELDS),
}
READER = st.sampled_from(list(BLOCKS))


@settings(max_examples=400, deadline=None)
@given(data=st.data(), reader=READER, model=st.sampled_from(["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro",
                                                            "o3-mini", "no-such-model"]))
def test_any_usage_block_reads_and_prices_exactly(data, reader, model):
    block = data.draw(st.one_of(BLOCKS[reader], JUNK))
    usage = reader(block)
    if usage is None:
        return
    counts = usage.as_dict()
    assert all(type(v) is int and 0 <= v <= MAX_TOKENS for v in counts.values()), counts
    assert usage.cache_read_tokens + usage.cache_write_tokens <= usage.input_tokens
    assert usage.cache_write_1h_tokens <= usage.cache_write_tokens
    assert usage.reasoning_tokens <= usage.output_tokens
    cost = price_usage(model, usage)
    if cost.usd is None:
        assert cost.status == s.STATUS_UNKNOWN_MODEL
    else:
        assert cost.usd == sum(cost.components.values(), Decimal(0))
        assert all(v >= 0 for v in cost.components.values())


EVENT = st.one_of(
    st.builds(lambda u: SimpleNamespace(type="message_start", message=SimpleNamespace(
        model="claude-sonnet-4", id="msg_1", usage=SimpleNamespace(**u))),
        _block(ANTHROPIC_FIELDS)),
    st.builds(lambda u, stop: SimpleNamespace(type="message_delta", delta=SimpleNamespace(stop_reason=stop),
                                              usage=SimpleNamespace(**u)),
              _block(ANTHROPIC_FIELDS), st.sampled_from([None, "end_turn", "max_tokens"])),
    st.just(SimpleNamespace(type="ping")),
    st.just(SimpleNamespace(type="content_block_delta", delta=SimpleNamespace(text="x"))),
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(EVENT, max_size=8))
def test_anthropic_event_sequences_keep_the_latest_cumulative_output(events):
    acc = _Accumulator()
    for event in events:
        acc.on_item(event)
    latest = None  # message_start carries the first output count, each message_delta the running total
    for event in events:
        if event.type == "message_start":
            latest = getattr(event.message.usage, "output_tokens", None)
        elif event.type == "message_delta" and getattr(event.usage, "output_tokens", None) is not None:
            latest = event.usage.output_tokens
    usage = Usage.from_anthropic(acc.usage)
    if usage is not None:
        # cumulative counts: the latest reported value wins, never a sum
        assert usage.output_tokens == to_int(latest)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=6)
WIRE_JUNK = st.one_of(st.none(), st.integers(-10, 10**6), st.text(max_size=4), st.booleans())
WIRE_USAGE = {
    "openai": _block(("prompt_tokens", "completion_tokens", "total_tokens")),
    "anthropic": _block(("input_tokens", "output_tokens", "cache_read_input_tokens")),
    "gemini": _block(("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")),
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), provider=st.sampled_from(["openai", "anthropic", "gemini"]),
       chunks=st.lists(TEXT, min_size=1, max_size=6), stream=st.booleans(),
       fail=st.one_of(st.none(), st.tuples(st.integers(0, 6), st.sampled_from(["drop", "error_event",
                                                                                "malformed_json"]))))
def test_random_replies_through_the_real_sdks(wire_server, data, provider, chunks, stream, fail):
    usage = data.draw(st.one_of(st.none(), WIRE_USAGE[provider].map(
        lambda b: {k: data.draw(WIRE_JUNK) if data.draw(st.booleans()) else v for k, v in b.items()})))
    reply = Reply(chunks=chunks, usage=usage, include_usage_in_stream=data.draw(st.booleans()))
    if fail and stream:
        reply.fail_after_chunks, reply.failure = fail
    sdk = client(provider, wire_server)

    def scenario():
        from ._harness import outcome

        if stream:
            return consume(call(provider, sdk, stream=True))
        return outcome(lambda: call(provider, sdk))

    bare, _ = run(wire_server, [reply], scenario)
    inst = Instrumented(INSTRUMENTORS[provider])
    try:
        seen, _ = run(wire_server, [reply], scenario)
    finally:
        inst.uninstrument()
    assert seen == bare
    spans = our_spans(inst)
    assert len(spans) == 1
    assert_cost_consistent(spans[0])
    encode_spans(spans)  # exportable whatever the provider sent
