"""``otel-llm-cost report``: what the ledger says was spent, grouped, with exact totals.

The database groups and sums: costs as whole pico-dollars (``cost_pico``, exact integer
sums; the proof is in ``_money``), never the decimal text (SQLite would sum that as
binary floats). A cost that is not a whole pico-dollar is added as a ``Decimal``. A call
without a price is never counted as free: its group's cost is shown as a lower bound with
the number of unpriced calls, and calls whose tokens were estimated are counted
separately, so the reader knows how firm each number is.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .. import semconv
from .._usd import MONEY
from ._money import SPLIT, from_parts
from ._schema import LedgerError, resolve_target
from ._store import Store, StoreError, open_store

__all__ = ["add_command", "parse_since", "Group", "Report", "load_report"]

#: SQL for each ``--by``; every one is an expression over a column. NULL and "" are one
#: group, "(none)", either way; as expressions, the user and session keys also keep SQLite
#: from walking the whole table in their index's order to skip a sort, when ``--since``
#: selects a slice of it through the time index (30 % faster on 10M calls).
_GROUP_KEYS = {
    "model": "COALESCE(model, response_model)",
    "provider": "COALESCE(provider, '')",
    "user": "COALESCE(user_id, '')",
    "session": "COALESCE(session_id, '')",
    "day": "substr(end_time, 1, 10)",
}
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
_NONE = "(none)"
#: Wide enough that no sum of costs is ever rounded.
_CTX = MONEY  # fixed: never the application's decimal context
_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: A call that failed and reported no usage: the provider charged nothing for it (a
#: rejected or failed request), so it is not an unpriced call — the same rule as a hard
#: session budget's (``docs/reliability.md``, decision 4). A failed call that did report
#: usage (a stream cut off mid-way) is priced, or unpriced, like any other.
FAILED_FREE = f"(error_type IS NOT NULL AND cost_usd IS NULL AND status = '{semconv.STATUS_NO_USAGE}')"


@dataclass
class Group:
    """Totals of one group of calls (or of all of them)."""

    key: str
    calls: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_KINDS, 0))
    #: Exact sum of the priced calls' costs.
    cost: Decimal = Decimal(0)
    #: Calls with a cost that may have cost money: an unknown model, usage not reported.
    unpriced: int = 0
    estimated: int = 0
    #: Calls that failed (``error.type``), whether or not they reported usage.
    failed: int = 0
    #: Calls with a cost (those in :attr:`cost`).
    priced: int = 0

    #: Priced calls whose cost the database could not sum (added as decimals afterwards).
    decimal_rows: int = 0

    @classmethod
    def from_row(cls, key: str, row: Sequence) -> Group:
        """From the aggregate terms of ``_aggregates``, in order."""
        calls, i, o, cr, cw, r, hi, lo, priced, summed, estimated, failed, free = (int(v or 0) for v in row)
        # cost_pico is only ever set next to a cost, so priced - summed rows need decimals.
        return cls(key, calls, {"input": i, "output": o, "cache_read": cr, "cache_write": cw, "reasoning": r},
                   from_parts(hi, lo), calls - priced - free, estimated, failed, priced, priced - summed)

    @property
    def cost_known(self) -> bool:
        """Whether :attr:`cost` is a number to show: some call was priced, or none could
        have cost anything (every call failed without usage). Else there is no number."""
        return bool(self.priced) or not self.unpriced

    def merge(self, other: Group) -> Group:
        """Add ``other``'s totals to this group (exactly); returns self."""
        self.calls += other.calls
        for kind in TOKEN_KINDS:
            self.tokens[kind] += other.tokens[kind]
        self.cost = _CTX.add(self.cost, other.cost)
        self.unpriced += other.unpriced
        self.estimated += other.estimated
        self.failed += other.failed
        self.priced += other.priced
        self.decimal_rows += other.decimal_rows
        return self


@dataclass
class Report:
    #: The ledger read: a file path, or a PostgreSQL URL without its password.
    path: str
    by: str
    since: datetime | None
    groups: list[Group]
    total: Group
    #: (bucket start, exact spend) for every bucket from the first call to the last.
    timeline: list[tuple[datetime, Decimal]]
    #: ``hour`` or ``day``.
    bucket: str
    #: Groups not in :attr:`groups` (past ``top``; the total still counts them).
    hidden: int = 0
    #: ``rollups`` (whole days from ``llm_rollup``, partial days from rows) or ``rows``.
    source: str = "rows"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``24h``, ``7d``, ``2w`` before ``now``, or an ISO date/time (UTC if naive).

    Always a UTC datetime: a time given with an offset (``15:00+05:00``) is the same
    instant in UTC (``10:00``), so what the report says it shows is what it filtered.
    """
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # past timedelta's or datetime's range (year 1)
            raise argparse.ArgumentTypeError(f"{text!r} reaches back before the year 1") from None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration (30m, 24h, 7d, 2w) or an ISO date (2025-01-31)") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise argparse.ArgumentTypeError(f"{text!r} reaches back before the year 1") from None


ReportError = StoreError


def _column(columns: set[str], name: str, missing: str) -> str:
    # A ledger not yet migrated by a writer lacks newer columns; read them as empty.
    return name if name in columns else missing


def _aggregates(columns: set[str], exact: bool) -> tuple[str, str]:
    """The aggregate SELECT terms :meth:`Group.from_row` reads, and the cost_pico expression.

    ``exact`` leaves cost_pico out (every priced row then counts as "decimal only"): the
    fallback when SQLite's integer sum overflows, and the reference the tests compare with.
    """
    pico = "NULL" if exact else _column(columns, "cost_pico", "NULL")
    terms = ", ".join([
        "COUNT(*)",
        *(f"SUM({_column(columns, f'{kind}_tokens', '0')})" for kind in TOKEN_KINDS),
        f"COALESCE(SUM({pico} / {SPLIT}), 0)", f"COALESCE(SUM({pico} % {SPLIT}), 0)",
        "COUNT(cost_usd)", f"COUNT({pico})",
        f"COUNT(CASE WHEN usage_source = '{semconv.SOURCE_ESTIMATED}' THEN 1 END)",
        "COUNT(error_type)",
        f"COUNT(CASE WHEN {FAILED_FREE} THEN 1 END)",
    ])
    return terms, pico


def _label(name: object) -> str:
    return _NONE if name is None or name == "" else str(name)


def load_report(target: Path | str, by: str = "model", since: datetime | None = None,
                *, exact: bool = False, top: int | None = None) -> Report:
    """Total the ledger's calls by ``by`` (see ``_GROUP_KEYS``), in the database.

    Priced rows are summed as integers by the database (see ``_money`` for why that is
    exact); the few rows whose cost is not a whole pico-dollar are fetched and added as
    ``Decimal``. ``exact=True`` adds every cost as ``Decimal`` in Python (slow; the
    reference).
    """
    with open_store(target) as store:
        try:
            return _load(store, by, since, exact, top)
        except OverflowError:
            # A SQLite integer sum overflowed (over 9.2e12 USD in one group): add decimals.
            return _load(store, by, since, True, top)


def where_since(since: datetime | None) -> tuple[str, tuple]:
    if since is None:
        return "", ()
    return "WHERE end_time_unix_nano >= ?", (_unix_nano(since),)


def sum_groups(store: Store, keys: Sequence[str], where: str, params: tuple,
               exact: bool = False) -> dict[tuple, Group]:
    """Totals per distinct value of the SQL expressions ``keys`` over the rows ``where`` selects.

    One pass in the database: counts, token sums and the exact integer cost sums; then, only
    if some priced rows have no ``cost_pico`` (or ``exact``), those rows' decimal text added
    in Python. A key tuple's group is named after its first element.
    """
    terms, pico = _aggregates(store.columns, exact)
    select = ", ".join(keys)
    parts: dict[tuple, Group] = {}
    decimal_rows = 0
    for row in store.query(f"SELECT {select}, {terms} FROM llm_calls {where} GROUP BY {select}", params):
        part = Group.from_row(_label(row[0]), row[len(keys):])
        parts[tuple(row[:len(keys)])] = part
        decimal_rows += part.decimal_rows
    if decimal_rows:
        sql = (f"SELECT {select}, cost_usd FROM llm_calls "
               f"{where + ' AND' if where else 'WHERE'} cost_usd IS NOT NULL AND {pico} IS NULL")
        for *names, text in store.query(sql, params):
            part = parts[tuple(names)]
            cost = _decimal(text)
            if cost is None:  # not a number after all: an unknown cost, never a zero
                part.unpriced += 1
                part.priced -= 1
            else:
                part.cost = _CTX.add(part.cost, cost)
    return parts


def _load(store: Store, by: str, since: datetime | None, exact: bool, top: int | None = None) -> Report:
    key = _GROUP_KEYS[by]
    if by == "user" and "user_id" not in store.columns:
        key = "NULL"
    where, params = where_since(since)
    # The first and last call (two index look-ups) decide hour or day buckets, so that one
    # pass over the rows, grouped by (key, bucket), gives both the table and the chart.
    [(first, last)] = store.query(
        f"SELECT (SELECT MIN(end_time_unix_nano) FROM llm_calls {where}), "
        f"(SELECT MAX(end_time_unix_nano) FROM llm_calls {where})", params * 2)
    bucket, size = ("hour", _HOUR_NS) if first is None or last - first < _DAY_NS else ("day", _DAY_NS)
    if bucket == "day" and not exact and "llm_rollup" in store.tables:
        return _from_rollups(store, by, since, first, last, top)
    if bucket == "hour" and first is not None and not exact and "llm_rollup_hour" in store.tables:
        return _from_rollups(store, by, since, first, last, top, hours=True)
    terms, pico = _aggregates(store.columns, exact)
    slot_sql = f"end_time_unix_nano / {size}"
    rows = store.query(f"SELECT {key}, {slot_sql}, {terms} FROM llm_calls {where} GROUP BY {key}, {slot_sql}",
                       params)
    # Plain integer sums per group and per bucket first (a --by session report can have
    # hundreds of thousands of groups); one Group, one Decimal each at the end.
    width = 1 + len(TOKEN_KINDS) + 7  # the terms of _aggregates
    sums: dict[str, list[int]] = {}
    slots: dict[int, list[int]] = {}
    for row in rows:
        label = _label(row[0])
        values = list(row[2:])  # no NULLs: a group has a row, its token columns are NOT NULL
        acc = sums.get(label)
        if acc is None:
            sums[label] = values
        else:
            for i in range(width):
                acc[i] += values[i]
        slot = slots.setdefault(int(row[1]), [0, 0])
        slot[0] += values[6]
        slot[1] += values[7]
    groups = {label: Group.from_row(label, values) for label, values in sums.items()}
    total = Group.from_row("TOTAL", [sum(column) for column in zip(*sums.values(), strict=True)] or [0] * width)
    timeline = {slot: from_parts(hi, lo) for slot, (hi, lo) in slots.items()}
    if any(g.decimal_rows for g in groups.values()):
        # Costs that are not whole pico-dollars (or every cost, when exact): add them as decimals.
        sql = (f"SELECT {key}, {slot_sql}, cost_usd FROM llm_calls "
               f"{where + ' AND' if where else 'WHERE'} cost_usd IS NOT NULL AND {pico} IS NULL")
        for name, slot, text in store.query(sql, params):
            group = groups[_label(name)]
            cost = _decimal(text)
            if cost is None:  # not a number after all: an unknown cost, never a zero
                group.unpriced += 1
                total.unpriced += 1
                group.priced -= 1
                total.priced -= 1
                continue
            group.cost = _CTX.add(group.cost, cost)
            total.cost = _CTX.add(total.cost, cost)
            timeline[int(slot)] = _CTX.add(timeline.get(int(slot), Decimal(0)), cost)
    if by == "day":
        ordered = sorted(groups.values(), key=lambda g: g.key)
    else:
        ordered = sorted(groups.values(), key=by_cost)
    hidden = 0
    if top is not None and len(ordered) > top:
        ordered, hidden = ordered[:top], len(ordered) - top
    return Report(store.name, by, since, ordered, total, _points(timeline, first, last, size), bucket, hidden)


def _points(timeline: dict[int, Decimal], first: int | None, last: int | None,
            size: int) -> list[tuple[datetime, Decimal]]:
    if first is None or last is None:
        return []
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return [(epoch + timedelta(microseconds=slot * size // 1000), timeline.get(slot, Decimal(0)))
            for slot in range(first // size, last // size + 1)]


def _from_rollups(store: Store, by: str, since: datetime | None, first: int, last: int,
                  top: int | None, hours: bool = False) -> Report:
    """The report from ``llm_rollup`` (whole UTC days) and a partial first day's hour cells
    and rows (:func:`_edge_parts`); with ``hours`` (calls within a day: the chart is per
    hour), from ``llm_rollup_hour`` (whole UTC hours) and the rows of a partial first hour.

    Exact like the scan: the same integer sums, kept per day by the writers in the rows'
    transaction (``_rollup``). With ``top``, only the ``top`` most expensive groups are built:
    the others' exact cost is their integer pico-dollar sum (no decimal rest, no partial-day
    rows), so the first ``top`` of them by that sum, with every group that has a rest or
    partial-day rows, hold the true first ``top``.
    """
    from ._rollup import DAY, HOUR, SUMS

    grain = HOUR if hours else DAY
    table, column, size = grain.table, grain.column, grain.nanos
    text_of, slot_of = (_hour_text, _hour_slot) if hours else (_day_text, _day_slot)
    dim = "provider" if by == "day" else by
    label_sql = ("substr(hour, 1, 10)" if hours else "day") if by == "day" else "key"
    where, params = "WHERE dim = ?", [dim]
    edge: tuple[int, int] | None = None
    if since is not None:
        start = _unix_nano(since)
        day0 = start - start % size  # the first whole day (or hour)
        if start != day0:
            edge = (start, day0 + size)
            day0 += size
        where += f" AND {column} >= ?"
        params.append(text_of(day0))
    sums = _cell_sums(store)
    width = len(SUMS)
    by_key: dict[str, Sequence] = {}

    def fetch(keys: set[str]) -> None:
        missing = sorted(keys - by_key.keys())
        if missing and store.kind == "postgresql":
            # One probe of the (dim, key, day) index per key, whatever their number: the keys
            # as an array, each key's cells summed by a LATERAL subquery. (As an IN list, or
            # an array joined to the cells, PostgreSQL reads every cell of the dim once the
            # keys are many: 28,722 partial-day sessions at 10M calls took 2.5 s that way.)
            for row in store.query(f"SELECT wanted.key, cells.* FROM unnest(?::text[]) AS wanted (key) "
                                   f"CROSS JOIN LATERAL (SELECT {sums} FROM {table} {where} "
                                   f"AND {table}.key = wanted.key) AS cells", [missing, *params]):
                if row[1] is not None:  # a key without cells in the window's whole days
                    by_key[_raw(row[0])] = row
            return
        for i in range(0, len(missing), 5_000):
            chunk = missing[i:i + 5_000]
            for row in store.query(f"SELECT {label_sql}, {sums} FROM {table} {where} AND {label_sql} IN "
                                   f"({', '.join('?' * len(chunk))}) GROUP BY {label_sql}", [*params, *chunk]):
                by_key[_raw(row[0])] = row

    walked = None
    if top is not None and by != "day" and not hours and "llm_key_totals" in store.tables:
        # Schema 9: the keys' lifetime totals, walked from the most expensive down, give the
        # first ``top`` by their whole days' integer sums without reading the window's cells
        # (``_keys.top_keys``); None when that walk would be long (then as below).
        from ._keys import top_keys

        walked = top_keys(store, dim, params[1] if since is not None else None, top)
    if walked is not None:
        count = walked[1]
        fetch({_raw(key) for key in walked[0]})
    elif top is not None and by != "day":
        # Only the first ``top`` keys by their integer sums leave the database (a month can
        # have millions of sessions), ranked on two integer columns in one pass in key order
        # (schema 7), and only those get all their sums and a Decimal; groups that a decimal
        # rest or partial-day rows may move up are fetched below by name. The cost alone
        # ranks (a third sum costs a third more); only when the next key costs as much as the
        # last one kept does the tie-break (calls, key) need the full order.
        pico = f"SUM(pico_hi) * {SPLIT} + SUM(pico_lo)"
        ranked = store.query(f"SELECT key, {pico} AS pico FROM {table} {where} GROUP BY key "
                             f"ORDER BY pico DESC LIMIT ?", [*params, top + 1])
        if len(ranked) > top and ranked[top][1] == ranked[top - 1][1]:
            ranked = store.query(f"SELECT key, {pico} AS pico, SUM(calls) AS n FROM {table} {where} "
                                 f"GROUP BY key ORDER BY pico DESC, n DESC, key LIMIT ?", [*params, top])
        [(count,)] = store.query(f"SELECT COUNT(DISTINCT key) FROM {table} {where}", params)
        count = int(count)
        fetch({_raw(row[0]) for row in ranked[:top]})
    else:
        rows = store.query(f"SELECT {label_sql}, {sums} FROM {table} {where} GROUP BY {label_sql}", params)
        count = len(rows)
        by_key.update((_raw(row[0]), row) for row in rows)

    # Every grouping holds every row once, so the smallest (provider) gives the total and the days.
    every = ["provider", *params[1:]]
    [totals] = store.query(f"SELECT {sums} FROM {table} {where}", every)
    total = Group.from_row("TOTAL", [int(v or 0) for v in totals][:width])
    total.decimal_rows = 0
    touched: dict[str, Group] = {}  # groups with a decimal rest or partial-day rows: built exactly
    timeline: dict[int, Decimal] = {}
    for (day, hi, lo) in store.query(f"SELECT {column}, SUM(pico_hi), SUM(pico_lo) FROM {table} {where} "
                                     f"GROUP BY {column}", every):
        timeline[slot_of(day)] = from_parts(hi, lo)

    def group_of(key: str) -> Group:
        if key not in touched:
            known = by_key.get(key)
            touched[key] = _rollup_group(_label(key), known) if known is not None else Group(_label(key))
        return touched[key]

    rests = store.query(f"SELECT {label_sql}, {column}, cost_rest FROM {table} {where} AND cost_rest IS NOT NULL",
                        params)
    parts: dict[tuple, Group] = {}
    if edge is not None and hours:  # the partial first hour: its rows
        parts = sum_groups(store, [_GROUP_KEYS[by], f"end_time_unix_nano / {_HOUR_NS}"],
                           "WHERE end_time_unix_nano >= ? AND end_time_unix_nano < ?", edge)
    elif edge is not None:
        parts = _edge_parts(store, by, *edge)
    if top is not None and by != "day":
        fetch({_raw(name) for name, *_ in rests} | {_raw(name) for name, _ in parts} | {""})
    for name, day, text in rests:
        rest = _decimal(text) or Decimal(0)
        group = group_of(_raw(name))
        group.cost = _CTX.add(group.cost, rest)
        total.cost = _CTX.add(total.cost, rest)
        timeline[slot_of(day)] = _CTX.add(timeline.get(slot_of(day), Decimal(0)), rest)
    for (name, slot), part in parts.items():
        key = _raw(name)
        if key not in by_key and key not in touched:
            count += 1  # a group with calls on the partial day only
        group_of(key).merge(part)
        total.merge(part)
        timeline[int(slot)] = _CTX.add(timeline.get(int(slot), Decimal(0)), part.cost)
    total.decimal_rows = 0
    untouched = [row for key, row in by_key.items() if key not in touched]
    groups = [_rollup_group(_label(row[0]), row) for row in untouched] + list(touched.values())
    if by == "day":
        ordered = sorted(groups, key=lambda g: g.key)
    else:
        ordered = sorted(groups, key=by_cost)
    hidden = 0
    if top is not None and count > top:
        ordered, hidden = ordered[:top], count - top
    return Report(store.name, by, since, ordered, total, _points(timeline, first, last, size),
                  "hour" if hours else "day", hidden, "rollups")


def _edge_parts(store: Store, by: str, start: int, end: int) -> dict[tuple, Group]:
    """The totals of the partial first day ``[start, end)`` (``end`` the next midnight), per
    (group, day slot) like :func:`sum_groups` gives them.

    From schema 9 on, its whole hours come from ``llm_rollup_hour`` and only the rows of the
    first partial hour are read (up to 1/24 of a day's rows instead of all of them); an
    older ledger's are all read.
    """
    slot_sql = f"end_time_unix_nano / {_DAY_NS}"
    where = "WHERE end_time_unix_nano >= ? AND end_time_unix_nano < ?"
    if "llm_rollup_hour" not in store.tables:
        return sum_groups(store, [_GROUP_KEYS[by], slot_sql], where, (start, end))

    hour = -(-start // _HOUR_NS) * _HOUR_NS  # the first whole hour
    parts: dict[tuple, Group] = {}
    if start < hour:
        for (name, day), part in sum_groups(store, [_GROUP_KEYS[by], slot_sql], where, (start, hour)).items():
            known = parts.get((_raw(name), int(day)))  # NULL and '' are one group
            parts[(_raw(name), int(day))] = part if known is None else known.merge(part)
    if hour >= end:
        return parts
    dim = "provider" if by == "day" else by
    label_sql = "substr(hour, 1, 10)" if by == "day" else "key"
    cells = "FROM llm_rollup_hour WHERE dim = ? AND hour >= ? AND hour < ?"
    params = (dim, _hour_text(hour), _hour_text(end))
    slot = start // _DAY_NS
    for row in store.query(f"SELECT {label_sql}, {_cell_sums(store)} {cells} "
                           f"GROUP BY {label_sql}", params):
        part = _rollup_group(_label(row[0]), row)
        known = parts.get((_raw(row[0]), slot))
        parts[(_raw(row[0]), slot)] = part if known is None else known.merge(part)
    for name, text in store.query(f"SELECT {label_sql}, cost_rest {cells} AND cost_rest IS NOT NULL", params):
        part = parts[(_raw(name), slot)]
        part.cost = _CTX.add(part.cost, _decimal(str(text)) or Decimal(0))
    return parts


def _cell_sums(store: Store) -> str:
    """The SELECT terms summing every integer of the cells (``_rollup.SUMS``).

    On PostgreSQL each sum is cast back to ``bigint``: ``SUM(bigint)`` is ``numeric``, which
    the driver turns into a ``Decimal`` per value (13 per group: a month's 2,000 users were
    20 ms of the client's CPU, 8 ms as integers). A sum past 2⁶³ (9.2·10¹² USD as
    micro-dollars) is an error there, as it is on SQLite, and the report then adds the
    rows' decimals instead (:func:`load_report`).
    """
    from ._rollup import SUMS

    if store.kind == "sqlite":
        return ", ".join(f"SUM({name})" for name in SUMS)
    return ", ".join(f"CAST(SUM({name}) AS BIGINT)" for name in SUMS)


def _hour_text(unix_nano: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=unix_nano // _HOUR_NS)).strftime("%Y-%m-%dT%H")


def _raw(name: object) -> str:
    """A rollup key as stored: '' for a call without one."""
    return "" if name is None else str(name)


def _rollup_group(label: str, row: Sequence) -> Group:
    group = Group.from_row(label, row[1:])
    group.decimal_rows = 0  # their rest is in cost_rest, added by the caller
    return group


def _day_text(unix_nano: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=unix_nano // _DAY_NS)).strftime("%Y-%m-%d")


def _hour_slot(hour: str) -> int:
    return (datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=UTC)
            - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(hours=1)


def _day_slot(day: str) -> int:
    return (datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
            - datetime(1970, 1, 1, tzinfo=UTC)).days


def by_cost(group: Group) -> tuple:
    """Most expensive first, then most calls, then by name."""
    return (-group.cost, -group.calls, group.key)


def _unix_nano(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _decimal(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


#: Sessions a ``--by session`` table shows unless ``--top`` says otherwise (one per
#: conversation: a month can hold millions, which no one reads in a terminal).
DEFAULT_TOP_SESSIONS = 100
_HOUR_NS = 3_600 * 1_000_000_000
_DAY_NS = 24 * _HOUR_NS


def _cmd_report(args: argparse.Namespace) -> int:
    from ._render import render

    if args.html:
        from ._html import write_html

        return write_html(args.db, args.since, args.html)
    top = args.top
    if top is None and args.by == "session" and args.format == "table":
        top = DEFAULT_TOP_SESSIONS
    try:
        report = load_report(resolve_target(args.db), args.by, args.since, top=top or None)
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(report, args.format))
    return 0


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL",
                        help=f"ledger file or postgresql:// URL (default: ${semconv.ENV_LEDGER_URL}, "
                             f"else ${semconv.ENV_LEDGER_PATH}, else $XDG_DATA_HOME/otel-llm-cost/ledger.db)")


def add_command(sub: argparse._SubParsersAction) -> None:
    """Register ``report`` with the ``otel-llm-cost`` command (see ``cli._COMMANDS``)."""
    p = sub.add_parser("report", help="spend recorded in the local ledger, grouped, with exact totals")
    add_db_argument(p)
    p.add_argument("--since", type=parse_since, metavar="WHEN",
                   help="only calls since 30m / 24h / 7d / 2w ago, or an ISO date (UTC); default: all")
    p.add_argument("--by", choices=sorted(_GROUP_KEYS), default="model")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table")
    p.add_argument("--html", metavar="FILE",
                   help="write one self-contained HTML page (charts, no network) to FILE instead")
    p.add_argument("--top", type=int, metavar="N",
                   help=f"only the N most expensive groups (the total still counts every call); "
                        f"default: {DEFAULT_TOP_SESSIONS} for a --by session table, else all; 0: all")
    p.set_defaults(func=_cmd_report)
