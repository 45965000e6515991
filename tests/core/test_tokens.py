"""Offline tiktoken estimation: vocabularies, exact ids, user dir, caching, framing."""
import base64
import socket

import pytest

from otel_llm_cost import semconv, tokens
from otel_llm_cost.tokens import count_messages, count_tokens, encoding_name_for_model, estimate_usage, get_encoding


@pytest.fixture
def fresh_encodings():
    tokens._forget_encodings()
    yield
    tokens._forget_encodings()


def test_builds_offline_with_empty_cache_and_no_network(tmp_path, monkeypatch, fresh_encodings):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    assert get_encoding("gpt-4o").encode("hello world") == [24912, 2375]
    assert get_encoding("gpt-4").encode("hello world") == [15339, 1917]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("model,name", [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("openai/gpt-4o", "o200k_base"),
    ("gpt-4.1-nano", "o200k_base"), ("o1", "o200k_base"), ("o3-mini", "o200k_base"),
    ("o4-mini", "o200k_base"), ("gpt-5", "o200k_base"), ("GPT-5-mini", "o200k_base"),
    ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
    ("gpt-3.5-turbo", "cl100k_base"), ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"),
    ("claude-sonnet-4", "cl100k_base"), ("gemini-2.0-flash", "cl100k_base"),
    (None, "cl100k_base"), ("", "cl100k_base"),
])
def test_encoding_choice(model, name):
    assert encoding_name_for_model(model) == name
    assert get_encoding(model).name == name


@pytest.mark.parametrize("model,text,ids", [
    ("gpt-4", "hello world", [15339, 1917]),
    ("gpt-4", "Hello, world!", [9906, 11, 1917, 0]),
    ("gpt-4", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ("gpt-4o", "hello world", [24912, 2375]),
    ("gpt-4o", "Hello, world!", [13225, 11, 2375, 0]),
])
def test_exact_token_ids(model, text, ids):
    assert get_encoding(model).encode(text) == ids
    assert count_tokens(text, model) == len(ids)


def test_special_tokens():
    assert get_encoding("gpt-4").encode("<|endoftext|>", allowed_special="all") == [100257]
    assert get_encoding("gpt-4o").encode("<|endoftext|>", allowed_special="all") == [199999]
    # counted as ordinary text, never an error
    assert count_tokens("<|endoftext|>", "gpt-4") == 7
    assert count_tokens("", "gpt-4o") == 0


def test_decode_round_trip_unicode():
    text = "Grüße, 世界! 🚀 naïve café\n\tcode()"
    for model in ("gpt-4", "gpt-4o"):
        enc = get_encoding(model)
        assert enc.decode(enc.encode(text)) == text


def test_encodings_are_cached():
    assert get_encoding("gpt-4o") is get_encoding("gpt-5")
    assert get_encoding("gpt-4") is get_encoding("claude-sonnet-4")


def test_user_tiktoken_dir(tmp_path, monkeypatch, fresh_encodings):
    # A byte-level vocabulary: every byte is one token, so "hello world" is 11 tokens.
    (tmp_path / "cl100k_base.tiktoken").write_bytes(
        b"".join(base64.b64encode(bytes([i])) + b" %d\n" % i for i in range(256)))
    monkeypatch.setenv(semconv.ENV_TIKTOKEN_DIR, str(tmp_path))
    assert get_encoding("gpt-4").encode("hello world") == list(b"hello world")
    assert count_tokens("hello world", "gpt-4") == 11
    # o200k is not in the directory: falls back to the packaged copy.
    assert get_encoding("gpt-4o").encode("hello world") == [24912, 2375]


def test_user_tiktoken_dir_gz(tmp_path, monkeypatch, fresh_encodings):
    import gzip
    data = b"".join(base64.b64encode(bytes([i])) + b" %d\n" % i for i in range(256))
    (tmp_path / "o200k_base.tiktoken.gz").write_bytes(gzip.compress(data))
    monkeypatch.setenv(semconv.ENV_TIKTOKEN_DIR, str(tmp_path))
    assert count_tokens("hi", "gpt-4o") == 2


def test_chat_message_framing():
    one = [{"role": "user", "content": "hello world"}]
    # 3 reply priming + 3 per message + "user" (1) + "hello world" (2)
    assert count_messages(one, "gpt-4o") == 9
    named = [{"role": "user", "name": "bob", "content": "hello world"}]
    assert count_messages(named, "gpt-4o") == 9 + count_tokens("bob", "gpt-4o") + 1
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello"},
                                           {"type": "image_url", "image_url": {"url": "x"}},
                                           {"type": "input_text", "input_text": " world"}]}]
    assert count_messages(parts, "gpt-4") == 3 + 3 + 1 + 1 + 1
    assert count_messages([], "gpt-4o") == 3
    assert count_messages("hello world", "gpt-4o") == 2


@pytest.mark.parametrize("junk", [None, 42, {"role": "user"}, [None, 5, {"content": 7}]], ids=repr)
def test_messages_junk_never_raises(junk):
    assert count_messages(junk, "gpt-4o") >= 0


def test_estimate_usage_is_marked_estimated():
    u = estimate_usage("gpt-4o", [{"role": "user", "content": "hello world"}], "Hello, world!")
    assert (u.input_tokens, u.output_tokens) == (9, 4)
    assert u.estimated and u.source == semconv.SOURCE_ESTIMATED
    assert u.cache_read_tokens == 0 and u.reasoning_tokens == 0
