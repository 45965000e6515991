"""One finished LLM call, as every consumer sees it: :class:`CallRecord`.

Data flows one way: a provider module fills an :class:`~otel_llm_cost.instrumentation._call.LLMCall`;
when the call ends, its usage is priced and one ``CallRecord`` is made. Span
attributes, the per-call metrics, sessions and budgets are all produced from that
record (see :mod:`otel_llm_cost.observers`), never from one another. A span written
by another tool (an SDK that traces itself, a peer instrumentation) becomes the same
kind of record through :func:`otel_llm_cost.foreign_spans.record_of_span`, so a call
is described, priced and counted by one rule whoever wrote its span.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import semconv
from .cost import Cost
from .usage import Usage

__all__ = ["CallRecord"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What is known of one LLM call once it has ended."""

    #: The span's attributes as they are when the span ends (request, response,
    #: usage, cost, ``session.id`` …). Read-only for observers.
    attributes: Mapping[str, Any]
    #: Normalised usage (all-input convention), or None when nothing was reported.
    usage: Usage | None
    #: The exact cost, or an unknown cost with its status and reason.
    cost: Cost
    #: Seconds from the request to the end (None when unknown).
    duration_s: float | None
    #: The call's span context (metric exemplars point to it).
    span_context: Any = None
    #: The still-open span of one of our calls — observers may add events to it
    #: (budget crossings); None for a span read after it ended.
    span: Any = None
    #: The OpenTelemetry context the call was made in (which sessions were open).
    context: Any = None
    #: True when our instrumentation made the call's span; False for a foreign span.
    ours: bool = True
    #: What an observer held for the call since before it was sent (a hard budget's
    #: reservation, settled by the sessions observer when the call is counted).
    held: Any = None

    @property
    def provider(self) -> str | None:
        get = self.attributes.get
        return get(semconv.GEN_AI_PROVIDER_NAME) or get(semconv.GEN_AI_SYSTEM)

    @property
    def model(self) -> str | None:
        """The model that answered, else the one asked for."""
        get = self.attributes.get
        return get(semconv.GEN_AI_RESPONSE_MODEL) or get(semconv.GEN_AI_REQUEST_MODEL)

    @property
    def failed(self) -> bool:
        return semconv.ERROR_TYPE in self.attributes

    @property
    def usd(self) -> Decimal | None:
        """The exact cost, None when unknown (never 0 for unknown)."""
        return self.cost.usd
