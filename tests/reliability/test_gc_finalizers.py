"""The garbage collector frees an abandoned stream while the same thread holds our lock.

``StreamProxy.__del__`` ends the stream's call, and ending a call counts it in its
session, under the session store's lock. The cyclic collector runs finalizers at any
allocation — also one made while that very thread is inside the store's lock. If the
finalizer then takes the lock itself, the thread waits on itself and every later
session or call in every thread blocks with it. So a finalizer of ours only hands its
work off, and the store's lock tolerates re-entry from its own thread.

Each case runs in a subprocess over the wire server (a deadlock there fails the test
at its deadline instead of hanging the suite): a stream is made in a session, read one
chunk, and left in a reference cycle; the collector then frees it at the worst moment —
made certain by holding the store's lock around ``gc.collect()``; and with a GC
threshold of 1 while the same thread, already inside the lock, opens and ends sessions
(which take it again). The call must still be counted, its span ended ``partial``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Far beyond what the script needs; only a deadlocked child reaches it.
DEADLINE_S = 30

APP = textwrap.dedent("""
    import gc, sys, threading, time
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
    from otel_llm_cost.sessions import STORE, install, session

    BASE_URL, MODE = sys.argv[1], sys.argv[2]
    spans = InMemorySpanExporter()
    tp, mp = TracerProvider(), MeterProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
    install(tp, mp)
    client = openai.OpenAI(base_url=BASE_URL, api_key="k", max_retries=0)

    class Holder:
        pass

    def abandoned_stream():
        h = Holder()
        h.me = h  # a cycle: only the cyclic collector frees it
        h.stream = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
        next(iter(h.stream))

    with session("s1") as tally:
        gc.collect()
        gc.disable()
        abandoned_stream()
    if MODE == "lock-held":
        with STORE.lock:  # the thread is inside the store's lock when the collector runs
            gc.collect()
    else:  # "low-threshold": collections at nearly every allocation, sessions churning
        gc.set_threshold(1, 1, 1)
        gc.enable()
        with STORE.lock:  # and the store's lock re-entered by its own thread
            for i in range(50):
                with session(f"churn-{i}", user_id="u"):
                    pass
    gc.enable()
    gc.set_threshold(700, 10, 10)
    # The call's end may have been handed to our worker thread: wait for it, bounded.
    deadline = time.monotonic() + 20
    while tally.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with session("s3") as later:  # the store still works, in this thread and others
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    other = threading.Thread(target=lambda: STORE.open("s4", None))
    other.start()
    other.join(20)
    partial = [s for s in spans.get_finished_spans() if s.attributes.get("llm_cost.partial")]
    print("RESULT", tally.calls, later.calls, other.is_alive(), len(partial), flush=True)
""")


@pytest.mark.parametrize("mode", ["lock-held", "low-threshold"])
def test_a_stream_collected_inside_the_store_lock_does_not_deadlock(wire, mode):
    try:
        proc = subprocess.run([sys.executable, "-c", APP, wire.openai_base_url, mode], capture_output=True,
                              text=True, timeout=DEADLINE_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"deadlocked: the process did not finish within {DEADLINE_S} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "RESULT 1 1 False 1" in proc.stdout, proc.stdout + proc.stderr[-3000:]
