"""The installed SDK versions, and the marks for tests of features older SDKs lack.

The version matrix (``tests/matrix/run.py``) runs the instrumentation tests against the
oldest SDK versions we declare. A test of a feature that SDK version does not have is
skipped there — and only there: every mark names the release that added the feature,
so the latest-version run (the main suite) always runs it.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

import pytest


def _version(dist: str) -> tuple[int, ...]:
    try:
        text = version(dist)
    except PackageNotFoundError:
        return (0,)
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


OPENAI = _version("openai")
ANTHROPIC = _version("anthropic")
GOOGLE_GENAI = _version("google-genai")

#: ``client.responses`` (sync, async, ``parse``, ``stream``).
OPENAI_HAS_RESPONSES = OPENAI >= (1, 66)
needs_openai_responses = pytest.mark.skipif(not OPENAI_HAS_RESPONSES, reason="responses API added in openai 1.66")
#: ``chat.completions.parse`` / ``.stream`` outside ``client.beta``.
needs_openai_chat_helpers = pytest.mark.skipif(
    OPENAI < (1, 92), reason="chat.completions.parse/stream moved out of client.beta in openai 1.92")

#: The ``anthropic`` SDK traces itself (client option ``open_telemetry``).
ANTHROPIC_SELF_TRACES = ANTHROPIC >= (1, 14)
needs_anthropic_self_tracing = pytest.mark.skipif(
    not ANTHROPIC_SELF_TRACES, reason="the anthropic SDK traces itself (open_telemetry=) since 1.14")


def anthropic_tracing_option(option: object = False) -> dict[str, object]:
    """``open_telemetry=option`` for the SDK's client where the SDK has the option; older
    SDKs do not trace themselves, so leaving it out there is the same as ``False``."""
    return {"open_telemetry": option} if ANTHROPIC_SELF_TRACES else {}


def genai_retry_options(attempts: int) -> dict[str, object]:
    """``retry_options=`` for ``HttpOptions``: google-genai 1.0 has no ``HttpRetryOptions``
    and makes one attempt, the same as ``attempts=1``."""
    from google.genai import types

    if not hasattr(types, "HttpRetryOptions"):
        if attempts > 1:
            pytest.skip("SDK retries need google-genai's HttpRetryOptions (not in this version)")
        return {}
    return {"retry_options": types.HttpRetryOptions(attempts=attempts, initial_delay=0.01, max_delay=0.02,
                                                    jitter=0)}

#: ``usage_metadata.thoughts_token_count`` (thinking tokens).
needs_genai_thoughts = pytest.mark.skipif(
    GOOGLE_GENAI < (1, 8), reason="google-genai reports thoughts_token_count since 1.8")
#: An ``{"error": …}`` chunk in the middle of a stream raises.
needs_genai_stream_error_chunks = pytest.mark.skipif(
    GOOGLE_GENAI < (1, 50), reason="google-genai raises on an error chunk mid-stream since 1.50")
#: A streamed call with automatic function calling yields every request's chunks, not the last one's.
needs_genai_streamed_afc_round_trips = pytest.mark.skipif(
    GOOGLE_GENAI < (2, 18), reason="google-genai streams the chunks of every AFC request since 2.18")
#: ``EmbedContentResponse.usage_metadata`` (earlier versions drop the usage the API sends).
GENAI_EMBED_USAGE = GOOGLE_GENAI >= (3, 1)
