"""OpenAI-shaped estimation against OpenAI's published numbers.

The message and tool examples, and the ``prompt_tokens`` the API returned for them,
are those of the openai-cookbook notebook "How to count tokens with tiktoken"; the
image figures are the worked examples of OpenAI's vision guide.
"""
import base64
import struct
import threading
import zlib

import pytest

from otel_llm_cost import semconv, tokens
from otel_llm_cost._estimate_openai import (
    Generated,
    count_request,
    estimate_openai,
    image_tokens,
    is_reasoning_model,
)
from otel_llm_cost._image_size import data_url_bytes, image_size
from otel_llm_cost.tokens import count_tokens
from otel_llm_cost.usage import Usage

#: The cookbook's example conversation (section 6).
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates "
                                  "corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant",
     "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to "
                                                          "touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant",
     "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the "
                                "client deliverable."},
]
#: The cookbook's tool-calling example (section 7).
COOKBOOK_TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return",
                         "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}]
COOKBOOK_TOOL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


def png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG header plus an empty-ish IDAT: enough for a size reader."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)) + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def jpeg(width: int, height: int, app_bytes: int = 16) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", app_bytes + 2) + b"J" * app_bytes
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + b"\xff\xfe\x00\x04hi" + sof + b"\xff\xd9"


def data_url(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(raw).decode()


@pytest.mark.parametrize("model,api_prompt_tokens", [
    ("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
])
def test_cookbook_messages_example(model, api_prompt_tokens):
    assert count_request(model, {"messages": COOKBOOK_MESSAGES}) == (api_prompt_tokens, False)


def test_gpt_35_turbo_0301_framing():
    # 4 tokens per message and -1 per name: 129 + 6 (one more per message) - 8 (four names)
    assert count_request("gpt-3.5-turbo-0301", {"messages": COOKBOOK_MESSAGES})[0] == 127


@pytest.mark.parametrize("model,api_prompt_tokens", [
    ("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101),
])
def test_cookbook_tools_example(model, api_prompt_tokens):
    request = {"messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS}
    assert count_request(model, request) == (api_prompt_tokens, False)
    # The legacy `functions` parameter carries the same definitions, flat.
    legacy = {"messages": COOKBOOK_TOOL_MESSAGES, "functions": [COOKBOOK_TOOLS[0]["function"]]}
    assert count_request(model, legacy)[0] == api_prompt_tokens
    # The Responses API's flat tool shape counts the same definitions alike.
    flat = [{"type": "function", **COOKBOOK_TOOLS[0]["function"]}]
    responses = {"input": COOKBOOK_TOOL_MESSAGES, "tools": flat}
    assert count_request(model, responses)[0] == api_prompt_tokens


def test_definitions_and_schemas_add_input():
    base = count_request("gpt-4o", {"messages": COOKBOOK_TOOL_MESSAGES})[0]
    n = lambda text: count_tokens(text, "gpt-4o")  # noqa: E731
    definitions = (7 + n("get_current_weather:Get the current weather in a given location")  # func_init + line
                   + 3  # prop_init
                   + 3 + n("location:string:The city and state, e.g. San Francisco, CA")  # prop_key + line
                   + 3 - 3 + 3 + n("celsius") + 3 + n("fahrenheit")  # prop_key, enum_init, enum items
                   + n("unit:string:The unit of temperature to return")
                   + 12)  # func_end
    assert base + definitions == 101
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}
    with_schema = count_request("gpt-4o", {"messages": COOKBOOK_TOOL_MESSAGES, "response_format": schema})[0]
    assert with_schema > base + count_tokens('"properties"', "gpt-4o")
    responses = count_request("gpt-4o", {"input": COOKBOOK_TOOL_MESSAGES,
                                         "text": {"format": {**schema["json_schema"], "type": "json_schema"}}})[0]
    assert responses == with_schema


def test_a_pydantic_response_format_counts_as_the_strict_schema_parse_sends():
    """``chat.completions.parse(response_format=Model)``: the SDK sends the model's
    schema strict, each object closed and all its properties required; counted so, it
    is not a floor (a schema without ``strict`` is, see docs/estimation.md)."""
    pydantic = pytest.importorskip("pydantic")

    class Answer(pydantic.BaseModel):
        answer: str
        score: int = 0

    messages = [{"role": "user", "content": "hi"}]
    sent = {"type": "json_schema", "json_schema": {"name": "Answer", "strict": True, "schema": {
        "properties": {"answer": {"title": "Answer", "type": "string"},
                       "score": {"default": 0, "title": "Score", "type": "integer"}},
        "required": ["answer", "score"], "title": "Answer", "type": "object", "additionalProperties": False}}}
    assert count_request("gpt-4o", {"messages": messages, "response_format": Answer}) == \
        count_request("gpt-4o", {"messages": messages, "response_format": sent})
    assert count_request("gpt-4o", {"messages": messages, "response_format": Answer})[1] is False
    loose = {"type": "json_schema", "json_schema": {k: v for k, v in sent["json_schema"].items() if k != "strict"}}
    assert count_request("gpt-4o", {"messages": messages, "response_format": loose})[1] is True


@pytest.mark.parametrize("model,size,detail,expected", [
    ("gpt-4o", (1024, 1024), "high", 765),    # vision guide: 4 tiles * 170 + 85
    ("gpt-4o", (2048, 4096), "high", 1105),   # -> 1024x2048 -> 768x1536: 6 tiles
    ("gpt-4o", (4096, 8192), "low", 85),      # low detail: the base, whatever the size
    ("gpt-4o", (1024, 1024), "auto", 765),    # auto counted as high
    ("gpt-4.1", (512, 512), "high", 255),     # one tile, no upscaling
    ("gpt-4o-mini", (1024, 1024), "high", 2833 + 4 * 5667),
    ("gpt-4o-mini", (1024, 1024), "low", 2833),
    ("gpt-4.1-mini", (1024, 1024), "high", 1659),   # 1024 patches * 1.62, rounded up
    ("gpt-4.1-nano", (1800, 2400), "high", 3572),   # 1452 patches (the guide's example) * 2.46
    ("o4-mini", (1800, 2400), "low", 2498),         # patch models ignore detail: 1452 * 1.72
])
def test_image_tokens(model, size, detail, expected):
    assert image_tokens(model, size, detail) == (expected, False)


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-2024-11-20", "gpt-4o-mini", "gpt-4-turbo", "gpt-4.1"])
@pytest.mark.parametrize("size", [(1, 1), (32, 32), (64, 48)])
def test_tiny_images_on_tile_models_are_floors_under_every_recorded_billing(model, size):
    """Identical 32x32 requests were billed 286 and 482 (gpt-4o), 8,520 and 460
    (gpt-4o-mini): a tiny image is counted at one gpt-4o tile and marked a floor."""
    assert image_tokens(model, size, "auto") == (255, True)
    assert image_tokens(model, size, "high") == (255, True)


def test_tiny_image_rule_leaves_low_detail_patch_models_and_larger_images_alone():
    assert image_tokens("gpt-4o-mini", (32, 32), "low") == (2833, False)  # documented, size-free
    assert image_tokens("gpt-4.1-mini", (32, 32), "high") == (2, False)  # patches: 1 * 1.62
    assert image_tokens("gpt-4o", (65, 65), "high") == (255, False)
    assert image_tokens("gpt-4o-mini", (100, 100), "high") == (2833 + 5667, False)


def test_url_images_are_counted_at_their_minimum_and_say_so():
    assert image_tokens("gpt-4o", None, "high") == (255, True)
    assert image_tokens("gpt-4o", None, "low") == (85, False)  # exact: size does not matter
    assert image_tokens("gpt-4.1-mini", None, "high") == (2, True)
    request = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}
    text_only = count_request("gpt-4o", {"messages": [{"role": "user", "content": "What is this?"}]})[0]
    assert count_request("gpt-4o", request) == (text_only + 255, True)


@pytest.mark.parametrize("raw,mime", [(png(1024, 1024), "image/png"), (jpeg(1024, 1024), "image/jpeg")])
def test_data_url_images_are_measured(raw, mime):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": data_url(raw, mime), "detail": "high"}}]
    text_only = count_request("gpt-4o", {"messages": [{"role": "user", "content": "What is this?"}]})[0]
    assert count_request("gpt-4o", {"messages": [{"role": "user", "content": content}]}) == (text_only + 765, False)
    # Responses API: input_image with a flat image_url string
    item = [{"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                                         {"type": "input_image", "image_url": data_url(raw, mime)}]}]
    assert count_request("gpt-4o", {"input": item}) == (text_only + 765, False)


def test_image_headers():
    assert image_size(png(640, 480)) == (640, 480)
    assert image_size(b"GIF89a" + struct.pack("<HH", 320, 200) + b"\x00" * 8) == (320, 200)
    assert image_size(jpeg(1920, 1080)) == (1920, 1080)
    vp8 = b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00" + b"\x00\x00\x00" + b"\x9d\x01\x2a" \
        + struct.pack("<HH", 800, 600)
    assert image_size(vp8) == (800, 600)
    bits = (800 - 1) | ((600 - 1) << 14)
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")
    assert image_size(vp8l) == (800, 600)
    vp8x = b"RIFF\x00\x00\x00\x00WEBPVP8X\x00\x00\x00\x00" + b"\x00" * 4 \
        + (800 - 1).to_bytes(3, "little") + (600 - 1).to_bytes(3, "little")
    assert image_size(vp8x) == (800, 600)
    for junk in (b"", b"\x89PNG", b"\xff\xd8\xff", b"not an image", png(0, 10)):
        assert image_size(junk) is None


def test_jpeg_with_large_metadata_is_read_in_full():
    raw = jpeg(1024, 1024, app_bytes=60_000)  # frame header beyond the first decoded prefix
    url = data_url(raw, "image/jpeg")
    assert image_size(data_url_bytes(url) or b"") is None
    content = [{"type": "image_url", "image_url": {"url": url, "detail": "high"}}]
    assert count_request("gpt-4o", {"messages": [{"role": "user", "content": content}]}) == (3 + 3 + 1 + 765, False)


def test_junk_requests_never_raise():
    for junk in ({"messages": [None, 5, {"content": 7, "tool_calls": "x"}]}, {"messages": []},
                 {"input": 3}, {"prompt": None}, {"messages": [{"content": [{"type": "image_url"}]}]},
                 {"messages": [], "tools": [{"type": "function", "function": {"parameters": {"properties": 3}}}]},
                 {"messages": [{"role": "user", "content": [{"type": "input_audio",
                                                             "input_audio": {"data": "!!", "format": "wav"}}]}]}):
        tokens_, _ = count_request("gpt-4o", junk)
        assert tokens_ >= 0


def test_legacy_completions_prompt_has_no_chat_framing():
    assert count_request("gpt-3.5-turbo-instruct", {"prompt": "hello world"}) == (2, False)
    assert count_request("gpt-3.5-turbo-instruct", {"prompt": ["hello world", "hello"]})[0] == 3


def test_streamed_tool_call_deltas_are_joined_before_counting():
    args = '{"location": "San Francisco, CA", "unit": "celsius"}'
    generated = Generated()
    pieces = [args[i:i + 3] for i in range(0, len(args), 3)]
    generated.chat_choice({"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"name": "get_current_weather", "arguments": ""}}]}})
    for piece in pieces:
        generated.chat_choice({"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}})
    # + 7: the framing the model writes around one tool call (docs/estimation.md).
    expected = count_tokens("get_current_weather", "gpt-4o") + count_tokens(args, "gpt-4o") + 7
    assert generated.tokens("gpt-4o") == expected
    assert sum(count_tokens(p, "gpt-4o") for p in pieces) > count_tokens(args, "gpt-4o")


def test_every_choice_and_refusals_count():
    response = {"object": "chat.completion", "choices": [
        {"index": 0, "message": {"content": "Paris is the capital."}},
        {"index": 1, "message": {"content": "It is Paris."}},
        {"index": 2, "message": {"content": None, "refusal": "I can't help with that."}},
    ]}
    expected = sum(count_tokens(t, "gpt-4o") for t in
                   ("Paris is the capital.", "It is Paris.", "I can't help with that."))
    assert Generated().response(response).tokens("gpt-4o") == expected
    streamed = Generated()
    for index, text in ((0, "Paris is"), (1, "It is"), (0, " the capital."), (1, " Paris.")):
        streamed.chat_choice({"index": index, "delta": {"content": text}})
    streamed.chat_choice({"index": 2, "delta": {"refusal": "I can't help with that."}})
    assert streamed.tokens("gpt-4o") == expected


def test_responses_output_and_events():
    response = {"object": "response", "output": [
        {"type": "reasoning", "summary": []},
        {"type": "message", "content": [{"type": "output_text", "text": "Calling it."}]},
        {"type": "function_call", "name": "get_current_weather", "arguments": '{"location": "Paris"}'},
    ]}
    generated = Generated().response(response)
    expected = sum(count_tokens(t, "gpt-4o") for t in
                   ("Calling it.", "get_current_weather", '{"location": "Paris"}'))
    assert generated.tokens("gpt-4o") == expected and generated.reasoning
    events = Generated()
    for event in (
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Calling"},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": " it."},
        {"type": "response.output_item.added", "output_index": 1,
         "item": {"type": "function_call", "name": "get_current_weather"}},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"location": '},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '"Paris"}'},
    ):
        events.responses_event(event)
    assert events.tokens("gpt-4o") == expected and not events.reasoning


@pytest.mark.parametrize("model,reasoning", [
    ("o1", True), ("o3-mini", True), ("o4-mini-2025-04-16", True), ("gpt-5", True), ("gpt-5-mini", True),
    ("openai/gpt-oss-120b", True), ("gpt-5-chat-latest", False), ("gpt-4o", False), ("gpt-4.1", False),
    (None, False),
])
def test_reasoning_models_are_lower_bounds(model, reasoning):
    assert is_reasoning_model(model) is reasoning
    usage = estimate_openai(model, {"messages": [{"role": "user", "content": "hi"}]}, Generated())
    assert usage.source == semconv.SOURCE_ESTIMATED
    assert usage.lower_bound is reasoning


def test_reasoning_request_or_response_makes_a_lower_bound():
    hi = {"messages": [{"role": "user", "content": "hi"}]}
    assert estimate_openai("my-proxy-model", {**hi, "reasoning_effort": "high"}, Generated()).lower_bound
    assert not estimate_openai("my-proxy-model", {**hi, "reasoning_effort": object()}, Generated()).lower_bound
    seen = Generated()
    seen.reasoning = True
    assert estimate_openai("my-proxy-model", hi, seen).lower_bound


def test_lower_bound_survives_sums():
    floor = Usage(10, 5, source=semconv.SOURCE_ESTIMATED, lower_bound=True)
    exact = Usage(1, 1)
    assert (exact + floor).lower_bound and (floor + exact).lower_bound
    assert not (exact + exact).lower_bound


@pytest.fixture
def fresh_preload(monkeypatch):
    tokens._forget_encodings()
    monkeypatch.setattr(tokens, "_preload_started", False)
    yield
    tokens._forget_encodings()


def test_preload_builds_off_thread_and_a_caller_waits_for_that_one_load(monkeypatch, fresh_preload):
    real = tokens._read_ranks
    reads: list[str] = []
    release = threading.Event()
    loading = threading.Event()

    def slow_read(name):
        reads.append(name)
        if name == "o200k_base":
            loading.set()
            assert release.wait(30)
        return real(name)

    monkeypatch.setattr(tokens, "_read_ranks", slow_read)
    thread = tokens.preload()
    assert thread is not None and thread.daemon
    assert tokens.preload() is None  # once per process
    assert loading.wait(30)  # the preload is inside the o200k load
    got: list = []
    caller = threading.Thread(target=lambda: got.append(tokens.get_encoding("gpt-4o")))
    caller.start()
    release.set()
    caller.join(30)
    thread.join(30)
    assert got and got[0] is tokens.get_encoding("gpt-4o")
    assert sorted(reads) == ["cl100k_base", "o200k_base"]  # each vocabulary read exactly once


def test_preload_failure_is_logged_not_raised(monkeypatch, fresh_preload, caplog):
    def broken(name):
        raise OSError("vocabulary missing")

    monkeypatch.setattr(tokens, "_read_ranks", broken)
    thread = tokens.preload()
    assert thread is not None
    thread.join(30)
    assert any("could not preload" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("junk", [
    {"index": {"x": 1}, "delta": {"content": "hi", "tool_calls": 5}},
    {"index": None, "delta": {"tool_calls": [{"index": [1], "function": {"name": 3, "arguments": None}}]}},
    {"delta": None, "text": ["not", "text"]},
    None,
], ids=repr)
def test_junk_stream_items_never_raise(junk):
    generated = Generated()
    generated.chat_choice(junk)
    generated.responses_event(junk)
    generated.response({"choices": junk}).response({"object": "response", "output": junk})
    assert generated.tokens("gpt-4o") >= 0


def test_a_self_referring_tool_schema_is_written_once():
    """A ``$ref`` tree (a node whose children are nodes) renders its definition once and
    then ``any``: counting ends, and a second reference costs no second expansion."""
    from otel_llm_cost._estimate_openai import render_functions

    node = {"type": "object", "properties": {"name": {"type": "string"},
                                             "left": {"$ref": "#/$defs/Node"}, "right": {"$ref": "#/$defs/Node"}}}
    function = {"name": "walk", "parameters": {"type": "object", "$defs": {"Node": node},
                                               "properties": {"root": {"$ref": "#/$defs/Node"}}}}
    text = render_functions([function])
    assert text.count("name?: string") == 1 and "left?: any" in text and "right?: any" in text
    total, floor = count_request("gpt-4o", {"messages": [{"role": "user", "content": "hi"}],
                                            "tools": [{"type": "function", "function": function}]})
    assert total > count_tokens(text, "gpt-4o") and floor is False


def test_junk_tool_and_schema_shapes_count_what_they_can():
    junk_tools = [{"type": "function", "function": {"name": "f", "parameters": {"properties": ["x"]}}},
                  {"type": "function", "function": {"name": 3, "description": 5, "parameters": "x"}},
                  {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {
                      "a": {"type": ["integer", "null"], "enum": [1, None], "default": {"x": 1}},
                      "b": {"$ref": 7}, "c": {"anyOf": "x"}, "d": None}}}}]
    request = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [
        {"id": 1, "function": {"name": None, "arguments": 5}}, {"function": "x"}]}, {"role": "tool"}],
        "tools": junk_tools, "response_format": {"type": "json_schema", "json_schema": {"schema": {"$defs": 1}}},
        "tool_choice": {"type": "function", "function": {"name": 9}}}
    total, floor = count_request("gpt-4o", request)
    assert total > 0 and isinstance(floor, bool)
