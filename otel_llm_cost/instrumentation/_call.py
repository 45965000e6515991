"""One LLM call: its CLIENT span, what was learnt of the response, and ending it once.

:class:`LLMCall` prices the usage when the call ends, sets the cost attributes and
records the call's metrics; :func:`safely` is how every piece of our code around an
SDK call keeps its own errors away from the application. Split from :mod:`._shared`
(which re-exports these) to keep each module small.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from .. import _exit, observers, semconv
from .._metrics import CallMetrics
from .._version import __version__
from ..config import Settings
from ..cost import Cost, compute_cost, cost_attributes, with_reported_cost
from ..pricing import get_catalog
from ..record import CallRecord
from ..usage import CHARGES, Usage
from ._endpoints import Endpoints

__all__ = ["safely", "Telemetry", "LLMCall"]

_log = logging.getLogger("otel_llm_cost")

#: Attributes the observers gave for the call being opened in this context, and that
#: context (set by ``_shared._enter`` around the provider's ``start``): the attributes
#: are on the span from its start, where samplers and span processors' ``on_start`` see them.
OBSERVED_ATTRIBUTES: ContextVar[tuple[Mapping[str, Any] | None, otel_context.Context] | None] = ContextVar(
    "otel_llm_cost_observed", default=None)

#: Credentials an error message may echo: OpenAI/Anthropic-style ``sk-…`` keys, Google
#: ``AIza…`` keys, and whatever follows ``Bearer`` (a 401 body or a proxy's message).
_SECRETS = re.compile(
    r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"
    r"|\bsk-[A-Za-z0-9_*-]{6,}"
    r"|\bAIza[0-9A-Za-z_-]{10,}"
    r"|(\b(?:api[_-]?key|x-api-key|x-goog-api-key)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]{6,}"
)


def _mask(match: re.Match[str]) -> str:
    prefix = match.group(1) or match.group(2) or ""
    return f"{prefix}[REDACTED]"


def redact_secrets(text: str) -> str:
    """``text`` with credentials masked: content capture records provider messages, never keys."""
    return _SECRETS.sub(_mask, text)


def safely(what: str, fn: Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Run our code; on any exception log it (once per call site) and return ``default``."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - never let our bug reach the application
        _log.exception("otel_llm_cost: error in %s (the application call is unaffected)", what)
        return default


class Telemetry:
    """Tracer and instruments of one instrumentor; built once at ``instrument()``."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None,
                 settings: Settings | None = None) -> None:
        settings = settings if settings is not None else Settings()
        self.settings = settings
        self.tracer = trace.get_tracer(semconv.SCOPE_NAME, __version__, tracer_provider)
        self.metrics = CallMetrics(meter_provider, settings.metric_attributes, settings.metric_calls)
        #: Record prompt/completion text parts (``capture_content``; off by default).
        self.capture_content = settings.capture_content
        #: Add the proposed ``gen_ai.usage.cost.*`` attributes (off by default).
        self.proposed_cost_attributes = settings.proposed_cost_attributes
        #: ``server.*`` attributes and serving provider per client base URL (``_shared.Endpoints``).
        self.endpoints = Endpoints(settings.provider_hosts)
        #: Cleared by ``uninstrument()``: SDK objects that cached a bound wrapper before
        #: then (e.g. ``client.chat.completions.with_raw_response``) stop tracing too.
        self.active = True


class LLMCall:
    """One LLM call: its span, what was learnt of the response, and ending it once."""

    __slots__ = ("__weakref__", "_ended", "_estimate", "_sent", "_start", "attributes", "context", "held", "partial",
                 "reported_cost", "reported_cost_refused", "service_tier", "span", "span_in_context", "state",
                 "strict_pricing", "telemetry", "tool_calls", "usage")

    def __init__(self, telemetry: Telemetry, operation: str, provider: str, request_model: str | None,
                 attributes: Mapping[str, Any]) -> None:
        self.telemetry = telemetry
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: operation,
            semconv.GEN_AI_PROVIDER_NAME: provider,
        }
        if request_model:
            cut = semconv.MAX_ATTRIBUTE_CHARS  # _bounded, inline
            attrs[semconv.GEN_AI_REQUEST_MODEL] = (request_model[:cut] if type(request_model) is str
                                                   and len(request_model) > cut else request_model)
        for key, value in attributes.items():
            if value is not None:
                attrs[key] = value
        opening = OBSERVED_ATTRIBUTES.get()
        observed, current = opening if opening is not None else (None, None)
        if observed:
            for key, value in observed.items():
                attrs.setdefault(key, value)
        self.attributes = attrs
        self._sent = dict(attrs)  # the end sets only what is new since (the SDK re-checks all)
        name = f"{operation} {request_model}" if request_model else operation
        self.span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        #: A context whose current span is this call's (the one its request is sent in):
        #: its metric points are recorded in it, so exemplars point to the span.
        self.span_in_context: otel_context.Context | None = None
        #: The context the call was made in: observers read the open sessions from it.
        self.context = current if current is not None else otel_context.get_current()
        self.usage: Usage | None = None
        self.partial = False
        self.service_tier: str | None = None
        #: Server-side tool calls seen outside the usage block (OpenAI's ``web_search_call``
        #: output items), by charge: added to the usage, reported or estimated, at the end.
        self.tool_calls: dict[str, int] | None = None
        #: The endpoint's provider is unknown (a gateway, a self-hosted server): price only
        #: from our own list, never by another provider's rates (``pricing._providers``).
        self.strict_pricing = False
        #: The provider's own cost of the call (OpenRouter ``usage.cost``), which wins over ours.
        self.reported_cost: Decimal | None = None
        #: Why a cost the response carried was refused (out of range): our price stands.
        self.reported_cost_refused: str | None = None
        #: Called at the end when no usage was reported: returns an estimated Usage.
        self._estimate: Callable[[], Usage | None] | None = None
        #: Whatever the provider spec keeps between ``start`` and ``result`` (the prompt …).
        self.state: Any = None
        self._start = time.perf_counter()
        self._ended = False
        #: What an observer holds until the call ends (a hard budget's reservation).
        self.held: Any = None
        observers.started(self.context)
        _exit.track_open(self)  # a call still open at exit is ended before the providers shut down

    def set(self, key: str, value: Any) -> None:
        if value is not None and value != "" and value != []:
            self.attributes[key] = value

    def set_response(self, *, model: str | None = None, response_id: str | None = None,
                     finish_reasons: list[str] | None = None, usage: Usage | None = None) -> None:
        """Record what the response said; later values win (streams repeat them)."""
        attrs = self.attributes
        cut = semconv.MAX_ATTRIBUTE_CHARS  # as _bounded, inline: once per call on every call
        if isinstance(model, str) and model:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = model[:cut] if type(model) is str and len(model) > cut else model
        if isinstance(response_id, str) and response_id:
            attrs[semconv.GEN_AI_RESPONSE_ID] = (response_id[:cut] if type(response_id) is str
                                                  and len(response_id) > cut else response_id)
        if finish_reasons:
            reasons = []
            for reason in finish_reasons[:_MAX_FINISH_REASONS]:
                if reason:
                    text = str(reason)
                    reasons.append(text[:cut] if len(text) > cut else text)
            if reasons:
                attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        if usage is not None:
            self.usage = usage

    def estimate_with(self, estimator: Callable[[], Usage | None]) -> None:
        """Use ``estimator`` for usage if the provider reports none by the end."""
        self._estimate = estimator

    def fail(self, exc: BaseException) -> None:
        self.fail_with(_error_type(exc), str(exc))

    def fail_with(self, error_type: str, message: str = "") -> None:
        """Mark the call failed without an exception (e.g. an error event inside a stream).

        Providers quote the offending input in error messages ("invalid content: …"), so
        the message is content: the status says only the error type unless content
        capture is on.
        """
        self.attributes[semconv.ERROR_TYPE] = error_type
        detail = redact_secrets(message)[:500] if self.telemetry.capture_content else error_type
        self.span.set_status(Status(StatusCode.ERROR, detail))

    def end(self) -> None:
        """End the span once: price, set attributes, record metrics. Safe to call again."""
        if self._ended:
            return
        self._ended = True
        _exit.untrack(self)
        try:
            self._finish()
        finally:
            self.span.end()
            held = self.held
            if held is not None:  # settled by its observer; given back here if that failed
                self.held = None
                safely("reservation release", held.release)

    def _finish(self) -> None:
        attrs = self.attributes
        usage = self.usage
        if usage is None and self._estimate is not None:
            usage = safely("token estimation", self._estimate)
            self.usage = usage
        if usage is not None and self.tool_calls:
            usage = self.usage = usage.with_tool_calls(self.tool_calls)
        model = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs.get(semconv.GEN_AI_REQUEST_MODEL)
        if usage is None and semconv.ERROR_TYPE in attrs:
            cost = Cost(semconv.STATUS_NO_USAGE, None, reason="the call failed before usage was reported")
        else:
            # A pricing failure (a bug of ours, a broken custom catalog) must not lose the
            # call: it is still counted, with its tokens, and its cost marked unknown.
            # (safely() and price_usage(), inline: every call is priced here.)
            try:
                # The price in force when the request was made (the span's start), not at export.
                start_ns = getattr(self.span, "start_time", None)
                when = datetime.fromtimestamp(start_ns / 1e9, UTC) if isinstance(start_ns, int) else None
                tier = self.service_tier
                price = get_catalog().resolve(model, attrs.get(semconv.GEN_AI_PROVIDER_NAME), when=when,
                                              service_tier=tier, strict=self.strict_pricing)
                cost = compute_cost(usage, price, model=model, service_tier=tier)
            except Exception:  # noqa: BLE001 - never let our bug reach the application
                _log.exception("otel_llm_cost: error in %s (the application call is unaffected)", "pricing")
                cost = _UNPRICEABLE
            if self.reported_cost is not None:
                cost = with_reported_cost(cost, self.reported_cost)
        # A failed attempt that reported nothing costs nothing, and says so honestly.
        if usage is not None:
            attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cache_read_tokens:
                attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_tokens
            if usage.cache_write_tokens:
                # The released name and its renamed successor, for readers of either.
                attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = usage.cache_write_tokens
                attrs[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = usage.cache_write_tokens
            if usage.cache_write_1h_tokens:
                attrs[semconv.LLM_COST_CACHE_CREATION_1H_TOKENS] = usage.cache_write_1h_tokens
            if usage.reasoning_tokens:
                attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_tokens
            # The non-text charges (``usage.CHARGES``), read in a loop only when one is
            # counted: most calls have none, and six attribute reads beat six getattr calls.
            if (usage.input_audio_tokens or usage.output_audio_tokens or usage.output_image_tokens
                    or usage.web_search_calls or usage.web_search_preview_calls or usage.file_search_calls):
                for field, attribute in _CHARGE_FIELDS:
                    count = getattr(usage, field)
                    if count:
                        attrs[attribute] = count
            attrs[semconv.LLM_COST_USAGE_SOURCE] = usage.source
            if usage.lower_bound:
                attrs[semconv.LLM_COST_ESTIMATE] = semconv.ESTIMATE_LOWER_BOUND
        attrs.update(cost_attributes(cost, proposed=self.telemetry.proposed_cost_attributes))
        if self.service_tier:
            attrs[semconv.LLM_COST_SERVICE_TIER] = self.service_tier
        if self.reported_cost_refused:
            attrs[semconv.LLM_COST_REPORTED_COST_REFUSED] = self.reported_cost_refused
        if self.partial:
            attrs[semconv.LLM_COST_PARTIAL] = True
        # The attributes set or changed since the span started: the end sets only those (the
        # SDK checks each one it is given again). Keys are only ever added to ``attributes``
        # (a dict keeps their order), so those of the start come first: while they still
        # hold the values sent (one comparison in C), the new ones are the keys after them.
        sent = self._sent
        n = len(sent)
        if list(islice(attrs.items(), n)) == list(sent.items()):
            new = dict(islice(attrs.items(), n, None))
        else:
            absent = sent  # itself the "absent" marker: never one of its own values
            new = {k: v for k, v in attrs.items() if sent.get(k, absent) is not v}
        self.span.set_attributes(new)
        record = CallRecord(attrs, usage, cost, time.perf_counter() - self._start,
                            self.span.get_span_context(), self.span, self.context, held=self.held)
        self.telemetry.metrics.record(attrs, usage, cost, record.duration_s, span=self.span,
                                      context=self.span_in_context)  # on_call_end(record), inline
        observers.notify(record)


#: (Usage field, span attribute) of each non-text charge (``usage.CHARGES``), read in one loop.
_CHARGE_FIELDS = tuple(CHARGES.values())

_UNPRICEABLE = Cost(semconv.STATUS_UNKNOWN_MODEL, None, reason="pricing failed (see the otel_llm_cost log)")


_MAX_FINISH_REASONS = 16


def _bounded(value: Any) -> Any:
    """A string from outside (the provider's reply, the request) cut to the documented
    length: attribute values are kept in memory by span and metric pipelines."""
    if type(value) is str and len(value) > semconv.MAX_ATTRIBUTE_CHARS:
        return value[:semconv.MAX_ATTRIBUTE_CHARS]
    return value


def _error_type(exc: BaseException) -> str:
    return type(exc).__qualname__
