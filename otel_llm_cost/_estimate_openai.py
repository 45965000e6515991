"""Estimated usage of an OpenAI call, counted the way OpenAI counts it.

Used only when a response carries no usage (a stream without
``stream_options.include_usage``). Counting just the message text, as a first
version did, misses most of what OpenAI bills: the framing tokens around each
message, tool and function definitions (rendered into the prompt), structured-output
schemas, images (billed by pixel size) and, on output, tool calls and every choice
of an ``n > 1`` request. This module counts each of those by OpenAI's published rules:

* messages: the openai-cookbook "How to count tokens with tiktoken" rules — 3 tokens
  per message, 1 per ``name``, 3 to prime the reply (``gpt-3.5-turbo-0301``: 4 and -1);
* tools / functions: the same notebook's rules for the definitions as the model sees
  them (per-function, per-property and per-enum-item overheads; ``func_init`` 7 on the
  o200k models, 10 on gpt-3.5/gpt-4);
* images: the vision guide's rules — 512 px tiles with a base and per-tile cost per
  model, or 32 px patches times a multiplier for the patch-billed models;
* what no rule covers (``response_format`` schemas, nested tool parameters, audio,
  files) is counted as plain text of its JSON or at a documented minimum.

The result is a :class:`~otel_llm_cost.usage.Usage` marked ``estimated``, and marked a
lower bound when the true figure is surely higher: a reasoning model's hidden
reasoning is invisible in the stream; an image given by URL is counted at its minimum
because we never download it. Every reader tolerates junk: a malformed request just
counts less.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import semconv
from ._image_size import data_url_bytes, image_size
from .tokens import count_tokens, encoding_name_for_model
from .usage import Usage, _get

__all__ = ["Generated", "count_request", "estimate_openai", "image_tokens", "is_reasoning_model"]

# Function-definition overheads published in the cookbook (num_tokens_for_tools).
_PROP_INIT = 3
_PROP_KEY = 3
_ENUM_INIT = -3
_ENUM_ITEM = 3
_FUNC_END = 12
_REPLY_PRIMING = 3
#: Per-part framing of a structured-output schema: no published rule, a small guess.
_SCHEMA_OVERHEAD = 8
#: Input audio: about one token per 100 ms (OpenAI's Realtime guide for user audio).
_AUDIO_TOKENS_PER_SECOND = 10
#: Tile-billed images: (base, per 512 px tile), by model prefix, most specific first.
_TILE_COSTS = (
    ("gpt-4o-mini", 2833, 5667),
    ("gpt-5-chat", 70, 140),
    ("gpt-5", 70, 140),
    ("o1", 75, 150),
    ("o3", 75, 150),
    ("computer-use", 65, 129),
)
_DEFAULT_TILE_COST = (85, 170)  # gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo
#: Patch-billed images: tokens per 32 px patch, by model prefix.
_PATCH_MULTIPLIERS = (
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("gpt-5-mini", 1.62),
    ("gpt-5-nano", 2.46),
    ("o4-mini", 1.72),
)
_MAX_PATCHES = 1536
#: Reasoning models: their hidden reasoning tokens are billed as output but never sent.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-oss", "codex")
_NON_REASONING_PREFIXES = ("gpt-5-chat",)


def _base_name(model: str | None) -> str:
    name = (model or "").lower().rsplit("/", 1)[-1]
    return name[3:] if name.startswith("ft:") else name


def is_reasoning_model(model: str | None) -> bool:
    """Whether ``model`` reasons before answering (tokens the stream never shows)."""
    name = _base_name(model)
    return name.startswith(_REASONING_PREFIXES) and not name.startswith(_NON_REASONING_PREFIXES)


@dataclass(frozen=True, slots=True)
class _Family:
    per_message: int
    per_name: int
    func_init: int


def _family(model: str | None) -> _Family:
    name = _base_name(model)
    if name.startswith("gpt-3.5-turbo-0301"):
        return _Family(4, -1, 10)
    # The o200k models render function definitions 3 tokens shorter per function.
    return _Family(3, 1, 7 if encoding_name_for_model(model) == "o200k_base" else 10)


class _Counter:
    """Counts one request's parts for one model; remembers if any figure is a floor."""

    __slots__ = ("model", "family", "floor")

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.family = _family(model)
        self.floor = False

    def text(self, value: Any) -> int:
        return count_tokens(value, self.model) if isinstance(value, str) else 0

    def json(self, value: Any) -> int:
        try:
            return self.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str))
        except (TypeError, ValueError):
            return 0

    # --- messages ----------------------------------------------------------------

    def messages(self, messages: Any) -> int:
        total = _REPLY_PRIMING
        for message in messages:
            total += self.family.per_message
            if isinstance(message, str):
                total += self.text(message)
                continue
            total += self.text(_get(message, "role"))
            name = _get(message, "name")
            if isinstance(name, str):
                total += self.text(name) + self.family.per_name
            total += self.content(_get(message, "content"))
            total += self.text(_get(message, "refusal"))
            total += self.calls(_get(message, "tool_calls"))
            function_call = _get(message, "function_call")
            if function_call is not None:
                total += self.text(_get(function_call, "name")) + self.text(_get(function_call, "arguments"))
        return total

    def calls(self, tool_calls: Any) -> int:
        total = 0
        for call in tool_calls if isinstance(tool_calls, (list, tuple)) else ():
            function = _get(call, "function")
            total += self.text(_get(function, "name")) + self.text(_get(function, "arguments"))
        return total

    def content(self, content: Any) -> int:
        if isinstance(content, str):
            return self.text(content)
        if not isinstance(content, (list, tuple)):
            return 0
        return sum(self.part(part) for part in content)

    def part(self, part: Any) -> int:
        if isinstance(part, str):
            return self.text(part)
        kind = _get(part, "type")
        if kind in ("image_url", "input_image"):
            image = _get(part, "image_url")
            url = image if isinstance(image, str) else _get(image, "url")
            detail = _get(part, "detail") or _get(image, "detail") or "auto"
            return self.image(url, detail)
        if kind == "input_audio":
            return self.audio(_get(part, "input_audio") or part)
        if kind in ("file", "input_file"):
            self.floor = True  # a document's pages are billed as text and images we cannot see
            return self.text(_get(_get(part, "file") or part, "filename"))
        text = _get(part, "text")
        if text is None:
            text = _get(part, "refusal")
        return self.text(text)

    def image(self, url: Any, detail: Any) -> int:
        size = None
        if isinstance(url, str) and url.startswith("data:"):
            data = data_url_bytes(url)
            size = image_size(data) if data else None
            if size is None and data and data[:2] == b"\xff\xd8":
                whole = data_url_bytes(url, whole=True)
                size = image_size(whole) if whole else None
        tokens, floor = image_tokens(self.model, size, detail if isinstance(detail, str) else "auto")
        self.floor = self.floor or floor
        return tokens

    def audio(self, audio: Any) -> int:
        """Audio input: seconds of a WAV file at ~10 tokens/s; any figure is a floor."""
        self.floor = True
        data = _get(audio, "data")
        if not isinstance(data, str) or _get(audio, "format") not in ("wav", None):
            return 0
        try:
            raw = base64.b64decode(data[:64], validate=False)
            if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
                return 0
            byte_rate = struct.unpack("<I", raw[28:32])[0]
        except (binascii.Error, ValueError, struct.error):
            return 0
        seconds = (len(data) * 3 // 4 - 44) / byte_rate if byte_rate else 0
        return max(0, math.ceil(seconds * _AUDIO_TOKENS_PER_SECOND))

    # --- definitions -------------------------------------------------------------

    def functions(self, functions: list[Any]) -> int:
        """Tool/function definitions as the cookbook counts them (flat parameters);
        nested schemas (objects, arrays, unions) are counted as their JSON on top."""
        if not functions:
            return 0
        total = 0
        for function in functions:
            total += self.family.func_init
            description = _get(function, "description")
            description = description if isinstance(description, str) else ""
            total += self.text(f"{_get(function, 'name') or ''}:{description.removesuffix('.')}")
            properties = _get(_get(function, "parameters"), "properties")
            if isinstance(properties, Mapping) and properties:
                total += _PROP_INIT
                for key, prop in properties.items():
                    total += _PROP_KEY + self.prop(str(key), prop)
        return total + _FUNC_END

    def prop(self, key: str, prop: Any) -> int:
        if not isinstance(prop, Mapping):
            return self.text(key)
        total = 0
        kind = prop.get("type", "")
        kind = kind if isinstance(kind, str) else "|".join(str(k) for k in kind) if isinstance(kind, list) else ""
        enum = prop.get("enum")
        if isinstance(enum, list):
            total += _ENUM_INIT
            for item in enum:
                total += _ENUM_ITEM + self.text(str(item))
        description = prop.get("description", "")
        description = description if isinstance(description, str) else ""
        total += self.text(f"{key}:{kind}:{description.removesuffix('.')}")
        nested = {k: v for k, v in prop.items() if k in ("properties", "items", "anyOf", "oneOf", "allOf", "$ref")}
        if nested:
            total += self.json(nested)
        return total

    def schema(self, response_format: Any) -> int:
        """A structured-output schema: no published rule, so its JSON plus a little framing."""
        if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
            try:
                return self.json(response_format.model_json_schema()) + _SCHEMA_OVERHEAD
            except Exception:  # noqa: BLE001 - a user model that fails to render counts nothing
                return 0
        if _get(response_format, "type") != "json_schema":
            return 0
        spec = _get(response_format, "json_schema") or response_format
        return (self.text(_get(spec, "name")) + self.text(_get(spec, "description"))
                + self.json(_get(spec, "schema")) + _SCHEMA_OVERHEAD)


def image_tokens(model: str | None, size: tuple[int, int] | None, detail: str = "auto") -> tuple[int, bool]:
    """Tokens of one image for ``model``, and whether that is only a floor.

    ``size`` None (a URL we will not download): the documented minimum — exact for
    ``low`` detail on tile-billed models, where size does not matter, else a floor.
    ``auto`` is counted as ``high``, the larger of what the API may choose.
    """
    name = _base_name(model)
    for prefix, multiplier in _PATCH_MULTIPLIERS:
        if name.startswith(prefix):
            if size is None:
                return math.ceil(multiplier), True
            return math.ceil(_patches(*size) * multiplier), False
    base, tile = next(((b, t) for p, b, t in _TILE_COSTS if name.startswith(p)), _DEFAULT_TILE_COST)
    if detail == "low":
        return base, False
    if size is None:
        return base + tile, True
    return base + tile * _tiles(*size), False


def _tiles(width: int, height: int) -> int:
    """512 px tiles after fitting in 2048x2048 and scaling the short side down to 768."""
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    return math.ceil(int(w) / 512) * math.ceil(int(h) / 512)


def _patches(width: int, height: int) -> int:
    """32 px patches, capped at 1536 by scaling down, as the vision guide works it."""
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches <= _MAX_PATCHES:
        return patches
    shrink = math.sqrt(_MAX_PATCHES * 32 * 32 / (width * height))
    w, h = width * shrink, height * shrink
    # Scale once more so the narrower patch count is a whole number of patches.
    fit = min(math.floor(w / 32) / (w / 32), math.floor(h / 32) / (h / 32))
    w, h = w * fit, h * fit
    return min(_MAX_PATCHES, math.ceil(w / 32) * math.ceil(h / 32))


def _function_list(tools: Any) -> list[Any]:
    """Function definitions from ``tools`` (chat: nested ``function``; Responses: flat)."""
    out = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        if _get(tool, "type") == "function":
            out.append(_get(tool, "function") or tool)
    return out


def count_request(model: str | None, kwargs: Mapping[str, Any]) -> tuple[int, bool]:
    """Input tokens of a Chat Completions, Responses or Completions request, and
    whether that figure is only a floor (an image or file we could not measure)."""
    counter = _Counter(model)
    total = 0
    messages = kwargs.get("messages")
    if isinstance(messages, (list, tuple)):  # Chat Completions
        total += counter.messages(messages)
        functions = _function_list(kwargs.get("tools"))
        legacy = kwargs.get("functions")
        if isinstance(legacy, (list, tuple)):
            functions += list(legacy)
        total += counter.functions(functions)
        total += counter.schema(kwargs.get("response_format"))
    elif "input" in kwargs or "instructions" in kwargs:  # Responses
        items: list[Any] = []
        instructions = kwargs.get("instructions")
        if isinstance(instructions, str) and instructions:
            items.append({"role": "system", "content": instructions})
        given = kwargs.get("input")
        if isinstance(given, str):
            items.append({"role": "user", "content": given})
        elif isinstance(given, (list, tuple)):
            items.extend(_responses_item(item) for item in given)
        total += counter.messages([i for i in items if i is not None])
        total += counter.functions(_function_list(kwargs.get("tools")))
        total += counter.schema(_get(kwargs.get("text"), "format"))
    else:  # legacy Completions: the prompt is the text, with no chat framing
        prompt = kwargs.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, (list, tuple)) else ()
        for one in prompts:
            total += counter.text(one) if isinstance(one, str) else len(one) if isinstance(one, list) else 0
    return total, counter.floor


def _responses_item(item: Any) -> Any:
    """A Responses input item as a chat-like message for :meth:`_Counter.messages`."""
    if isinstance(item, str):
        return {"role": "user", "content": item}
    kind = _get(item, "type")
    if kind == "function_call":
        return {"role": "assistant", "tool_calls": [{"function": {
            "name": _get(item, "name"), "arguments": _get(item, "arguments")}}]}
    if kind == "function_call_output":
        output = _get(item, "output")
        return {"role": "tool", "content": output}
    if kind in (None, "message"):
        return {"role": _get(item, "role") or "user", "content": _get(item, "content")}
    return None  # reasoning items, built-in tool calls: not counted


class Generated:
    """What the model generated, from a response or collected from stream items.

    Stream deltas are kept per (choice, field) and joined before counting, because a
    token can span two deltas: counting deltas one by one would overcount.
    """

    __slots__ = ("parts", "reasoning")

    def __init__(self) -> None:
        self.parts: dict[tuple[Any, ...], list[str]] = {}
        #: The response showed reasoning (a reasoning item): its tokens are not all here.
        self.reasoning = False

    def add(self, key: tuple[Any, ...], text: Any) -> None:
        if isinstance(text, str) and text:
            self.parts.setdefault(key, []).append(text)

    def calls(self, index: int, tool_calls: Any) -> None:
        """Tool calls of one choice: whole (a response) or as deltas (keyed by their index)."""
        for n, call in enumerate(tool_calls if isinstance(tool_calls, (list, tuple)) else ()):
            function = _get(call, "function")
            at = _index(_get(call, "index"), n)
            self.add((index, "tool", at, "name"), _get(function, "name"))
            self.add((index, "tool", at, "args"), _get(function, "arguments"))

    def tokens(self, model: str | None) -> int:
        return sum(count_tokens("".join(texts), model) for texts in self.parts.values())

    # --- stream items --------------------------------------------------------------

    def chat_choice(self, choice: Any) -> None:
        """One choice of a Chat Completions (or legacy Completions) chunk.

        Called for every chunk of a stream without usage, so the common chunk — an SDK
        object whose delta carries only text — takes a short path over the objects'
        field dicts (pydantic keeps fields there); anything else goes the general way.
        """
        fields: dict[str, Any] = getattr(choice, "__dict__", None) or {}
        parts: dict[str, Any] = getattr(fields.get("delta"), "__dict__", None) or {}
        if "content" in parts and parts.get("tool_calls") is None and parts.get("refusal") is None \
                and parts.get("function_call") is None:
            text = parts["content"]
            if isinstance(text, str) and text:
                self.parts.setdefault((_index(fields.get("index")), "text"), []).append(text)
            return
        index = _index(_get(choice, "index"))
        delta = _get(choice, "delta")
        if delta is None:
            self.add((index, "text"), _get(choice, "text"))
            return
        self.add((index, "text"), _get(delta, "content"))
        self.add((index, "refusal"), _get(delta, "refusal"))
        self.calls(index, _get(delta, "tool_calls"))
        function_call = _get(delta, "function_call")
        if function_call is not None:
            self.add((index, "function", "name"), _get(function_call, "name"))
            self.add((index, "function", "args"), _get(function_call, "arguments"))

    def responses_event(self, event: Any) -> None:
        """One Responses API stream event."""
        kind = _get(event, "type")
        at = _index(_get(event, "output_index"))
        if kind in ("response.output_text.delta", "response.refusal.delta"):
            self.add((at, _index(_get(event, "content_index")), kind), _get(event, "delta"))
        elif kind == "response.function_call_arguments.delta":
            self.add((at, "args"), _get(event, "delta"))
        elif kind == "response.output_item.added":
            item = _get(event, "item")
            if _get(item, "type") == "function_call":
                self.add((at, "name"), _get(item, "name"))
            elif _get(item, "type") == "reasoning":
                self.reasoning = True

    # --- complete responses -------------------------------------------------------

    def response(self, obj: Any) -> Generated:
        """Everything generated in a non-stream response (any of the three APIs)."""
        if _get(obj, "object") == "response":
            output = _get(obj, "output")
            for at, item in enumerate(output if isinstance(output, (list, tuple)) else ()):
                kind = _get(item, "type")
                if kind == "function_call":
                    self.add((at, "name"), _get(item, "name"))
                    self.add((at, "args"), _get(item, "arguments"))
                elif kind == "reasoning":
                    self.reasoning = True
                content = _get(item, "content")
                for n, part in enumerate(content if isinstance(content, (list, tuple)) else ()):
                    self.add((at, n), _get(part, "text"))
                    self.add((at, n, "refusal"), _get(part, "refusal"))
            return self
        choices = _get(obj, "choices")
        for choice in choices if isinstance(choices, (list, tuple)) else ():
            index = _index(_get(choice, "index"))
            message = _get(choice, "message")
            if message is None:
                self.add((index, "text"), _get(choice, "text"))
                continue
            self.add((index, "text"), _get(message, "content"))
            self.add((index, "refusal"), _get(message, "refusal"))
            self.calls(index, _get(message, "tool_calls"))
            function_call = _get(message, "function_call")
            if function_call is not None:
                self.add((index, "function", "name"), _get(function_call, "name"))
                self.add((index, "function", "args"), _get(function_call, "arguments"))
        return self


def _index(value: Any, default: int = 0) -> int:
    """A choice/output/tool-call index; anything but an int (junk, None) is ``default``."""
    return value if type(value) is int else default


def estimate_openai(model: str | None, kwargs: Mapping[str, Any], generated: Generated) -> Usage:
    """The estimated usage of one OpenAI call: input by :func:`count_request`, output
    from what was generated; a lower bound for reasoning models and unmeasured media."""
    input_tokens, floor = count_request(model, kwargs)
    reasoning = (is_reasoning_model(model) or generated.reasoning
                 or isinstance(kwargs.get("reasoning_effort"), str) or isinstance(kwargs.get("reasoning"), Mapping))
    return Usage(
        input_tokens=input_tokens,
        output_tokens=generated.tokens(model),
        source=semconv.SOURCE_ESTIMATED,
        lower_bound=floor or reasoning,
    )
