"""The wire server against the real SDKs over real HTTP: every route, stream
mode and failure mode must parse (or fail) exactly as with the real APIs."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from tests.wire import PROMPT_OVERHEAD, Reply, WireServer

MSGS = [{"role": "user", "content": "say hello please"}]  # 3 words -> 13 input tokens
P = PROMPT_OVERHEAD + 3


def oai(server: WireServer, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(**{"base_url": server.openai_base_url, "api_key": "test", "max_retries": 0, **kw})


def aoai(server: WireServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test", max_retries=0)


def ant(server: WireServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)


def gem(server: WireServer) -> genai.Client:
    opts = genai.types.HttpOptions(base_url=server.base_url,
                                   retry_options=genai.types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="test", http_options=opts)


# -- OpenAI -------------------------------------------------------------------
def test_chat_json_usage_and_recorded_request(wire: WireServer) -> None:
    wire.enqueue(Reply(text="Hi there friend"))
    resp = oai(wire).chat.completions.create(model="gpt-4o", messages=MSGS)
    assert resp.choices[0].message.content == "Hi there friend"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (P, 3, P + 3)
    assert resp.model == "gpt-4o"
    req = wire.last_request
    assert (req.method, req.path, req.body["model"]) == ("POST", "/v1/chat/completions", "gpt-4o")
    assert req.headers["authorization"] == "Bearer test"


@pytest.mark.parametrize("include", [True, False])
def test_chat_stream_usage_follows_stream_options(wire: WireServer, include: bool) -> None:
    wire.enqueue(Reply(text="abcdef", chunks=3))
    chunks = list(oai(wire).chat.completions.create(
        model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": include}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "abcdef"
    if include:
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
        assert chunks[-1].usage.prompt_tokens == P
        assert all(c.usage is None for c in chunks[:-1])
    else:
        assert all(c.usage is None for c in chunks)


def test_chat_stream_reply_forces_usage_and_overrides(wire: WireServer) -> None:
    usage = {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 40}}
    wire.enqueue(Reply(include_usage_in_stream=True, usage=usage, model="gpt-4o-2024-08-06"))
    chunks = list(oai(wire).chat.completions.create(model="gpt-4o", messages=MSGS, stream=True))
    assert chunks[-1].usage.prompt_tokens == 100
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 40
    assert chunks[0].model == "gpt-4o-2024-08-06"


def test_chat_stream_helper_and_tool_calls(wire: WireServer) -> None:
    wire.enqueue(Reply(text="ok", tool_calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}]))
    with oai(wire).chat.completions.stream(model="gpt-4o", messages=MSGS,
                                           stream_options={"include_usage": True}) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_weather", {"city": "Oslo"})
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.completion_tokens == 2


def test_chat_async(wire: WireServer) -> None:
    async def main() -> tuple[Any, list[Any]]:
        async with aoai(wire) as client:
            resp = await client.chat.completions.create(model="gpt-4o", messages=MSGS)
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=MSGS, stream=True, stream_options={"include_usage": True})
            return resp, [c async for c in stream]

    resp, chunks = asyncio.run(main())
    assert resp.usage.prompt_tokens == P
    assert chunks[-1].usage.total_tokens == P + 1


def test_responses_json_and_stream(wire: WireServer) -> None:
    client = oai(wire)
    wire.enqueue(Reply(text="one two", thinking="think hard"))
    resp = client.responses.create(model="gpt-5", input="hello world")
    assert resp.output_text == "one two"
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (PROMPT_OVERHEAD + 2, 4)
    assert resp.usage.output_tokens_details.reasoning_tokens == 2
    wire.enqueue(Reply(text="abc", chunks=3))
    with client.responses.stream(model="gpt-5", input="hello world") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert deltas == ["a", "b", "c"] and final.output_text == "abc"
    assert final.usage.output_tokens == 3 and final.usage.total_tokens == PROMPT_OVERHEAD + 5


def test_responses_async_stream(wire: WireServer) -> None:
    async def main() -> Any:
        async with aoai(wire) as client:
            async with client.responses.stream(model="gpt-5", input="hi") as stream:
                async for _ in stream:
                    pass
                return await stream.get_final_response()

    assert asyncio.run(main()).usage.input_tokens == PROMPT_OVERHEAD + 1


def test_embeddings_base64_and_float(wire: WireServer) -> None:
    client = oai(wire)
    resp = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert len(resp.data) == 2 and len(resp.data[0].embedding) == 8
    assert resp.usage.prompt_tokens == PROMPT_OVERHEAD + 3
    resp = client.embeddings.create(model="m", input="x", encoding_format="float", dimensions=4)
    assert resp.data[0].embedding == [0.1, 0.11, 0.12, 0.13]


def test_legacy_completions(wire: WireServer) -> None:
    client = oai(wire)
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="a b").usage.prompt_tokens == 12
    wire.enqueue(Reply(text="xy", chunks=2))
    chunks = list(client.completions.create(model="i", prompt="a", stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "xy"
    assert chunks[-1].usage.completion_tokens == 2


def test_azure_routes(wire: WireServer) -> None:
    client = openai.AzureOpenAI(azure_endpoint=wire.base_url, api_key="t", api_version="2024-10-21", max_retries=0)
    resp = client.chat.completions.create(model="my-deploy", messages=MSGS)
    assert resp.usage.prompt_tokens == P
    req = wire.last_request
    assert req.path == "/openai/deployments/my-deploy/chat/completions"
    assert req.query["api-version"] == "2024-10-21" and req.headers["api-key"] == "t"
    assert client.embeddings.create(model="emb", input="q").data[0].index == 0
    assert wire.last_request.path == "/openai/deployments/emb/embeddings"


# -- Anthropic ----------------------------------------------------------------
def test_messages_json_thinking_and_tools(wire: WireServer) -> None:
    wire.enqueue(Reply(text="Hi", thinking="a b c", tool_calls=[{"name": "f", "arguments": {"x": 1}}]))
    msg = ant(wire).messages.create(model="claude-wire-1", max_tokens=50, messages=MSGS)
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use"]
    assert (msg.usage.input_tokens, msg.usage.output_tokens, msg.stop_reason) == (P, 5, "tool_use")
    assert msg.content[2].input == {"x": 1}


def test_messages_stream_helper_with_cache_usage(wire: WireServer) -> None:
    usage = {"cache_read_input_tokens": 7, "cache_creation_input_tokens": 5,
             "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 3}}
    wire.enqueue(Reply(text="Hello there you", thinking="hmm ok", usage=usage))
    with ant(wire).messages.stream(model="claude-wire-1", max_tokens=50, messages=MSGS) as stream:
        assert "".join(stream.text_stream) == "Hello there you"
        final = stream.get_final_message()
    assert final.content[0].thinking == "hmm ok" and final.content[0].signature
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cache_read_input_tokens, u.cache_creation_input_tokens) == (P, 5, 7, 5)
    assert u.cache_creation.ephemeral_1h_input_tokens == 3


def test_messages_raw_stream_events(wire: WireServer) -> None:
    wire.enqueue(Reply(chunks=["a", "b"]))
    events = list(ant(wire).messages.create(model="c", max_tokens=5, messages=MSGS, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert events[0].message.usage.output_tokens == 1 and events[-2].usage.output_tokens == 2


def test_messages_async_and_beta(wire: WireServer) -> None:
    async def main() -> Any:
        async with anthropic.AsyncAnthropic(base_url=wire.base_url, api_key="t", max_retries=0) as client:
            async with client.messages.stream(model="c", max_tokens=5, messages=MSGS) as stream:
                return await stream.get_final_message()

    assert asyncio.run(main()).usage.input_tokens == P
    msg = ant(wire).beta.messages.create(model="c", max_tokens=5, messages=MSGS, betas=["x-2025"])
    assert msg.usage.output_tokens == 1
    # anthropic 2.12 keeps `beta=true` as an internal qualifier: only the header tells beta apart
    assert wire.last_request.path == "/v1/messages" and wire.last_request.headers["anthropic-beta"] == "x-2025"
    raw = httpx2.post(wire.base_url + "/v1/messages?beta=true", json={"model": "c", "messages": MSGS})
    assert raw.json()["usage"]["input_tokens"] == P and wire.last_request.query == {"beta": "true"}


# -- Gemini -------------------------------------------------------------------
def test_gemini_generate_and_stream(wire: WireServer) -> None:
    client = gem(wire)
    wire.enqueue(Reply(text="Hi there", thinking="x y z", model="gemini-2.5-flash-001"))
    resp = client.models.generate_content(model="gemini-2.5-flash", contents="say hello please")
    u = resp.usage_metadata
    assert resp.text == "Hi there" and resp.model_version == "gemini-2.5-flash-001"
    assert (u.prompt_token_count, u.candidates_token_count, u.thoughts_token_count, u.total_token_count) == (
        P, 2, 3, P + 5)
    assert wire.last_request.path.endswith("/models/gemini-2.5-flash:generateContent")
    wire.enqueue(Reply(text="abc", chunks=3, usage={"cachedContentTokenCount": 4}))
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="hi"))
    assert "".join(c.text for c in chunks) == "abc"
    assert [c.usage_metadata.candidates_token_count for c in chunks] == [1, 2, 3]
    assert chunks[-1].usage_metadata.cached_content_token_count == 4
    assert chunks[-1].candidates[0].finish_reason == "STOP"
    assert wire.last_request.query == {"alt": "sse"}


def test_gemini_async_and_embeddings(wire: WireServer) -> None:
    client = gem(wire)

    async def main() -> tuple[Any, list[Any]]:
        resp = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        stream = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
        return resp, [c async for c in stream]

    resp, chunks = asyncio.run(main())
    assert resp.usage_metadata.prompt_token_count == PROMPT_OVERHEAD + 1
    assert chunks[-1].usage_metadata.total_token_count == PROMPT_OVERHEAD + 2
    emb = client.models.embed_content(model="text-embedding-004", contents=["a", "b c"])
    assert len(emb.embeddings) == 2 and emb.usage_metadata.prompt_token_count == PROMPT_OVERHEAD + 3
    assert wire.last_request.path.endswith(":batchEmbedContents")


# -- failures -----------------------------------------------------------------
def _oai_chat(s: WireServer) -> Any:
    return list(oai(s).chat.completions.create(model="m", messages=MSGS, stream=True))


def _oai_responses(s: WireServer) -> Any:
    with oai(s).responses.stream(model="m", input="x") as stream:
        list(stream)
        return stream.get_final_response()


def _ant_stream(s: WireServer) -> Any:
    with ant(s).messages.stream(model="m", max_tokens=5, messages=MSGS) as stream:
        return list(stream.text_stream)


def _gem_stream(s: WireServer) -> Any:
    client = gem(s)  # keep a reference: a collected genai.Client closes its HTTP client
    return list(client.models.generate_content_stream(model="g", contents="x"))


# What each SDK raises, at the pinned versions (tests/constraints.txt): google-genai
# surfaces a dropped stream as the raw httpx2 error, anthropic (since 2.17) as its own
# APIConnectionError, and a Responses `error` event is not raised by the SDK. This checks
# the wire server's failure modes; that the application sees exactly what the bare SDK
# raises, instrumented or not, is tests/instrumentation/test_contract.py's and
# tests/reliability/'s, which compare with a bare run instead of naming a class.
FAILURES: dict[str, tuple[Callable[[WireServer], Any], dict[str, type[BaseException]]]] = {
    "openai-chat": (_oai_chat, {"drop": openai.APIConnectionError, "error_event": openai.APIError,
                                "malformed_json": json.JSONDecodeError}),
    "openai-responses": (_oai_responses, {"drop": openai.APIConnectionError, "error_event": RuntimeError,
                                          "malformed_json": json.JSONDecodeError}),
    "anthropic": (_ant_stream, {"drop": anthropic.APIConnectionError, "error_event": anthropic.APIStatusError,
                                "malformed_json": json.JSONDecodeError}),
    "gemini": (_gem_stream, {"drop": httpx2.RemoteProtocolError, "error_event": genai_errors.ServerError,
                             "malformed_json": genai_errors.UnknownApiResponseError}),
}


@pytest.mark.parametrize("failure", ["drop", "error_event", "malformed_json"])
@pytest.mark.parametrize("sdk", list(FAILURES))
def test_stream_failures(wire: WireServer, sdk: str, failure: str) -> None:
    call, expected = FAILURES[sdk]
    wire.enqueue(Reply(text="abcd", chunks=4, fail_after_chunks=2, failure=failure))  # type: ignore[arg-type]
    with pytest.raises(expected[failure]):
        call(wire)
    assert len(wire.requests) == 1
    # the server is healthy afterwards
    assert oai(wire).chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "Hello!"


def test_stream_error_event_details(wire: WireServer) -> None:
    wire.enqueue(Reply(fail_after_chunks=0, failure="error_event"))
    with pytest.raises(anthropic.APIStatusError) as info:
        _ant_stream(wire)
    assert info.value.body["error"]["type"] == "overloaded_error"
    wire.enqueue(Reply(fail_after_chunks=1, failure="error_event"))
    with oai(wire).responses.stream(model="m", input="x") as stream:
        kinds = [e.type for e in stream]
    assert kinds[-2:] == ["error", "response.failed"]


@pytest.mark.parametrize(
    ("status", "oai_exc", "ant_exc", "gem_exc"),
    [(400, openai.BadRequestError, anthropic.BadRequestError, genai_errors.ClientError),
     (429, openai.RateLimitError, anthropic.RateLimitError, genai_errors.ClientError),
     (500, openai.InternalServerError, anthropic.InternalServerError, genai_errors.ServerError),
     (529, openai.InternalServerError, anthropic.OverloadedError, genai_errors.ServerError)],
)
def test_http_errors(wire: WireServer, status: int, oai_exc: type, ant_exc: type, gem_exc: type) -> None:
    wire.enqueue_many([Reply(status=status)] * 3)
    with pytest.raises(oai_exc) as e1:
        oai(wire).chat.completions.create(model="m", messages=MSGS, stream=True)
    with pytest.raises(ant_exc) as e2:
        ant(wire).messages.create(model="m", max_tokens=5, messages=MSGS)
    client = gem(wire)
    with pytest.raises(gem_exc) as e3:
        client.models.generate_content(model="g", contents="x")
    assert e1.value.status_code == e2.value.status_code == e3.value.code == status


def test_custom_error_body_and_retry_after(wire: WireServer) -> None:
    body = {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}
    wire.enqueue_many([Reply(status=429, error_body=body, headers={"retry-after": "0"}), Reply(text="done")])
    resp = oai(wire, max_retries=1).chat.completions.create(model="m", messages=MSGS)
    assert resp.choices[0].message.content == "done" and len(wire.requests) == 2
    wire.enqueue(Reply(status=429, error_body=body))
    with pytest.raises(openai.RateLimitError) as info:
        oai(wire).chat.completions.create(model="m", messages=MSGS)
    assert info.value.code == "rate_limit_exceeded"


def test_reply_fields_and_unknown_route(wire: WireServer) -> None:
    wire.enqueue(Reply(finish_reason="length", response_id="chatcmpl-fixed", headers={"x-wire": "1"}))
    raw = oai(wire).chat.completions.with_raw_response.create(model="m", messages=MSGS)
    resp = raw.parse()
    assert (resp.id, resp.choices[0].finish_reason, raw.headers["x-wire"]) == ("chatcmpl-fixed", "length", "1")
    single = httpx2.post(wire.base_url + "/v1beta/models/text-embedding-004:embedContent", json={})
    assert len(single.json()["embedding"]["values"]) == 8
    assert httpx2.post(wire.base_url + "/v2/nothing", json={}).status_code == 404


def test_delay_causes_client_timeout(wire: WireServer) -> None:
    wire.enqueue(Reply(delay=0.5))
    with pytest.raises(openai.APITimeoutError):
        oai(wire, timeout=0.1).chat.completions.create(model="m", messages=MSGS)


def test_path_contains_fifo_and_reset(wire: WireServer) -> None:
    wire.enqueue_many([Reply(text="emb-only", path_contains="/embeddings", usage={"prompt_tokens": 99}),
                       Reply(text="first"), Reply(text="second")])
    client = oai(wire)
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "first"
    assert client.embeddings.create(model="e", input="x").usage.prompt_tokens == 99
    assert client.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "second"
    assert wire.pending == 0 and len(wire.requests) == 3
    wire.enqueue(Reply())
    wire.reset()
    assert wire.pending == 0 and wire.requests == []


def test_chunk_delay_streams_incrementally(wire: WireServer) -> None:
    wire.enqueue(Reply(chunks=["a", "b"], chunk_delay=0.05))
    assert "".join(c.choices[0].delta.content or "" for c in _oai_chat(wire) if c.choices) == "ab"


def test_stop_joins_threads_and_frees_port() -> None:
    before = set(threading.enumerate())
    with WireServer.start() as server:
        client = oai(server)
        client.chat.completions.create(model="m", messages=MSGS)  # leaves a keep-alive connection open
        server.enqueue(Reply(delay=30))  # a handler blocked in a delay must not hang stop()
        blocked = threading.Thread(target=lambda: pytest.raises(openai.APIError, client.chat.completions.create,
                                                               model="m", messages=MSGS))
        blocked.start()
        while not server.requests[1:]:
            threading.Event().wait(0.01)
    blocked.join(5)
    client.close()
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(openai.APIConnectionError):
        oai(server).chat.completions.create(model="m", messages=MSGS)


def test_cohere_v2_chat_and_ollama_chat_shapes(wire: WireServer) -> None:
    """The two non-OpenAI formats the foreign-span peer tests drive (their SDKs are not in
    the main environment: the peer venv runs them; here the raw JSON they parse)."""
    wire.enqueue(Reply(text="one two", path_contains="/v2/chat"))
    body = httpx2.post(wire.base_url + "/v2/chat", json={"model": "command-r", "messages": MSGS}).json()
    assert body["message"]["content"] == [{"type": "text", "text": "one two"}]
    assert body["usage"]["billed_units"] == {"input_tokens": float(P), "output_tokens": 2.0}
    assert body["finish_reason"] == "COMPLETE"
    body = httpx2.post(wire.base_url + "/api/chat", json={"model": "llama3.2", "messages": MSGS,
                                                          "stream": False}).json()
    assert (body["model"], body["message"]["content"], body["done"]) == ("llama3.2", "Hello!", True)
    assert (body["prompt_eval_count"], body["eval_count"]) == (P, 1)
