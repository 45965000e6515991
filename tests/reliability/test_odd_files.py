"""Odd files where we read a vocabulary: a FIFO, a link to ``/dev/zero``, a gzip bomb.

``OTEL_LLM_COST_TIKTOKEN_DIR`` names a directory of tiktoken vocabularies; the first
OpenAI stream without usage waits for one to be loaded (the estimate of its tokens).
A FIFO there used to block that load for ever (and with it the stream: ``for chunk in
stream`` never returned); a link to ``/dev/zero`` would be read until memory ran out.
They are now read like price files — regular files only, bounded, opened non-blocking —
and a refused one falls back to the bundled copy: the stream ends, estimated as usual.

Each case is a subprocess over the wire server with a deadline, so a hang fails the
test instead of hanging the suite.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_llm_cost import semconv

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60

APP = textwrap.dedent("""
    import sys
    import openai
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor

    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    OpenAIInstrumentor().instrument(tracer_provider=tp)
    client = openai.OpenAI(base_url=sys.argv[1], api_key="k", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", stream=True,
                                            messages=[{"role": "user", "content": "one two three"}])
    chunks = list(stream)
    (span,) = spans.get_finished_spans()
    a = span.attributes
    print("RESULT", len(chunks) > 0, a.get("llm_cost.usage_source"), a.get("gen_ai.usage.input_tokens"),
          flush=True)
""")


def _make(kind: str, path: Path) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "gzip-bomb":  # 70 MB of zeros in ~70 kB
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(b"\0" * (70 * 1024 * 1024)))


def _run(wire, vocab_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, semconv.ENV_TIKTOKEN_DIR: str(vocab_dir)}
    try:
        return subprocess.run([sys.executable, "-c", APP, wire.openai_base_url], capture_output=True, text=True,
                              timeout=DEADLINE_S, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung: the stream did not end within {DEADLINE_S} s")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "gzip-bomb"])
def test_an_odd_vocabulary_file_neither_hangs_nor_floods_a_stream(wire, tmp_path, kind):
    for name in ("o200k_base", "cl100k_base"):
        _make(kind, tmp_path / f"{name}.tiktoken")
    proc = _run(wire, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Estimated from the bundled vocabulary, the same count a good file gives.
    assert "RESULT True estimated 10" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert "ignoring a vocabulary file" in proc.stderr
