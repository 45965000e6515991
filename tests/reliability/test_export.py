"""The telemetry backend misbehaving must not slow or break the application.

The real export pipeline — the SDK's ``BatchSpanProcessor`` and the OTLP/HTTP exporter —
is pointed at an endpoint that is up (a local receiver answering 200), down (a port no
one listens on) or black-holing (a listener that accepts connections and never
answers). Exporting happens on the processor's thread, bounded by its queue, so the
app-side time of an LLM call must be the same in all three; we compare medians within
one test with a generous factor. A calibration case shows the same measurement does
see a *synchronous* exporter stuck on the black hole, so the comparison can fail.
"""

from __future__ import annotations

import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from tests.wire import Reply

from ._harness import call, calls_metric, client, describe, our_spans, spend_metric

CALLS = 15
#: Down or black-holed, the median call may take at most this many times the "up" median.
FACTOR = 4
#: The exporter's own timeout: a synchronous export to the black hole would cost this much.
EXPORT_TIMEOUT = 1.0


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.received += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector_up() -> Iterator[Any]:
    """A local OTLP/HTTP receiver that accepts every export."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.received = 0  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def port_down() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A listener that accepts connections and never reads or answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for conn in held:
        conn.close()


def _exporter(port: int) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=EXPORT_TIMEOUT)


def _batch(port: int, **kw: Any) -> BatchSpanProcessor:
    kw = {"schedule_delay_millis": 5, "max_export_batch_size": 1, **kw}
    return BatchSpanProcessor(_exporter(port), **kw)


def _median_call_time(wire, instrumented, processor, calls: int = CALLS) -> tuple[float, Any]:
    inst = instrumented(OpenAIInstrumentor)
    inst.tracer_provider.add_span_processor(processor)
    sdk = client("openai", wire)
    wire.reset()
    times, seen = [], []
    for _ in range(calls):
        started = time.perf_counter()
        seen.append(describe(call("openai", sdk)))
        times.append(time.perf_counter() - started)
    inst.uninstrument()
    assert len(our_spans(inst)) == calls  # every call was traced and offered to the exporter
    return statistics.median(times), (inst, seen)


def test_app_latency_same_with_collector_up_down_or_black_holed(wire, instrumented, collector_up, port_down,
                                                                black_hole):
    up_processor = _batch(collector_up.server_address[1])
    up, (_, seen_up) = _median_call_time(wire, instrumented, up_processor)
    up_processor.force_flush()
    assert collector_up.received > 0  # the "up" pipeline really exported
    for port in (port_down, black_hole):
        processor = _batch(port)
        median, (_, seen) = _median_call_time(wire, instrumented, processor)
        assert seen == seen_up
        assert median < FACTOR * up, (median, up)
    for processor in (up_processor,):
        processor.shutdown()


def test_calibration_a_synchronous_exporter_would_be_seen(wire, instrumented, collector_up, black_hole):
    """Not a guarantee but a check of the check: the comparison above can fail."""
    up, _ = _median_call_time(wire, instrumented, _batch(collector_up.server_address[1]), calls=5)
    stuck, _ = _median_call_time(wire, instrumented, SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://127.0.0.1:{black_hole}/v1/traces", timeout=0.3)), calls=3)
    assert stuck > FACTOR * up


def test_export_queue_full_drops_spans_not_calls_or_money(wire, instrumented, black_hole, caplog):
    caplog.set_level(logging.WARNING)
    inst = instrumented(OpenAIInstrumentor)
    inst.tracer_provider.add_span_processor(_batch(black_hole, max_queue_size=2, schedule_delay_millis=60_000))
    sdk = client("openai", wire)
    wire.reset()
    wire.enqueue_many(Reply(text="a b c") for _ in range(30))
    results = [call("openai", sdk) for _ in range(30)]
    assert [r.choices[0].message.content for r in results] == ["a b c"] * 30
    assert any("Queue full" in r.getMessage() for r in caplog.records)  # the exporter dropped spans …
    assert len(our_spans(inst)) == 30  # … the calls were still all traced and counted:
    assert calls_metric(inst) == 30
    # gpt-4o, 13 in + 3 out each = 0.0000625 USD, thirty times
    assert spend_metric(inst) == pytest.approx(30 * 0.0000625, rel=1e-9)
    assert all(sp.attributes[s.LLM_COST_USD] == "0.0000625" for sp in our_spans(inst))
