"""Bounds on what comes from outside: attribute lengths, distinct response models on metrics.

A reply names its model and id; a proxy or a bug can send a 100,000-character name,
a new one on every call. Span and metric pipelines keep attribute values in memory
(the SDK keeps up to ~2,000 series per instrument), so 400 such replies retained
+67 MiB. Strings from outside are cut to ``semconv.MAX_ATTRIBUTE_CHARS`` on spans and
metrics, and the metrics keep ``semconv.MAX_METRIC_RESPONSE_MODELS`` distinct
response models apart, the rest as ``_OTHER``. Real OpenAI SDK over the wire server.
"""

from __future__ import annotations

import openai
from opentelemetry import baggage
from opentelemetry import context as otel_context

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from otel_llm_cost.sessions._context import span_attributes
from tests.wire import Reply

CALLS = 260
LONG = 5_000


def test_long_and_ever_new_response_models_are_bounded(wire, instrumented):
    inst = instrumented(OpenAIInstrumentor)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="k", max_retries=0)
    wire.enqueue_many([Reply(model=f"{i:04d}-" + "m" * LONG, response_id="chatcmpl-" + "x" * LONG)
                       for i in range(CALLS)])
    for _ in range(CALLS):
        reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert len(reply.model) == LONG + 5  # the application sees the reply untouched
    spans = inst.spans()
    assert len(spans) == CALLS
    for span in spans:
        assert len(span.attributes[s.GEN_AI_RESPONSE_MODEL]) == s.MAX_ATTRIBUTE_CHARS
        assert len(span.attributes[s.GEN_AI_RESPONSE_ID]) == s.MAX_ATTRIBUTE_CHARS
    models = {attrs.get(s.GEN_AI_RESPONSE_MODEL) for name, _, attrs, _ in inst.metric_points()
              if name == s.METRIC_OPERATION_DURATION}
    assert len(models) == s.MAX_METRIC_RESPONSE_MODELS + 1
    assert s.OVERFLOW_VALUE in models
    assert max(len(m) for m in models) == s.MAX_ATTRIBUTE_CHARS
    # Every call is still counted: the overflow groups them, it does not drop them.
    calls = sum(p.count for name, _, attrs, p in inst.metric_points()
                if name == s.METRIC_OPERATION_DURATION and s.LLM_COST_STATUS in attrs)
    assert calls == CALLS


def test_a_long_inbound_baggage_id_is_cut():
    ctx = baggage.set_baggage(s.SESSION_ID, "s" * LONG)
    ctx = baggage.set_baggage(s.USER_ID, "u" * LONG, ctx)
    token = otel_context.attach(ctx)
    try:
        attrs = span_attributes()
    finally:
        otel_context.detach(token)
    assert {k: len(v) for k, v in attrs.items()} == {"llm_cost.baggage.session.id": s.MAX_ATTRIBUTE_CHARS,
                                                     "llm_cost.baggage.user.id": s.MAX_ATTRIBUTE_CHARS}
