"""``otel-llm-cost session ID``: one conversation's exact total, per service and per model.

A conversation that crosses services (a front end, an agent, a retrieval service) has its
calls recorded by each of them; with a shared ledger (PostgreSQL) they all land in one
table, tagged with the same ``session.id`` from W3C baggage. This view adds them up once:
one row per call, so a service that also runs the session processor, or exports twice,
adds nothing twice (rows are unique by trace and span).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .._terminal import printable
from ._render import cost_text, group_dict, notes
from ._report import Group, add_db_argument, by_cost, sum_groups
from ._schema import LedgerError, resolve_target
from ._store import StoreError, open_store
from ._values import storable

__all__ = ["SessionView", "load_session", "add_command"]


@dataclass
class SessionView:
    ledger: str
    session_id: str
    users: list[str]
    first: datetime | None
    last: datetime | None
    total: Group
    by_service: list[Group]
    by_model: list[Group]


def _moment(unix_nano: int | None) -> datetime | None:
    if unix_nano is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(unix_nano) // 1000)


def load_session(target: Path | str, session_id: str) -> SessionView:
    """The session's calls, summed exactly and broken down by service and by model.

    ``session_id`` is matched as the ledger stored it (``_values.storable``): an id over
    the length limit is found by its full value, as the application knows it.
    """
    session_id = storable(session_id)
    with open_store(target) as store:
        where, params = "WHERE session_id = ?", (session_id,)
        parts = sum_groups(store, ["service", "COALESCE(model, response_model)"], where, params)
        users = sorted(str(u) for (u,) in store.query(
            f"SELECT DISTINCT user_id FROM llm_calls {where} AND user_id IS NOT NULL", params))
        [(first, last)] = store.query(
            f"SELECT MIN(end_time_unix_nano), MAX(end_time_unix_nano) FROM llm_calls {where}", params)
    total = Group("TOTAL")
    services: dict[str, Group] = {}
    models: dict[str, Group] = {}
    for (service, model), part in parts.items():
        total.merge(part)
        for table, name in ((services, service), (models, model)):
            label = "(none)" if name is None or name == "" else str(name)
            table.setdefault(label, Group(label)).merge(part)
    return SessionView(store.name, session_id, users, _moment(first), _moment(last), total,
                       sorted(services.values(), key=by_cost), sorted(models.values(), key=by_cost))


def _table(view: SessionView) -> str:
    out = [f"Session {printable(view.session_id)} — ledger {printable(view.ledger)}"]
    if not view.total.calls:
        return "\n".join(out + ["", "No LLM calls recorded for this session."]) + "\n"
    when = f"{view.first:%Y-%m-%d %H:%M:%S} – {view.last:%Y-%m-%d %H:%M:%S} UTC"
    total_notes = notes(view.total)
    out += [f"user: {', '.join(map(printable, view.users)) or '(none)'}   {when}",
            f"{view.total.calls:,} calls, cost {cost_text(view.total)} USD"
            + (f" ({total_notes})" if total_notes else ""), ""]
    for title, groups in (("service", view.by_service), ("model", view.by_model)):
        keys = [printable(g.key) for g in groups]
        width = max(len(title), *map(len, keys))
        out.append(f"{title.ljust(width)}  {'calls':>7}  {'input':>10}  {'output':>10}  cost (USD)")
        for key, g in zip(keys, groups, strict=True):
            line = (f"{key.ljust(width)}  {g.calls:>7,}  {g.tokens['input']:>10,}  "
                    f"{g.tokens['output']:>10,}  {cost_text(g)}")
            out.append(f"{line}  {notes(g)}".rstrip())
        out.append("")
    return "\n".join(out)


def _json(view: SessionView) -> str:
    data = {
        "ledger": view.ledger,
        "session": view.session_id,
        "users": view.users,
        "first": None if view.first is None else view.first.isoformat(),
        "last": None if view.last is None else view.last.isoformat(),
        "total": group_dict(view.total),
        "by_service": [{"service": g.key, **group_dict(g)} for g in view.by_service],
        "by_model": [{"model": g.key, **group_dict(g)} for g in view.by_model],
    }
    return json.dumps(data, indent=2) + "\n"


def _cmd_session(args: argparse.Namespace) -> int:
    try:
        view = load_session(resolve_target(args.db), args.session_id)
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost session: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(_json(view) if args.format == "json" else _table(view))
    return 0 if view.total.calls else 3


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("session", help="one session's exact cost across services, by service and model")
    p.add_argument("session_id", metavar="ID")
    add_db_argument(p)
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.set_defaults(func=_cmd_session)

