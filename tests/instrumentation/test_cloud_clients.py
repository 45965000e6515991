"""Claude and Gemini through the clouds: ``AnthropicBedrock``, ``AnthropicVertex`` and
``google-genai`` with ``vertexai=True``, each the real SDK over HTTP (wire server).

The provider name comes from the client, the price from the model the cloud names
(``us.anthropic.…-v1:0``, ``claude-sonnet-4@20250514``). ``AnthropicBedrock`` sends
its own HTTP requests (botocore only signs them), so with the boto3 instrumentation
on as well the call is still one span.
"""

from __future__ import annotations

from decimal import Decimal

import anthropic
import pytest
from google import genai
from google.genai import types as genai_types
from google.oauth2.credentials import Credentials

from otel_llm_cost import semconv as A
from otel_llm_cost.instrumentation.anthropic import AnthropicInstrumentor
from otel_llm_cost.instrumentation.bedrock import BedrockInstrumentor
from otel_llm_cost.instrumentation.gemini import GeminiInstrumentor
from tests.wire import Reply

USER = [{"role": "user", "content": "one two three"}]  # 10 + 3 = 13 input tokens on the wire
#: claude-sonnet-4, 13 in and 3 out: 13 × 3.00 + 3 × 15.00 per 1M.
SONNET_13_3 = Decimal("0.000084")
#: gemini-2.0-flash at the catalog's (Gemini API) price: 13 × 0.10 + 3 × 0.40 per 1M.
FLASH_13_3 = Decimal("0.0000025")


def _usd(span) -> Decimal:
    return Decimal(span.attributes[A.LLM_COST_USD])


def _bedrock(wire):
    return anthropic.AnthropicBedrock(aws_region="us-east-1", aws_access_key="AKIDWIRETEST", aws_secret_key="s",
                                      base_url=wire.base_url, max_retries=0)


def _vertex(wire):
    return anthropic.AnthropicVertex(region="us-east5", project_id="proj", access_token="tok",
                                     base_url=wire.base_url, max_retries=0)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("make", "model", "provider"), [
    (_bedrock, "us.anthropic.claude-sonnet-4-20250514-v1:0", "aws.bedrock"),
    (_vertex, "claude-sonnet-4@20250514", "gcp.vertex_ai"),
], ids=["bedrock", "vertex"])
def test_anthropic_cloud_clients_priced_exactly(wire, instrumented, make, model, provider, stream):
    inst = instrumented(AnthropicInstrumentor)
    botocore_inst = instrumented(BedrockInstrumentor)
    wire.enqueue(Reply(text="a b c"))
    result = make(wire).messages.create(model=model, max_tokens=64, messages=USER, stream=stream)
    text = "".join(e.delta.text for e in result if e.type == "content_block_delta") if stream \
        else result.content[0].text
    assert text == "a b c"
    span = inst.span()
    attrs = span.attributes
    assert attrs[A.GEN_AI_PROVIDER_NAME] == provider
    assert attrs[A.GEN_AI_REQUEST_MODEL] == model
    assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
    assert _usd(span) == SONNET_13_3
    assert botocore_inst.spans() == []  # one call, one span: botocore only signed the request


def _genai_vertex(wire):
    # An OAuth token that never expires: the SDK sends it as is (no refresh, no network).
    return genai.Client(vertexai=True, project="proj", location="us-central1", credentials=Credentials(token="tok"),
                        http_options=genai_types.HttpOptions(base_url=wire.base_url))


def test_google_genai_on_vertex_ai(wire, instrumented):
    inst = instrumented(GeminiInstrumentor)
    client = _genai_vertex(wire)  # kept alive: the Client closes its HTTP client when collected
    wire.enqueue(Reply(text="a b c"))
    assert client.models.generate_content(model="gemini-2.0-flash", contents="one two three").text == "a b c"
    wire.enqueue(Reply(text="a b c"))
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents="one two three"))
    assert "".join(c.text for c in chunks) == "a b c"
    assert "/publishers/google/models/gemini-2.0-flash:" in wire.last_request.path
    for span in inst.spans():
        attrs = span.attributes
        assert attrs[A.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
        assert (attrs[A.GEN_AI_USAGE_INPUT_TOKENS], attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
        # The catalog holds first-party prices; Vertex AI's own rate for a model goes in an
        # override file (docs/prices.md).
        assert _usd(span) == FLASH_13_3
    assert len(inst.spans()) == 2
