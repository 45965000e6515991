"""Process exit: queued spans survive SIGTERM's default action, and a stream half-read
at a normal exit still ends (``partial``) before the providers shut down.

Real subprocesses: an application with a ``BatchSpanProcessor`` whose queue would hold
its spans for a minute, calling the real OpenAI SDK over the wire server; the test
sends it SIGTERM with ``os.kill`` (as ``docker stop`` does), or lets it run to its end.
The exporter writes each span it receives to a file, which is what "exported" means here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_llm_cost import semconv as s

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent("""
    import json, signal, sys, time
    import openai
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    import otel_llm_cost

    BASE_URL, OUT, MODE = sys.argv[1], sys.argv[2], sys.argv[3]

    class FileExporter(SpanExporter):
        def export(self, spans):
            with open(OUT, "a") as f:
                for span in spans:
                    f.write(json.dumps({"name": span.name, "attributes": dict(span.attributes)}) + "\\n")
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    # Spans wait in the queue for a minute unless something flushes them.
    provider.add_span_processor(BatchSpanProcessor(FileExporter(), schedule_delay_millis=60_000))
    trace.set_tracer_provider(provider)
    if MODE == "own-handler":
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
    otel_llm_cost.configure()
    client = openai.OpenAI(base_url=BASE_URL, api_key="test", max_retries=0)
    messages = [{"role": "user", "content": "one two three"}]
    if MODE == "half-read":
        stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        next(iter(stream))
        print("READY", flush=True)
        sys.exit(0)  # a normal exit with the stream still open
    if MODE == "inside-a-recording":
        # One call ended (its span queued) and one stream still open, whose end records
        # metrics under the fork gate; the main thread then holds the gate, as it does
        # inside any of our recordings, when SIGTERM lands.
        client.chat.completions.create(model="gpt-4o", messages=messages)
        stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
        next(iter(stream))
        from otel_llm_cost._recording import GATE
        with GATE:
            print("READY", flush=True)
            time.sleep(120)
    client.chat.completions.create(model="gpt-4o", messages=messages)
    print("READY", flush=True)
    time.sleep(120)
""")


def _start(wire, tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    """The application started in ``mode``, once it said READY; its spans go to the returned
    file, its stderr to :func:`_stderr`'s (a file, not a pipe nobody reads until the end:
    a child writing more than a pipe holds would block, and look like a hang)."""
    out = tmp_path / "spans.jsonl"
    env = {**os.environ, "OTEL_METRICS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "none",
           "PYTHONPATH": str(ROOT)}
    with _stderr(out).open("w") as err:
        proc = subprocess.Popen([sys.executable, "-c", APP, wire.openai_base_url, str(out), mode],
                                stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "READY", _stderr(out).read_text() or line
    return proc, out


def _stderr(out: Path) -> Path:
    return out.with_suffix(".stderr")


@pytest.fixture
def started(wire, tmp_path):
    """``_start`` whose child is killed if the test leaves it alive (a failed wait)."""
    procs: list[subprocess.Popen] = []

    def start(mode: str) -> tuple[subprocess.Popen, Path]:
        proc, out = _start(wire, tmp_path, mode)
        procs.append(proc)
        return proc, out

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _exported(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_sigterm_with_the_default_action_flushes_queued_spans(started):
    proc, out = started("call")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM  # still dies by SIGTERM, as without us
    [span] = _exported(out)
    assert span["name"] == "chat gpt-4o" and span["attributes"][s.LLM_COST_USD]


def test_sigterm_inside_one_of_our_recordings_still_flushes_and_dies_by_sigterm(started):
    """The handler never waits on a lock the frame it interrupted holds: ending the open
    call needs the fork gate the main thread holds, so that step is abandoned at its
    bound, and the queued span is flushed all the same."""
    proc, out = started("inside-a-recording")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == -signal.SIGTERM
    [span] = _exported(out)  # the ended call's; the open stream could not end
    assert span["name"] == "chat gpt-4o" and span["attributes"][s.LLM_COST_USD]
    assert "could not be ended" in _stderr(out).read_text()


def test_an_application_sigterm_handler_is_left_alone(wire, tmp_path):
    proc, out = _start(wire, tmp_path, "own-handler")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == 7  # its handler ran (sys.exit(7)), not ours
    # Its sys.exit ran the normal shutdown, which flushed the spans anyway.
    assert len(_exported(out)) == 1


def test_a_stream_half_read_at_exit_ends_before_the_provider_shuts_down(wire, tmp_path):
    proc, out = _start(wire, tmp_path, "half-read")
    assert proc.wait(60) == 0
    [span] = _exported(out)
    assert span["attributes"][s.LLM_COST_PARTIAL] is True
    assert span["attributes"][s.LLM_COST_STATUS]
