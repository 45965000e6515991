"""Expected spans and metric points for the OpenAI tests, written out in full.

Prices used (catalog): gpt-4o 2.50 / 10.00 / 1.25 (cached) USD per 1M tokens;
o3-mini 1.10 / 4.40; text-embedding-3-small 0.02; gpt-3.5-turbo-instruct 1.50 / 2.00.
The wire server counts input as 10 + prompt words and output as one per text delta.
"""

from __future__ import annotations

from typing import Any

import openai
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm_cost import semconv as s

CATALOG = "2026.12.07"
HELLO = [{"role": "user", "content": "hello there"}]  # 12 input tokens on the wire


def sync_client(wire: Any, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0, **kw)


def async_client(wire: Any, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0, **kw)


def priced(wire: Any, *, operation: str = "chat", model: str = "gpt-4o", response_model: str | None = None,
           response_id: str | None = None, finish: tuple[str, ...] | None = ("stop",), inp: int, out: int,
           usd: str, components: dict[str, str], source: str = "reported", provider: str = "openai",
           catalog_model: str | None = None, **extra: Any) -> dict[str, Any]:
    """The complete attribute dict of a priced span."""
    attrs: dict[str, Any] = {
        s.GEN_AI_OPERATION_NAME: operation,
        s.GEN_AI_PROVIDER_NAME: provider,
        s.GEN_AI_REQUEST_MODEL: model,
        s.SERVER_ADDRESS: "127.0.0.1",
        s.SERVER_PORT: wire.port,
        s.GEN_AI_RESPONSE_MODEL: response_model or model,
        s.GEN_AI_USAGE_INPUT_TOKENS: inp,
        s.GEN_AI_USAGE_OUTPUT_TOKENS: out,
        s.LLM_COST_USAGE_SOURCE: source,
        s.LLM_COST_STATUS: s.STATUS_PRICED,
        s.LLM_COST_MODEL: catalog_model or model,
        s.LLM_COST_CATALOG: CATALOG,
        s.LLM_COST_USD: usd,
        s.GEN_AI_USAGE_COST: float(usd),
    }
    if response_id is not None:
        attrs[s.GEN_AI_RESPONSE_ID] = response_id
    if finish is not None:
        attrs[s.GEN_AI_RESPONSE_FINISH_REASONS] = finish
    for component, value in components.items():
        attrs[s.LLM_COST_COMPONENT_PREFIX + component] = value
    attrs.update(extra)
    return attrs


def gpt4o_hello(wire: Any, response_id: str, **extra: Any) -> dict[str, Any]:
    """The default reply to HELLO on gpt-4o: 12 in, 1 out = 0.00003 + 0.00001."""
    return priced(wire, response_id=response_id, inp=12, out=1, usd="0.00004",
                  components={"input": "0.00003", "output": "0.00001"}, **extra)


def assert_span(otel: Any, expected: dict[str, Any], *, name: str = "chat gpt-4o",
                error: bool = False) -> None:
    span = otel.span()
    assert span.name == name
    assert span.kind is SpanKind.CLIENT
    assert dict(span.attributes) == expected
    assert span.status.status_code is (StatusCode.ERROR if error else StatusCode.UNSET)


def assert_metrics(otel: Any, *, model: str = "gpt-4o", operation: str = "chat", provider: str = "openai",
                   spend: dict[str, float], inp: int | None, out: int | None, status: str = s.STATUS_PRICED,
                   source: str = "reported", response_model: str | None = None,
                   error_type: str | None = None) -> None:
    """Every metric point one call should have produced, and nothing else."""
    base = {s.GEN_AI_PROVIDER_NAME: provider, s.GEN_AI_OPERATION_NAME: operation, s.GEN_AI_REQUEST_MODEL: model}
    timing = dict(base)
    if response_model:
        timing[s.GEN_AI_RESPONSE_MODEL] = response_model
    if error_type:
        timing[s.ERROR_TYPE] = error_type
    # llm_cost.spend: one point per non-zero component, unit USD.
    spend_points = otel.metrics(s.METRIC_SPEND)
    assert {dict(k)[s.LLM_COST_COMPONENT]: (u, p.value) for k, (u, p) in spend_points.items()} == {
        c: (s.UNIT_USD, v) for c, v in spend.items()}
    for component in spend:
        otel.point(s.METRIC_SPEND, {**base, s.LLM_COST_COMPONENT: component})
    # llm_cost.calls is opt-in: the duration histogram's count is the call count.
    assert otel.metrics(s.METRIC_CALLS) == {}
    tokens = otel.metrics(s.METRIC_TOKEN_USAGE)
    if inp is None:
        assert tokens == {}
    elif operation == "embeddings":  # no output side: one point
        unit, p_in = otel.point(s.METRIC_TOKEN_USAGE, {**timing, s.GEN_AI_TOKEN_TYPE: "input"})
        assert (unit, p_in.sum, p_in.count, len(tokens)) == (s.UNIT_TOKEN, inp, 1, 1)
    else:
        unit, p_in = otel.point(s.METRIC_TOKEN_USAGE, {**timing, s.GEN_AI_TOKEN_TYPE: "input"})
        _, p_out = otel.point(s.METRIC_TOKEN_USAGE, {**timing, s.GEN_AI_TOKEN_TYPE: "output"})
        assert (unit, p_in.sum, p_in.count, p_out.sum, p_out.count, len(tokens)) == (
            s.UNIT_TOKEN, inp, 1, out, 1, 2)
        assert tuple(p_in.explicit_bounds) == tuple(float(b) for b in s.TOKEN_USAGE_BUCKETS)
    unit, dur = otel.point(s.METRIC_OPERATION_DURATION,
                           {**timing, s.LLM_COST_STATUS: status, s.LLM_COST_USAGE_SOURCE: source})
    assert (unit, dur.count, len(otel.metrics(s.METRIC_OPERATION_DURATION))) == (s.UNIT_SECONDS, 1, 1)
    assert 0 < dur.sum < 10
    assert tuple(dur.explicit_bounds) == s.DURATION_BUCKETS


def assert_hello_metrics(otel: Any, **kw: Any) -> None:
    assert_metrics(otel, spend={"input": 0.00003, "output": 0.00001}, inp=12, out=1,
                   response_model="gpt-4o", **kw)
