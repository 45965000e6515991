"""Per-call charges and served tiers flow through every consumer with the same total.

Real ``anthropic`` and ``openai`` SDK calls over the wire server, inside one session, with
the ledger exporter on the same tracer provider: the session's cost, the ledger's total and
the ``llm_cost.spend`` counter all equal the sum of the spans' ``llm_cost.usd``, web search
calls and a Message Batches call included.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import anthropic
import openai
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_llm_cost
from otel_llm_cost import semconv
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.ledger import LedgerSpanExporter
from otel_llm_cost.ledger._report import load_report
from tests.sdk_versions import anthropic_tracing_option, needs_openai_responses
from tests.wire import Reply

USER = [{"role": "user", "content": "one two three"}]
SEARCH = {"type": "web_search_call", "action": {"type": "search", "query": "news"}}


@pytest.fixture
def instrumented(otel):
    made = [AnthropicInstrumentor(), OpenAIInstrumentor()]
    for inst in made:
        inst.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    yield
    for inst in made:
        inst.uninstrument()


@needs_openai_responses
def test_session_ledger_and_spend_equal_the_spans_with_web_searches(otel, wire, instrumented, tmp_path):
    ledger = tmp_path / "ledger.db"
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(LedgerSpanExporter(ledger)))
    claude = anthropic.Anthropic(base_url=wire.base_url, api_key="k", max_retries=0,
                                 **anthropic_tracing_option(False))
    gpt = openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)
    wire.enqueue_many([
        Reply(usage={"input_tokens": 1000, "output_tokens": 500, "server_tool_use": {"web_search_requests": 3}}),
        Reply(usage={"input_tokens": 1000, "output_tokens": 500, "service_tier": "batch"}),
        Reply(output_items=[SEARCH, SEARCH]),
    ])
    with otel_llm_cost.session(session_id="research", end=False):
        claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=USER)
        list(claude.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=USER, stream=True))
        list(gpt.responses.create(model="gpt-4o", input="hi there", stream=True))
    summary = otel_llm_cost.end_session("research")

    spans = [sp for sp in otel.spans.get_finished_spans() if sp.instrumentation_scope.name == semconv.SCOPE_NAME]
    usd = [Decimal(sp.attributes[semconv.LLM_COST_USD]) for sp in spans]
    # 0.003 + 0.0075 + 3 searches × 0.01; batch 0.0015 + 0.00375; gpt-4o 0.00004 + 2 × 0.01
    assert usd == [Decimal("0.0405"), Decimal("0.00525"), Decimal("0.02004")]
    total = sum(usd)
    assert summary.calls == 3 and summary.unpriced_calls == 0
    assert summary.cost == total
    assert load_report(ledger).total.cost == total
    rows = sqlite3.connect(ledger).execute("SELECT cost_usd, service_tier FROM llm_calls ORDER BY rowid").fetchall()
    assert rows == [("0.0405", None), ("0.00525", "batch"), ("0.02004", None)]

    spend: dict[str, float] = {}
    data = otel.reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == semconv.METRIC_SPEND:
                    for point in metric.data.data_points:
                        name = point.attributes[semconv.LLM_COST_COMPONENT]
                        spend[name] = spend.get(name, 0.0) + point.value
    assert spend["web_search"] == pytest.approx(0.05)  # 5 searches at $10 per 1,000
    assert sum(spend.values()) == pytest.approx(float(total))
