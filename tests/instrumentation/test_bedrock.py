"""Amazon Bedrock with the real ``boto3``/``botocore`` over HTTP (wire server).

botocore signs each request locally with fake credentials and sends it to the wire
server, which answers in Bedrock's formats: Converse JSON, each model family's
InvokeModel body, and the binary AWS event-stream framing for the two streaming
calls. The matrix below is the table in ``docs/providers.md`` (Bedrock section):
every call × model family × sync/stream, with its exact cost.
"""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStream
from botocore.exceptions import ClientError
from botocore.response import StreamingBody

from otel_llm_cost import semconv as A
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from otel_llm_cost.tokens import count_tokens
from tests.reliability._harness import describe
from tests.wire import Reply

PROMPT = "one two three"  # 10 + 3 = 13 input tokens on the wire
M = Decimal(1_000_000)

#: family -> (model or inference-profile id, InvokeModel request body, USD per 1M in / out)
FAMILIES = {
    "claude": ("us.anthropic.claude-sonnet-4-20250514-v1:0",
               {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                "messages": [{"role": "user", "content": PROMPT}]}, ("3.00", "15.00")),
    "llama": ("us.meta.llama3-3-70b-instruct-v1:0", {"prompt": PROMPT, "max_gen_len": 64}, ("0.72", "0.72")),
    "nova": ("eu.amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": PROMPT}]}],
                                          "inferenceConfig": {"max_new_tokens": 64}}, ("0.06", "0.24")),
    "titan": ("amazon.titan-text-express-v1", {"inputText": PROMPT, "textGenerationConfig": {"maxTokenCount": 64}},
              ("0.20", "0.60")),
    "mistral": ("mistral.mistral-large-2402-v1:0", {"prompt": PROMPT, "max_tokens": 64}, ("4.00", "12.00")),
    "cohere": ("cohere.command-text-v14", {"prompt": PROMPT, "max_tokens": 64}, ("1.00", "2.00")),
}
CALLS = ("converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream")


def _client(wire, retries: int = 0):
    return boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=wire.base_url,
                        aws_access_key_id="AKIDWIRETEST", aws_secret_access_key="wire-secret",
                        config=Config(retries={"total_max_attempts": retries + 1, "mode": "standard"}))


def _messages(text: str = PROMPT) -> list:
    return [{"role": "user", "content": [{"text": text}]}]


def _cost(family: str, inp: int, out: int) -> Decimal:
    rate_in, rate_out = (Decimal(r) for r in FAMILIES[family][2])
    return (inp * rate_in + out * rate_out) / M


def _usd(span) -> Decimal:
    return Decimal(span.attributes[A.LLM_COST_USD])


def _run(sdk, call: str, family: str):
    """Make ``call`` the way an application does; return what it read (text, the stream's
    class and ``isinstance`` as the app sees them: a proxy keeps both)."""
    model, body, _ = FAMILIES[family]
    if call == "converse":
        response = sdk.converse(modelId=model, messages=_messages(), inferenceConfig={"maxTokens": 64})
        return response["output"]["message"]["content"][0]["text"], type(response)
    if call == "converse_stream":
        response = sdk.converse_stream(modelId=model, messages=_messages())
        events = list(response["stream"])
        text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        return text, response["stream"].__class__.__name__, isinstance(response["stream"], EventStream)
    if call == "invoke_model":
        response = sdk.invoke_model(modelId=model, body=json.dumps(body))
        assert isinstance(response["body"], StreamingBody)
        return json.loads(response["body"].read()), response["contentType"]
    response = sdk.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    return chunks, response["body"].__class__.__name__, isinstance(response["body"], EventStream)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("call", CALLS)
def test_every_call_and_family_priced_exactly(wire, instrumented, call, family):
    sdk = _client(wire)
    wire.enqueue(Reply(text="a b c"))
    bare = _run(sdk, call, family)
    inst = instrumented(BedrockInstrumentor)
    wire.reset()  # the same request ids again
    wire.enqueue(Reply(text="a b c"))
    seen = _run(sdk, call, family)
    assert describe(seen) == describe(bare)  # the app read exactly the same
    span = inst.span()
    attrs = span.attributes
    assert span.name == f"chat {FAMILIES[family][0]}"
    assert attrs[A.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == FAMILIES[family][0]
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
    assert attrs[A.LLM_COST_USAGE_SOURCE] == "reported" and A.LLM_COST_PARTIAL not in attrs
    assert _usd(span) == _cost(family, 13, 3)
    assert attrs[A.SERVER_ADDRESS] == "127.0.0.1" and attrs[A.SERVER_PORT] == wire.port
    assert attrs[A.GEN_AI_RESPONSE_ID] == "wire-000001"  # the AWS request id


def test_converse_request_attributes_and_response_id(wire, instrumented):
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="a b c", finish_reason="max_tokens", response_id="req-123"))
    _client(wire).converse(modelId=FAMILIES["claude"][0], messages=_messages(),
                           inferenceConfig={"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["x"]})
    attrs = inst.span().attributes
    assert attrs[A.GEN_AI_REQUEST_MAX_TOKENS] == 64 and attrs[A.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs[A.GEN_AI_REQUEST_TOP_P] == 0.9 and attrs[A.GEN_AI_REQUEST_STOP_SEQUENCES] == ("x",)
    assert attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert attrs[A.GEN_AI_RESPONSE_ID] == "req-123"


#: Converse counts cache reads and writes *beside* inputTokens (as Anthropic does).
CACHED = {"inputTokens": 100, "outputTokens": 10, "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 200}
#: claude-sonnet-4: 100 × 3.00 + 1000 × 0.30 + 200 × 3.75 + 10 × 15.00 per 1M.
CACHED_USD = Decimal("0.0015")


@pytest.mark.parametrize("call", CALLS)
def test_cache_reads_and_writes_from_every_call(wire, instrumented, call):
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="a b c", usage=CACHED))
    _run(_client(wire), call, "claude")
    attrs = inst.span().attributes
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1300  # all input, cache included
    assert attrs[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert attrs[A.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 200
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 10
    assert _usd(inst.span()) == CACHED_USD


def test_invoke_model_body_is_left_for_the_app(wire, instrumented):
    """Usage comes from the headers: the StreamingBody is unread when the app gets it."""
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="a b c"))
    model, body, _ = FAMILIES["llama"]
    response = _client(wire).invoke_model(modelId=model, body=json.dumps(body).encode())
    assert inst.span().attributes[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 3  # priced before the body is read …
    assert json.loads(response["body"].read())["generation"] == "a b c"  # … which the app still reads whole


def test_embeddings_through_invoke_model(wire, instrumented):
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="", usage={"inputTokens": 7, "outputTokens": 0}))
    _client(wire).invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": "a b c"}))
    span = inst.span()
    assert span.name == "embeddings amazon.titan-embed-text-v2:0"
    assert _usd(span) == 7 * Decimal("0.02") / M


@pytest.mark.parametrize(("status", "error"), [(429, "ThrottlingException"), (400, "ValidationException")])
@pytest.mark.parametrize("call", CALLS)
def test_api_errors_reach_the_app_unchanged(wire, instrumented, call, status, error):
    sdk = _client(wire)
    wire.enqueue(Reply(status=status))
    with pytest.raises(ClientError) as bare:
        _run(sdk, call, "claude")
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(status=status))
    with pytest.raises(ClientError) as seen:
        _run(sdk, call, "claude")
    assert type(seen.value) is type(bare.value) and seen.value.response["Error"] == bare.value.response["Error"]
    assert seen.value.response["Error"]["Code"] == error
    span = inst.span()
    assert span.status.status_code.name == "ERROR"
    assert span.attributes[A.ERROR_TYPE] == error
    assert span.attributes[A.LLM_COST_STATUS] == A.STATUS_NO_USAGE and A.LLM_COST_USD not in span.attributes


def test_throttled_then_retried_by_botocore_is_one_call_priced_once(wire, instrumented):
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue_many([Reply(status=429), Reply(text="a b c")])
    _run(_client(wire, retries=1), "converse", "claude")
    assert len(wire.requests) == 2
    assert _usd(inst.span()) == _cost("claude", 13, 3)


@pytest.mark.parametrize("failure", ["drop", "error_event"])
@pytest.mark.parametrize("call", ["converse_stream", "invoke_model_with_response_stream"])
def test_stream_cut_off_mid_way_is_one_partial_estimated_call(wire, instrumented, call, failure):
    inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="a b c d e", fail_after_chunks=2, failure=failure))
    with pytest.raises(Exception) as exc:
        _run(_client(wire), call, "claude")
    span = inst.span()
    attrs = span.attributes
    assert attrs[A.LLM_COST_PARTIAL] is True
    assert attrs[A.ERROR_TYPE] == type(exc.value).__qualname__
    # The usage never came: the prompt and the two deltas received ("a ", "b "), estimated and said so.
    assert attrs[A.LLM_COST_USAGE_SOURCE] == "estimated"
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == count_tokens("a b ", FAMILIES["claude"][0])
    assert attrs[A.LLM_COST_STATUS] == A.STATUS_PRICED


def test_content_capture(wire, instrumented, monkeypatch):
    monkeypatch.setenv(A.ENV_CAPTURE_CONTENT, "true")
    inst = instrumented(BedrockInstrumentor)
    sdk = _client(wire)
    for call in ("invoke_model", "invoke_model_with_response_stream"):
        wire.enqueue(Reply(text="a b c"))
        _run(sdk, call, "mistral")
    plain, streamed = inst.spans()
    for span in (plain, streamed):
        assert json.loads(span.attributes[A.GEN_AI_INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    # InvokeModel's body is the app's alone to read: no output text from it, ever.
    assert A.GEN_AI_OUTPUT_MESSAGES not in plain.attributes
    assert json.loads(streamed.attributes[A.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": "a b c"}]


def test_other_aws_calls_are_not_traced(wire, instrumented):
    inst = instrumented(BedrockInstrumentor)
    control_plane = boto3.client("bedrock", region_name="us-east-1", endpoint_url=wire.base_url,
                                 aws_access_key_id="AKIDWIRETEST", aws_secret_access_key="wire-secret",
                                 config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(ClientError):
        control_plane.list_foundation_models()  # the wire has no such route: 404
    assert wire.requests and inst.spans() == []
