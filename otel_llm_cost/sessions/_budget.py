"""Soft budget thresholds: the span event, the counter and the user's callback.

Which thresholds a call crosses is decided in the store, under its lock, so that
concurrent calls never announce the same crossing twice nor miss one. For our own
calls that happens in the sessions observer while the span is still live (the event
goes on the call that crossed); for foreign spans, which we only see ended, in the
processor — counter and callback only. Hard budgets are checked before a call is
sent (``_context.check_budget``, the one pre-call hook) and raise :class:`BudgetExceeded`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .. import semconv
from ..observers import CallRefused
from ._store import STORE, Session

__all__ = ["BudgetCrossing", "BudgetExceeded", "announce"]

_log = logging.getLogger("otel_llm_cost")


class BudgetExceeded(CallRefused):
    """Raised before an LLM call is sent when its session (or user) is over a hard budget."""


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
        if budget is None:  # never: only a tally with a budget crosses, and budgets are never unset
            continue
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
                callback(BudgetCrossing(tally.kind, tally.id, fraction, budget, tally.priced))
            except Exception:  # noqa: BLE001 - the user's callback must not break the call
                _log.exception("otel_llm_cost: error in an on_budget callback (ignored)")
