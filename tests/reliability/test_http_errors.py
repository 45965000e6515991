"""HTTP errors and timeouts with the SDKs' own retries ON.

Decision (documented in docs/reliability.md): **one span per logical call**, retries
included. Our wrapper wraps the SDK's resource method (``create`` /
``generate_content``), above the SDK's retry loop, so however many attempts the SDK
makes, the application made one call and gets one span. Only the response that
finally reaches the application carries usage, so a failed attempt costs nothing:
a call that fails after all retries is ``no_usage`` with no cost; a call that succeeds
after failed attempts is priced exactly once, from the successful response.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from opentelemetry.trace import StatusCode

from otel_llm_cost import semconv as s
from tests.wire import Reply

from ._harness import (
    ASYNC_PROVIDERS,
    PROVIDERS,
    acall,
    aoutcome,
    bare_then_instrumented,
    call,
    calls_metric,
    client,
    our_spans,
    outcome,
    spend_metric,
    usd,
)

#: Retry right away (the SDKs honour ``retry-after-ms``; Gemini's backoff is set in ``client``).
FAST = {"retry-after-ms": "1"}
RETRIES = 2
#: Which statuses the SDKs retry (OpenAI/Anthropic: 408, 409, 429, 5xx; Gemini: 408, 429, 5xx;
#: botocore: throttling error codes and 5xx, with its own backoff: it ignores ``retry-after-ms``).
RETRIED = {400: False, 401: False, 429: True, 500: True}
#: The default reply to PROMPT ("a b c" = 3 output tokens, 13 input), priced exactly.
PRICE_13_IN_3_OUT = {"openai": Decimal("0.0000625"),      # gpt-4o: 13 × 2.50 + 3 × 10.00 per 1M
                     "anthropic": Decimal("0.000084"),    # sonnet 4: 13 × 3 + 3 × 15 per 1M
                     "gemini": Decimal("0.0000025"),      # 2.0 flash: 13 × 0.10 + 3 × 0.40 per 1M
                     "bedrock": Decimal("0.000084")}      # us. profile of sonnet 4: its list price


def _error_span(inst, exc_name: str):
    spans = our_spans(inst)
    assert len(spans) == 1, [sp.name for sp in spans]
    span = spans[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[s.ERROR_TYPE] == exc_name
    assert span.attributes[s.LLM_COST_STATUS] == s.STATUS_NO_USAGE
    assert usd(span) is None and s.GEN_AI_USAGE_INPUT_TOKENS not in span.attributes
    assert (calls_metric(inst), spend_metric(inst)) == (1, 0)
    return span


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", sorted(RETRIED))
def test_http_error_after_retries_one_span_no_cost(wire, instrumented, provider, status):
    sdk = client(provider, wire, retries=RETRIES)
    replies = [Reply(status=status, headers=FAST) for _ in range(RETRIES + 1)]
    inst, seen, requests = bare_then_instrumented(
        wire, instrumented, provider, replies, lambda: outcome(lambda: call(provider, sdk)))
    assert seen[0] == "raised"
    assert requests == (RETRIES + 1 if RETRIED[status] else 1)
    _error_span(inst, seen[1][1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_success_after_failed_attempts_priced_once(wire, instrumented, provider):
    sdk = client(provider, wire, retries=RETRIES)
    replies = [Reply(status=429, headers=FAST), Reply(status=500, headers=FAST), Reply(text="a b c")]
    inst, seen, requests = bare_then_instrumented(
        wire, instrumented, provider, replies, lambda: outcome(lambda: call(provider, sdk)))
    assert (seen[0], requests) == ("returned", 3)
    [span] = our_spans(inst)
    assert span.status.status_code is StatusCode.UNSET and s.ERROR_TYPE not in span.attributes
    assert (span.attributes[s.GEN_AI_USAGE_INPUT_TOKENS], span.attributes[s.GEN_AI_USAGE_OUTPUT_TOKENS]) == (13, 3)
    assert usd(span) == PRICE_13_IN_3_OUT[provider]
    assert calls_metric(inst) == 1
    assert spend_metric(inst) == pytest.approx(float(PRICE_13_IN_3_OUT[provider]), rel=1e-12)


@pytest.mark.parametrize("provider", ASYNC_PROVIDERS)
def test_async_success_after_retry_priced_once(wire, instrumented, provider):
    async def scenario():
        sdk = client(provider, wire, retries=1, is_async=True)
        return await aoutcome(acall(provider, sdk))

    replies = [Reply(status=503, headers=FAST), Reply(text="a b c")]
    inst, seen, requests = bare_then_instrumented(wire, instrumented, provider, replies,
                                                  lambda: asyncio.run(scenario()))
    assert (seen[0], requests) == ("returned", 2)
    [span] = our_spans(inst)
    assert usd(span) == PRICE_13_IN_3_OUT[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeouts_after_retries_one_span_no_cost(wire, instrumented, provider):
    sdk = client(provider, wire, retries=1, timeout=0.1)
    replies = [Reply(delay=0.3), Reply(delay=0.3)]
    inst, seen, requests = bare_then_instrumented(
        wire, instrumented, provider, replies, lambda: outcome(lambda: call(provider, sdk)))
    assert (seen[0], requests) == ("raised", 2)
    assert "imeout" in seen[1][1] or "timed out" in seen[1][2].lower()
    _error_span(inst, seen[1][1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout_then_success_priced_once(wire, instrumented, provider):
    # Wide margins (1 s timeout, 3 s delay): on a loaded CI machine a tight pair made the
    # bare and the instrumented run time out differently.
    sdk = client(provider, wire, retries=1, timeout=1.0)
    replies = [Reply(delay=3.0), Reply(text="a b c")]
    inst, seen, requests = bare_then_instrumented(
        wire, instrumented, provider, replies, lambda: outcome(lambda: call(provider, sdk)))
    assert (seen[0], requests) == ("returned", 2)
    [span] = our_spans(inst)
    assert usd(span) == PRICE_13_IN_3_OUT[provider]
    assert calls_metric(inst) == 1
