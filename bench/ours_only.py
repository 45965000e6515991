"""``python -m bench.ours_only [prof [sortkey]]``: our added work alone, without the SDK call.

The real wrapper (``sync_wrapper`` + the OpenAI spec) around a ``wrapped`` that returns
a response (or a stream of chunks) the SDK parsed once, with the session processor and
a meter provider, inside a session; no batch exporter. Far less noisy than the full
bench (whose figures are dominated by the SDK call), so each hot-path change shows.
Prints the median and best of 15 rounds of 2 000 calls (wall clock, one thread), and
what collecting the metrics after a round costs per call; ``prof`` prints a cProfile
of 5 000 chat calls instead; ``nometrics`` gives our code the API's no-op meter
provider, so the difference is what the plain metric points cost.
"""
import gc
import statistics
import sys
import time

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from bench._transport import CannedTransport, openai_client
from otel_llm_cost import sessions
from otel_llm_cost.instrumentation import openai as oi
from otel_llm_cost.instrumentation._shared import Telemetry, sync_wrapper


def main() -> None:
    tp = TracerProvider()
    tp.add_span_processor(sessions.SessionSpanProcessor(None))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    if "nometrics" in sys.argv:  # our code with the API's no-op meter: what the metric points cost
        from opentelemetry.metrics import NoOpMeterProvider

        mp = NoOpMeterProvider()
    c = openai_client(CannedTransport())
    M = [{"role": "user", "content": "Write twenty words about tracing."}]
    resp = c.chat.completions.create(model="gpt-4o-mini", messages=M, max_tokens=200)
    stream_kwargs = {"model": "gpt-4o-mini", "messages": M, "stream": True, "stream_options": {"include_usage": True}}
    chunks = list(c.chat.completions.create(**stream_kwargs))
    import openai

    class FakeStream(openai.Stream):
        def __init__(self, items):
            self._items = items

        def __iter__(self):
            return iter(self._items)

        def close(self):
            pass

    tel = Telemetry(tp, mp)
    types = oi._SDKTypes()
    w = sync_wrapper(tel, oi._Spec("chat", False, False, types))
    inst = c.chat.completions

    def chat():
        w(lambda *a, **k: resp, inst, (), {"model": "gpt-4o-mini", "messages": M, "max_tokens": 200})

    def stream():
        for _ in w(lambda *a, **k: FakeStream(chunks), inst, (), stream_kwargs):
            pass

    def bstream():
        for _ in FakeStream(chunks):
            pass

    collect_us = []

    def rnd(fn, n, ours=True):
        gc.collect()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        d = (time.perf_counter() - t) / n * 1e6
        if ours:
            t = time.perf_counter()
            reader.get_metrics_data()
            collect_us.append((time.perf_counter() - t) / n * 1e6)
        return d
    prof = "prof" in sys.argv
    with sessions.session("s"):
        for name, fn, base in (("chat", chat, None), ("stream", stream, bstream)):
            if prof:
                import cProfile
                import pstats
                for _ in range(500):
                    fn()
                pr = cProfile.Profile()
                pr.enable()
                for _ in range(5000):
                    fn()
                pr.disable()
                pstats.Stats(pr).sort_stats(sys.argv[2] if len(sys.argv) > 2 else "tottime").print_stats(45)
                break
            for _ in range(300):
                fn()
            reader.get_metrics_data()
            collect_us.clear()
            xs = [rnd(fn, 2000) - (rnd(base, 2000, ours=False) if base else 0) for _ in range(15)]
            print(f"{name}: ours {statistics.median(xs):.1f} us (min {min(xs):.1f}); "
                  f"then collecting metrics {statistics.median(collect_us):.1f} us per call")


if __name__ == "__main__":
    main()
