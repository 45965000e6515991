"""fork() while other threads are inside our code: the child must not inherit a held lock.

``os.fork()`` copies only the thread that forks. A lock another thread held at that
instant (the session store's, the observers', the settings') stays held in the child
for ever, and the child hangs on its first ``session()`` or LLM call. Here 8 threads
call the real OpenAI SDK in sessions, in a loop, while the main thread forks children;
each child opens a session, makes an LLM call over the wire server with a client of its
own, checks that the call was counted, and exits. A child still running after a
generous deadline is hung: it is killed and counted. None may hang.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions import STORE, install, session

THREADS, CHILDREN, BURST = 8, 24, 20
#: Far beyond what a child needs (one local HTTP call); only a hung child reaches it.
DEADLINE_S = 60.0

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")


def _child(base_url: str) -> int:
    """Runs in the forked child: 0 when the call was made and counted in its session."""
    client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
    with session("child") as tally:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    # The child's registry starts empty: the parent's live sessions are the parent's.
    return 0 if tally.calls == 1 and tally.cost is not None and "t0" not in STORE.sessions else 3


def _reap(pids: list[int]) -> tuple[int, list[int]]:
    """(children hung past the deadline — killed, exit codes of the others)."""
    codes: dict[int, int] = {}
    deadline = time.monotonic() + DEADLINE_S
    while len(codes) < len(pids) and time.monotonic() < deadline:
        for pid in pids:
            if pid in codes:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    hung = [pid for pid in pids if pid not in codes]
    for pid in hung:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return len(hung), list(codes.values())


def test_children_forked_while_8_threads_call_never_hang(wire):
    # A production-shaped pipeline: spans through the fork-aware BatchSpanProcessor. (A
    # synchronous in-memory exporter or metric reader would itself hang a child — their
    # locks are the SDK's, not ours; the metric instruments record into no reader here.)
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider()
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    install(tracer_provider, meter_provider)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)
    stop = threading.Event()
    calls = [0] * THREADS

    def work(t: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            with session(f"t{t}", end=False), session(f"t{t}-{n}", user_id=f"u{t}"):
                client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
                for i in range(BURST):  # and short sessions: the store's lock is taken often
                    with session(f"t{t}-{n}-{i}"):
                        pass
            calls[t] += 1

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    pids = []
    try:
        while min(calls) == 0:  # every thread is in its loop
            time.sleep(0.01)
        for _ in range(CHILDREN):
            time.sleep(0.02)
            pid = os.fork()
            if pid == 0:  # the child: never return into pytest
                code = 4
                try:
                    code = _child(wire.openai_base_url)
                finally:
                    os._exit(code)
            pids.append(pid)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    hung, codes = _reap(pids)
    tracer_provider.shutdown()
    assert (hung, codes) == (0, [0] * CHILDREN)


def _lock_holders():
    from otel_llm_cost import config, observers, tokens

    return {"session store": lambda: STORE.lock, "observers": lambda: observers._lock,
            "settings": lambda: config._lock, "tokenizer": lambda: tokens._load_locks["cl100k_base"]}


@pytest.mark.parametrize("name", sorted(_lock_holders()))
def test_a_lock_held_by_another_thread_at_the_fork_is_fresh_in_the_child(wire, name):
    """The worst instant, made certain: another thread is inside our lock when we fork."""
    tracer_provider = TracerProvider()
    meter_provider = MeterProvider()
    OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    lock = _lock_holders()[name]()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    held.wait(30)
    try:
        pid = os.fork()
        if pid == 0:
            code = 4
            try:
                from otel_llm_cost import config, tokens

                config.load()  # each lock once, as a call may take it
                tokens._encodings.pop("cl100k_base", None)  # built again, under its lock
                tokens._build("cl100k_base")
                code = _child(wire.openai_base_url)
            finally:
                os._exit(code)
    finally:
        release.set()
        holder.join(30)
    hung, codes = _reap([pid])
    assert (hung, codes) == (0, [0])
