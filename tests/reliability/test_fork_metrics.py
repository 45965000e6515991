"""fork() while threads record our metrics: a child must not inherit a held metric lock.

Recording a metric takes the OpenTelemetry SDK's own locks (the aggregation's, the
exemplar reservoir's: opentelemetry-python issue 4345). A thread of the parent inside
one of them at the instant of ``fork()`` leaves it held for ever in the child, whose
first LLM call then hangs in ``Counter.add``. We cannot change the SDK's locks, so our
recordings pass through a gate of ours that ``os.register_at_fork`` closes before the
fork and opens after it: a fork never lands inside one of our recordings.

A production-shaped pipeline (a metric reader with exemplars, spans through the
fork-aware ``BatchSpanProcessor``); 8 threads call the real OpenAI SDK in sessions in a
loop while the main thread forks — as a pre-fork server does with ``os.fork()``, and
through ``multiprocessing`` with the fork start method. Each child makes an LLM call
over the wire server and exits. A child still running after a generous deadline is
hung: killed and counted. None may hang.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import install, session

from .test_fork import DEADLINE_S, _reap

THREADS, FORKS, MP_CHILDREN = 8, 200, 40
MESSAGES = [{"role": "user", "content": "hi"}]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")


def _child_call(base_url: str) -> int:
    """In the child: one instrumented call in a session; 0 when it was counted."""
    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
    with session("child") as tally:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    return 0 if tally.calls == 1 and tally.cost is not None else 3


def _mp_child(base_url: str) -> None:
    os._exit(_child_call(base_url))


@pytest.fixture
def busy_threads(wire) -> Iterator[Callable[[], None]]:
    """8 threads making instrumented calls (every call records 5 metric points)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    install(tracer_provider, meter_provider)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)
    stop = threading.Event()
    calls = [0] * THREADS

    def work(t: int) -> None:
        while not stop.is_set():
            with session(f"t{t}", user_id=f"u{t}", end=False):
                client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            calls[t] += 1

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()

    def all_running() -> None:
        while min(calls) == 0:
            time.sleep(0.01)

    try:
        yield all_running
    finally:
        stop.set()
        for th in threads:
            th.join(30)
        tracer_provider.shutdown()
        meter_provider.shutdown()


def test_200_forks_under_8_threads_recording_metrics_never_hang(wire, busy_threads):
    busy_threads()
    pids = []
    for _ in range(FORKS):
        time.sleep(0.005)
        pid = os.fork()
        if pid == 0:  # the child (a pre-fork server's worker): never return into pytest
            code = 4
            try:
                code = _child_call(wire.openai_base_url)
            finally:
                os._exit(code)
        pids.append(pid)
    hung, codes = _reap(pids)
    assert (hung, sorted(codes)) == (0, [0] * FORKS)


def test_multiprocessing_fork_children_under_8_threads_never_hang(wire, busy_threads):
    busy_threads()
    ctx = multiprocessing.get_context("fork")
    procs = []
    for _ in range(MP_CHILDREN):
        time.sleep(0.01)
        proc = ctx.Process(target=_mp_child, args=(wire.openai_base_url,))
        proc.start()
        procs.append(proc)
    deadline = time.monotonic() + DEADLINE_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    hung = [p for p in procs if p.is_alive()]
    for proc in hung:
        proc.kill()
        proc.join(10)
    assert (len(hung), sorted(p.exitcode for p in procs if p not in hung)) == (0, [0] * MP_CHILDREN)
