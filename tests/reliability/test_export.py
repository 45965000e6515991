"""The telemetry backend misbehaving must not slow or break the application.

The real export pipeline — the SDK's ``BatchSpanProcessor`` and the OTLP/HTTP exporter —
is pointed at an endpoint that is up (a local receiver answering 200), down (a port no
one listens on) or black-holing (a listener that accepts connections and never
answers). Exporting happens on the processor's thread, bounded by its queue, so an LLM
call never waits for an export. That is checked as behaviour, not as a time ratio: the
exporter is wrapped in a counter of the exports that have *returned*; once one export
is stuck (black hole: no answer for the exporter's 60 s timeout; down: retrying with
back-off within that timeout), the application makes its calls, and each must return,
with the same result as with the receiver up, while no export has returned yet. A call
that waited on the exporter could not return before the stuck export did. A calibration
case shows the same check catches a *synchronous* exporter.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from tests.wire import Reply

from ._harness import call, calls_metric, client, describe, our_spans, spend_metric

CALLS = 15
#: The exporter's own timeout: how long a stuck export holds out before it returns.
EXPORT_TIMEOUT = 60.0
#: Longest the test waits for the processor's thread to start its first export.
STARTED_WITHIN_S = 30.0


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


class BlackHole:
    """A listener that accepts connections and never reads or answers, until closed."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port: int = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        """Drop the listener and every connection held: a stuck export fails at once.

        ``shutdown`` first: on Linux, closing a listener does not wake an ``accept()``
        blocked on it in another thread, which would go on accepting."""
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._accepting.join(5)
        self.listener.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


class _Watched(SpanExporter):
    """The real OTLP/HTTP exporter, with a count of the exports that have returned and
    the threads they ran on (a test's view of the exporter, not a change to it)."""

    def __init__(self, port: int, timeout: float = EXPORT_TIMEOUT) -> None:
        self.exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=timeout)
        self.started = threading.Event()
        self.returned = 0
        self.threads: set[int] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.get_ident())
        self.started.set()
        try:
            return self.exporter.export(spans)
        finally:
            self.returned += 1

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _exporter(port: int) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=1.0)


def _batch(exporter: SpanExporter, **kw: Any) -> BatchSpanProcessor:
    kw = {"schedule_delay_millis": 5, "max_export_batch_size": 1, **kw}
    return BatchSpanProcessor(exporter, **kw)


def _calls(wire, instrumented, processor, watched: _Watched | None = None, calls: int = CALLS, *,
           stuck_first: bool = False) -> tuple[list[Any], list[int]]:
    """``calls`` calls through ``processor``: what the application saw, and how many of
    ``watched``'s exports had returned when each call returned. ``stuck_first``: a first
    call's export is started (and, against a dead endpoint, stuck) before the calls begin."""
    inst = instrumented(OpenAIInstrumentor)
    inst.tracer_provider.add_span_processor(processor)
    sdk = client("openai", wire)
    if stuck_first:
        assert watched is not None
        call("openai", sdk)
        assert watched.started.wait(STARTED_WITHIN_S), "the processor's thread never started an export"
    wire.reset()
    seen, returned = [], []
    for _ in range(calls):
        seen.append(describe(call("openai", sdk)))
        returned.append(watched.returned if watched is not None else 0)
    inst.uninstrument()
    assert len(our_spans(inst)) == calls + stuck_first  # every call traced and offered to the exporter
    return seen, returned


def test_calls_never_wait_on_a_collector_that_is_down_or_black_holed(wire, instrumented, collector_up, port_down,
                                                                      black_hole):
    up_processor = _batch(_exporter(collector_up.server_address[1]))
    seen_up, _ = _calls(wire, instrumented, up_processor)
    up_processor.force_flush()
    assert collector_up.received > 0  # the "up" pipeline really exported
    for port in (port_down, black_hole.port):
        watched = _Watched(port)
        try:
            seen, returned = _calls(wire, instrumented, _batch(watched), watched, stuck_first=True)
        finally:
            watched.shutdown()  # what is left to export fails at once: teardown does not wait on it
        assert seen == seen_up  # the application saw exactly what it sees with the collector up
        # Every call returned while the first export was still stuck (no export had
        # returned), and no export ran on the application's thread.
        assert returned == [0] * CALLS, returned
        assert threading.get_ident() not in watched.threads


def test_calibration_a_synchronous_exporter_would_be_seen(wire, instrumented, black_hole):
    """Not a guarantee but a check of the check: the assertions above can fail."""
    watched = _Watched(black_hole.port, timeout=0.3)
    _, returned = _calls(wire, instrumented, SimpleSpanProcessor(watched), watched, calls=2)
    assert returned == [1, 2]  # each call returned only after its export had
    assert threading.get_ident() in watched.threads


def test_export_queue_full_drops_spans_not_calls_or_money(wire, instrumented, black_hole, caplog):
    caplog.set_level(logging.WARNING)
    inst = instrumented(OpenAIInstrumentor)
    processor = _batch(_exporter(black_hole.port), max_queue_size=2, schedule_delay_millis=60_000)
    inst.tracer_provider.add_span_processor(processor)
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
