"""Sessions as an observer of every LLM call (see :mod:`otel_llm_cost.observers`).

Our own calls reach sessions here, from the call's :class:`~otel_llm_cost.record.CallRecord`,
not from its span: so a call counts whether or not its span is sampled, and its
budget crossing is marked on the live span of the call that crossed. Before a call:
``session.id`` / ``user.id`` go on its span and a hard budget may refuse it.

Registered the first time a session or ``track()`` scope opens, or when the session
processor is installed — never as a side effect of an import.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context

from .. import observers, semconv
from ..record import CallRecord
from ._budget import announce
from ._context import _KEY, _chain_in, check_budget_of, counted_chain, span_attributes_of
from ._reserve import Reservation
from ._store import STORE

__all__ = ["SessionObserver", "ensure_observing", "count"]

_log = logging.getLogger("otel_llm_cost")


def _terms(record: CallRecord, error: bool | None) -> tuple[Any, str, bool, str | None]:
    """(cost, model, failed, unpriced reason) of ``record`` as the store counts it."""
    usd = record.cost.usd
    model = record.cost.model or record.model or "unknown"
    reason = None
    if usd is None:
        reason = record.cost.reason if not record.ours else f"{record.cost.status}: {model}"
        reason = reason or semconv.STATUS_NO_USAGE
    failed = record.failed if error is None else error
    return usd, model, failed, reason


def count(record: CallRecord, chain: Any, *, error: bool | None = None) -> None:
    """Add one finished call to every tally of ``chain``; announce budget crossings
    (also as an event on the call's span while it is still open)."""
    usd, model, failed, reason = _terms(record, error)
    crossings = STORE.add(chain, usd, record.usage, model, failed, reason)
    if crossings:
        announce(crossings, record.span)


class SessionObserver:
    """Puts ids on LLM spans, refuses calls over a hard budget, counts finished calls.

    Each hook reads the session chain from its context once and hands it on.
    """

    def before_call(self) -> Mapping[str, Any] | None:
        chain: Any = otel_context.get_current().get(_KEY)
        reserved = check_budget_of(chain) if chain else None
        attributes = span_attributes_of(chain, None)
        if reserved:
            attributes.update(reserved)
        return attributes

    def on_call_start(self, context: Any) -> None:
        chain = context.get(_KEY) if context is not None else _chain_in(None)
        if chain:
            STORE.call_started(chain)

    def on_call_end(self, record: CallRecord) -> None:
        context = record.context
        opened = context.get(_KEY) if context is not None else _chain_in(None)
        done: list[Any] = []
        try:
            chain = opened or counted_chain(None, context)
            if chain:
                # _terms, inline (every call of ours ends here).
                cost = record.cost
                usd = cost.usd
                attributes = record.attributes
                model = cost.model or attributes.get(semconv.GEN_AI_RESPONSE_MODEL) or attributes.get(
                    semconv.GEN_AI_REQUEST_MODEL) or "unknown"
                reason = None
                if usd is None:
                    reason = cost.reason if not record.ours else f"{cost.status}: {model}"
                    reason = reason or semconv.STATUS_NO_USAGE
                failed = semconv.ERROR_TYPE in attributes
                # From here the store gives the in-flight count back, under the lock it
                # counts the call under, whatever happens.
                in_flight, opened = opened, None
                crossings, done = STORE.add_and_end(chain, usd, record.usage, model, failed, reason, in_flight)
                if crossings:
                    announce(crossings, record.span)
        finally:
            held = record.held
            if isinstance(held, Reservation):  # counted above: the hold is settled to it
                held.owner.settle(held, record.cost.usd)
            # After counting (and even if counting failed): a session waiting for this
            # call ends with it included, rather than waiting for the idle timeout.
            if done:
                STORE.end_sessions(done)
            if opened:
                STORE.call_ended(opened)

    def __repr__(self) -> str:
        return "SessionObserver()"


_OBSERVER = SessionObserver()


def ensure_observing() -> None:
    """Register the sessions observer (idempotent, cheap)."""
    if _OBSERVER not in observers.observers():
        observers.add_observer(_OBSERVER)
