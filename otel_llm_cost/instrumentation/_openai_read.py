"""How to read the OpenAI SDK's requests, responses and stream items.

Kept apart from :mod:`.openai` (what to wrap) so each stays small. Readers accept the
SDK's pydantic objects and, for the rare paths where only the JSON is at hand
(``with_streaming_response`` + ``.json()``), plain dicts; a field that is missing or
of an odd type is skipped, never raised on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import semconv
from .._estimate_openai import Generated, estimate_openai
from ..cost import refused_cost_reason, reported_cost
from ..tokens import estimate_usage
from ..usage import Usage, _get, fields
from . import _content
from ._content import output_messages_json
from ._shared import LLMCall

# Request keyword -> span attribute, for numbers passed straight through.
_NUMBER_PARAMS = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ("seed", semconv.GEN_AI_REQUEST_SEED),
    ("n", semconv.GEN_AI_REQUEST_CHOICE_COUNT),
)
_MAX_TOKENS_PARAMS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
#: Response ``service_tier`` values billed at a published non-standard rate.
_PRICED_TIERS = frozenset({"flex", "priority", "batch"})


#: Attribute or key ``name`` of an SDK object or dict; None when absent (fast on pydantic).
field = _get


#: The number types a request parameter usually is (checked before :func:`_is_number`).
_PLAIN_NUMBERS = (int, float)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


#: Every request keyword read for an attribute: the keywords a call passes are few, so
#: they are the loop, not this list.
_READ_PARAMS = frozenset({*(key for key, _ in _NUMBER_PARAMS), *_MAX_TOKENS_PARAMS, "stop", "service_tier",
                          "encoding_format"})


def request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes for the request parameters the caller gave.

    SDK helpers forward every parameter, the unset ones as the ``omit`` sentinel, so
    only values of the documented types count.
    """
    attrs: dict[str, Any] = {}
    given = _READ_PARAMS.intersection(kwargs)
    if not given:
        return attrs
    for key, name in _NUMBER_PARAMS:
        if key in given:
            value = kwargs.get(key)
            if type(value) in _PLAIN_NUMBERS or _is_number(value):
                attrs[name] = value
    for key in _MAX_TOKENS_PARAMS:
        if key in given:
            value = kwargs.get(key)
            if type(value) in _PLAIN_NUMBERS or _is_number(value):
                attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] = value
                break
    if "stop" in given:
        stop = kwargs.get("stop")
        if isinstance(stop, str):
            attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop]
        elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
            attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    if "service_tier" in given:
        tier = kwargs.get("service_tier")
        if isinstance(tier, str):
            attrs[semconv.GEN_AI_OPENAI_REQUEST_SERVICE_TIER] = tier
    if "encoding_format" in given:
        encoding = kwargs.get("encoding_format")
        if isinstance(encoding, str):
            attrs[semconv.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
    return attrs


def prompt_of(kwargs: Mapping[str, Any]) -> Any:
    """The request's prompt in a shape :func:`tokens.count_messages` understands."""
    messages = kwargs.get("messages")
    if isinstance(messages, (list, tuple)):
        return messages
    prompt = kwargs.get("input", kwargs.get("prompt"))
    if not isinstance(prompt, (str, list, tuple)):
        prompt = []
    instructions = kwargs.get("instructions")
    if isinstance(instructions, str) and instructions:
        items = [prompt] if isinstance(prompt, str) else list(prompt)
        return [{"role": "system", "content": instructions}, *items]
    return prompt


def input_messages_json(prompt: Any) -> str:
    """``gen_ai.input.messages`` (content capture on): text parts only, as for every provider."""
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    pairs: list[tuple[str, Any]] = []
    for message in prompt if isinstance(prompt, (list, tuple)) else ():
        if isinstance(message, str):
            pairs.append(("user", message))
        elif isinstance(message, Mapping):
            pairs.append((str(message.get("role", "user")), message.get("content")))
    return _content.input_messages_json(pairs)


def set_service_tier(call: LLMCall, tier: Any) -> None:
    """Record the tier the response says was used; price with it where it has a rate."""
    if isinstance(tier, str) and tier:
        call.set(semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER, tier)
        if tier in _PRICED_TIERS:
            call.service_tier = tier


#: Responses output item types that are one billed server-side tool call each.
_TOOL_CALL_ITEMS = {"web_search_call": "web_search", "file_search_call": "file_search"}


def set_tool_calls(call: LLMCall, response: Any) -> None:
    """Count a Responses ``output``'s billed tool calls (``web_search_call`` …): priced per call."""
    counts: dict[str, int] = {}
    output = field(response, "output")
    for item in output if isinstance(output, (list, tuple)) else ():
        kind = field(item, "type")
        charge = _TOOL_CALL_ITEMS.get(kind) if isinstance(kind, str) else None
        if charge is not None:
            counts[charge] = counts.get(charge, 0) + 1
    if counts.get("web_search") and _search_tool(call, response) == "web_search_preview":
        counts["web_search_preview"] = counts.pop("web_search")
    if counts:
        call.tool_calls = counts


def _search_tool(call: LLMCall, response: Any) -> str:
    """``web_search_preview`` when that is the only search tool the call declared (the
    response echoes its ``tools``, stored prompts' included; else the request's), since a
    ``web_search_call`` item does not say which tool made it; ``web_search`` otherwise."""
    tools = field(response, "tools")
    if not tools and isinstance(call.state, Request) and call.state.kwargs is not None:
        tools = call.state.kwargs.get("tools")
    kinds = set()
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        kind = field(tool, "type")
        if isinstance(kind, str) and kind.startswith("web_search"):
            kinds.add("web_search_preview" if kind.startswith("web_search_preview") else "web_search")
    return "web_search_preview" if kinds == {"web_search_preview"} else "web_search"


def set_reported_cost(call: LLMCall, usage: Any) -> None:
    """OpenRouter (and gateways like it) put the call's own cost in ``usage.cost``: it wins."""
    if usage is not None:
        value = field(usage, "cost")
        if value is None:
            return  # OpenAI itself reports none
        cost = reported_cost(value)
        if cost is not None:
            call.reported_cost = cost
        elif value is not None:
            call.reported_cost_refused = refused_cost_reason(value)


def _responses_finish(response: Any) -> list[str]:
    status = field(response, "status")
    if status == "completed":
        return ["stop"]
    if status == "incomplete":
        return [str(field(field(response, "incomplete_details"), "reason") or "incomplete")]
    return [status] if isinstance(status, str) else []


def _output_texts(obj: Any) -> list[str]:
    """Generated text of a non-stream response, per choice (or Responses output)."""
    if field(obj, "object") == "response":
        texts = []
        for item in field(obj, "output") or ():
            for part in field(item, "content") or ():
                text = field(part, "text")
                if isinstance(text, str):
                    texts.append(text)
        return ["".join(texts)]
    out = []
    for choice in field(obj, "choices") or ():
        message = field(choice, "message")
        text = field(message, "content") if message is not None else field(choice, "text")
        if isinstance(text, str):
            out.append(text)
    return out


def read_response(call: LLMCall, obj: Any) -> None:
    """Everything a complete (non-stream) response says: ids, usage, finish reasons."""
    get = fields(obj)
    responses_api = get("object") == "response"
    if responses_api:
        finish = _responses_finish(obj)
    else:
        finish = []
        for choice in get("choices") or ():
            # field(), inline: an SDK Choice holds finish_reason in its instance dict.
            reason = (choice.get("finish_reason") if isinstance(choice, Mapping)
                      else getattr(choice, "finish_reason", None))
            if reason:
                finish.append(reason)
    usage_block = get("usage")
    usage = Usage.from_openai(usage_block)
    call.set_response(model=get("model"), response_id=get("id"), finish_reasons=finish, usage=usage)
    if usage_block is not None and fields(usage_block)("cost") is not None:
        set_reported_cost(call, usage_block)  # OpenRouter's own cost of the call
    tier = get("service_tier")
    if isinstance(tier, str) and tier:  # set_service_tier, inline
        call.attributes[semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER] = tier
        if tier in _PRICED_TIERS:
            call.service_tier = tier
    if responses_api:
        set_tool_calls(call, obj)
    request = call.state
    if usage is None and request is not None and call.attributes.get(
            semconv.GEN_AI_OPERATION_NAME) != "embeddings":
        call.estimate_with(lambda: _estimate(call, request, Generated().response(obj), _output_texts(obj)))
    if call.telemetry.capture_content:
        call.set(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages_json(_output_texts(obj), finish))


def _model(call: LLMCall) -> str | None:
    attrs = call.attributes
    return attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)


class Request:
    """What a call's spec keeps from the request for the end of the call."""

    __slots__ = ("prompt", "stream", "kwargs")

    def __init__(self, prompt: Any, stream: bool, kwargs: Mapping[str, Any] | None = None) -> None:
        self.prompt = prompt
        self.stream = stream
        #: The request keywords, for counting input as OpenAI does (tools, images…).
        self.kwargs = kwargs


def _estimate(call: LLMCall, request: Request, generated: Generated, texts: list[str]) -> Usage:
    """Estimated usage: by OpenAI's counting rules when the request is at hand."""
    if request.kwargs is not None:
        return estimate_openai(_model(call), request.kwargs, generated)
    return estimate_usage(_model(call), request.prompt, "".join(texts))


#: How many chunks a stream without usage (yet) holds before reading them.
_FOLD_EVERY = 256


class ChatAccumulator:
    """Follows a Chat Completions (or legacy Completions) chunk stream.

    Usage: the last usage block seen (the ``include_usage`` chunk), never a sum. What
    was generated is kept only while no usage has arrived, to estimate from if none
    ever does; the text itself only with content capture on (or, without the request's
    keywords, to estimate from).

    The usage chunk comes last, so every content chunk arrives before we know whether
    an estimate will be needed. Reading each chunk's deltas then would be wasted work on
    every stream that does report usage; instead a chunk's ``choices`` list is only
    kept (one append) and read when the estimate is made, or in batches of
    :data:`_FOLD_EVERY` so that a long stream holds at most that many chunks' choices.
    """

    __slots__ = ("request", "usage", "model", "id", "reasons", "texts", "tier", "capture", "generated",
                 "keep_texts", "pending")

    def __init__(self, request: Request, capture: bool) -> None:
        self.request = request
        self.usage: Any = None
        self.model = self.id = self.tier = None
        self.reasons: list[str] = []
        self.texts: list[str] = []
        self.capture = capture
        self.keep_texts = capture or request is None or request.kwargs is None
        self.generated = Generated()
        #: Chunks' ``choices`` not yet read into ``generated`` (see the class docstring).
        self.pending: list[Any] = []

    def on_item(self, chunk: Any) -> None:
        # Once per chunk: the fewest reads and calls that follow the stream.
        if self.id is None:
            self.id = chunk.id
            self.model = chunk.model
            self.tier = getattr(chunk, "service_tier", None)
        usage = chunk.usage
        if usage is not None:
            self.usage = usage
            self.pending.clear()  # usage reported: nothing will be estimated
        choices = chunk.choices
        if not choices:
            return
        for choice in choices:
            if choice.finish_reason:
                self.reasons.append(choice.finish_reason)
        if self.usage is None:
            pending = self.pending
            pending.append(choices)
            if len(pending) >= _FOLD_EVERY:
                self._fold()
            if self.keep_texts:
                self._keep_texts(choices)
        elif self.capture:
            self._keep_texts(choices)

    def _fold(self) -> None:
        """Read the kept chunks' deltas into ``generated``, in stream order."""
        chat_choices = self.generated.chat_choices
        for choices in self.pending:
            chat_choices(choices)
        self.pending.clear()

    def _keep_texts(self, choices: Any) -> None:
        for choice in choices:
            delta = getattr(choice, "delta", None)
            text = delta.content if delta is not None else getattr(choice, "text", None)
            if text:
                self.texts.append(text)

    def finish(self, call: LLMCall, completed: bool) -> None:
        call.set_response(model=self.model, response_id=self.id, finish_reasons=self.reasons,
                          usage=Usage.from_openai(self.usage))
        set_reported_cost(call, self.usage)
        set_service_tier(call, self.tier)
        if self.usage is None:
            self._fold()
        _conclude(call, self.request, self.texts, self.usage, self.capture, self.reasons, self.generated)


def _conclude(call: LLMCall, request: Request, texts: list[str], usage: Any, capture: bool,
              finish: list[str], generated: Generated) -> None:
    if usage is None:
        call.estimate_with(lambda: _estimate(call, request, generated, texts))
    if capture:
        call.set(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages_json(["".join(texts)], finish))


class ResponsesAccumulator:
    """Follows a Responses API event stream: usage from ``response.completed``."""

    __slots__ = ("request", "response", "usage", "texts", "error", "capture", "generated")

    def __init__(self, request: Request, capture: bool) -> None:
        self.request = request
        self.response: Any = None
        self.usage: Any = None
        self.texts: list[str] = []
        self.error: tuple[str, str] | None = None
        self.capture = capture
        self.generated = Generated()

    def on_item(self, event: Any) -> None:
        kind = event.type
        if self.usage is None:
            self.generated.responses_event(event)
        if kind == "response.output_text.delta":
            if self.usage is None or self.capture:
                self.texts.append(event.delta)
        elif kind in ("response.created", "response.completed", "response.incomplete", "response.failed"):
            self.response = event.response
            if event.response.usage is not None:
                self.usage = event.response.usage
            if kind == "response.failed" and self.error is None:
                err = event.response.error
                self.error = (str(getattr(err, "code", None) or "response.failed"),
                              str(getattr(err, "message", "")))
        elif kind == "error":
            self.error = (str(getattr(event, "code", None) or "error"), str(getattr(event, "message", "")))

    def finish(self, call: LLMCall, completed: bool) -> None:
        response = self.response
        done = response is not None and field(response, "status") != "in_progress"
        reasons = _responses_finish(response) if done else []
        call.set_response(model=field(response, "model"), response_id=field(response, "id"),
                          finish_reasons=reasons, usage=Usage.from_openai(self.usage))
        set_service_tier(call, field(response, "service_tier"))
        if done:
            set_tool_calls(call, response)
        if self.error is not None:
            call.fail_with(*self.error)
        _conclude(call, self.request, self.texts, self.usage, self.capture, reasons, self.generated)
