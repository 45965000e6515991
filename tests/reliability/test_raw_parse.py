"""``with_raw_response.parse(response_format=…)`` whose output fails validation.

The SDK parses (and validates) the body when the raw response is parsed; a completion
that does not fit the ``response_format`` model raises there. The body still carried
its usage and was billed: the call must be priced from it, not recorded ``no_usage``.
And the validation error quotes the completion: with content capture off, nothing of
it may reach our log.
"""

from __future__ import annotations

import logging

import openai
import pydantic
import pytest

from otel_llm_cost import semconv as s
from otel_llm_cost.instrumentation.openai import OpenAIInstrumentor
from tests.wire import Reply

from ._harness import our_spans

SECRET_COMPLETION = "the launch code is swordfish"


class Answer(pydantic.BaseModel):
    value: int


def test_failed_validation_is_priced_from_the_raw_body(wire, instrumented, caplog):
    inst = instrumented(OpenAIInstrumentor)
    client = openai.OpenAI(base_url=wire.openai_base_url, api_key="test", max_retries=0)
    wire.enqueue(Reply(text=SECRET_COMPLETION))
    with caplog.at_level(logging.DEBUG, logger="otel_llm_cost"):
        raw = client.chat.completions.with_raw_response.parse(
            model="gpt-4o", messages=[{"role": "user", "content": "one two three"}], response_format=Answer)
    with pytest.raises(pydantic.ValidationError):
        raw.parse()  # the application sees the SDK's own error, as without us
    [span] = our_spans(inst)
    attrs = span.attributes
    assert attrs[s.LLM_COST_STATUS] == s.STATUS_PRICED and attrs[s.LLM_COST_USAGE_SOURCE] == s.SOURCE_REPORTED
    assert attrs[s.GEN_AI_USAGE_INPUT_TOKENS] == 13 and attrs[s.LLM_COST_USD]
    logged = "\n".join(r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
                       for r in caplog.records)
    assert "swordfish" not in logged
