"""Soft budget thresholds: the span event, the counter and the user's callback.

Which thresholds a call crosses is decided in the store, under its lock, so that
concurrent calls never announce the same crossing twice nor miss one. For our own
spans that happens in the before-end hook while the span is still live (the event
goes on the call that crossed); for foreign spans, which we only see ended, in the
processor — counter and callback only. Hard budgets are checked in ``_context``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import semconv
from ._store import STORE, Session

__all__ = ["BudgetCrossing"]

_log = logging.getLogger("otel_llm_cost")


@dataclass(frozen=True, slots=True)
class BudgetCrossing:
    """Passed to ``on_budget`` callbacks when a call crosses a threshold."""

    #: ``session`` or ``user``
    scope: str
    id: str | None
    #: Fraction of the budget crossed (0.5, 0.8, 1 …).
    threshold: Decimal
    budget_usd: Decimal
    #: Spend including the crossing call.
    spent_usd: Decimal


def announce(crossings: list[tuple[Session, Decimal]], span: Any = None) -> None:
    metrics = STORE.metrics
    for tally, fraction in crossings:
        budget = tally.budget
        if span is not None:
            span.add_event(semconv.BUDGET_EVENT, {
                semconv.LLM_COST_BUDGET_SCOPE: tally.kind,
                semconv.LLM_COST_BUDGET_THRESHOLD: float(fraction),
                semconv.LLM_COST_BUDGET_USD: float(budget),
            })
        if metrics is not None:
            metrics.crossed(tally, fraction)
        callback = tally.on_budget
        if callback is not None:
            try:
                callback(BudgetCrossing(tally.kind, tally.id, fraction, budget, tally.priced + tally.reserved))
            except Exception:  # noqa: BLE001 - the user's callback must not break the call
                _log.exception("otel_llm_cost: error in an on_budget callback (ignored)")


def _before_end(span: Any, attributes: dict, cost: Any, usage: Any) -> None:
    """Hook on our live span: reserve its cost in its sessions and mark crossings on it.

    Also hands the call's usage and cost text to the processor's ``on_end`` (in the
    span's pending entry), which then need not rebuild them from the span attributes.
    """
    entry = STORE.pending.get(span.get_span_context().span_id)
    if entry is None:
        return
    entry[2] = (usage, cost, attributes.get(semconv.LLM_COST_USD))
    usd = getattr(cost, "usd", None)
    if usd is None or entry[1] is not None:
        return
    for tally in entry[0]:
        if tally.budget is not None:
            break
    else:  # no budget in the chain: nothing to hold back nor to cross
        return
    entry[1] = usd
    crossings = STORE.reserve(entry[0], usd)
    if crossings:
        announce(crossings, span)
