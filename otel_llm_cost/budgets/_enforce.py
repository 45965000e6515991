"""Budgets enforced from the ledger: an observer that holds a call's worst case against
every hard budget it falls under before the call is sent, settles it to the exact cost
when it ends, and announces soft crossings — fleet-wide, through the shared ledger.

Every check reads the ledger (``_ledger``): the spend of the scope over the current
period plus the holds of calls in flight or not yet written. Nothing is cached between
calls, so processes that share the ledger share the budget.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from opentelemetry import metrics, trace

from .. import observers, semconv
from .._version import __version__
from ..config import load as load_settings
from ..cost import format_usd
from ..ledger._attributes import attribute_text
from ..record import CallRecord
from ..sessions._budget import BudgetExceeded
from ..sessions._reserve import SOURCE_DEFAULT, worst_case
from ._declare import Budget
from ._ledger import BudgetLedger, LedgerUnavailable, Scope, scope_of
from ._periods import Period, to_unix_nano

__all__ = ["Enforcer", "Crossing", "DEFAULT_RESERVATION_USD", "HOLD_TTL_S", "SCOPES_SEEN"]

_log = logging.getLogger("otel_llm_cost")

#: What a call holds when its worst case is not known (no model in the request, or no price).
DEFAULT_RESERVATION_USD = Decimal("0.01")
#: How long a hold counts without being settled (a crashed process's holds lapse), and
#: how long a settled hold waits for the exporter to write the call's row.
HOLD_TTL_S = 600.0
#: How often a process deletes expired holds and those whose row was written: every
#: check reads the live holds of its scope, so few should linger.
SWEEP_S = 5.0
#: Set by ``budgets.watching()``: the (budget name, scope id) of the declared budgets the
#: calls in that context fell under (the LangServe integration shows where they stand).
SCOPES_SEEN: ContextVar[set[tuple[str, str | None]] | None] = ContextVar("otel_llm_cost_budget_scopes",
                                                                         default=None)
#: Most remaining-budget series kept for the gauge.
MAX_SERIES = 1000
_PICO = Decimal("1e-12")


@dataclass(frozen=True, slots=True)
class Crossing:
    """Passed to ``on_crossing`` when a call takes a budget past one of its thresholds."""

    budget: Budget
    #: The user or service (None for an ``app`` budget).
    scope_id: str | None
    threshold: Decimal
    limit_usd: Decimal
    #: Spend of the period including the crossing call.
    spent_usd: Decimal


def _pico(usd: Decimal) -> int:
    return int((usd / _PICO).to_integral_value(ROUND_CEILING))


def _utc_now() -> datetime:
    return datetime.now(UTC)


_default_service: list[str | None] = []


def service_name() -> str | None:
    """The ``service.name`` the ledger records for this process's spans: the global tracer
    provider's resource, else the SDK's default resource (``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES``), read once."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    if resource is None:
        if not _default_service:
            from opentelemetry.sdk.resources import Resource

            found = Resource.create().attributes.get(semconv.SERVICE_NAME)
            _default_service.append(str(found) if found else None)
        return _default_service[0]
    name = resource.attributes.get(semconv.SERVICE_NAME)
    return str(name) if name else None


def _attributes_now() -> Mapping[str, Any]:
    """The attributes the call about to be sent will carry from its session (``user.id``,
    session attributes such as a tenant)."""
    from ..sessions._context import span_attributes

    return span_attributes()


class Enforcer:
    """The budgets in force, and the observer that applies them."""

    def __init__(self, budgets: Iterable[Budget], ledger: BudgetLedger, *,
                 clock: Callable[[], datetime] = _utc_now, hold_ttl_s: float = HOLD_TTL_S,
                 default_reservation_usd: Decimal = DEFAULT_RESERVATION_USD,
                 on_crossing: Callable[[Crossing], None] | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self.budgets = tuple(budgets)
        self.hard = tuple(b for b in self.budgets if b.hard)
        self.ledger = ledger
        self.clock = clock
        self.hold_ttl_ns = int(hold_ttl_s * 1e9)
        self.default_reservation = Decimal(default_reservation_usd)
        self.on_crossing = on_crossing
        self._pending = threading.local()
        self._last_sweep = 0.0
        self._seen: OrderedDict[tuple[str, str | None], tuple[Decimal, Decimal]] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._allowed = frozenset(load_settings().metric_attributes)
        meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)
        self._crossings = meter.create_counter(
            semconv.METRIC_BUDGET_CROSSINGS, unit=semconv.UNIT_CROSSING,
            description="Budget thresholds crossed, by scope and threshold.")
        meter.create_observable_gauge(
            semconv.METRIC_BUDGET_REMAINING, callbacks=[self._observe_remaining], unit=semconv.UNIT_USD,
            description="What is left of a declared budget in its current period, as last seen.")
        meter.create_observable_gauge(
            semconv.METRIC_BUDGET_LIMIT, callbacks=[self._observe_limit], unit=semconv.UNIT_USD,
            description="The limit of a declared budget (beside its remaining amount: the share used).")

    # -- scopes -------------------------------------------------------------------------
    @staticmethod
    def _scope_id(budget: Budget, attrs: Mapping[str, Any], service: str | None) -> str | None:
        """The call's user, service or attribute value that ``budget`` limits."""
        if budget.scope == "user":
            user = attrs.get(semconv.USER_ID)
            return str(user) if user else None
        if budget.scope == "service":
            return service
        if budget.scope == "attr":
            return attribute_text(attrs.get(budget.attribute))
        return None

    def _applies(self, budgets: Iterable[Budget], attrs: Mapping[str, Any],
                 service: str | None) -> list[tuple[Budget, str | None]]:
        out = []
        for b in budgets:
            sid = self._scope_id(b, attrs, service)
            if b.applies_to(sid):
                out.append((b, sid))
        return out

    def window(self, budget: Budget, now: datetime) -> tuple[int, int]:
        period = budget.period
        assert isinstance(period, Period)
        start, end = period.bounds(now)
        return to_unix_nano(start), to_unix_nano(end) + (1 if period.window is not None else 0)

    @staticmethod
    def scope(budget: Budget, scope_id: str | None) -> Scope:
        return scope_of(budget.scope, scope_id, budget.attribute or None)

    # -- the observer -------------------------------------------------------------------
    def before_call(self) -> Mapping[str, Any] | None:
        self._release_pending()
        if not self.hard:
            return None
        applying = self._applies(self.hard, _attributes_now(), service_name() if any(
            b.scope == "service" for b in self.hard) else None)
        if not applying:
            return None
        usd, source = self._worst_case()
        call_id = uuid.uuid4().hex
        now = self.clock()
        now_ns = to_unix_nano(now)
        held: list[str] = []
        try:
            for budget, sid in applying:
                hold_id = f"{call_id}/{budget.name}"
                try:
                    committed = self._hold(budget, sid, hold_id, usd, now, now_ns)
                except LedgerUnavailable as exc:
                    if budget.on_unavailable == "closed":
                        raise BudgetExceeded(
                            f"budget {budget.name!r}: the ledger cannot be read ({exc}); this budget fails "
                            f"closed (on_unavailable=closed)") from None
                    _log.warning("otel_llm_cost: budget %r not checked, the ledger cannot be read (%s); the call "
                                 "goes ahead (on_unavailable=open)", budget.name, exc)
                    continue
                if committed is not None:
                    self._remember(budget, sid, committed)
                    raise BudgetExceeded(
                        f"{budget.scope} {sid or ''} budget {budget.name!r}: {format_usd(committed)} USD of "
                        f"{format_usd(budget.limit)} USD spent or held this {budget.period_name}; this "
                        f"call may cost up to {format_usd(usd)} USD ({source})".replace("  ", " "))
                held.append(hold_id)
        except BaseException:
            self._drop(held)
            raise
        self._maybe_sweep(now_ns)
        if not held:
            return None
        self._pending.held = held
        return {semconv.LLM_COST_BUDGET_HOLD: call_id, semconv.LLM_COST_BUDGET_RESERVED_USD: float(usd),
                semconv.LLM_COST_BUDGET_RESERVATION: source}

    def on_call_start(self, context: Any) -> None:
        self._pending.held = None  # the call started: its holds are settled when it ends

    def on_call_end(self, record: CallRecord) -> None:
        if not self.budgets:
            return
        attrs = record.attributes
        span = record.span
        resource = getattr(span, "resource", None)
        service = resource.attributes.get(semconv.SERVICE_NAME) if resource is not None else service_name()
        applying = self._applies(self.budgets, attrs, str(service) if service else None)
        call_id = attrs.get(semconv.LLM_COST_BUDGET_HOLD)
        if not applying:
            return
        seen = SCOPES_SEEN.get()
        if seen is not None:
            seen.update((budget.name, sid) for budget, sid in applying)
        ctx = record.span_context
        if ctx is None:
            return
        trace_id, span_id = format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
        cost = record.cost.usd if record.cost.usd is not None else Decimal(0)
        model = attrs.get(semconv.GEN_AI_REQUEST_MODEL) or attrs.get(semconv.GEN_AI_RESPONSE_MODEL)
        now = self.clock()
        now_ns = to_unix_nano(now)
        for budget, sid in applying:
            hold_id = f"{call_id}/{budget.name}" if (call_id and budget.hard) else None
            try:
                before = self._settle(budget, sid, hold_id, cost, str(model) if model else None,
                                      trace_id, span_id, now, now_ns)
            except LedgerUnavailable as exc:
                _log.warning("otel_llm_cost: budget %r: the call's cost could not be settled in the ledger (%s); "
                             "its hold lapses after %g s and the exporter's row counts it", budget.name, exc,
                             self.hold_ttl_ns / 1e9)
                continue
            after = before + cost
            self._remember(budget, sid, after)
            limit = budget.limit
            for threshold in budget.thresholds:
                mark = limit * threshold
                if before < mark <= after:
                    self._announce(Crossing(budget, sid, threshold, limit, after), span)

    # -- ledger transactions ------------------------------------------------------------
    def _hold(self, budget: Budget, sid: str | None, hold_id: str, usd: Decimal, now: datetime,
              now_ns: int) -> Decimal | None:
        """Hold ``usd`` for the call; None when held, else the committed spend that refused it.
        One round trip on PostgreSQL (``BudgetLedger.hold``)."""
        start_ns, end_ns = self.window(budget, now)
        committed, held = self.ledger.hold(budget.name, self.scope(budget, sid), start_ns, end_ns, now_ns, hold_id,
                                           _pico(usd), now_ns + self.hold_ttl_ns, usd=usd, limit=budget.limit)
        return None if held else committed

    def _settle(self, budget: Budget, sid: str | None, hold_id: str | None, cost: Decimal, model: str | None,
                trace_id: str, span_id: str, now: datetime, now_ns: int) -> Decimal:
        """Turn the call's hold (or a new one) into its exact cost; the spend before it."""
        start_ns, end_ns = self.window(budget, now)
        before, _ = self.ledger.hold(budget.name, self.scope(budget, sid), start_ns, end_ns, now_ns,
                                     hold_id or f"{trace_id}{span_id}/{budget.name}", _pico(cost),
                                     now_ns + self.hold_ttl_ns, model=model, trace_id=trace_id, span_id=span_id)
        return before

    def _worst_case(self) -> tuple[Decimal, str]:
        """The most the call about to be sent may cost, and how that was known: the
        session budgets' rule (``sessions._reserve.worst_case``: the request's text bytes
        as input tokens plus its output limit, at the model's prices); a call whose model
        is missing or unpriced holds ``default_reservation_usd``."""
        usd, source = worst_case(observers.request())
        if source == SOURCE_DEFAULT:
            return self.default_reservation, source
        return usd, source

    def _drop(self, held: list[str]) -> None:
        try:
            self.ledger.delete_holds(held)
        except Exception:  # noqa: BLE001 - the holds lapse at their expiry
            _log.debug("otel_llm_cost: could not release budget holds %s (they expire)", held, exc_info=True)

    def _release_pending(self) -> None:
        """Holds of a call that was refused or never started in this thread are given back."""
        held = getattr(self._pending, "held", None)
        if held:
            self._pending.held = None
            self._drop(held)

    def _maybe_sweep(self, now_ns: int) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_S:
            return
        self._last_sweep = now
        try:
            self.ledger.sweep(now_ns)
        except Exception:  # noqa: BLE001
            _log.debug("otel_llm_cost: budget hold sweep failed", exc_info=True)

    # -- what is seen -------------------------------------------------------------------
    def _announce(self, crossing: Crossing, span: Any) -> None:
        budget = crossing.budget
        _log.warning("otel_llm_cost: budget %r%s crossed %s%% (%s of %s USD this %s)", budget.name,
                     f" for {crossing.scope_id}" if crossing.scope_id else "", f"{crossing.threshold * 100:g}",
                     format_usd(crossing.spent_usd), format_usd(crossing.limit_usd), budget.period_name)
        if span is not None and getattr(span, "is_recording", lambda: False)():
            span.add_event(semconv.BUDGET_EVENT, {
                semconv.LLM_COST_BUDGET_SCOPE: budget.scope,
                semconv.LLM_COST_BUDGET_NAME: budget.name,
                semconv.LLM_COST_BUDGET_THRESHOLD: float(crossing.threshold),
                semconv.LLM_COST_BUDGET_USD: float(crossing.limit_usd),
            })
        self._crossings.add(1, {semconv.LLM_COST_BUDGET_SCOPE: budget.scope,
                                semconv.LLM_COST_BUDGET_NAME: budget.name,
                                semconv.LLM_COST_BUDGET_THRESHOLD: float(crossing.threshold)})
        if self.on_crossing is not None:
            try:
                self.on_crossing(crossing)
            except Exception:  # noqa: BLE001 - the user's callback must not break the call
                _log.exception("otel_llm_cost: error in an on_crossing callback (ignored)")

    def _remember(self, budget: Budget, sid: str | None, spent: Decimal) -> None:
        """Keep the last spend seen for the gauges: per id only when the id may be a metric
        attribute (``user.id`` allow-listed, or a budget naming one id), at most MAX_SERIES."""
        labelled = sid if (not budget.each or self._label(budget) is not None) else None
        if budget.each and labelled is None:
            return
        with self._seen_lock:
            self._seen[(budget.name, labelled)] = (spent, budget.limit)
            self._seen.move_to_end((budget.name, labelled))
            while len(self._seen) > MAX_SERIES:
                self._seen.popitem(last=False)

    def _label(self, budget: Budget) -> str | None:
        key = {"user": semconv.USER_ID, "service": semconv.SERVICE_NAME, "attr": budget.attribute}.get(budget.scope)
        return key if key is not None and key in self._allowed else None

    def _series(self) -> list[tuple[dict[str, Any], Decimal, Decimal]]:
        by_name = {b.name: b for b in self.budgets}
        with self._seen_lock:
            items = list(self._seen.items())
        out = []
        for (name, sid), (spent, limit) in items:
            budget = by_name.get(name)
            if budget is None:
                continue
            attrs: dict[str, Any] = {semconv.LLM_COST_BUDGET_NAME: name, semconv.LLM_COST_BUDGET_SCOPE: budget.scope,
                                     semconv.LLM_COST_BUDGET_HARD: budget.hard}
            label = self._label(budget)
            if sid is not None and budget.each and label is not None:
                attrs[label] = sid
            out.append((attrs, spent, limit))
        return out

    def _observe_remaining(self, _options: Any) -> Iterable[metrics.Observation]:
        return [metrics.Observation(float(max(limit - spent, Decimal(0))), attrs)
                for attrs, spent, limit in self._series()]

    def _observe_limit(self, _options: Any) -> Iterable[metrics.Observation]:
        return [metrics.Observation(float(limit), attrs) for attrs, _spent, limit in self._series()]

    def close(self) -> None:
        self.ledger.close()


def ledger_for(target: str | os.PathLike[str] | None, timeout_s: float) -> BudgetLedger:
    from ..ledger._schema import resolve_target

    return BudgetLedger(resolve_target(target), timeout_s)
