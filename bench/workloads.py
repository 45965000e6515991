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


class Worker:
    """One implementation in one process: its telemetry, clients and rounds, run on demand.

    ``run`` drives it alone (every round of one workload, then the next); the bench's
    parent drives one worker per implementation over stdin (``--serve``), a round of
    each in turn, so that every implementation's rounds of a workload are interleaved
    in the same minutes (see ``bench.__main__``).
    """

    def __init__(self, impl_name: str, endpoint: str, scale: float = 1.0) -> None:
        self.impl_name = impl_name
        self.tracer_provider, self.meter_provider, self.counter = _telemetry(endpoint)
        self.impl = IMPLS[impl_name](self.tracer_provider, {"tracer_provider": self.tracer_provider,
                                                            "meter_provider": self.meter_provider})
        self.transport = CannedTransport()
        self.client, self.aclient = openai_client(self.transport), anthropic_client(self.transport)
        self.scale = scale
        self.toggles: dict[str, Toggle] = {}
        self.export_cpu: dict[str, list[float]] = {}
        self.metrics_cpu: dict[str, list[float]] = {}

    def calls(self, name: str) -> int:
        return max(1, int(WORKLOADS[name][2] * self.scale))

    def prepare(self, names: list[str]) -> dict[str, str]:
        """Import the SDKs' lazy modules, then warm each workload up (bare and instrumented).

        Returns the workloads this implementation cannot run, with the reason.
        """
        missing = {}
        for name in names:  # import the SDKs' lazily loaded modules before any snapshot
            WORKLOADS[name][0](self.client, self.aclient)
        for name in names:
            provider = WORKLOADS[name][1]
            instrumentor = self.impl.instrumentors.get(provider)
            if instrumentor is None:
                missing[name] = f"no {provider} instrumentation"
                continue
            if provider not in self.toggles:
                self.toggles[provider] = Toggle(instrumentor, self.impl.kwargs, (provider,))
            # Warm-up: imports, catalog and tokenizer loads, pydantic caches.
            self.round(name, "bare", max(1, self.calls(name) // 4))
            self.round(name, "instrumented", max(1, self.calls(name) // 4))
            self.export_cpu[name] = []  # drop the warm-up's
            self.metrics_cpu[name] = []
        return missing

    def round(self, name: str, mode: str, n: int | None = None) -> tuple[float, float, int]:
        """One timed round of ``n`` calls: (CPU seconds, wall seconds, spans ended)."""
        fn, provider, _ = WORKLOADS[name]
        n = self.calls(name) if n is None else n
        client, aclient, counter = self.client, self.aclient, self.counter
        self.impl.workload = name
        gc.collect()
        before = counter.ended
        if mode == "bare":
            cpu, wall = _clocks()
            for _ in range(n):
                fn(client, aclient)
            cpu2, wall2 = _clocks()
            return cpu2 - cpu, wall2 - wall, counter.ended - before
        toggle = self.toggles[provider]
        toggle.on()
        try:
            with self.impl.scope():
                cpu, wall = _clocks()
                for _ in range(n):
                    fn(client, aclient)
                cpu2, wall2 = _clocks()
                self.tracer_provider.force_flush()
                cpu3 = time.process_time()
                self.export_cpu.setdefault(name, []).append(
                    (cpu3 - cpu2) / max(1, counter.ended - before) * 1e6)
                self.meter_provider.force_flush()
                cpu4 = time.process_time()
                self.meter_provider.force_flush()  # nothing new: the fixed cost of an export
                fixed = time.process_time() - cpu4
                self.metrics_cpu.setdefault(name, []).append(max(0.0, (cpu4 - cpu3) - fixed) / n * 1e6)
        finally:
            toggle.off()
        return cpu2 - cpu, wall2 - wall, counter.ended - before

    def extras(self, name: str) -> dict[str, Any]:
        """What a workload's rounds measured besides the timed loop."""
        provider = WORKLOADS[name][1]
        return {
            "export_cpu_us_per_span": round(statistics.median(self.export_cpu[name]), 2),
            "metrics_cpu_us_per_call": round(statistics.median(self.metrics_cpu[name]), 2),
            "toggle": self.toggles[provider].mode,
        }

    def header(self) -> dict[str, Any]:
        return {
            "impl": self.impl_name,
            "python": platform.python_version(),
            "versions": {**self.impl.versions, "openai": _version("openai"), "anthropic": _version("anthropic"),
                         "opentelemetry-sdk": _version("opentelemetry-sdk")},
            "requests_served": self.transport.requests,
            "uninstrument_leaks": {p: t.leaked for p, t in self.toggles.items() if t.leaked},
        }

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def summarize(samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Per clock: bare, added (median of paired differences) and its spread across rounds."""
    out: dict[str, Any] = {}
    for clock in ("cpu", "wall"):
        bare = samples["bare"][clock]
        instr = samples["instrumented"][clock]
        bare_us = statistics.median(bare)
        # Rounds r (bare) and r (instrumented) ran back to back: their difference
        # cancels slow drift (other processes, CPU frequency) that medians alone keep.
        diffs = [i - b for b, i in zip(bare, instr, strict=True)]
        added = statistics.median(diffs)
        q1, q3 = quartiles(diffs)
        out[clock] = {
            "bare_us": round(bare_us, 2),
            "instrumented_us": round(bare_us + added, 2),
            "added_us": round(added, 2),
            "added_q1_us": round(q1, 2),
            "added_q3_us": round(q3, 2),
            "ratio": round((bare_us + added) / bare_us, 4),
            "median_instrumented_us": round(statistics.median(instr), 2),
            "bare_rounds_us": [round(x, 2) for x in bare],
            "instrumented_rounds_us": [round(x, 2) for x in instr],
        }
    return out


def quartiles(values: list[float]) -> tuple[float, float]:
    """First and third quartile (the median itself with fewer than two values)."""
    if len(values) < 2:
        m = values[0] if values else 0.0
        return m, m
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def run(impl_name: str, endpoint: str, *, rounds: int = 9, scale: float = 1.0,
        only: list[str] | None = None) -> dict[str, Any]:
    """Measure every workload for ``impl_name`` alone; returns the JSON-able result."""
    worker = Worker(impl_name, endpoint, scale)
    selected = [name for name in WORKLOADS if not only or name in only]
    missing = worker.prepare(selected)
    results: dict[str, Any] = {}
    for name in selected:
        if name in missing:
            results[name] = {"status": "n/a", "reason": missing[name]}
            continue
        calls = worker.calls(name)
        samples: dict[str, dict[str, list[float]]] = {
            "bare": {"cpu": [], "wall": []}, "instrumented": {"cpu": [], "wall": []}}
        spans = {"bare": 0, "instrumented": 0}
        for r in range(rounds):
            order = ("bare", "instrumented") if r % 2 == 0 else ("instrumented", "bare")
            for mode in order:
                cpu, wall, ended = worker.round(name, mode)
                samples[mode]["cpu"].append(cpu / calls * 1e6)
                samples[mode]["wall"].append(wall / calls * 1e6)
                spans[mode] += ended
        results[name] = {"status": "ok", "calls_per_round": calls, "rounds": rounds, **summarize(samples),
                         **worker.extras(name),
                         "spans_per_call": round(spans["instrumented"] / (calls * rounds), 3),
                         "spans_in_bare_rounds": spans["bare"]}
    worker.close()
    return {**worker.header(), "workloads": results}


def serve(impl_name: str, endpoint: str, scale: float, only: list[str] | None) -> None:
    """``--serve``: prepare, then run the rounds the parent asks for, one JSON line each way.

    Requests: ``{"round": workload, "mode": "bare"|"instrumented"}``, ``{"extras": workload}``,
    ``{"done": true}`` (answered with the header, then the process exits).
    """
    worker = Worker(impl_name, endpoint, scale)
    selected = [name for name in WORKLOADS if not only or name in only]
    missing = worker.prepare(selected)
    _reply({"ready": True, "missing": missing, "calls": {n: worker.calls(n) for n in selected}})
    for line in sys.stdin:
        request = json.loads(line)
        if "round" in request:
            cpu, wall, ended = worker.round(request["round"], request["mode"])
            _reply({"cpu": cpu, "wall": wall, "ended": ended})
        elif "extras" in request:
            _reply(worker.extras(request["extras"]))
        else:
            worker.close()
            _reply(worker.header())
            return


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=sorted(IMPLS), required=True)
    parser.add_argument("--endpoint", help="OTLP/HTTP sink base URL (default: start one in this process)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply calls per round")
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS))
    parser.add_argument("--serve", action="store_true", help="take rounds from the parent (stdin), one at a time")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.impl, args.endpoint, args.scale, args.only)
        return 0
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
