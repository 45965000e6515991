"""Budgets that span processes and time: a user's, a service's, a tenant's (any span
attribute the ledger keeps) or the whole application's spend limit per day, week,
calendar month (in a declared time zone) or rolling window, enforced from the ledger
every process shares, and the spend read back to show it.

Declare them in code (:func:`set_budgets`) or in ``OTEL_LLM_COST_BUDGETS`` (read when an
instrumentor is instrumented); read a scope's spend with :func:`spend`. A hard budget
refuses a call before it is sent with :class:`~otel_llm_cost.sessions.BudgetExceeded`,
exactly like a session budget. See docs/budgets.md.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .. import observers, semconv
from ..cost import format_usd
from ..sessions._budget import BudgetExceeded
from ._declare import Budget, BudgetDeclarationError, check_unique, parse_budgets, read_declaration
from ._enforce import DEFAULT_RESERVATION_USD, HOLD_TTL_S, SCOPES_SEEN, Crossing, Enforcer, ledger_for
from ._ledger import BudgetLedger, LedgerUnavailable, scope_of
from ._periods import Period, parse_period, to_unix_nano

__all__ = ["Budget", "BudgetDeclarationError", "BudgetExceeded", "Crossing", "Spend", "Period",
           "set_budgets", "clear_budgets", "current_budgets", "spend", "parse_budgets", "from_environment",
           "LedgerUnavailable", "standing", "standings", "watching"]

_log = logging.getLogger("otel_llm_cost")
_lock = threading.Lock()
_enforcer: Enforcer | None = None
#: Seconds a budget check may take before the budget's ``on_unavailable`` applies.
DEFAULT_TIMEOUT_S = 1.0


def set_budgets(budgets: Iterable[Budget] | str, *, ledger: str | os.PathLike[str] | None = None,
                clock: Callable[[], datetime] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                hold_ttl_s: float = HOLD_TTL_S, default_reservation_usd: Decimal | str = DEFAULT_RESERVATION_USD,
                on_crossing: Callable[[Crossing], None] | None = None, meter_provider: Any = None) -> None:
    """Put ``budgets`` (or a declaration in the ``OTEL_LLM_COST_BUDGETS`` syntax) in force,
    replacing the ones in force; an invalid declaration raises
    :class:`BudgetDeclarationError` and changes nothing.

    ``ledger``: where spend is read and holds kept (default: where the ledger exporter
    writes — ``OTEL_LLM_COST_LEDGER_URL``, else ``OTEL_LLM_COST_LEDGER_PATH``, else the
    default file). ``clock`` returns an aware ``datetime`` (tests move it across a month).
    """
    global _enforcer
    declared = parse_budgets(budgets) if isinstance(budgets, str) else check_unique(budgets)
    if timeout_s <= 0:
        raise BudgetDeclarationError(f"timeout_s must be positive, not {timeout_s!r}")
    try:
        store = ledger_for(ledger, timeout_s)
    except Exception as exc:  # noqa: BLE001 - a bad ledger target is a declaration error
        raise BudgetDeclarationError(f"budget ledger: {exc}") from None
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    enforcer = Enforcer(declared, store, hold_ttl_s=hold_ttl_s,
                        default_reservation_usd=Decimal(str(default_reservation_usd)), on_crossing=on_crossing,
                        meter_provider=meter_provider, **kwargs)
    with _lock:
        old, _enforcer = _enforcer, enforcer
        if old is not None:
            observers.remove_observer(old)
        if declared:
            observers.add_observer(enforcer)
    if old is not None:
        old.close()
    _warn_unkept(declared)


def _warn_unkept(declared: Iterable[Budget]) -> None:
    """An attribute budget only sees calls whose attribute the ledger keeps: say so when
    this process's exporter would not keep it (another process's may)."""
    from ..ledger._attributes import allowed

    try:
        kept = allowed()
    except Exception:  # noqa: BLE001 - a warning only
        return
    for budget in declared:
        if budget.scope == "attr" and budget.attribute not in kept:
            _log.warning("otel_llm_cost: budget %r limits the attribute %r, which the ledger exporter of this "
                         "process does not keep (add it to %s): calls written from here are not counted in it",
                         budget.name, budget.attribute, semconv.ENV_LEDGER_ATTRIBUTES)


def clear_budgets() -> None:
    """No declared budgets in force (session budgets are not affected)."""
    global _enforcer
    with _lock:
        old, _enforcer = _enforcer, None
        if old is not None:
            observers.remove_observer(old)
    if old is not None:
        old.close()


def current_budgets() -> tuple[Budget, ...]:
    enforcer = _enforcer
    return enforcer.budgets if enforcer is not None else ()


def from_environment() -> bool:
    """Put the budgets of ``OTEL_LLM_COST_BUDGETS`` in force, once per process (the
    instrumentors call this). A bad declaration is logged as an error and changes nothing;
    never raises. True when budgets were declared."""
    value = os.environ.get(semconv.ENV_BUDGETS, "")
    if not value.strip() or _enforcer is not None:
        return False
    try:
        set_budgets(read_declaration(value))
    except BudgetDeclarationError as exc:
        _log.error("otel_llm_cost: %s; no budget of %s is in force", exc, semconv.ENV_BUDGETS)
        return False
    except Exception:  # noqa: BLE001 - start-up must not fail on our account
        _log.exception("otel_llm_cost: cannot put the budgets of %s in force", semconv.ENV_BUDGETS)
        return False
    return True


@dataclass(frozen=True)
class Spend:
    """A scope's spend over a period, exact to the pico-dollar.

    ``total`` sums priced calls (ledger rows, plus finished calls the exporter has not
    written yet); ``unpriced_calls`` had no known price and add nothing; ``estimated_calls``
    were priced from estimated tokens. ``reserved`` is held by calls still in flight.
    ``limit`` and ``remaining`` are the budget's when the scope has one.
    """

    total: Decimal
    start: datetime
    end: datetime
    calls: int = 0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    reserved: Decimal = Decimal(0)
    by_model: dict[str, Decimal] = field(default_factory=dict)
    limit: Decimal | None = None
    remaining: Decimal | None = None
    budget: str | None = None


def spend(*, user: str | None = None, service: str | None = None, app: bool = False,
          tenant: str | None = None, attribute: tuple[str, str] | None = None,
          period: str | Period | None = None, tz: str | None = None, budget: str | None = None,
          ledger: str | os.PathLike[str] | None = None, now: datetime | None = None,
          by_model: bool = True) -> Spend:
    """The spend of one scope (``user=``, ``service=``, ``attribute=(name, value)`` — e.g.
    ``("tenant", "acme")``, or ``tenant="acme"`` for short — or ``app=True``) over the
    current ``period`` (``day``, ``week``, ``month``, ``rolling:24h`` …).

    When a declared budget covers the scope (the one named ``budget``, else the first
    matching one with this period, else the first matching one), its period and time zone
    are the default, and its limit and remaining amount are filled in. Raises
    :class:`LedgerUnavailable` when the ledger cannot be read.

    The whole UTC days of the period are read from the ledger's per-day rollups, the
    partial days at its edges from the rows. ``by_model`` (the default) fills in
    ``Spend.by_model``; for a user, a service or an attribute value that sums the period's
    rows (the rollups have no cells per scope and model), so ``by_model=False`` is the
    faster read when the breakdown is not shown.
    """
    if tenant is not None:
        if attribute is not None:
            raise ValueError("spend() takes tenant= or attribute=, not both")
        attribute = ("tenant", tenant)
    kinds = [k for k, v in (("user", user), ("service", service), ("attr", attribute), ("app", app or None)) if v]
    if len(kinds) != 1:
        raise ValueError("spend() takes exactly one of user=, service=, tenant=, attribute=, app=True")
    kind = kinds[0]
    name: str | None = None
    sid: str | None
    if kind == "attr":
        assert attribute is not None
        name, sid = str(attribute[0]), str(attribute[1])
    else:
        sid = user if kind == "user" else service if kind == "service" else None
    enforcer = _enforcer
    chosen = _budget_for(enforcer, kind, sid, period, budget, name)
    if budget is not None and chosen is None:
        raise ValueError(f"no declared budget named {budget!r} covers this scope")
    if isinstance(period, str):
        period = parse_period(period, tz or (chosen.tz if chosen is not None else "UTC"))
    elif period is None:
        period = chosen.period if chosen is not None else parse_period("month", tz or "UTC")
    assert isinstance(period, Period)
    if enforcer is not None and ledger is None:
        store, clock, owned = enforcer.ledger, enforcer.clock, False
    else:
        store, clock, owned = ledger_for(ledger, DEFAULT_TIMEOUT_S), None, True
    try:
        moment = now or (clock() if clock is not None else datetime.now().astimezone())
        return spend_in(store, kind, sid, period, chosen, moment, name, by_model)
    finally:
        if owned:
            store.close()


def spend_in(store: BudgetLedger, kind: str, sid: str | None, period: Period, chosen: Budget | None,
             moment: datetime, attribute: str | None = None, by_model: bool = True) -> Spend:
    """The :class:`Spend` of one scope in ``store`` over the ``period`` holding ``moment``
    (``attribute``: the attribute of an ``attr`` scope; ``by_model``: fill in the breakdown)."""
    start, end = period.bounds(moment)
    end_ns = to_unix_nano(end) + (1 if period.window is not None else 0)
    scope = scope_of(kind, sid, attribute)
    totals = store.totals(scope, to_unix_nano(start), end_ns, to_unix_nano(moment),
                          chosen.name if chosen is not None else None, scope.value or "", by_model)
    limit = chosen.limit if chosen is not None else None
    remaining = None if limit is None else _tidy(max(limit - totals.total - totals.reserved, Decimal(0)))
    return Spend(_tidy(totals.total), start, end, totals.calls, totals.unpriced_calls, totals.estimated_calls,
                 _tidy(totals.reserved), {m: _tidy(v) for m, v in sorted(totals.by_model.items())}, limit,
                 remaining, chosen.name if chosen is not None else None)


def standing(budget: Budget, scope_id: str | None, spent: Spend) -> dict[str, Any]:
    """Where ``budget`` stands for one scope, JSON-ready (money as decimal strings): what
    ``otel-llm-cost budget --json`` prints and the LangServe integration puts in responses."""
    return {
        "budget": budget.name, "scope": budget.scope, **({"attribute": budget.attribute} if budget.attribute else {}),
        "id": scope_id, "hard": budget.hard,
        "period": budget.period_name, "tz": budget.tz, "start": spent.start.isoformat(), "end": spent.end.isoformat(),
        "spent_usd": format_usd(spent.total), "reserved_usd": format_usd(spent.reserved),
        "limit_usd": format_usd(budget.limit),
        "remaining_usd": format_usd(spent.remaining) if spent.remaining is not None else None,
        "used": float(spent.total / budget.limit), "calls": spent.calls,
        "unpriced_calls": spent.unpriced_calls, "estimated_calls": spent.estimated_calls,
    }


@contextmanager
def watching() -> Iterator[set[tuple[str, str | None]]]:
    """Collect the (budget name, scope id) of every declared budget the calls made in this
    block (this context and the threads and tasks it hands its context to) fall under."""
    seen: set[tuple[str, str | None]] = set()
    token = SCOPES_SEEN.set(seen)
    try:
        yield seen
    finally:
        SCOPES_SEEN.reset(token)


def standings(seen: Iterable[tuple[str, str | None]]) -> list[dict[str, Any]]:
    """:func:`standing` of each (budget name, scope id) of :func:`watching`, read now from
    the ledger, in name order; budgets no longer in force are left out. Raises
    :class:`LedgerUnavailable` when the ledger cannot be read (within the budgets' timeout)."""
    enforcer = _enforcer
    if enforcer is None:
        return []
    by_name = {b.name: b for b in enforcer.budgets}
    moment = enforcer.clock()
    out = []
    for name, sid in sorted(seen, key=lambda s: (s[0], s[1] or "")):
        budget = by_name.get(name)
        if budget is None:
            continue
        period = budget.period
        assert isinstance(period, Period)
        out.append(standing(budget, sid, spend_in(enforcer.ledger, budget.scope, sid, period, budget, moment,
                                                  budget.attribute or None, by_model=False)))
    return out


def _tidy(amount: Decimal) -> Decimal:
    """The same amount without the trailing zeros of pico-dollar sums (3.1999992, not
    3.199999200000), never in exponent form."""
    return amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount.normalize()


def _budget_for(enforcer: Enforcer | None, kind: str, sid: str | None, period: Any,
                name: str | None, attribute: str | None = None) -> Budget | None:
    if enforcer is None:
        return None
    matching = [b for b in enforcer.budgets if b.scope == kind and b.applies_to(sid)
                and (kind != "attr" or b.attribute == attribute)]
    if name is not None:
        return next((b for b in matching if b.name == name), None)
    wanted = period.name if isinstance(period, Period) else period
    if wanted is not None:
        return next((b for b in matching if b.period_name == wanted), None)
    exact = [b for b in matching if not b.each]
    return (exact or matching)[0] if matching else None
