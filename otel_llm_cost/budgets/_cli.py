"""``otel-llm-cost budget``: the declared budgets and where each stands this period.

Budgets come from ``--budgets`` (the ``OTEL_LLM_COST_BUDGETS`` syntax, inline or
``@file``) or the variable itself; spend from the ledger (``--db``, else where the
exporter writes). A budget for every user (``user:*``) lists the users that spent most
(``--top``), or the one given with ``--user``; likewise ``--service``, and ``--attr
tenant=acme`` (``--tenant acme``) for attribute budgets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

from .. import semconv
from .._terminal import printable
from ..cli import EXIT_IO, EXIT_OK, EXIT_USAGE
from . import Spend, spend_in, standing
from ._declare import Budget, BudgetDeclarationError, read_declaration
from ._enforce import ledger_for
from ._ledger import LedgerUnavailable
from ._periods import Period, to_unix_nano

__all__ = ["add_command"]


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("budget", help="list the declared budgets and where each stands this period",
                       description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--budgets", help=f"declarations (default: ${semconv.ENV_BUDGETS})")
    p.add_argument("--db", help="the ledger: a SQLite path or a postgresql:// URL")
    p.add_argument("--user", help="the user to show for per-user budgets")
    p.add_argument("--service", help="the service to show for per-service budgets")
    p.add_argument("--attr", action="append", default=[], metavar="NAME=VALUE",
                   help="the value to show for per-value budgets of attribute NAME (repeatable)")
    p.add_argument("--tenant", help="the tenant to show for per-tenant budgets (--attr tenant=VALUE)")
    p.add_argument("--top", type=int, default=10, help="per-user/service budgets: the N biggest spenders (10)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_budget)


def _rows(budget: Budget, args: argparse.Namespace, store: Any, now: datetime) -> list[tuple[str | None, Spend]]:
    period = budget.period
    assert isinstance(period, Period)
    if budget.scope == "app":
        ids: list[str | None] = [None]
    elif not budget.each:
        ids = [budget.id]
    else:
        given = (args.user if budget.scope == "user" else args.service if budget.scope == "service"
                 else _attr_values(args).get(budget.attribute))
        if given:
            ids = [given]
        else:
            start, end = period.bounds(now)
            ids = list(store.top(budget.scope, to_unix_nano(start), to_unix_nano(end) + 1, args.top,
                                 budget.attribute or None))
    return [(sid, spend_in(store, budget.scope, sid, period, budget, now, budget.attribute or None,
                           by_model=False)) for sid in ids]


def _attr_values(args: argparse.Namespace) -> dict[str, str]:
    values = {"tenant": args.tenant} if args.tenant else {}
    for item in args.attr:
        name, _, value = item.partition("=")
        values[name.strip()] = value
    return values


def _cmd_budget(args: argparse.Namespace) -> int:
    text = args.budgets if args.budgets is not None else os.environ.get(semconv.ENV_BUDGETS, "")
    try:
        declared = read_declaration(text)
    except BudgetDeclarationError as exc:
        print(f"otel-llm-cost budget: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if any("=" not in item for item in args.attr):
        print("otel-llm-cost budget: --attr takes NAME=VALUE", file=sys.stderr)
        return EXIT_USAGE
    if not declared:
        print(f"otel-llm-cost budget: no budgets declared (--budgets or {semconv.ENV_BUDGETS})", file=sys.stderr)
        return EXIT_USAGE
    store = ledger_for(args.db, 10.0)
    now = datetime.now().astimezone()
    out: list[dict[str, Any]] = []
    try:
        for budget in declared:
            for sid, spent in _rows(budget, args, store, now):
                out.append(standing(budget, sid, spent))
    except LedgerUnavailable as exc:
        print(f"otel-llm-cost budget: cannot read the ledger: {exc}", file=sys.stderr)
        return EXIT_IO
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    header = ("budget", "id", "kind", "period (local)", "spent", "limit", "remaining", "used", "calls")
    table = [header]
    for row in out:
        start = datetime.fromisoformat(row["start"]).astimezone().strftime("%Y-%m-%d %H:%M")
        flags = f" ({row['unpriced_calls']} unpriced)" if row["unpriced_calls"] else ""
        table.append((row["budget"], row["id"] or "-", "hard" if row["hard"] else "soft", f"since {start}",
                      row["spent_usd"], row["limit_usd"], row["remaining_usd"] or "-", f"{row['used']:.0%}",
                      f"{row['calls']}{flags}"))
    widths = [max(len(printable(str(r[i]))) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(printable(str(v)).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return EXIT_OK
