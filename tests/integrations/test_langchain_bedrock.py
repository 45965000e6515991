"""LangChain's ``ChatBedrockConverse`` (langchain-aws) in a session: the exact total, once.

``ChatBedrockConverse`` calls boto3's ``converse`` / ``converse_stream``, which the
Bedrock instrumentation traces; against the local wire server. LangChain reports the same
calls in ``usage_metadata``: the session holds them once (from our spans), equal to
LangChain's own sum, never both added up.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from langchain_aws import ChatBedrockConverse
from langchain_core.messages import AIMessage

import otel_llm_cost
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from tests.wire._bedrock import prompt_tokens

from ._rag import Telemetry, from_spans

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
#: claude-sonnet-4, USD per token: input, output.
RATES = (Decimal("3.00") / 10**6, Decimal("15.00") / 10**6)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    inst = BedrockInstrumentor()
    inst.instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    yield tel
    inst.uninstrument()


def _model(wire: Any) -> ChatBedrockConverse:
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=wire.base_url,
                          aws_access_key_id="AKIDWIRETEST", aws_secret_access_key="wire-secret",
                          config=Config(retries={"total_max_attempts": 1}))
    return ChatBedrockConverse(model=MODEL, client=client, region_name="us-east-1")


def _wire_cost(requests: list[Any]) -> tuple[int, int, Decimal]:
    """What the wire server charged: its prompt count per request, one output token each ("Hello!")."""
    inputs = sum(prompt_tokens(r.body) for r in requests)
    outputs = len(requests)
    return inputs, outputs, inputs * RATES[0] + outputs * RATES[1]


@pytest.mark.parametrize("streaming", [False, True], ids=["converse", "converse_stream"])
def test_chat_bedrock_converse_session_counts_each_call_once(wire, telemetry, streaming):
    model = _model(wire)
    seen: list[AIMessage] = []

    def ask(text: str) -> AIMessage:
        if streaming:
            chunks = list(model.stream(text))
            message = sum(chunks[1:], chunks[0])
        else:
            message = model.invoke(text)
        seen.append(message)
        return message

    with otel_llm_cost.session() as s:
        first = ask("What is OpenTelemetry good for?")
        ask(f"Say more about: {first.content}")
    assert first.content == "Hello!" or first.content == [{"type": "text", "text": "Hello!", "index": 0}]
    spans = telemetry.llm_spans()
    expected = from_spans(spans)
    inputs, outputs, cost = _wire_cost(wire.requests)
    assert (expected.calls, expected.input, expected.output, expected.cost) == (2, inputs, outputs, cost)
    assert all(sp.attributes["gen_ai.provider.name"] == "aws.bedrock" for sp in spans)
    assert (s.calls, s.usage.input_tokens, s.usage.output_tokens, s.cost) == (2, inputs, outputs, cost)
    # LangChain reported the same two calls: equal to the session's figure, not added to it.
    assert sum(m.usage_metadata["input_tokens"] for m in seen) == s.usage.input_tokens
    assert sum(m.usage_metadata["output_tokens"] for m in seen) == s.usage.output_tokens
