"""Micro-benchmarks of the pieces on our hot path.

    python -m bench micro

Each figure is the time of one operation, the median (and the best) of several
``timeit`` repeats, in microseconds. Inputs are real: SDK objects parsed by the
installed ``openai``/``anthropic`` from canned wire bytes, the bundled catalog, an
SDK ``TracerProvider``. Two targets are checked here: at most 2 µs added per stream
chunk, and at most 1 µs per cached price lookup.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

__all__ = ["TARGETS", "run"]

#: name -> upper bound in µs for the median.
TARGETS = {"stream_chunk_added": 2.0, "price_resolve_cached": 1.0}

_TEXT_1K = (
    "Observability for language-model calls has to answer two questions quickly: what did a request "
    "cost, and where did the time go. Tokens are the unit of both. "
) * 38


def _stats(per_op: list[float]) -> dict[str, float]:
    return {"median_us": round(statistics.median(per_op), 4), "best_us": round(min(per_op), 4)}


def _measure(fn: Callable[[], Any], number: int, repeat: int = 7, per: int = 1) -> dict[str, float]:
    times = timeit.Timer(fn).repeat(repeat=repeat, number=number)
    return _stats([t / number / per * 1e6 for t in times])


def _measure_then_collect(fn: Callable[[], Any], collect: Callable[[], Any], number: int,
                          repeat: int = 7) -> tuple[dict[str, float], dict[str, float]]:
    """Like :func:`_measure`, collecting the metrics after every repeat (timed apart).

    Every point is recorded in the call (plain SDK instruments); the collection's
    figure is what the reader then spends aggregating and exporting them.
    """
    call_us, collect_us = [], []
    for _ in range(repeat):
        call_us.append(timeit.Timer(fn).timeit(number=number) / number * 1e6)
        collect_us.append(timeit.Timer(collect).timeit(number=1) / number * 1e6)
    return _stats(call_us), _stats(collect_us)


def _sdk_objects() -> dict[str, Any]:
    """Real SDK objects, parsed by the SDKs from the bench's canned bytes."""
    from bench._transport import CannedTransport, anthropic_client, openai_client

    transport = CannedTransport()
    client, aclient = openai_client(transport), anthropic_client(transport)
    messages = [{"role": "user", "content": "Write twenty words about tracing."}]
    chat = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                 stream_options={"include_usage": True}))
    message = aclient.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=messages)
    return {"chat": chat, "chunks": chunks, "anthropic": message, "messages": messages}


def _stream_chunks(objs: dict[str, Any], results: dict[str, Any], number_chunks: int) -> None:
    """Per-chunk cost of ``StreamProxy`` + the OpenAI chat accumulator vs. the bare iterator."""
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm_cost.instrumentation._shared import LLMCall, StreamProxy, Telemetry

    chunks = objs["chunks"]
    body = [c for c in chunks if c.choices and c.choices[0].delta.content]
    stream = (body * (number_chunks // len(body) + 1))[:number_chunks] + [chunks[-2], chunks[-1]]
    telemetry = Telemetry(tracer_provider=TracerProvider())
    try:
        from otel_llm_cost.instrumentation._openai_read import ChatAccumulator, Request

        def accumulator() -> Any:
            return ChatAccumulator(Request(objs["messages"], True), False)

        results["stream_chunk_accumulator"] = "otel_llm_cost.instrumentation._openai_read.ChatAccumulator"
    except ImportError:  # before the OpenAI instrumentation landed: a stand-in of the same shape
        accumulator = _StandInAccumulator
        results["stream_chunk_accumulator"] = "stand-in (collect text, model, id, finish, usage)"

    def bare() -> None:
        for _ in iter(stream):
            pass

    def proxied() -> None:
        call = LLMCall(telemetry, "chat", "openai", "gpt-4o-mini", {})
        for _ in StreamProxy(iter(stream), call, accumulator()):
            pass

    n = len(stream)
    b = _measure(bare, number=5, per=n)
    p = _measure(proxied, number=5, per=n)
    results["stream_chunk_bare"] = b
    results["stream_chunk_proxied"] = p
    results["stream_chunk_added"] = _added(b, p, f"per chunk over {n}-chunk streams; span start/end amortised")
    _async_stream_chunks(stream, telemetry, accumulator, results)


def _async_stream_chunks(stream: list[Any], telemetry: Any, accumulator: Callable[[], Any],
                         results: dict[str, Any]) -> None:
    """The same per-chunk cost through ``AsyncStreamProxy`` (``async for``), one event loop."""
    import asyncio

    from otel_llm_cost.instrumentation._shared import AsyncStreamProxy, LLMCall

    class Items:  # an SDK-like async stream: the items of a list
        def __init__(self) -> None:
            self._items = iter(stream)

        def __aiter__(self) -> Any:
            return self

        async def __anext__(self) -> Any:
            for item in self._items:
                return item
            raise StopAsyncIteration

    async def bare() -> None:
        async for _ in Items():
            pass

    async def proxied() -> None:
        call = LLMCall(telemetry, "chat", "openai", "gpt-4o-mini", {})
        async for _ in AsyncStreamProxy(Items(), call, accumulator()):
            pass

    loop = asyncio.new_event_loop()
    try:
        n = len(stream)
        b = _measure(lambda: loop.run_until_complete(bare()), number=5, per=n)
        p = _measure(lambda: loop.run_until_complete(proxied()), number=5, per=n)
    finally:
        loop.close()
    results["async_stream_chunk_bare"] = b
    results["async_stream_chunk_proxied"] = p
    results["async_stream_chunk_added"] = _added(b, p, f"per chunk over {n}-chunk async streams; "
                                                       "span start/end amortised")


def _added(bare: dict[str, float], proxied: dict[str, float], note: str) -> dict[str, Any]:
    """What the proxy adds per chunk: proxied minus bare, median and best."""
    return {"median_us": round(proxied["median_us"] - bare["median_us"], 4),
            "best_us": round(proxied["best_us"] - bare["best_us"], 4), "note": note}


class _StandInAccumulator:
    def __init__(self) -> None:
        self.texts: list[str] = []
        self.model = self.id = self.finish_reason = self.usage = None

    def on_item(self, chunk: Any) -> None:
        self.model = chunk.model
        self.id = chunk.id
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                self.texts.append(choice.delta.content)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason

    def finish(self, call: Any, completed: bool) -> None:
        from otel_llm_cost.usage import Usage

        call.set_response(model=self.model, response_id=self.id, usage=Usage.from_openai(self.usage))


def _session_on_end(results: dict[str, Any], number: int) -> None:
    try:
        from otel_llm_cost import sessions
    except ImportError:
        results["session_processor_on_start_end"] = "n/a (otel_llm_cost.sessions not on this branch)"
        return
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm_cost import semconv

    provider = TracerProvider()
    processor = sessions.SessionSpanProcessor()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer(semconv.SCOPE_NAME)
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", semconv.GEN_AI_USAGE_INPUT_TOKENS: 28,
             semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 20, semconv.LLM_COST_STATUS: "priced",
             semconv.LLM_COST_USD: "0.0000162", semconv.LLM_COST_MODEL: "gpt-4o-mini",
             semconv.LLM_COST_USAGE_SOURCE: "reported"}
    span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)

    def start_and_end() -> None:
        processor.on_start(span, None)  # notes the open session chain, keyed by span id
        processor.on_end(span)  # pops it and adds the call's cost and tokens to the session

    with sessions.session("micro-session"):
        results["session_processor_on_start_end"] = _measure(start_and_end, number=number)


def _call_lifecycle(results: dict[str, Any], number: int) -> None:
    """One whole ``LLMCall`` (span start, response, pricing, attributes, metrics, end)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm_cost import semconv
    from otel_llm_cost.cost import price_usage
    from otel_llm_cost.instrumentation._shared import LLMCall, Telemetry
    from otel_llm_cost.usage import Usage

    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    usage = Usage(28, 20)
    request = {semconv.GEN_AI_REQUEST_MAX_TOKENS: 200, "server.address": "api.openai.com", "server.port": 443}

    def lifecycle() -> None:
        call = LLMCall(telemetry, "chat", "openai", "gpt-4o-mini", request)
        call.set_response(model="gpt-4o-mini-2024-07-18", response_id="chatcmpl-1", finish_reasons=["stop"],
                          usage=usage)
        call.end()

    attrs = {semconv.GEN_AI_PROVIDER_NAME: "openai", semconv.GEN_AI_OPERATION_NAME: "chat",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18"}
    cost = price_usage("gpt-4o-mini-2024-07-18", usage)
    results["llm_call_lifecycle"], _ = _measure_then_collect(lifecycle, reader.get_metrics_data, number)
    results["call_metrics_record"], results["call_metrics_collect"] = _measure_then_collect(
        lambda: telemetry.metrics.record(attrs, usage, cost, 0.5), reader.get_metrics_data, number)


def run(quick: bool = False) -> dict[str, Any]:
    """All micro-benchmarks; ``quick`` uses tiny counts (for the smoke test)."""
    from otel_llm_cost.cost import compute_cost, price_usage
    from otel_llm_cost.pricing import get_catalog
    from otel_llm_cost.tokens import count_tokens
    from otel_llm_cost.usage import Usage

    k = 0.01 if quick else 1.0
    n = lambda base: max(1, int(base * k))  # noqa: E731
    objs = _sdk_objects()
    results: dict[str, Any] = {}
    catalog = get_catalog()
    catalog.resolve("gpt-4o-mini-2024-07-18", "openai")  # the first lookup normalises and caches
    results["price_resolve_cached"] = _measure(
        lambda: catalog.resolve("gpt-4o-mini-2024-07-18", "openai"), number=n(200_000))
    results["get_catalog_and_resolve"] = _measure(
        lambda: get_catalog().resolve("gpt-4o-mini-2024-07-18", "openai"), number=n(200_000))
    usage = Usage.from_openai(objs["chat"].usage)
    price = catalog.resolve("gpt-4o-mini-2024-07-18")
    results["compute_cost"] = _measure(lambda: compute_cost(usage, price), number=n(50_000))
    results["price_usage"] = _measure(lambda: price_usage("gpt-4o-mini-2024-07-18", usage, provider="openai"),
                                      number=n(50_000))
    results["usage_from_openai"] = _measure(lambda: Usage.from_openai(objs["chat"].usage), number=n(100_000))
    results["usage_from_anthropic"] = _measure(lambda: Usage.from_anthropic(objs["anthropic"].usage),
                                               number=n(100_000))
    count_tokens(_TEXT_1K, "gpt-4o-mini")  # load the vocabulary once
    results["count_tokens_1k"] = _measure(lambda: count_tokens(_TEXT_1K, "gpt-4o-mini"), number=n(300))
    results["count_tokens_1k_tokens"] = count_tokens(_TEXT_1K, "gpt-4o-mini")
    _stream_chunks(objs, results, number_chunks=n(20_000) if not quick else 200)
    _call_lifecycle(results, n(20_000))
    _session_on_end(results, n(50_000))
    results["targets"] = {
        name: {"limit_us": limit, "median_us": results[name]["median_us"],
               "met": results[name]["median_us"] <= limit}
        for name, limit in TARGETS.items()
    }
    return results
