"""Cost on GenAI spans other instrumentations write, with the real peers and SDKs we do not wrap.

Run in the ``peers-foreign`` venv only (``python tests/matrix/run.py peers-foreign``;
the file name keeps the main run from collecting it). Each case drives a real SDK over
the wire server with a real peer instrumentation on, through a real SDK pipeline whose
exporter is wrapped in :class:`~otel_llm_cost.span_cost.CostSpanExporter` as
``configure()`` wraps it, and checks what the exported spans leave with:

* exactly one span per call carries our cost (``llm_cost.status``), the peer's — the
  ``mistralai`` SDK's own span for the same call carries none and is not counted;
* on it ``gen_ai.usage.cost`` / ``llm_cost.usd`` are the catalog's exact price of the
  tokens the SDK returned, at the provider in our vocabulary (``MistralAI`` ->
  ``mistral_ai``), the same price our own instrumentation gives that provider's calls;
  a local Ollama model the catalog does not know leaves as ``unknown_model`` with its
  tokens counted and no cost (never 0);
* the session counts each call once, with the same total, and the ledger has one row each.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm_cost
from otel_llm_cost import semconv as s
from otel_llm_cost.cost import format_usd, price_usage
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.sessions import install
from otel_llm_cost.span_cost import wrap_exporters
from otel_llm_cost.usage import Usage
from tests.wire import Reply

if os.environ.get("OTEL_LLM_COST_PEER_ENV") != "foreign":
    raise RuntimeError("run this file through tests/matrix/run.py peers-foreign")

CALLS = 2
MESSAGES = [{"role": "user", "content": "say three words"}]


@dataclass(frozen=True)
class Case:
    instrumentor: str  # "module:Class"
    provider: str  # ours (gen_ai.provider.name)
    model: str
    #: (wire base URL, stream) -> the (input, output) tokens the SDK handed the application.
    call: Callable[[str, bool], tuple[int, int]]
    streams: tuple[bool, ...] = (False,)
    #: Whether the catalog has a price (a local Ollama model has none: tokens, no cost).
    priced: bool = True


def _mistral(base: str, stream: bool) -> tuple[int, int]:
    from mistralai import Mistral

    client = Mistral(api_key="test", server_url=base)
    if stream:
        last = None
        for event in client.chat.stream(model="mistral-large-latest", messages=MESSAGES):
            last = event
        usage = last.data.usage
    else:
        usage = client.chat.complete(model="mistral-large-latest", messages=MESSAGES).usage
    return usage.prompt_tokens, usage.completion_tokens


def _cohere(base: str, stream: bool) -> tuple[int, int]:
    import cohere

    client = cohere.ClientV2(api_key="test", base_url=base)
    billed = client.chat(model="command-r-plus-08-2024", messages=MESSAGES).usage.billed_units
    return int(billed.input_tokens), int(billed.output_tokens)


def _groq(base: str, stream: bool) -> tuple[int, int]:
    from groq import Groq

    usage = Groq(api_key="test", base_url=base).chat.completions.create(
        model="llama-3.3-70b-versatile", messages=MESSAGES).usage
    return usage.prompt_tokens, usage.completion_tokens


def _ollama(base: str, stream: bool) -> tuple[int, int]:
    import ollama

    reply = ollama.Client(host=base).chat(model="llama3.2", messages=MESSAGES)
    return reply.prompt_eval_count, reply.eval_count


CASES = {
    "openllmetry-mistral": Case("opentelemetry.instrumentation.mistralai:MistralAiInstrumentor", "mistral_ai",
                                "mistral-large-latest", _mistral, (False, True)),
    "openinference-mistral": Case("openinference.instrumentation.mistralai:MistralAIInstrumentor", "mistral_ai",
                                  "mistral-large-latest", _mistral, (False, True)),
    "openllmetry-cohere": Case("opentelemetry.instrumentation.cohere:CohereInstrumentor", "cohere",
                               "command-r-plus-08-2024", _cohere),
    "openllmetry-groq": Case("opentelemetry.instrumentation.groq:GroqInstrumentor", "groq",
                             "llama-3.3-70b-versatile", _groq),
    "openllmetry-ollama": Case("opentelemetry.instrumentation.ollama:OllamaInstrumentor", "ollama", "llama3.2",
                               _ollama, priced=False),
}
PARAMS = [pytest.param(name, stream, id=f"{name}-{'stream' if stream else 'plain'}")
          for name, case in CASES.items() for stream in case.streams]


class Pipeline:
    """The global SDK providers (the ``mistralai`` SDK traces to the global one), set once."""

    def __init__(self, ledger_path: Any) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.ledger_path = ledger_path
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger_path)))
        self.meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        trace.set_tracer_provider(self.tracer_provider)
        # As configure() / opentelemetry-instrument do: the application's exporter wrapped.
        assert wrap_exporters(self.tracer_provider) == 1

    def ledger_rows(self) -> list[tuple]:
        self.tracer_provider.force_flush()
        if not self.ledger_path.exists():
            return []
        with sqlite3.connect(self.ledger_path) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'llm_calls'").fetchall():
                return []
            return conn.execute("SELECT provider, model, operation, input_tokens, output_tokens, cost_usd, "
                                "status FROM llm_calls ORDER BY rowid").fetchall()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("ledger") / "ledger.db")


def _peer(path: str):
    module, _, cls = path.partition(":")
    return getattr(importlib.import_module(module), cls)()


@pytest.mark.parametrize(("name", "stream"), PARAMS)
def test_the_peers_span_leaves_with_our_cost_counted_once(pipeline, wire, name, stream):
    case = CASES[name]
    peer = _peer(case.instrumentor)
    peer.instrument(tracer_provider=pipeline.tracer_provider)
    install(pipeline.tracer_provider, pipeline.meter_provider)
    pipeline.spans.clear()
    rows_before = len(pipeline.ledger_rows())
    try:
        assert peer.is_instrumented_by_opentelemetry, f"{case.instrumentor} did not instrument its SDK"
        tokens = []
        with otel_llm_cost.session(session_id=name) as session:
            for _ in range(CALLS):
                if stream:
                    wire.enqueue(Reply(text="a b c", include_usage_in_stream=True))
                tokens.append(case.call(wire.base_url, stream))
    finally:
        peer.uninstrument()

    spans = pipeline.spans.get_finished_spans()
    priced = [sp for sp in spans if s.LLM_COST_STATUS in (sp.attributes or {})]
    assert len(priced) == CALLS, [(sp.instrumentation_scope.name, sp.name, dict(sp.attributes)) for sp in spans]
    module = case.instrumentor.partition(":")[0]
    assert {sp.instrumentation_scope.name for sp in priced} == {module}
    # The SDK's own span for the same call (mistralai traces itself) leaves as it came.
    others = [sp for sp in spans if sp.instrumentation_scope.name != module]
    assert all(s.GEN_AI_USAGE_COST not in sp.attributes for sp in others)

    expected = [price_usage(case.model, Usage(input_tokens=i, output_tokens=o), provider=case.provider)
                for i, o in tokens]
    assert all((cost.usd is not None) == case.priced for cost in expected), expected
    for span, cost in zip(priced, expected, strict=True):
        attrs = span.attributes
        assert attrs[s.LLM_COST_STATUS] == cost.status
        if cost.usd is None:
            assert s.GEN_AI_USAGE_COST not in attrs and s.LLM_COST_USD not in attrs
        else:
            assert attrs[s.LLM_COST_USD] == format_usd(cost.usd)
            assert attrs[s.GEN_AI_USAGE_COST] == float(cost.usd)
            assert attrs[s.LLM_COST_MODEL] == cost.model

    summary = session.summary()
    assert summary.calls == CALLS
    assert summary.usage.input_tokens == sum(i for i, _ in tokens)
    assert summary.usage.output_tokens == sum(o for _, o in tokens)
    total = [c.usd for c in expected]
    assert summary.cost == (None if None in total else sum(total, Decimal(0)))

    rows = pipeline.ledger_rows()[rows_before:]
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [(case.provider, case.model, i, o) for i, o in tokens]
    assert [r[5] for r in rows] == [None if c.usd is None else format_usd(c.usd) for c in expected]

