"""Streams that fail or are abandoned: the app sees the SDK's chunks and errors unchanged,
and exactly one span ends, marked partial, with a cost that is exactly the price of the
usage it reports (reported by the provider so far, or estimated and said so)."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation._handoff import wait_idle
from tests.wire import Reply

from ._harness import (
    ASYNC_PROVIDERS,
    PROVIDERS,
    USAGE_AT_STREAM_END,
    acall,
    aconsume,
    assert_cost_consistent,
    bare_then_instrumented,
    call,
    calls_metric,
    client,
    consume,
    describe,
    describe_exc,
    our_spans,
)

TEXT = "a b c d e"  # five deltas on the wire


def _one_partial_span(inst, *, source: str | None = None):
    spans = our_spans(inst)
    assert len(spans) == 1, [sp.name for sp in spans]
    span = spans[0]
    assert span.attributes[s.LLM_COST_PARTIAL] is True
    assert_cost_consistent(span)
    if source is not None:
        assert span.attributes[s.LLM_COST_USAGE_SOURCE] == source
    assert calls_metric(inst) == 1
    return span


#: What each provider has reported after two of five deltas: Anthropic's message_start
#: (13 input, 1 output); Gemini's running cumulative count (13, 2); OpenAI nothing (a
#: stream reports usage only in its last chunk), so ours is a tokenizer estimate.
SO_FAR = {"anthropic": (13, 1, "reported"), "gemini": (13, 2, "reported"), "openai": (None, None, "estimated"),
          "bedrock": (None, None, "estimated")}  # ConverseStream: usage in its last event only


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("failure", ["drop", "error_event", "malformed_json"])
def test_stream_failing_mid_way(wire, instrumented, provider, failure):
    sdk = client(provider, wire)
    replies = [Reply(text=TEXT, fail_after_chunks=2, failure=failure)]
    inst, (items, exc), _ = bare_then_instrumented(
        wire, instrumented, provider, replies, lambda: consume(call(provider, sdk, stream=True)))
    assert items  # the chunks before the failure reached the app …
    span = _one_partial_span(inst)
    inp, out, source = SO_FAR[provider]
    if exc is not None:  # … and the failure too, as the SDK raised it
        assert span.attributes[s.ERROR_TYPE] == exc[1]
    if failure == "drop" or provider not in USAGE_AT_STREAM_END:
        assert span.attributes[s.LLM_COST_USAGE_SOURCE] == source
        if inp is not None:
            assert (span.attributes[s.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS]) \
                == (inp, out)


def _close(stream) -> None:
    stream.close()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_broken_out_of_early_and_closed(wire, instrumented, provider):
    sdk = client(provider, wire)

    def scenario():
        stream = call(provider, sdk, stream=True)
        first = None
        for item in stream:
            first = describe(item)
            break
        _close(stream)
        return first

    inst, first, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)], scenario)
    assert first is not None
    _one_partial_span(inst)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_read_by_next_and_by_loops_in_turn(wire, instrumented, provider):
    """``next()``, a loop left early and a second loop share one position in the stream:
    every item once, in order, as without us; one span, ended when the stream is, whole."""
    sdk = client(provider, wire)

    def scenario():
        stream = call(provider, sdk, stream=True)
        seen = [describe(next(iter(stream)))]
        if provider != "bedrock":  # botocore's EventStream is iterable, not an iterator
            seen.append(describe(next(stream)))
        for _ in range(2):
            for item in stream:
                seen.append(describe(item))
                break
        seen += [describe(item) for item in stream]
        return seen

    inst, seen, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)], scenario)
    assert len(seen) >= 5
    spans = our_spans(inst)
    assert len(spans) == 1 and s.LLM_COST_PARTIAL not in spans[0].attributes
    assert_cost_consistent(spans[0])
    assert calls_metric(inst) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_abandoned_ends_once_on_gc(wire, instrumented, provider):
    sdk = client(provider, wire)

    def scenario():
        stream = call(provider, sdk, stream=True)
        first = describe(next(iter(stream)))
        del stream
        gc.collect()
        return first

    inst, _, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)], scenario)
    _one_partial_span(inst)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_never_iterated(wire, instrumented, provider):
    sdk = client(provider, wire)

    def scenario():
        stream = call(provider, sdk, stream=True)
        # What the app can see of the type: the class and isinstance (a proxy keeps both).
        kind = (stream.__class__.__qualname__, isinstance(stream, stream.__class__))
        _close(stream)
        return kind

    inst, kind, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)], scenario)
    span = _one_partial_span(inst)
    if provider not in USAGE_AT_STREAM_END:  # nothing read, nothing known (else the prompt is estimated)
        assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stream_iterated_from_another_thread(wire, instrumented, provider):
    sdk = client(provider, wire)

    def scenario():
        stream = call(provider, sdk, stream=True)
        out = []
        worker = threading.Thread(target=lambda: out.append(consume(stream)))
        worker.start()
        worker.join(10)
        return out

    inst, [(items, exc)], _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)], scenario)
    assert exc is None and len(items) >= 5
    [span] = our_spans(inst)
    assert s.LLM_COST_PARTIAL not in span.attributes
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_PRICED
    assert_cost_consistent(span)


@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
def test_asyncio_task_cancelled_mid_stream(wire, instrumented, provider):
    async def main():
        sdk = client(provider, wire, is_async=True)
        got_one = asyncio.Event()
        items = []

        async def reader():
            stream = await acall(provider, sdk, stream=True)
            async for item in stream:
                items.append(describe(item))
                got_one.set()

        task = asyncio.create_task(reader())
        await got_one.wait()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError as exc:
            return items[:1], describe_exc(exc)
        return items, None

    # A slow stream (0.1 s between deltas): the task is cancelled while waiting for one.
    replies = [Reply(text=TEXT, chunk_delay=0.1)]
    inst, (items, exc), _ = bare_then_instrumented(wire, instrumented, provider, replies,
                                                   lambda: asyncio.run(main()))
    assert exc is not None and exc[1] == "CancelledError"
    gc.collect()
    wait_idle()  # a stream freed by the cyclic collector is ended by our worker thread
    _one_partial_span(inst)


@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
def test_async_stream_read_by_loops_in_turn(wire, instrumented, provider):
    """Two ``async for`` loops left early, then a third to the end: every item once, in
    order, as without us; one span, ended when the stream is, whole."""
    async def main():
        sdk = client(provider, wire, is_async=True)
        stream = await acall(provider, sdk, stream=True)
        seen = []
        for _ in range(2):
            async for item in stream:
                seen.append(describe(item))
                break
        seen += [describe(item) async for item in stream]
        return seen

    inst, seen, _ = bare_then_instrumented(wire, instrumented, provider, [Reply(text=TEXT)],
                                           lambda: asyncio.run(main()))
    assert len(seen) >= 5
    spans = our_spans(inst)
    assert len(spans) == 1 and s.LLM_COST_PARTIAL not in spans[0].attributes
    assert_cost_consistent(spans[0])
    assert calls_metric(inst) == 1


@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
def test_async_stream_failing_mid_way(wire, instrumented, provider):
    async def main():
        sdk = client(provider, wire, is_async=True)
        return await aconsume(await acall(provider, sdk, stream=True))

    replies = [Reply(text=TEXT, fail_after_chunks=2, failure="drop")]
    inst, (items, exc), _ = bare_then_instrumented(wire, instrumented, provider, replies,
                                                   lambda: asyncio.run(main()))
    assert items and exc is not None
    span = _one_partial_span(inst, source=SO_FAR[provider][2])
    assert span.attributes[s.ERROR_TYPE] == exc[1]
