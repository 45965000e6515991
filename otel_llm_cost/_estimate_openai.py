"""Estimated usage of an OpenAI call, counted the way OpenAI counts it.

Used only when a response carries no usage (a stream without
``stream_options.include_usage``). Counting just the message text, as a first
version did, misses most of what OpenAI bills: the framing tokens around each
message, tool and function definitions (rendered into the prompt), structured-output
schemas, images (billed by pixel size) and, on output, tool calls and every choice
of an ``n > 1`` request. This module counts each of those by rules fitted on real
recorded calls (``tests/data/estimation``; each rule's evidence is in docs/estimation.md):

* messages: the openai-cookbook "How to count tokens with tiktoken" rules — 3 tokens
  per message, 1 per ``name``, 3 to prime the reply (``gpt-3.5-turbo-0301``: 4 and -1);
  the search models bill the messages' text alone;
* tools / functions: the TypeScript ``namespace functions`` block the model reads
  (:func:`render_functions`) plus a fitted frame; tool calls in the history and in the
  reply with their fitted framing (``multi_tool_use.parallel`` for several);
* ``json_schema`` response formats: name, description and compact schema JSON (local
  ``$ref``s inlined) plus a fitted frame;
* images: the vision guide's rules — 512 px tiles with a base and per-tile cost per
  model, or 32 px patches times a multiplier for the patch-billed models;
* what no rule fits within 5 % (loose schemas, unions of objects, nested or formatted
  tool parameters, pretty-printed earlier arguments, the gpt-3.5-turbo snapshots before
  1106 with tools, long stop sequences, one tool call unwrapped from a parallel call,
  ``tool_choice="required"`` with several choices, audio, files, images by URL) is
  counted low — a floor's output only as what was surely generated — and marked a floor.

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
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import semconv
from ._image_size import data_url_bytes, image_size
from .tokens import count_prompt_text, count_tokens, encoding_name_for_model
from .usage import Usage, _get

__all__ = ["Generated", "count_request", "estimate_openai", "image_tokens", "is_reasoning_model"]

#: Tool definitions are rendered into the prompt as a TypeScript ``namespace functions``
#: block (see :func:`render_functions`); what the API bills on top of that text, fitted
#: on recorded calls (docs/estimation.md): 9 tokens, 4 fewer when the request already
#: has a system or developer message (the block joins it instead of opening its own).
_TOOLS_FRAME = 9
_TOOLS_SYSTEM_SHARED = 4
#: A ``json_schema`` response format: its name and compact schema JSON, plus this; next
#: to tool definitions it shares their header and costs 12 fewer.
_SCHEMA_FRAME = 4
_SCHEMA_SHARED_FRAME = -3
_SCHEMA_WITH_TOOLS = -11
#: A named ``tool_choice``: the forced call's name is written into the prompt, plus this.
_FORCED_CALL_FRAME = 6
#: Output framing: each tool call the model writes costs its name, its arguments and
#: this; several calls in one reply are written as one ``multi_tool_use.parallel``
#: call whose JSON wraps them all; a text reply to a request with tools costs 1 more.
_CALL_FRAME = 7
#: ... 4 on the first function-calling generation (gpt-4 and gpt-3.5-turbo of June 2023,
#: and gpt-4-32k, which Azure still serves under that name).
_CALL_FRAME_0613 = 4
_FIRST_GENERATION = ("gpt-4", "gpt-4-0613", "gpt-4-0314", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k-0613")
_FIRST_GENERATION_PREFIXES = ("gpt-4-32k",)
#: The gpt-3.5-turbo snapshots before 1106: too few recorded tool conversations to fit
#: their tool framing (the one recorded call misses by 9 %), so a request of theirs with
#: tools is counted as a floor.
_LEGACY_GPT35 = ("gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k-0613", "gpt-3.5-turbo-16k")
_PARALLEL_FRAME = 10
_TEXT_WITH_TOOLS = 1
#: ... and 5 more when the request also has a ``json_schema`` response format.
_TEXT_WITH_TOOLS_AND_SCHEMA = 5
#: A tool call already in the conversation (an assistant message), and a tool result.
_HISTORY_CALL_FRAME = 2
_HISTORY_PARALLEL_FRAME = -2
#: ... and 5 more for each such message when the request defines no tools (no
#: ``namespace functions`` block for the wrapper to share its framing with).
_HISTORY_PARALLEL_WITHOUT_TOOLS = 5
_TOOL_RESULT_FRAME = 2
#: A reply to a request with stop sequences: half the shortest one's tokens added (see
#: :func:`stop_tokens`), up to sequences of this many tokens; longer ones make a floor.
_STOP_MIDPOINT_MAX = 4
#: A figure marked a lower bound is shaded down this much so that the rules' own error
#: can never lift it above the truth.
_FLOOR_SHADE = 0.95
_REPLY_PRIMING = 3
#: A line break and the indentation after it, in a schema's strings.
_INDENTED_LINE = re.compile(r"\n[ \t]+")
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
#: A tile-billed image no larger than this on either side (an icon, a test's 1x1 or 32x32
#: square) is billed inconsistently: byte-identical requests with a 32x32 PNG were billed
#: 286 and 482 input tokens on gpt-4o, and 8,520 and 460 on gpt-4o-mini, whose documented
#: minimum alone is 2,833. No rule fits both, so such an image is a floor, counted at one
#: gpt-4o tile (85 + 170), under every billing recorded for one.
_TINY_IMAGE_PX = 64
_TINY_IMAGE_FLOOR = sum(_DEFAULT_TILE_COST)
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


def _is_search_model(model: str | None) -> bool:
    """``gpt-4o-search-preview`` and ``gpt-4o-mini-search-preview``: chat models that
    search the web before answering, billed for the messages' text only."""
    return "-search-" in _base_name(model) or _base_name(model).endswith("-search")


def _first_generation(model: str | None) -> bool:
    """The first function-calling generation (June 2023), whose tool calls cost 3 fewer."""
    name = _base_name(model)
    return name in _FIRST_GENERATION or name.startswith(_FIRST_GENERATION_PREFIXES)


def _legacy_gpt35(model: str | None) -> bool:
    return _base_name(model) in _LEGACY_GPT35


def is_reasoning_model(model: str | None) -> bool:
    """Whether ``model`` reasons before answering (tokens the stream never shows)."""
    name = _base_name(model)
    return name.startswith(_REASONING_PREFIXES) and not name.startswith(_NON_REASONING_PREFIXES)


@dataclass(frozen=True, slots=True)
class _Family:
    per_message: int
    per_name: int


def _family(model: str | None) -> _Family:
    if _base_name(model).startswith("gpt-3.5-turbo-0301"):
        return _Family(4, -1)
    return _Family(3, 1)


class _Counter:
    """Counts one request's parts for one model; remembers if any figure is a floor."""

    __slots__ = ("model", "encoding", "family", "floor", "image_excess")

    def __init__(self, model: str | None) -> None:
        self.model = model
        #: The vocabulary, resolved once per request rather than once per text.
        self.encoding = encoding_name_for_model(model)
        self.family = _family(model)
        self.floor = False
        #: Image tokens counted above each image's documented minimum: taken back when
        #: the call turns out to be a floor (a reasoning model), whose figure must not
        #: rest on a size rule that may overshoot.
        self.image_excess = 0

    def text(self, value: Any) -> int:
        return count_prompt_text(value, self.encoding) if isinstance(value, str) else 0

    def json(self, value: Any) -> int:
        """Compact JSON; a newline inside a string counts as the newline it renders as,
        and the indentation after it is not billed (as in tool descriptions: a docstring
        used as a schema description, 23 recorded calls, 24 tokens over with it, 10 without)."""
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return 0
        return self.text(_INDENTED_LINE.sub("\n", text.replace("\\n", "\n")))

    # --- messages ----------------------------------------------------------------

    def messages(self, messages: Any, tools: bool = False) -> int:
        """Messages with their framing. ``tools``: the request defines tools, so a tool
        result is rendered under the ``functions.`` name of the call it answers, and a
        ``name`` it carries too is not billed again."""
        # The reasoning models after o1 prime their reply with one token fewer (fitted:
        # 30 recorded calls of gpt-5*, o3-mini, all 1 below the chat models' count).
        later_reasoning = is_reasoning_model(self.model) and not _base_name(self.model).startswith("o1")
        total = _REPLY_PRIMING - (1 if later_reasoning else 0)
        names: dict[Any, Any] = {}  # tool_call_id -> function name, for the results
        for message in messages:
            total += self.family.per_message
            if isinstance(message, str):
                total += self.text(message)
                continue
            total += self.text(_get(message, "role"))
            name = _get(message, "name")
            # A tool result's ``name`` repeats the called function's, which is rendered
            # once (below) when the request has tools (docs/estimation.md: 100+ calls).
            repeated = tools and _get(message, "role") == "tool" and _get(message, "tool_call_id") in names
            if isinstance(name, str) and not repeated:
                total += self.text(name) + self.family.per_name
            total += self.content(_get(message, "content"))
            total += self.text(_get(message, "refusal"))
            total += self.calls(_get(message, "tool_calls"), names)
            function_call = _get(message, "function_call")
            if function_call is not None:
                arguments = _get(function_call, "arguments")
                total += (self.text(_get(function_call, "name"))
                          + (self.history_arguments(arguments) if isinstance(arguments, str) else 0)
                          + _HISTORY_CALL_FRAME)
            if _get(message, "role") in ("tool", "function"):
                # A result is rendered under the name of the function that produced it.
                name = names.get(_get(message, "tool_call_id"))
                total += _TOOL_RESULT_FRAME + (self.text(name) if _get(message, "role") == "tool" else 0)
        return total

    def calls(self, tool_calls: Any, names: dict[Any, Any]) -> int:
        """Earlier tool calls: one as its name, arguments and framing; several in one
        message as the ``multi_tool_use.parallel`` JSON the model wrote for them."""
        made = []
        for call in tool_calls if isinstance(tool_calls, (list, tuple)) else ():
            function = _get(call, "function")
            names[_get(call, "id")] = _get(function, "name")
            name, args = _get(function, "name"), _get(function, "arguments")
            made.append((name if isinstance(name, str) else "", args if isinstance(args, str) else ""))
        if len(made) > 1:
            return self.text(parallel_call_text(made)) + _HISTORY_PARALLEL_FRAME
        return sum(self.text(name) + self.history_arguments(args) + _HISTORY_CALL_FRAME for name, args in made)

    def history_arguments(self, arguments: str) -> int:
        """An earlier call's arguments as sent back. Pretty-printed JSON (several lines,
        as gpt-3.5 and gpt-4 of 2023 wrote it) is billed as less than its text — the one
        recorded call, 22 tokens less, matches its compact form — so it is counted
        compact, the least it can be, and the figure is a floor."""
        if "\n" in arguments:
            compact = _compact(arguments)
            if compact != arguments:
                self.floor = True
                return self.text(compact)
        return self.text(arguments)

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
        self.image_excess += tokens - image_tokens(self.model, None, "low")[0]
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

    def functions(self, functions: list[Any], shared: bool) -> int:
        """Tool/function definitions: the TypeScript block the model reads, plus framing
        (4 tokens fewer when ``shared`` with an existing system message).

        Parameters nested as objects (an object, or an array of objects, inside a
        parameter) are billed more than this rendering counts (up to ~8 % of the call in
        the recordings): the estimate is then marked a lower bound.
        """
        if not functions:
            return 0
        if any(_has_key(_get(f, "parameters"), "format") for f in functions):
            # A string ``format`` (date, email, ...) is rendered as more than its type:
            # billed up to 13 % more than this rendering counts, so the count is a floor.
            self.floor = True
        # The first function-calling generation does not render parameter titles (17
        # recorded gpt-4-0613 calls of one tool set: 11-15 tokens over with them, within 2 % without).
        titles = not _first_generation(self.model)
        if any(_nested_object(_get(f, "parameters")) for f in functions):
            # Counted with each nested object as a bare ``object``: surely below the truth.
            self.floor = True
            return self.text(render_functions(functions, flat=True, titles=titles)) + _TOOLS_FRAME \
                - (_TOOLS_SYSTEM_SHARED if shared else 0)
        return self.text(render_functions(functions, titles=titles)) + _TOOLS_FRAME \
            - (_TOOLS_SYSTEM_SHARED if shared else 0)

    def schema(self, response_format: Any, shared: bool, with_tools: bool = False) -> int:
        """A structured-output schema: its name and compact JSON (local ``$ref``s
        inlined), plus framing.

        A floor (see docs/estimation.md for the evidence) when the schema is not
        ``strict``, holds a union of objects, or has definitions never referenced or
        referring to themselves: no rule fits those within 5 %.
        """
        if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
            try:
                # As the SDK's ``parse()`` sends it: strict, every object closed and
                # all its properties required.
                response_format = {"type": "json_schema", "json_schema": {
                    "name": response_format.__name__, "schema": _closed(response_format.model_json_schema()),
                    "strict": True}}
            except Exception:  # noqa: BLE001 - a user model that fails to render counts nothing
                return 0
        if _get(response_format, "type") != "json_schema":
            return 0
        spec = _get(response_format, "json_schema") or response_format
        schema = _get(spec, "schema")
        if isinstance(schema, Mapping) and ("$defs" in schema or "definitions" in schema):
            schema, exact = _inline_refs(schema)
            self.floor = self.floor or not exact
        frame = _SCHEMA_WITH_TOOLS if with_tools else _SCHEMA_SHARED_FRAME if shared else _SCHEMA_FRAME
        if _get(spec, "strict") is not True:
            # Not compiled to a grammar: billed -4 to +21 % around any one rule on the
            # recordings, so counted without extra framing and marked a floor.
            self.floor = True
        if _object_union(schema):
            # A union of objects is rendered tersely (its JSON over-counts it by ~20 %):
            # each object variant is counted as a bare ``{"type":"object"}``, a floor.
            self.floor = True
            schema = _flatten_unions(schema)
        schema = _without_misplaced(schema)
        return self.text(_get(spec, "name")) + self.text(_get(spec, "description")) + self.json(schema) + frame


def _map_schema(node: Any, fn: Callable[[dict[str, Any]], Any], depth: int = 0) -> Any:
    """A JSON schema rebuilt bottom-up: each list item by item, each mapping from its
    mapped values and then passed through ``fn`` (a plain dict in, a value out). Junk
    deeper than 32 levels is left as it is, so a malformed schema never recurses forever."""
    if depth > 32:
        return node
    if isinstance(node, list):
        return [_map_schema(v, fn, depth + 1) for v in node]
    if not isinstance(node, Mapping):
        return node
    return fn({k: _map_schema(v, fn, depth + 1) for k, v in node.items()})


def _without_misplaced(schema: Any) -> Any:
    """A schema without ``additionalProperties`` on nodes that are not objects: the API
    renders the schema it compiled, where that keyword has no place (2 recorded calls
    whose strings and arrays carry it: within 3 % without it, 6-21 % over with it)."""
    def drop(node: dict[str, Any]) -> Any:
        kind = node.get("type")
        if isinstance(kind, str) and kind != "object":
            node.pop("additionalProperties", None)
        return node
    return _map_schema(schema, drop)


def _walk(node: Any, depth: int = 0) -> Any:
    """Every mapping in a JSON value (bounded depth: junk never recurses forever)."""
    if depth > 32:
        return
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from _walk(value, depth + 1)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _walk(value, depth + 1)


def _has_key(schema: Any, key: str) -> bool:
    """Whether a schema node below the top carries ``key`` as a keyword (not as a
    property's name)."""
    for node in _walk(schema):
        properties = node.get("properties")
        for prop in properties.values() if isinstance(properties, Mapping) else ():
            if any(key in n and not isinstance(n.get(key), Mapping) for n in _walk(prop)):
                return True
    return False


def _is_union_of_objects(node: Mapping[str, Any]) -> bool:
    for key in ("anyOf", "oneOf"):
        variants = node.get(key)
        for v in variants if isinstance(variants, list) else ():
            if isinstance(v, Mapping) and isinstance(v.get("properties"), Mapping) and v["properties"]:
                return True
    return False


def _object_union(schema: Any) -> bool:
    """Whether a schema holds an ``anyOf`` / ``oneOf`` with an object variant."""
    return any(_is_union_of_objects(node) for node in _walk(schema))


def _flatten_unions(schema: Any) -> Any:
    """The schema with each object variant of a union written as a bare object."""
    def flatten(node: dict[str, Any]) -> Any:
        for key in ("anyOf", "oneOf"):
            variants = node.get(key)
            if isinstance(variants, list):
                node[key] = [{"type": "object"} if isinstance(v, Mapping) and isinstance(v.get("properties"), Mapping)
                             else v for v in variants]
        return node
    return _map_schema(schema, flatten)


def _closed(schema: Any) -> Any:
    """A schema with each object's properties all required and no others allowed."""
    def close(node: dict[str, Any]) -> Any:
        if isinstance(node.get("properties"), Mapping):
            node["required"] = list(node["properties"])
            node.setdefault("additionalProperties", False)
        return node
    return _map_schema(schema, close)


def _inline_refs(schema: Mapping[str, Any]) -> tuple[Any, bool]:
    """A schema with its local ``$ref``s replaced by the definitions they name and
    ``$defs`` dropped, as the API renders it (fitted on the recorded calls), and whether
    that is exact: a definition never referenced, or one that refers to itself, is
    billed in a way this rendering does not reproduce (the count is then a floor)."""
    defs = schema.get("$defs") or schema.get("definitions")
    defs = defs if isinstance(defs, Mapping) else {}
    used: set[str] = set()
    exact = True

    def walk(node: Any, seen: tuple[str, ...]) -> Any:
        nonlocal exact
        if isinstance(node, list):
            return [walk(item, seen) for item in node]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            target = defs.get(name)
            if not isinstance(target, Mapping) or name in seen or len(seen) > 8:
                exact = False
                return {k: v for k, v in node.items() if k != "$ref"}
            used.add(name)
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return walk(merged, (*seen, name))
        return {k: walk(v, seen) for k, v in node.items() if k not in ("$defs", "definitions")}

    out = walk(schema, ())
    return out, exact and used >= set(defs)


def render_functions(functions: list[Any], flat: bool = False, titles: bool = True) -> str:
    """Function definitions as the model reads them: a TypeScript ``namespace``.

    Each function is its description as ``//`` comment lines (each stripped) and a ``type name = (_: {...})
    => any;`` line; each parameter its title and description as comments, its name (``?``
    when optional), its type, and its default as a trailing comment. ``flat``: a nested
    object is written as a bare ``object`` (a floor's count). ``titles`` False: parameter
    titles left out, as the first function-calling generation renders them.
    """
    lines = ["namespace functions {", ""]
    for function in functions:
        description = _get(function, "description")
        if isinstance(description, str) and description:
            # Each line of the description is written stripped (a docstring's indentation
            # is not billed: fitted on the recorded calls).
            lines.extend(f"// {line.strip()}" for line in description.strip().splitlines() if line.strip())
        name = _get(function, "name")
        parameters = _get(function, "parameters")
        if isinstance(parameters, Mapping) and isinstance(parameters.get("properties"), Mapping) \
                and parameters["properties"]:
            defs = parameters.get("$defs") or parameters.get("definitions")
            lines.append(f"type {name} = (_: {_ts_type(parameters, '', defs=defs, flat=flat, titles=titles)}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _nested_object(parameters: Any) -> bool:
    """Whether a parameter of this schema is itself an object with properties."""
    properties = _get(parameters, "properties")
    for prop in properties.values() if isinstance(properties, Mapping) else ():
        for node in (prop, _get(prop, "items")):
            if isinstance(node, Mapping) and isinstance(node.get("properties"), Mapping) and node["properties"]:
                return True
    return False


def _ts_type(schema: Any, indent: str, depth: int = 0, defs: Any = None, flat: bool = False,
             titles: bool = True) -> str:
    """One JSON-schema node as a TypeScript type (junk and very deep nesting: ``any``);
    a local ``$ref`` is rendered as the definition it points to."""
    if not isinstance(schema, Mapping) or depth > 16:
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        # A definition that refers to itself (a tree) is written once, then ``any``.
        target = defs.get(ref.rsplit("/", 1)[-1]) if isinstance(defs, Mapping) else None
        if not isinstance(target, Mapping) or depth > 8:
            return "any"
        inner = {k: v for k, v in defs.items() if v is not target}
        return _ts_type(target, indent, depth + 1, inner, flat, titles)
    for key in ("anyOf", "oneOf"):
        variants = schema.get(key)
        if isinstance(variants, list) and variants:
            return " | ".join(_ts_type(v, indent, depth + 1, defs, flat, titles) for v in variants)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return " | ".join(json.dumps(v, ensure_ascii=False, default=str) for v in enum)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join("number" if k == "integer" else str(k) for k in kind)
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or not properties or (flat and depth > 0):
            return "object"
        required: list[Any] = schema["required"] if isinstance(schema.get("required"), list) else []
        out = ["{"]
        for key, prop in properties.items():
            prop = prop if isinstance(prop, Mapping) else {}
            title, description = prop.get("title"), prop.get("description")
            if titles and isinstance(title, str):
                out += [f"{indent}// {title}", f"{indent}//"]
            if isinstance(description, str) and description:
                out += [f"{indent}// {line}" for line in description.splitlines()]
            kind_text = _ts_type(prop, indent, depth + 1, defs, flat, titles)
            line = f"{indent}{key}{'' if key in required else '?'}: {kind_text},"
            if "default" in prop:
                default = prop["default"]
                shown = f'"{default}"' if isinstance(default, str) and "enum" not in prop else \
                    default if isinstance(default, str) else json.dumps(default, default=str)
                line += f" // default: {shown}"
            out.append(line)
        return "\n".join(out) + f"\n{indent}}}"
    if kind in ("integer", "number"):
        return "number"
    if kind == "array":
        items = schema.get("items")
        if not isinstance(items, Mapping):
            return "Array<any>"
        return f"{_ts_type(items, indent, depth + 1, defs, flat, titles)}[]"
    if kind in ("string", "boolean", "null"):
        return str(kind)
    return "any"


def image_tokens(model: str | None, size: tuple[int, int] | None, detail: str = "auto") -> tuple[int, bool]:
    """Tokens of one image for ``model``, and whether that is only a floor.

    ``size`` None (a URL we will not download): the documented minimum — exact for
    ``low`` detail on tile-billed models, where size does not matter, else a floor.
    ``auto`` is counted as ``high``, the larger of what the API may choose. A tiny image
    on a tile-billed model is a floor too (``_TINY_IMAGE_PX``).
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
    if max(size) <= _TINY_IMAGE_PX:
        return min(base + tile, _TINY_IMAGE_FLOOR), True
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
    total, counter = _count(model, kwargs)
    return total, counter.floor


def _count(model: str | None, kwargs: Mapping[str, Any]) -> tuple[int, _Counter]:
    counter = _Counter(model)
    total = 0
    messages = kwargs.get("messages")
    if isinstance(messages, (list, tuple)) and _is_search_model(model):
        # The search models bill the messages' text alone: no per-message framing, no
        # reply priming (their own search prompt is not billed as input either).
        total += sum(counter.content(_get(m, "content")) for m in messages)
    elif isinstance(messages, (list, tuple)):  # Chat Completions
        functions = _function_list(kwargs.get("tools"))
        legacy = kwargs.get("functions")
        if isinstance(legacy, (list, tuple)):
            functions += list(legacy)
        total += counter.messages(messages, tools=bool(functions))
        shared = any(_get(m, "role") in ("system", "developer") for m in messages)
        total += counter.functions(functions, shared)
        total += counter.schema(kwargs.get("response_format"), shared, bool(functions))
        history = [_get(m, "tool_calls") for m in messages]
        if not functions:
            total += _HISTORY_PARALLEL_WITHOUT_TOOLS * sum(
                isinstance(calls, (list, tuple)) and len(calls) > 1 for calls in history)
        if _legacy_gpt35(model) and (functions or any(history) or any(
                _get(m, "role") in ("tool", "function") or _get(m, "function_call") for m in messages)):
            counter.floor = True  # see _LEGACY_GPT35
        if stop_tokens(model, kwargs) > _STOP_MIDPOINT_MAX:
            counter.floor = True  # see stop_tokens
        if kwargs.get("tool_choice") == "required" and _choices(kwargs) > 1:
            # A call forced by ``required`` was billed in two ways over time: as counted
            # here, or 2 tokens more input and 2 fewer output per choice (the same request
            # recorded 10 times: 7 and 3); with several choices that spread exceeds 5 %.
            counter.floor = True
        forced = forced_call(kwargs)
        if forced:
            total += counter.text(forced) + _FORCED_CALL_FRAME
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
        functions = _function_list(kwargs.get("tools"))
        shared = any(_get(i, "role") in ("system", "developer") for i in items if i is not None)
        total += counter.functions(functions, shared)
        total += counter.schema(_get(kwargs.get("text"), "format"), shared, bool(functions))
    else:  # legacy Completions: the prompt is the text, with no chat framing
        prompt = kwargs.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, (list, tuple)) else ()
        for one in prompts:
            total += counter.text(one) if isinstance(one, str) else len(one) if isinstance(one, list) else 0
    return total, counter


def _choices(kwargs: Mapping[str, Any]) -> int:
    n = kwargs.get("n")
    return n if type(n) is int else 1


def stop_tokens(model: str | None, kwargs: Mapping[str, Any]) -> int:
    """Tokens of the shortest stop sequence a Chat Completions request gives (0: none).

    A reply cut at a stop sequence does not show it, and the sequence is sometimes billed
    as output and sometimes not — on the same model (recorded: gpt-4-0613 5 of 5 cut
    replies, gpt-4-turbo 2 of 18, gpt-4o 4 of 16, gpt-4o-mini 5 of 52) — and whether one
    matched at all cannot be seen. The estimate adds half of it to a text reply, the
    middle of the two possible figures; a sequence longer than ``_STOP_MIDPOINT_MAX``
    tokens leaves too wide a range for that, and the call is a floor.
    """
    if "messages" not in kwargs:
        return 0
    stop = kwargs.get("stop")
    stops = [stop] if isinstance(stop, str) else stop if isinstance(stop, (list, tuple)) else ()
    encoding = encoding_name_for_model(model)  # the request's own text: counted once per process
    counts = [count_prompt_text(one, encoding) for one in stops if isinstance(one, str) and one]
    return min(counts) if counts else 0


def parallel_call_text(calls: list[tuple[str, str]]) -> str:
    """Several tool calls as the model writes them: one ``multi_tool_use.parallel``
    call whose JSON lists each call's ``functions.`` name and its arguments."""
    uses = ",".join(f'{{"recipient_name":"functions.{name}","parameters":{_compact(args)}}}' for name, args in calls)
    return f'{{"tool_uses":[{uses}]}}'


def _respaced(arguments: str) -> bool:
    """Whether tool-call arguments are a JSON object re-serialized with the spaced
    separators (``", "``, ``": "``) rather than written compact, as the model writes."""
    try:
        value = json.loads(arguments)
    except (TypeError, ValueError, RecursionError):
        return False
    if not isinstance(value, dict) or not value:
        return False
    spaced = (json.dumps(value), json.dumps(value, ensure_ascii=False))
    return arguments in spaced and arguments != json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _compact(arguments: str) -> str:
    """Arguments as the model wrote them inside the wrapper: compact JSON (the API hands
    each call's arguments back re-spaced); anything that is not JSON as it is."""
    try:
        return json.dumps(json.loads(arguments), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return arguments or "{}"


def forced_call(kwargs: Mapping[str, Any]) -> str | None:
    """The function a request forces (``tool_choice`` / legacy ``function_call`` naming one)."""
    choice = kwargs.get("tool_choice")
    if isinstance(choice, Mapping):
        name = _get(_get(choice, "function"), "name") or _get(choice, "name")
        return name if isinstance(name, str) else None
    legacy = kwargs.get("function_call")
    if isinstance(legacy, Mapping):
        name = legacy.get("name")
        return name if isinstance(name, str) else None
    return None


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

    def tokens(self, model: str | None, kwargs: Mapping[str, Any] | None = None, floor: bool = False) -> int:
        """Output tokens: the text as generated, plus the framing the model writes
        around tool calls (see the ``_CALL_FRAME`` rules), per choice.

        ``floor``: only what was surely generated — the text, and each call's name and
        compact arguments, no framing — for a figure that must stay below the truth.
        """
        kwargs = kwargs or {}
        forced = forced_call(kwargs) is not None
        has_tools = "messages" in kwargs and bool(_function_list(kwargs.get("tools")) or kwargs.get("functions"))
        texts: dict[Any, list[str]] = {}
        calls: dict[Any, dict[Any, dict[str, str]]] = {}
        total = 0
        for key, parts in self.parts.items():
            joined = "".join(parts)
            if len(key) >= 3 and key[1] in ("tool", "function"):
                at = key[2] if key[1] == "tool" else "function"
                calls.setdefault(key[0], {}).setdefault(at, {})[key[-1]] = joined
            else:
                total += count_tokens(joined, model)
                texts.setdefault(key[0], []).append(joined)
        for by_index in calls.values():
            ordered = sorted(by_index.items(), key=lambda item: str(item[0]).zfill(8))
            made = [(c.get("name", ""), c.get("args", "")) for _, c in ordered]
            if floor and not forced and len(made) == 1 and _respaced(made[0][1]):
                # Unwrapped from a ``multi_tool_use.parallel`` call: that JSON was written.
                total += count_tokens(parallel_call_text(made), model)
            elif floor:
                total += sum((0 if forced else count_tokens(name, model)) + count_tokens(_compact(args), model)
                             for name, args in made)
            elif forced and len(made) == 1:
                total += count_tokens(made[0][1], model)
            elif len(made) == 1:
                frame = _CALL_FRAME_0613 if _first_generation(model) else _CALL_FRAME
                total += count_tokens(made[0][0], model) + count_tokens(made[0][1], model) + frame
            else:
                total += count_tokens(parallel_call_text(made), model) + _PARALLEL_FRAME
        stop = 0 if floor else stop_tokens(model, kwargs)
        if stop:
            total += sum(stop // 2 for choice, choice_texts in texts.items()
                         if "".join(choice_texts) and choice not in calls)
        if has_tools and not floor:
            # A text reply to a request with tools is a message of its own, with its own
            # framing — also when the same reply goes on to call a tool. With a schema
            # too, the model may write several JSON documents, one message each, which
            # the API joins with newlines: each is framed.
            schema = _get(kwargs.get("response_format"), "type") == "json_schema"
            extra = _TEXT_WITH_TOOLS_AND_SCHEMA if schema else _TEXT_WITH_TOOLS
            for choice_texts in texts.values():
                joined = "".join(choice_texts)
                if joined:
                    total += extra * (_json_documents(joined) if schema else 1)
        return total

    def unwrapped(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a choice holds one tool call whose arguments the API re-spaced.

        The model writes every call's arguments as compact JSON; only the calls it wraps
        in one ``multi_tool_use.parallel`` call come back re-serialized (``", "`` and
        ``": "``: all 179 arguments of the recorded parallel-call replies). One such call
        alone was wrapped too, and the wrapper was billed: by its JSON and framing in
        one recording, by 14 tokens more than that in another — so the figure is a floor.
        """
        if forced_call(kwargs) is not None:
            return False
        calls: dict[Any, list[str]] = {}
        for key, parts in self.parts.items():
            if len(key) >= 4 and key[1] == "tool" and key[-1] == "args":
                calls.setdefault(key[0], []).append("".join(parts))
        return any(len(args) == 1 and _respaced(args[0]) for args in calls.values())

    # --- stream items --------------------------------------------------------------

    def chat_choices(self, choices: Any) -> None:
        """Every choice of one chunk (:meth:`chat_choice`), in one call per chunk: the
        common choice — an SDK object whose delta carries only text — is read inline."""
        for choice in choices:
            fields: dict[str, Any] = getattr(choice, "__dict__", None) or {}
            parts: dict[str, Any] = getattr(fields.get("delta"), "__dict__", None) or {}
            if "content" in parts and parts.get("tool_calls") is None and parts.get("refusal") is None \
                    and parts.get("function_call") is None:
                text = parts["content"]
                if isinstance(text, str) and text:
                    index = fields.get("index")
                    key = (index if type(index) is int else 0, "text")
                    texts = self.parts.get(key)
                    if texts is None:
                        self.parts[key] = [text]
                    else:
                        texts.append(text)
            else:
                self.chat_choice(choice)

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


def _json_documents(text: str) -> int:
    """How many JSON values ``text`` holds one after another (1 if it is not that)."""
    decoder = json.JSONDecoder()
    count, at, size = 0, 0, len(text)
    while at < size:
        while at < size and text[at].isspace():
            at += 1
        if at == size:
            break
        try:
            _, at = decoder.raw_decode(text, at)
        except (ValueError, RecursionError):
            return 1
        count += 1
    return max(count, 1)


def _index(value: Any, default: int = 0) -> int:
    """A choice/output/tool-call index; anything but an int (junk, None) is ``default``."""
    return value if type(value) is int else default


def estimate_openai(model: str | None, kwargs: Mapping[str, Any], generated: Generated) -> Usage:
    """The estimated usage of one OpenAI call: input by :func:`count_request`, output
    from what was generated; a lower bound for reasoning models and unmeasured media."""
    input_tokens, counter = _count(model, kwargs)
    floor = counter.floor or generated.unwrapped(kwargs)
    reasoning = (is_reasoning_model(model) or generated.reasoning
                 or isinstance(kwargs.get("reasoning_effort"), str) or isinstance(kwargs.get("reasoning"), Mapping))
    output_tokens = generated.tokens(model, kwargs)
    if floor or reasoning:
        # A floor must stay below the truth: shade it by the rules' worst error.
        # A reasoning model's images are taken at their minimum: the size rules were
        # measured on the chat models and overshoot on some reasoning ones.
        excess = max(0, counter.image_excess) if reasoning else 0
        input_tokens = math.floor((input_tokens - excess) * _FLOOR_SHADE)
        # The visible reply, framing not assumed: a reasoning model bills more than it
        # shows; otherwise only what was surely generated, shaded alike (an audio reply's
        # transcript is not what was billed).
        if reasoning:
            output_tokens = generated.tokens(model)
        else:
            output_tokens = math.floor(generated.tokens(model, kwargs, floor=True) * _FLOOR_SHADE)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        source=semconv.SOURCE_ESTIMATED,
        lower_bound=floor or reasoning,
    )
