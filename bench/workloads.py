"""One implementation's overhead, measured in one process; prints JSON on stdout.

    python -m bench.workloads --impl ours|openllmetry|openai-v2|contrib-genai --endpoint http://127.0.0.1:PORT

For each workload the process alternates *bare* and *instrumented* rounds (the
instrumentor's ``instrument()`` before an instrumented round, ``uninstrument()``
after it — or an attribute swap when ``uninstrument()`` leaks, see ``_toggle``; the
order flips every round so drift hits both sides alike), each round
timing ``calls`` SDK calls back to back. ``bare`` is the median per-call time of the
bare rounds; ``added`` the median of the paired differences (each instrumented round
minus the bare round run next to it); ``ratio`` is ``(bare + added) / bare``. Two clocks are
kept: ``cpu`` (``time.process_time``: every thread of this process, so the exporter's
background work counts, while time spent descheduled by *other* processes does not —
the figure that stays honest on a busy 2-core machine) and ``wall``.

Everything that a production set-up pays for is on, the same for every
implementation: a ``BatchSpanProcessor`` with the OTLP/HTTP span exporter, and a
``MeterProvider`` with a ``PeriodicExportingMetricReader`` + OTLP/HTTP metric
exporter, both pointed at a local sink. The span processor is flushed right after
each instrumented round, *outside* the timed loop (a real one exports every 512
spans or 5 s from its own thread; flushing every round would charge a whole HTTP
POST to a few dozen calls), and the CPU time of that flush per span is reported on
its own as ``export_cpu_us_per_span`` — so it never spills into a bare round and is
never hidden either. For ``ours`` the full feature set is on as well: cost, token
estimation, session roll-up.

This module only imports the SDKs, the OTel SDK and the instrumentation under test,
so the same file runs in each peer's virtual environment.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from importlib import metadata
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor

from bench._toggle import Toggle
from bench._transport import CannedTransport, anthropic_client, openai_client

__all__ = ["WORKLOADS", "run", "main"]

_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Write twenty words about measuring the overhead of tracing."},
]
_CHAT_MODEL = "gpt-4o-mini"
_ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"


def _chat(c: Any, a: Any) -> None:
    c.chat.completions.create(model=_CHAT_MODEL, messages=_MESSAGES, max_tokens=200)


def _stream_usage(c: Any, a: Any) -> None:
    for _ in c.chat.completions.create(model=_CHAT_MODEL, messages=_MESSAGES, max_tokens=200, stream=True,
                                       stream_options={"include_usage": True}):
        pass


def _stream_no_usage(c: Any, a: Any) -> None:
    for _ in c.chat.completions.create(model=_CHAT_MODEL, messages=_MESSAGES, max_tokens=200, stream=True):
        pass


def _embeddings(c: Any, a: Any) -> None:
    c.embeddings.create(model="text-embedding-3-small", input="The quick brown fox jumps over the lazy dog")


def _anthropic(c: Any, a: Any) -> None:
    a.messages.create(model=_ANTHROPIC_MODEL, max_tokens=200, messages=_MESSAGES[1:],
                      system=_MESSAGES[0]["content"])


#: name -> (function doing one call, provider, calls per round at scale 1.0)
WORKLOADS: dict[str, tuple[Callable[[Any, Any], None], str, int]] = {
    "chat": (_chat, "openai", 100),
    "stream_usage": (_stream_usage, "openai", 30),
    "stream_no_usage": (_stream_no_usage, "openai", 30),
    "embeddings": (_embeddings, "openai", 200),
    "anthropic_messages": (_anthropic, "anthropic", 200),
}


class _SpanCounter(SpanProcessor):
    """Counts ended spans, to prove a round was (or was not) instrumented."""

    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: Any) -> None:
        self.ended += 1


class _Impl:
    """An implementation under test: its instrumentors, and how to scope a call."""

    def __init__(self, instrumentors: dict[str, Any], kwargs: dict[str, Any],
                 scope: Callable[[], Any] = nullcontext, versions: dict[str, str] | None = None) -> None:
        self.instrumentors = instrumentors  # provider -> BaseInstrumentor
        self.kwargs = kwargs
        self.scope = scope
        self.versions = versions or {}
        #: The workload being measured (the SDK floor replays our span of it).
        self.workload = ""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _ours(tracer_provider: Any, kwargs: dict[str, Any]) -> _Impl:
    from otel_llm_cost import __version__
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    instrumentors: dict[str, Any] = {"openai": OpenAIInstrumentor()}
    try:
        from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor

        instrumentors["anthropic"] = AnthropicInstrumentor()
    except ImportError:
        pass
    scope: Callable[[], Any] = nullcontext
    try:
        from otel_llm_cost import sessions

        tracer_provider.add_span_processor(sessions.SessionSpanProcessor(kwargs["meter_provider"]))
        scope = _session_scope(sessions)
    except (ImportError, AttributeError):
        pass
    return _Impl(instrumentors, kwargs, scope, {"otel-llm-cost": __version__})


def _session_scope(sessions: Any) -> Callable[[], Any]:
    """Every timed call runs inside one session, so the roll-up does its work."""
    for name in ("session", "Session"):
        factory = getattr(sessions, name, None)
        if factory is not None:
            return lambda: factory("bench-session")
    return nullcontext


def _openllmetry(tracer_provider: Any, kwargs: dict[str, Any]) -> _Impl:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    instrumentors: dict[str, Any] = {"openai": OpenAIInstrumentor()}
    try:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        instrumentors["anthropic"] = AnthropicInstrumentor()
    except ImportError:
        pass
    return _Impl(instrumentors, kwargs, versions={
        "opentelemetry-instrumentation-openai": _version("opentelemetry-instrumentation-openai"),
        "opentelemetry-instrumentation-anthropic": _version("opentelemetry-instrumentation-anthropic"),
    })


def _openai_v2(tracer_provider: Any, kwargs: dict[str, Any]) -> _Impl:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    return _Impl({"openai": OpenAIInstrumentor()}, kwargs, versions={
        "opentelemetry-instrumentation-openai-v2": _version("opentelemetry-instrumentation-openai-v2"),
        "opentelemetry-util-genai": _version("opentelemetry-util-genai"),
    })


def _contrib_genai(tracer_provider: Any, kwargs: dict[str, Any]) -> _Impl:
    from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    return _Impl({"openai": OpenAIInstrumentor(), "anthropic": AnthropicInstrumentor()}, kwargs, versions={
        "opentelemetry-instrumentation-genai-openai": _version("opentelemetry-instrumentation-genai-openai"),
        "opentelemetry-instrumentation-genai-anthropic": _version("opentelemetry-instrumentation-genai-anthropic"),
        "opentelemetry-util-genai": _version("opentelemetry-util-genai"),
    })


def _sdk(points: bool, attributes: bool) -> Callable[[Any, dict[str, Any]], _Impl]:
    """An ``sdk-*`` floor (``bench/_floor.py``): our span replayed through the SDK alone."""

    def make(tracer_provider: Any, kwargs: dict[str, Any]) -> _Impl:
        from bench._floor import floor_impl

        return floor_impl(kwargs, points=points, attributes=attributes)

    return make


IMPLS: dict[str, Callable[[Any, dict[str, Any]], _Impl]] = {
    "ours": _ours,
    "sdk-floor": _sdk(points=True, attributes=True),
    "sdk-span": _sdk(points=False, attributes=True),
    "sdk-bare": _sdk(points=False, attributes=False),
    "openllmetry": _openllmetry,
    "openai-v2": _openai_v2,
    "contrib-genai": _contrib_genai,
}


def _telemetry(endpoint: str) -> tuple[Any, Any, _SpanCounter]:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    counter = _SpanCounter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(counter)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    # Collected only when the bench flushes it, after each instrumented round and
    # outside the timed loop, so that the work a collection does per call (ours records
    # its deferred histogram points then) is measured — ``metrics_cpu_us_per_call``: that
    # flush minus a second one with nothing new, i.e. without the fixed cost of an
    # export — and never lands at random inside a round.
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
                                           export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader])
    # Deliberately NOT set as the global providers: anthropic >= 2 traces its own calls
    # to the global tracer provider, which would put a second span in every "bare" call.
    return tracer_provider, meter_provider, counter


def _clocks() -> tuple[float, float]:
    """(CPU seconds of this process — all its threads, exporter included —, wall seconds)."""
    return time.process_time(), time.perf_counter()


def run(impl_name: str, endpoint: str, *, rounds: int = 9, scale: float = 1.0,
        only: list[str] | None = None) -> dict[str, Any]:
    """Measure every workload for ``impl_name``; returns the JSON-able result."""
    tracer_provider, meter_provider, counter = _telemetry(endpoint)
    kwargs = {"tracer_provider": tracer_provider, "meter_provider": meter_provider}
    impl = IMPLS[impl_name](tracer_provider, kwargs)
    transport = CannedTransport()
    client, aclient = openai_client(transport), anthropic_client(transport)
    results: dict[str, Any] = {}
    toggles: dict[str, Toggle] = {}
    selected = [name for name in WORKLOADS if not only or name in only]
    for name in selected:  # import the SDKs' lazily loaded modules before any snapshot
        WORKLOADS[name][0](client, aclient)
    for name in selected:
        fn, provider, base_calls = WORKLOADS[name]
        instrumentor = impl.instrumentors.get(provider)
        if instrumentor is None:
            results[name] = {"status": "n/a", "reason": f"no {provider} instrumentation"}
            continue
        calls = max(1, int(base_calls * scale))
        impl.workload = name
        export_cpu: list[float] = []
        metrics_cpu: list[float] = []
        toggle = toggles.get(provider)
        if toggle is None:
            toggle = toggles[provider] = Toggle(instrumentor, impl.kwargs, (provider,))

        # Both rounds run only within this iteration; the defaults bind this iteration's
        # values explicitly, as the linter (B023) asks of closures defined in a loop.
        def instrumented_round(n: int, toggle: Toggle = toggle, fn: Callable[..., Any] = fn,
                               export_cpu: list[float] = export_cpu,
                               metrics_cpu: list[float] = metrics_cpu) -> tuple[float, float, int]:
            toggle.on()
            before = counter.ended
            try:
                with impl.scope():
                    cpu, wall = _clocks()
                    for _ in range(n):
                        fn(client, aclient)
                    cpu2, wall2 = _clocks()
                    tracer_provider.force_flush()
                    cpu3 = time.process_time()
                    export_cpu.append((cpu3 - cpu2) / max(1, counter.ended - before) * 1e6)
                    meter_provider.force_flush()
                    cpu4 = time.process_time()
                    meter_provider.force_flush()  # nothing new: the fixed cost of an export
                    fixed = time.process_time() - cpu4
                    metrics_cpu.append(max(0.0, (cpu4 - cpu3) - fixed) / n * 1e6)
            finally:
                toggle.off()
            return cpu2 - cpu, wall2 - wall, counter.ended - before

        def bare_round(n: int, fn: Callable[..., Any] = fn) -> tuple[float, float, int]:
            before = counter.ended
            cpu, wall = _clocks()
            for _ in range(n):
                fn(client, aclient)
            cpu2, wall2 = _clocks()
            return cpu2 - cpu, wall2 - wall, counter.ended - before

        # Warm-up: imports, catalog and tokenizer loads, pydantic caches.
        bare_round(max(1, calls // 4))
        instrumented_round(max(1, calls // 4))
        samples: dict[str, dict[str, list[float]]] = {
            "bare": {"cpu": [], "wall": []}, "instrumented": {"cpu": [], "wall": []}}
        spans = {"bare": 0, "instrumented": 0}
        export_cpu.clear()  # drop the warm-up's
        metrics_cpu.clear()
        for r in range(rounds):
            order = ("bare", "instrumented") if r % 2 == 0 else ("instrumented", "bare")
            for mode in order:
                gc.collect()
                cpu, wall, ended = (bare_round if mode == "bare" else instrumented_round)(calls)
                samples[mode]["cpu"].append(cpu / calls * 1e6)
                samples[mode]["wall"].append(wall / calls * 1e6)
                spans[mode] += ended
        results[name] = {"status": "ok", "calls_per_round": calls, "rounds": rounds}
        for clock in ("cpu", "wall"):
            bare_us = statistics.median(samples["bare"][clock])
            instr_us = statistics.median(samples["instrumented"][clock])
            # Rounds r (bare) and r (instrumented) ran back to back: their difference
            # cancels slow drift (other processes, CPU frequency) that medians alone keep.
            added = statistics.median(i - b for b, i in zip(samples["bare"][clock],
                                                            samples["instrumented"][clock], strict=True))
            results[name][clock] = {
                "bare_us": round(bare_us, 2),
                "instrumented_us": round(bare_us + added, 2),
                "added_us": round(added, 2),
                "ratio": round((bare_us + added) / bare_us, 4),
                "median_instrumented_us": round(instr_us, 2),
                "bare_rounds_us": [round(x, 2) for x in samples["bare"][clock]],
                "instrumented_rounds_us": [round(x, 2) for x in samples["instrumented"][clock]],
            }
        results[name].update({
            "export_cpu_us_per_span": round(statistics.median(export_cpu), 2),
            "metrics_cpu_us_per_call": round(statistics.median(metrics_cpu), 2),
            "spans_per_call": round(spans["instrumented"] / (calls * rounds), 3),
            "spans_in_bare_rounds": spans["bare"],
            "toggle": toggle.mode,
        })
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return {
        "impl": impl_name,
        "python": platform.python_version(),
        "versions": {**impl.versions, "openai": _version("openai"), "anthropic": _version("anthropic"),
                     "opentelemetry-sdk": _version("opentelemetry-sdk")},
        "requests_served": transport.requests,
        "uninstrument_leaks": {p: t.leaked for p, t in toggles.items() if t.leaked},
        "workloads": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=sorted(IMPLS), required=True)
    parser.add_argument("--endpoint", help="OTLP/HTTP sink base URL (default: start one in this process)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply calls per round")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS))
    args = parser.parse_args(argv)
    if args.endpoint:
        result = run(args.impl, args.endpoint, rounds=args.rounds, scale=args.scale, only=args.only)
    else:
        from bench._sink import OTLPSink

        with OTLPSink() as sink:
            result = run(args.impl, sink.endpoint, rounds=args.rounds, scale=args.scale, only=args.only)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
