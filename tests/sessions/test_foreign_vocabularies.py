"""Foreign GenAI spans in other tools' vocabularies: read, priced, counted once, exported with cost.

Spans are written through the real SDK tracer with the attributes each tool writes (as
recorded from OpenLLMetry 0.62.4 and OpenInference in ``tests/peers/peer_foreign_spans.py``,
where the real peers run). The session processor counts them; the exporter wrapper
(:class:`~otel_llm_cost.span_cost.CostSpanExporter`, as ``configure()`` installs it)
puts our cost on the exported copy.
"""

from __future__ import annotations

import sqlite3
import sys
import types
from decimal import Decimal

import pytest
import wrapt
from opentelemetry import trace
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import otel_llm_cost
from otel_llm_cost import semconv as s
from otel_llm_cost.cost import format_usd, price_usage
from otel_llm_cost.foreign_spans import genai_attributes, normalise_provider
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.span_cost import CostSpanExporter, wrap_exporters
from otel_llm_cost.usage import Usage

OPENLLMETRY_MISTRAL = {  # opentelemetry-instrumentation-mistralai 0.62.4
    s.GEN_AI_SYSTEM: "MistralAI", "llm.request.type": "chat", s.GEN_AI_REQUEST_MODEL: "mistral-large-latest",
    s.GEN_AI_RESPONSE_MODEL: "mistral-large-latest", s.GEN_AI_USAGE_INPUT_TOKENS: 1200,
    s.GEN_AI_USAGE_OUTPUT_TOKENS: 300, "llm.usage.total_tokens": 1500,
}
OPENLLMETRY_COHERE = {  # opentelemetry-instrumentation-cohere 0.62.4: older names, floats
    s.GEN_AI_SYSTEM: "Cohere", "llm.request.type": "chat", s.GEN_AI_REQUEST_MODEL: "command-r-plus-08-2024",
    "gen_ai.usage.prompt_tokens": 1200.0, "gen_ai.usage.completion_tokens": 300.0,
}
OPENINFERENCE = {  # openinference-instrumentation-mistralai
    "openinference.span.kind": "LLM", "llm.model_name": "mistral-large-latest", "llm.provider": "mistralai",
    "llm.system": "mistralai", "llm.token_count.prompt": 1200, "llm.token_count.completion": 300,
    "llm.token_count.total": 1500,
}
MISTRAL_SDK = {  # the mistralai SDK's own span (scope mistralai_sdk_tracer)
    s.GEN_AI_PROVIDER_NAME: "mistral_ai", s.GEN_AI_REQUEST_MODEL: "mistral-large-latest",
    "gen_ai.usage.prompt_tokens": 1200, s.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
}


def _expected(model: str, provider: str) -> Decimal:
    cost = price_usage(model, Usage(input_tokens=1200, output_tokens=300), provider=provider)
    assert cost.usd is not None, (model, provider)
    return cost.usd


def _emit(otel, scope: str, attributes: dict, name: str = "llm call") -> None:
    tracer = trace.get_tracer(scope, tracer_provider=otel.tracer_provider)
    with tracer.start_as_current_span(name, attributes=attributes):
        pass


@pytest.mark.parametrize(("scope", "attributes", "model", "provider"), [
    ("opentelemetry.instrumentation.mistralai", OPENLLMETRY_MISTRAL, "mistral-large-latest", "mistral_ai"),
    ("opentelemetry.instrumentation.cohere", OPENLLMETRY_COHERE, "command-r-plus-08-2024", "cohere"),
    ("openinference.instrumentation.mistralai", OPENINFERENCE, "mistral-large-latest", "mistral_ai"),
], ids=["openllmetry-mistral", "openllmetry-cohere-older-names", "openinference"])
def test_other_vocabularies_are_counted_at_their_providers_price(otel, scope, attributes, model, provider):
    with otel_llm_cost.session("vocab") as tally:
        _emit(otel, scope, attributes)
    summary = tally.summary()
    assert (summary.calls, summary.cost) == (1, _expected(model, provider))
    assert (summary.usage.input_tokens, summary.usage.output_tokens) == (1200, 300)


def test_provider_spellings_become_ours():
    assert [normalise_provider(n) for n in ("MistralAI", "mistralai", "Cohere", "Ollama", "groq", None)] == [
        "mistral_ai", "mistral_ai", "cohere", "ollama", "groq", None]
    # The raw spelling is unknown to the catalog: without normalising, no price at all.
    assert price_usage("mistral-large-latest", Usage(1200, 300), provider="MistralAI").usd is None


def test_openinference_tokens_are_read_on_model_spans_only(otel):
    """A chain or agent span may carry its children's token totals: not a second call."""
    view = genai_attributes({**OPENINFERENCE, "openinference.span.kind": "CHAIN"})
    assert s.GEN_AI_USAGE_INPUT_TOKENS not in view
    with otel_llm_cost.session("chain") as tally:
        _emit(otel, "openinference.instrumentation.langchain", {**OPENINFERENCE, "openinference.span.kind": "CHAIN"})
    assert tally.summary().calls == 0


def test_a_cost_the_span_carries_is_kept_with_ours_beside_it(otel):
    otel.spans.clear()
    exporter = InMemorySpanExporter()
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(CostSpanExporter(exporter)))
    with otel_llm_cost.session("carried") as tally:
        _emit(otel, "openinference.instrumentation.mistralai", {**OPENINFERENCE, "llm.cost.total": 0.0123})
    assert tally.summary().cost == Decimal("0.0123")
    (span,) = exporter.get_finished_spans()
    assert span.attributes[s.LLM_COST_USD] == "0.0123"
    assert span.attributes[s.LLM_COST_COST_SOURCE] == s.COST_SOURCE_SPAN
    assert span.attributes[s.LLM_COST_LOCAL_USD] == format_usd(_expected("mistral-large-latest", "mistral_ai"))


def test_agent_spans_are_not_calls(otel):
    with otel_llm_cost.session("agent") as tally:
        _emit(otel, "some.agent.framework", {s.GEN_AI_OPERATION_NAME: "invoke_agent",
                                             s.GEN_AI_PROVIDER_NAME: "openai", s.GEN_AI_REQUEST_MODEL: "gpt-4o",
                                             s.GEN_AI_USAGE_INPUT_TOKENS: 1200, s.GEN_AI_USAGE_OUTPUT_TOKENS: 300})
    assert tally.summary().calls == 0


def test_the_exported_foreign_span_carries_our_cost_and_ours_pass_through(otel):
    exporter = InMemorySpanExporter()
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(CostSpanExporter(exporter)))
    _emit(otel, "opentelemetry.instrumentation.mistralai", OPENLLMETRY_MISTRAL)
    _emit(otel, "some.http.instrumentation", {"http.request.method": "POST"})
    otel.call()  # one of ours: already priced, passed through as it was
    peer, http, ours = exporter.get_finished_spans()
    cost = _expected("mistral-large-latest", "mistral_ai")
    assert peer.attributes[s.GEN_AI_USAGE_COST] == float(cost)
    assert peer.attributes[s.LLM_COST_USD] == format_usd(cost)
    assert peer.attributes[s.LLM_COST_STATUS] == s.STATUS_PRICED
    assert peer.attributes[s.GEN_AI_SYSTEM] == "MistralAI"  # the peer's own attributes are untouched
    assert peer.context == otel.spans.get_finished_spans()[0].context
    assert s.LLM_COST_STATUS not in http.attributes
    assert ours.attributes[s.LLM_COST_USD] == otel.spans.get_finished_spans()[2].attributes[s.LLM_COST_USD]
    # The span the other processors saw is unchanged (the SDK's span is read-only).
    assert s.GEN_AI_USAGE_COST not in otel.spans.get_finished_spans()[0].attributes


@pytest.fixture
def fake_mistralai():
    """A stand-in ``mistralai.chat`` module: only its wrapped-or-not state matters here (no SDK call)."""
    module = types.ModuleType("mistralai.chat")

    class Chat:
        def complete(self):
            return None

    module.Chat = Chat
    saved = sys.modules.get("mistralai.chat")
    sys.modules["mistralai.chat"] = module
    yield module
    if saved is None:
        del sys.modules["mistralai.chat"]
    else:
        sys.modules["mistralai.chat"] = saved


def test_the_mistralai_sdks_own_span_counts_only_without_an_instrumentation(otel, fake_mistralai, tmp_path):
    """The SDK traces itself beside OpenLLMetry / OpenInference: one call, two spans, one count."""
    ledger = LedgerSpanExporter(tmp_path / "ledger.db")
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(ledger))
    with otel_llm_cost.session("alone") as alone:
        _emit(otel, s.MISTRALAI_SDK_SCOPE, MISTRAL_SDK)
    assert alone.summary().calls == 1
    wrapt.wrap_function_wrapper(fake_mistralai, "Chat.complete", lambda wrapped, instance, args, kwargs: None)
    with otel_llm_cost.session("with-peer") as both:
        _emit(otel, s.MISTRALAI_SDK_SCOPE, MISTRAL_SDK)
        _emit(otel, "opentelemetry.instrumentation.mistralai", OPENLLMETRY_MISTRAL)
    summary = both.summary()
    assert (summary.calls, summary.cost) == (1, _expected("mistral-large-latest", "mistral_ai"))
    ledger.force_flush()
    with sqlite3.connect(tmp_path / "ledger.db") as conn:  # the same two calls, one row each
        rows = conn.execute("SELECT provider, input_tokens, cost_usd FROM llm_calls").fetchall()
    cost = format_usd(_expected("mistral-large-latest", "mistral_ai"))
    assert rows == [("mistral_ai", 1200, cost)] * 2


def test_wrap_exporters_wraps_simple_exporters_once_and_never_reaches_into_a_batch_processor(otel, caplog):
    """A built ``BatchSpanProcessor`` keeps its exporter in SDK internals: left as it is, said once."""
    simple, batch = InMemorySpanExporter(), InMemorySpanExporter()
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(simple))
    batch_processor = BatchSpanProcessor(batch)
    otel.tracer_provider.add_span_processor(batch_processor)
    with caplog.at_level("WARNING", logger="otel_llm_cost"):
        assert wrap_exporters(otel.tracer_provider) == 2  # the fixture's exporter and the simple one
        assert wrap_exporters(otel.tracer_provider) == 0
    assert batch_processor.span_exporter is batch
    warnings = [r.getMessage() for r in caplog.records if "without cost" in r.getMessage()]
    assert len(warnings) == 1 and "InMemorySpanExporter" in warnings[0]
    assert "OTEL_PYTHON_CONFIGURATOR=otel_llm_cost" in warnings[0]
    _emit(otel, "opentelemetry.instrumentation.cohere", OPENLLMETRY_COHERE)
    batch_processor.force_flush()
    (span,) = simple.get_finished_spans()
    assert span.attributes[s.LLM_COST_USD] == format_usd(_expected("command-r-plus-08-2024", "cohere"))
    (span,) = batch.get_finished_spans()
    assert s.LLM_COST_STATUS not in span.attributes


def test_the_configurators_batch_processor_exports_foreign_spans_priced(otel):
    """What our configurator passes the SDK as its export processor wraps the exporter."""
    from otel_llm_cost.configurator import cost_batch_processor

    batch = InMemorySpanExporter()
    processor = cost_batch_processor(batch)
    otel.tracer_provider.add_span_processor(processor)
    assert isinstance(processor, BatchSpanProcessor) and isinstance(processor.span_exporter, CostSpanExporter)
    _emit(otel, "opentelemetry.instrumentation.cohere", OPENLLMETRY_COHERE)
    processor.force_flush()
    (span,) = batch.get_finished_spans()
    assert span.attributes[s.LLM_COST_USD] == format_usd(_expected("command-r-plus-08-2024", "cohere"))
