"""One normalised token-usage type, and the provider conventions that feed it.

Providers count differently, and getting that wrong is the commonest way a cost tool
lies: OpenAI's ``prompt_tokens`` *includes* cached tokens and ``completion_tokens``
*includes* reasoning tokens; Anthropic's ``input_tokens`` *excludes* cache reads and
cache writes; Gemini's ``prompt_token_count`` includes cached content while its
``thoughts_token_count`` comes on top of ``candidates_token_count``. Every
constructor here converts to one convention — the semantic conventions' — so that
nothing downstream needs to know which provider it is looking at:

* ``input_tokens``: every input token, cache reads and cache writes included;
* ``output_tokens``: every output token, reasoning included;
* ``cache_read_tokens``, ``cache_write_tokens`` and ``reasoning_tokens`` are subsets;
* ``input_audio_tokens`` is a subset of the *uncached* input, ``output_audio_tokens`` and
  ``output_image_tokens`` of the output other than reasoning: tokens billed at a rate of
  their own where the price list has one, and never at the text rate as well;
* ``web_search_calls``, ``web_search_preview_calls`` and ``file_search_calls`` count
  server-side tool calls, billed per call on top of the tokens.

The readers accept SDK objects or plain dicts and treat a missing, ``None``,
negative or non-integer field as 0, because a malformed usage block must never break
the application; it just yields smaller numbers. A block in which neither the input
nor the output count is usable yields ``None`` (cost unknown), never a priced zero —
even when it carries a cache or reasoning count (a part of an unknown whole).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import semconv

__all__ = ["Usage", "CHARGES", "PER_CALL_CHARGES", "to_int", "is_count", "MAX_TOKENS"]

#: Larger counts are clamped: they are corrupt, and an OpenTelemetry int attribute is
#: a signed 64-bit integer (a bigger one fails the export of the whole span).
MAX_TOKENS = 2**63 - 1


def to_int(value: Any) -> int:
    """A token count from anything: ints pass, bools/None/junk/negatives become 0."""
    if type(value) is int:
        return min(value, MAX_TOKENS) if value > 0 else 0
    if isinstance(value, bool) or value is None:
        return 0
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return min(number, MAX_TOKENS) if number > 0 else 0


def is_count(value: Any) -> bool:
    """Whether ``value`` is a usable token count (an int-like number >= 0)."""
    if value is None or isinstance(value, bool):
        return False
    try:
        return int(value) >= 0
    except (TypeError, ValueError, OverflowError):
        return False


_MISSING = object()
#: How to read each class seen: 0 a Mapping, 1 a pydantic v2 model, 2 anything else,
#: 3 a pydantic v2 model whose class adds properties (read as 1 by :func:`_get`, but
#: not from its ``__dict__`` alone by :func:`fields`).
_KINDS: dict[type, int] = {}


def _kind(cls: type) -> int:
    if issubclass(cls, Mapping):
        kind = 0
    elif hasattr(cls, "__pydantic_extra__"):
        kind = 3 if _adds_properties(cls) else 1
    else:
        kind = 2
    if len(_KINDS) < 512:  # SDK classes are few; never grow without bound
        _KINDS[cls] = kind
    return kind


def _adds_properties(cls: type) -> bool:
    """Whether a pydantic model class (or a base below pydantic's own) defines a property."""
    for base in cls.__mro__:
        if base.__module__.startswith("pydantic"):
            break
        if any(isinstance(value, (property, functools.cached_property)) for value in vars(base).values()):
            return True
    return False


def _get(obj: Any, name: str) -> Any:
    """Attribute or key ``name`` of an SDK object or a dict; None when absent.

    Hot path (a dozen reads per call), so SDK objects — pydantic v2 models — are read
    without pydantic's ``__getattr__``: a field is an instance ``__dict__`` entry, and a
    name that is neither a field, an extra nor a class attribute is absent (going through
    ``getattr`` would raise and catch an ``AttributeError`` inside pydantic: ~2 µs).
    """
    if obj is None:
        return None
    cls = type(obj)
    kind = 0 if cls is dict else _KINDS.get(cls)
    if kind is None:
        kind = _kind(cls)
    if kind == 0:
        return obj.get(name)
    if kind & 1:
        value = obj.__dict__.get(name, _MISSING)
        if value is not _MISSING:
            return value
        if name[:1] != "_" and not _on_class(cls, name):
            extra = obj.__pydantic_extra__
            return extra.get(name) if extra else None
    return getattr(obj, name, None)


#: (class, name) -> whether the class itself has that attribute (pydantic's metaclass
#: answers a miss with a Python-level ``__getattr__`` raising: worth remembering).
_ON_CLASS: dict[tuple[type, str], bool] = {}


def _on_class(cls: type, name: str) -> bool:
    found = _ON_CLASS.get((cls, name))
    if found is None:
        found = hasattr(cls, name)
        if len(_ON_CLASS) < 4096:
            _ON_CLASS[(cls, name)] = found
    return found


_NO_FIELDS: Mapping[str, Any] = {}


def fields(obj: Any) -> Callable[[str], Any]:
    """A reader of ``obj``'s fields, as :func:`_get` reads them, for reading several.

    A dict's or a pydantic v2 model's (its ``__dict__``, its extras under it) own
    ``get``: one C lookup per field instead of a Python call each. Other objects, and
    models whose class adds properties, are read with :func:`_get`; None reads as empty.
    (Methods and other class attributes of a model read as None, not as :func:`_get`
    gives them: only data fields are read this way.)
    """
    if obj is None:
        return _NO_FIELDS.get
    cls = type(obj)
    kind = 0 if cls is dict else _KINDS.get(cls)
    if kind is None:
        kind = _kind(cls)
    if kind == 0:
        return obj.get
    if kind == 1:
        extra = obj.__pydantic_extra__
        return {**extra, **obj.__dict__}.get if extra else obj.__dict__.get
    return functools.partial(_get, obj)


def _modality(details: Any, modality: str) -> int:
    """The token count of one modality in Gemini's ``[{modality, token_count}, …]`` details."""
    total = 0
    if isinstance(details, (list, tuple)):
        for item in details:
            name = _get(item, "modality")
            name = getattr(name, "value", name)  # the SDK's MediaModality enum, or the JSON string
            if isinstance(name, str) and name.upper() == modality:
                total += to_int(_get(item, "token_count"))
    return min(total, MAX_TOKENS)


#: Each non-text charge: its name (a cost component), the :class:`Usage` field holding its
#: count, and the span attribute carrying that count. The one table every place that
#: reads or writes these counts goes through.
CHARGES: Mapping[str, tuple[str, str]] = {
    "input_audio": ("input_audio_tokens", semconv.LLM_COST_AUDIO_INPUT_TOKENS),
    "output_audio": ("output_audio_tokens", semconv.LLM_COST_AUDIO_OUTPUT_TOKENS),
    "output_image": ("output_image_tokens", semconv.LLM_COST_IMAGE_OUTPUT_TOKENS),
    "web_search": ("web_search_calls", semconv.LLM_COST_WEB_SEARCH_CALLS),
    "web_search_preview": ("web_search_preview_calls", semconv.LLM_COST_WEB_SEARCH_PREVIEW_CALLS),
    "file_search": ("file_search_calls", semconv.LLM_COST_FILE_SEARCH_CALLS),
}
#: The charges billed per call (server-side tools), not per token.
PER_CALL_CHARGES = ("web_search", "web_search_preview", "file_search")


#: The counts a usage block must carry at least one of to say anything. A cache or
#: thoughts count alone (input and output null) is a sub-count of nothing: pricing it
#: would invent a zero input and output, so such a block reads as unknown.
_ANTHROPIC_COUNTS = ("input_tokens", "output_tokens")
_GEMINI_COUNTS = ("prompt_token_count", "candidates_token_count")
_BEDROCK_COUNTS = ("inputTokens", "outputTokens")


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, in the semantic conventions' convention (see module doc)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    #: All cache writes; ``cache_write_1h_tokens`` of them at the 1-hour rate.
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0
    #: Audio input tokens (OpenAI audio models, Gemini's AUDIO modality): part of the uncached input.
    input_audio_tokens: int = 0
    #: Audio and image output tokens: part of the output other than reasoning.
    output_audio_tokens: int = 0
    output_image_tokens: int = 0
    #: Server-side tool calls billed per call (OpenAI ``web_search_call`` / ``file_search_call``
    #: output items, Anthropic ``server_tool_use.web_search_requests``).
    web_search_calls: int = 0
    file_search_calls: int = 0
    #: OpenAI searches by the ``web_search_preview`` tool, priced apart on models where it
    #: costs more than ``web_search`` (not counted in ``web_search_calls``).
    web_search_preview_calls: int = 0
    #: ``reported`` by the provider, or ``estimated`` with a tokenizer.
    source: str = semconv.SOURCE_REPORTED
    #: An estimate that is surely below the truth: a reasoning model's hidden reasoning,
    #: or an image counted at its minimum. Carried through sums (``llm_cost.estimate``).
    lower_bound: bool = False

    def __post_init__(self) -> None:
        # Keep the subsets consistent whatever a provider sent: a subset larger than its
        # whole would price negative "uncached" tokens. Clamp rather than raise.
        fix = object.__setattr__
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            fix(self, "input_tokens", self.cache_read_tokens + self.cache_write_tokens)
        if self.cache_write_1h_tokens > self.cache_write_tokens:
            fix(self, "cache_write_1h_tokens", self.cache_write_tokens)
        if self.reasoning_tokens > self.output_tokens:
            fix(self, "output_tokens", self.reasoning_tokens)
        # Each field is clamped by to_int, but a whole built from parts (Anthropic input =
        # input + cache reads + writes; Gemini output = candidates + thoughts; a session's
        # sum) can still pass the int64 an attribute can carry: clamp it, subsets within.
        if self.input_tokens > MAX_TOKENS:
            fix(self, "input_tokens", MAX_TOKENS)
            fix(self, "cache_read_tokens", min(self.cache_read_tokens, MAX_TOKENS))
            fix(self, "cache_write_tokens", min(self.cache_write_tokens, MAX_TOKENS - self.cache_read_tokens))
            fix(self, "cache_write_1h_tokens", min(self.cache_write_1h_tokens, self.cache_write_tokens))
        if self.output_tokens > MAX_TOKENS:
            fix(self, "output_tokens", MAX_TOKENS)
            fix(self, "reasoning_tokens", min(self.reasoning_tokens, MAX_TOKENS))
        # The per-modality counts refine their wholes, which stay the truth: a count larger
        # than the tokens left for it is cut down (never priced twice, never negative).
        if self.input_audio_tokens and self.input_audio_tokens > self.uncached_input_tokens:
            fix(self, "input_audio_tokens", self.uncached_input_tokens)
        room = self.output_tokens - self.reasoning_tokens
        if self.output_audio_tokens > room:
            fix(self, "output_audio_tokens", room)
        if self.output_image_tokens > room - self.output_audio_tokens:
            fix(self, "output_image_tokens", room - self.output_audio_tokens)

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def estimated(self) -> bool:
        return self.source == semconv.SOURCE_ESTIMATED

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            min(self.input_audio_tokens + other.input_audio_tokens, MAX_TOKENS),
            min(self.output_audio_tokens + other.output_audio_tokens, MAX_TOKENS),
            min(self.output_image_tokens + other.output_image_tokens, MAX_TOKENS),
            min(self.web_search_calls + other.web_search_calls, MAX_TOKENS),
            min(self.file_search_calls + other.file_search_calls, MAX_TOKENS),
            min(self.web_search_preview_calls + other.web_search_preview_calls, MAX_TOKENS),
            semconv.SOURCE_ESTIMATED
            if semconv.SOURCE_ESTIMATED in (self.source, other.source)
            else semconv.SOURCE_REPORTED,
            self.lower_bound or other.lower_bound,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input": self.input_tokens,
            "output": self.output_tokens,
            "cache_read": self.cache_read_tokens,
            "cache_write": self.cache_write_tokens,
            "cache_write_1h": self.cache_write_1h_tokens,
            "reasoning": self.reasoning_tokens,
        }

    @property
    def charges(self) -> dict[str, int]:
        """The non-text counts that are not zero: ``input_audio``, ``web_search`` … (tokens or calls)."""
        counts = {name: getattr(self, field) for name, (field, _) in CHARGES.items()}
        return {name: n for name, n in counts.items() if n}

    def with_tool_calls(self, calls: Mapping[str, int]) -> Usage:
        """This usage plus server-side tool calls counted outside the usage block."""
        added = {}
        for name in PER_CALL_CHARGES:
            n = to_int(calls.get(name))
            if n:
                field = CHARGES[name][0]
                added[field] = min(getattr(self, field) + n, MAX_TOKENS)
        return replace(self, **added) if added else self

    # --- provider conventions ------------------------------------------------------

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Chat Completions (``prompt_tokens``…) or Responses (``input_tokens``…) usage.

        Cached tokens are a subset of the prompt; reasoning a subset of the completion.
        """
        if usage is None:
            return None
        get = fields(usage)
        prompt = get("prompt_tokens")
        output = get("completion_tokens")
        if prompt is not None or output is not None:
            in_details = fields(get("prompt_tokens_details"))
            out_details = fields(get("completion_tokens_details"))
        else:
            prompt = get("input_tokens")
            output = get("output_tokens")
            in_details = fields(get("input_tokens_details"))
            out_details = fields(get("output_tokens_details"))
        if not ((type(prompt) is int and prompt >= 0) or (type(output) is int and output >= 0)
                or is_count(prompt) or is_count(output)):
            return None  # a block of junk says nothing: unknown, not zero
        # to_int, inline for a plain count or None (every call reads these; unrolled).
        n = in_details("cached_tokens")
        cached = n if type(n) is int and 0 <= n <= MAX_TOKENS else 0 if n is None else to_int(n)
        n = out_details("reasoning_tokens")
        reasoning = n if type(n) is int and 0 <= n <= MAX_TOKENS else 0 if n is None else to_int(n)
        n = out_details("audio_tokens")
        audio_out = n if type(n) is int and 0 <= n <= MAX_TOKENS else 0 if n is None else to_int(n)
        n = out_details("image_tokens")
        image_out = n if type(n) is int and 0 <= n <= MAX_TOKENS else 0 if n is None else to_int(n)
        # Cached audio (reported by the Realtime API's details) is a cache read, not audio input.
        audio_in = in_details("audio_tokens")
        if audio_in:
            cached_details = in_details("cached_tokens_details")
            cached_audio = to_int(fields(cached_details)("audio_tokens")) if cached_details is not None else 0
            audio_in = max(to_int(audio_in) - cached_audio, 0)
        else:
            audio_in = 0
        return cls(
            input_tokens=prompt if type(prompt) is int and 0 <= prompt <= MAX_TOKENS else to_int(prompt),
            output_tokens=output if type(output) is int and 0 <= output <= MAX_TOKENS else to_int(output),
            cache_read_tokens=cached,
            reasoning_tokens=reasoning,
            input_audio_tokens=audio_in,
            output_audio_tokens=audio_out,
            output_image_tokens=image_out,
        )

    @classmethod
    def from_anthropic(cls, usage: Any) -> Usage | None:
        """Anthropic usage: ``input_tokens`` excludes cache reads and writes, so add them."""
        if usage is None:
            return None
        get = fields(usage)
        input_tokens, output_tokens = get("input_tokens"), get("output_tokens")
        if not (is_count(input_tokens) or is_count(output_tokens)):
            return None
        cache_read = to_int(get("cache_read_input_tokens"))
        cache_write = to_int(get("cache_creation_input_tokens"))
        split = get("cache_creation")
        write_1h = 0
        if split is not None:
            split_get = fields(split)
            write_1h = to_int(split_get("ephemeral_1h_input_tokens"))
            if not cache_write:
                cache_write = to_int(split_get("ephemeral_5m_input_tokens")) + write_1h
        tools = get("server_tool_use")
        return cls(
            input_tokens=to_int(input_tokens) + cache_read + cache_write,
            output_tokens=to_int(output_tokens),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_1h_tokens=write_1h,
            # Web fetches (``web_fetch_requests``) cost only their tokens: not a charge of their own.
            web_search_calls=to_int(fields(tools)("web_search_requests")) if tools is not None else 0,
        )

    @classmethod
    def from_gemini(cls, usage_metadata: Any) -> Usage | None:
        """Gemini ``usage_metadata``: cached ⊂ prompt; thoughts are billed as output on top."""
        if usage_metadata is None or not any(is_count(_get(usage_metadata, name)) for name in _GEMINI_COUNTS):
            return None
        thoughts = to_int(_get(usage_metadata, "thoughts_token_count"))
        # Modality details: audio prompt tokens not served from the cache, audio and image output.
        cached_audio = _modality(_get(usage_metadata, "cache_tokens_details"), "AUDIO")
        return cls(
            input_tokens=to_int(_get(usage_metadata, "prompt_token_count")),
            output_tokens=to_int(_get(usage_metadata, "candidates_token_count")) + thoughts,
            cache_read_tokens=to_int(_get(usage_metadata, "cached_content_token_count")),
            reasoning_tokens=thoughts,
            input_audio_tokens=max(_modality(_get(usage_metadata, "prompt_tokens_details"), "AUDIO")
                                   - cached_audio, 0),
            output_audio_tokens=_modality(_get(usage_metadata, "candidates_tokens_details"), "AUDIO"),
            output_image_tokens=_modality(_get(usage_metadata, "candidates_tokens_details"), "IMAGE"),
        )

    @classmethod
    def from_bedrock(cls, usage: Any) -> Usage | None:
        """Bedrock Converse ``usage`` (InvokeModel's count headers and invocation metrics are
        renamed to it): ``inputTokens`` excludes cache reads and writes, as Anthropic's does."""
        if usage is None or not any(is_count(_get(usage, name)) for name in _BEDROCK_COUNTS):
            return None
        cache_read = to_int(_get(usage, "cacheReadInputTokens"))
        cache_write = to_int(_get(usage, "cacheWriteInputTokens"))
        return cls(
            input_tokens=to_int(_get(usage, "inputTokens")) + cache_read + cache_write,
            output_tokens=to_int(_get(usage, "outputTokens")),
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )

    @classmethod
    def from_span_attributes(cls, attrs: Mapping[str, Any]) -> Usage | None:
        """Usage from a span's ``gen_ai.usage.*`` attributes (ours or another tool's).

        Spans from the Anthropic SDK's own tracing carry the 1-hour write share under
        their own name; the caller says so with :func:`from_anthropic_span_attributes`.
        """
        inp = attrs.get(semconv.GEN_AI_USAGE_INPUT_TOKENS)
        out = attrs.get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS)
        if inp is None and out is None:
            return None
        # Cache writes by the renamed attribute first, the released name otherwise.
        cache_write = attrs.get(semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS)
        if cache_write is None:
            cache_write = attrs.get(semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
        return cls(
            input_tokens=to_int(inp),
            output_tokens=to_int(out),
            cache_read_tokens=to_int(attrs.get(semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)),
            cache_write_tokens=to_int(cache_write),
            cache_write_1h_tokens=to_int(attrs.get(semconv.LLM_COST_CACHE_CREATION_1H_TOKENS)),
            reasoning_tokens=to_int(attrs.get(semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS)),
            **{field: to_int(attrs.get(attribute)) for field, attribute in CHARGES.values()},
            source=str(attrs.get(semconv.LLM_COST_USAGE_SOURCE) or semconv.SOURCE_REPORTED),
            lower_bound=attrs.get(semconv.LLM_COST_ESTIMATE) == semconv.ESTIMATE_LOWER_BOUND,
        )

    @classmethod
    def from_anthropic_span_attributes(cls, attrs: Mapping[str, Any]) -> Usage | None:
        """Usage from a span written by the Anthropic SDK's own tracing.

        Checked against ``anthropic`` 2.12 (``lib/_tracing/_response.py``): its
        ``gen_ai.usage.input_tokens`` is ``input_tokens`` *plus* cache reads and writes
        (our convention), but cache writes are spelled
        ``gen_ai.usage.cache_write.input_tokens`` (the conventions' new name, read by
        :meth:`from_span_attributes` too) and the 1-hour share is
        ``anthropic.usage.cache_creation.ephemeral_1h_input_tokens``.
        """
        return cls.from_span_attributes({
            **attrs,
            semconv.LLM_COST_CACHE_CREATION_1H_TOKENS: attrs.get(semconv.ANTHROPIC_USAGE_CACHE_WRITE_1H),
        })
