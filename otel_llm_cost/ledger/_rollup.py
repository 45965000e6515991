"""Exact per-day totals of the ledger, kept next to the rows: what a report reads instead
of scanning every call.

Why. A month of a busy service is millions of calls; summing them row by row on every
``otel-llm-cost report`` took seconds (4.97 s ``--by model``, 12.29 s ``--by session``
over 1M calls). ``llm_rollup`` holds, per UTC day and per value of each grouping the
report offers (``model``, ``provider``, ``user``, ``session``; ``day`` is any of them
summed per day), the same sums the report computes: calls, tokens, the pico-dollar sum
split in two integers (``_money``), the exact decimal sum of costs that are not whole
pico-dollars (``cost_rest``), and the counts behind "unpriced", "estimated" and "failed".

Exact by construction. Rows and rollups change in one transaction: the exporter adds
the deltas of the rows the database actually inserted (a duplicate span adds nothing),
``ledger prune`` subtracts the rows it deleted. ``ledger verify`` recomputes every
rollup from the rows and fails on any difference; ``ledger migrate`` (or the first
writer) builds them for an existing ledger.

Two grains (:class:`Grain`). ``llm_rollup`` holds UTC days, what a report over weeks reads;
``llm_rollup_hour`` (schema 9) holds UTC hours, so that a window starting mid-day reads
whole hours from cells and only the rows of its first partial hour (a day of a busy
ledger is hundreds of thousands of rows; an hour is a twenty-fourth of them). Both are
kept by the same writes (:func:`record`), rebuilt and verified the same way.

:func:`spend` is the internal API for budgets over a scope (a user's spend over
``[start, end)``): whole days from the rollups, the partial days at the edges from rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from .. import semconv
from . import _attributes as attributes
from . import _keys
from ._money import SPLIT
from ._schema import COLUMNS

__all__ = ["DIMS", "Cell", "Grain", "DAY", "HOUR", "GRAINS", "deltas", "apply", "record", "rebuild", "recompute",
           "stored", "verify", "spend", "ROLLUP_SQLITE", "ROLLUP_PG", "ROLLUP_V7_SQLITE", "ROLLUP_V7_PG",
           "ROLLUP_HOUR_SQLITE", "ROLLUP_HOUR_PG", "ROLLUP_KEY_SQLITE", "ROLLUP_KEY_PG", "KEY_SQL"]

#: The groupings kept, and the SQL of each one's key over ``llm_calls`` (as the report's).
KEY_SQL = {
    "model": "COALESCE(model, response_model, '')",
    "provider": "COALESCE(provider, '')",
    "user": "COALESCE(user_id, '')",
    "session": "COALESCE(session_id, '')",
    "service": "COALESCE(service, '')",
}
#: Besides these, one dim per kept attribute, ``attr:<name>`` (``_attributes``), summed
#: from the rows' ``attributes`` column in Python (the writer's own function).
DIMS = tuple(KEY_SQL)
#: The dims of schema 6 (``service`` came with schema 8, built by its migration step).
V6_DIMS = ("model", "provider", "user", "session")
#: The integer sums of a cell, in :meth:`Group.from_row` order (``_report``).
SUMS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
        "pico_hi", "pico_lo", "priced", "summed", "estimated", "failed", "free")
_CTX = Context(prec=80)
_PRICED = SUMS.index("priced")


def _cells_table(name: str, column: str, order: tuple[str, str, str], sqlite: bool) -> str:
    """``CREATE TABLE name``: one cell per (dim, ``column`` — ``day`` or ``hour`` —, key) with
    the integer :data:`SUMS` and the decimal rest, its primary key in ``order``. SQLite keeps
    the integers as ``INTEGER`` and the rest as text, in a ``WITHOUT ROWID`` table (stored in
    key order); PostgreSQL as ``BIGINT`` and ``NUMERIC``."""
    integer, rest, rowid = ("INTEGER", "TEXT", " WITHOUT ROWID") if sqlite else ("BIGINT", "NUMERIC", "")
    keys = {"dim": "dim   TEXT NOT NULL", "key": "key   TEXT NOT NULL", column: f"{column:<5} TEXT NOT NULL"}
    sums = ",\n".join(f"    {column_} {integer} NOT NULL DEFAULT 0" for column_ in SUMS)
    return (f"\nCREATE TABLE {name} (\n" + "".join(f"    {keys[k]},\n" for k in order)
            + f"{sums},\n    cost_rest {rest},\n    PRIMARY KEY ({', '.join(order)})\n){rowid}")


ROLLUP_SQLITE = _cells_table("llm_rollup", "day", ("dim", "day", "key"), sqlite=True) + "\n"
ROLLUP_PG = _cells_table("llm_rollup", "day", ("dim", "day", "key"), sqlite=False) + "\n"

#: Schema version 7 keys the cells by (dim, key, day). Why: the report ranks keys over a
#: window (``GROUP BY key``) and :func:`spend` reads one key's days; in SQLite the table is
#: stored in its primary key's order, so in key order the ranking is one streaming pass
#: (no sort of a million session cells) and a key's days are one range. The rest index
#: finds the rare cells with a decimal rest without reading the others. (PostgreSQL keeps
#: the table and adds the same order as an index.) The data is copied as it is.
ROLLUP_V7_SQLITE = _cells_table("llm_rollup_v7", "day", ("dim", "key", "day"), sqlite=True) + f""";
INSERT INTO llm_rollup_v7 (dim, key, day, {", ".join(SUMS)}, cost_rest)
    SELECT dim, key, day, {", ".join(SUMS)}, cost_rest FROM llm_rollup ORDER BY dim, key, day;
DROP TABLE llm_rollup;
ALTER TABLE llm_rollup_v7 RENAME TO llm_rollup;
CREATE INDEX llm_rollup_rest ON llm_rollup (dim, day) WHERE cost_rest IS NOT NULL
"""
ROLLUP_V7_PG = """
CREATE INDEX llm_rollup_key ON llm_rollup (dim, key, day) INCLUDE (calls, pico_hi, pico_lo);
CREATE INDEX llm_rollup_rest ON llm_rollup (dim, day) WHERE cost_rest IS NOT NULL
"""

#: Schema version 9 adds the same cells per UTC hour (``hour`` is ``YYYY-MM-DDTHH``), keyed
#: (dim, hour, key): the report reads one dim's hours of one day as one range.
ROLLUP_HOUR_SQLITE = _cells_table("llm_rollup_hour", "hour", ("dim", "hour", "key"), sqlite=True) + "\n"
ROLLUP_HOUR_PG = _cells_table("llm_rollup_hour", "hour", ("dim", "hour", "key"), sqlite=False) + "\n"
#: ... and ``llm_key_totals``, each key's lifetime totals indexed by cost (``_keys``),
#: built from the day cells.
ROLLUP_KEY_SQLITE, ROLLUP_KEY_PG = _keys.ROLLUP_KEY_SQLITE, _keys.ROLLUP_KEY_PG


@dataclass(frozen=True)
class Grain:
    """One size of rollup cell: the table, its time column, and the prefix of ``end_time``
    (ISO 8601 UTC) that names a cell's day or hour."""

    table: str
    column: str
    width: int
    nanos: int


_HOUR_NS = 3_600 * 10**9
_DAY_NS = 24 * _HOUR_NS
DAY = Grain("llm_rollup", "day", 10, _DAY_NS)
HOUR = Grain("llm_rollup_hour", "hour", 13, _HOUR_NS)
#: Every grain a current ledger keeps (:func:`record` writes each).
GRAINS = (DAY, HOUR)

_I = {name: COLUMNS.index(name) for name in COLUMNS}


@dataclass
class Cell:
    """The sums of one (dim, day, key): integers in :data:`SUMS` order and the decimal rest."""

    sums: list[int]
    rest: Decimal | None = None

    def add(self, other: Cell, sign: int = 1) -> None:
        for i, value in enumerate(other.sums):
            self.sums[i] += sign * value
        if other.rest is not None:
            delta = other.rest if sign > 0 else -other.rest
            self.rest = delta if self.rest is None else _CTX.add(self.rest, delta)


def _decimal(text: Any) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _row_cell(row: Sequence[Any]) -> Cell:
    """One ledger row (in ``COLUMNS`` order) as the cell it adds, by the report's rules."""
    cost_text, pico = row[_I["cost_usd"]], row[_I["cost_pico"]]
    hi = lo = priced = summed = 0
    rest = None
    if pico is not None:
        hi, lo = divmod(int(pico), SPLIT)
        priced = summed = 1
    elif cost_text is not None:
        rest = _decimal(cost_text)
        priced = 1 if rest is not None else 0  # not a number: an unknown cost, never a zero
    error = row[_I["error_type"]]
    free = int(error is not None and cost_text is None and row[_I["status"]] == semconv.STATUS_NO_USAGE)
    sums = [1, *(int(row[_I[f"{k}_tokens"]] or 0) for k in ("input", "output", "cache_read", "cache_write",
                                                          "reasoning")),
            hi, lo, priced, summed, int(row[_I["usage_source"]] == semconv.SOURCE_ESTIMATED),
            int(error is not None), free]
    return Cell(sums, rest)


def keys_of(row: Sequence[Any]) -> dict[str, str]:
    """The key of ``row`` in every dim: the fixed ones, and ``attr:<name>`` per attribute it has."""
    keys = {"model": row[_I["model"]] or row[_I["response_model"]] or "",
            "provider": row[_I["provider"]] or "", "user": row[_I["user_id"]] or "",
            "session": row[_I["session_id"]] or "", "service": row[_I["service"]] or ""}
    if len(row) > _I["attributes"] and row[_I["attributes"]]:
        for name, value in attributes.decode(row[_I["attributes"]]).items():
            keys[attributes.dim(name)] = value
    return keys


def deltas(rows: Iterable[Sequence[Any]], grain: Grain = DAY) -> dict[tuple[str, str, str], Cell]:
    """What ``rows`` add to each (dim, day, key) — or (dim, hour, key) for :data:`HOUR`."""
    return _deltas([(_row_cell(row), str(row[_I["end_time"]]), keys_of(row)) for row in rows], grain)


def _deltas(cells: list[tuple[Cell, str, dict[str, str]]], grain: Grain) -> dict[tuple[str, str, str], Cell]:
    out: dict[tuple[str, str, str], Cell] = {}
    for cell, end_time, keys in cells:
        bucket = end_time[:grain.width]
        for dim, key in keys.items():
            known = out.get((dim, bucket, key))
            if known is None:
                out[(dim, bucket, key)] = Cell(list(cell.sums), cell.rest)
            else:
                known.add(cell)
    return out


def record(conn: Any, kind: str, rows: Iterable[Sequence[Any]], sign: int = 1) -> None:
    """Add (``sign`` 1: rows inserted) or subtract (-1: rows deleted) ``rows`` to every
    grain's cells, in the open transaction of the rows themselves."""
    cells = [(_row_cell(row), str(row[_I["end_time"]]), keys_of(row)) for row in rows]
    for grain in GRAINS:
        apply(conn, kind, _deltas(cells, grain), sign, grain)


def apply(conn: Any, kind: str, changes: dict[tuple[str, str, str], Cell], sign: int = 1,
          grain: Grain = DAY, keys: bool = True) -> None:
    """Add (``sign`` 1) or subtract (-1) ``changes`` in the open transaction, in key order
    (so concurrent PostgreSQL writers lock rollup rows in one order: no deadlock); the day
    cells' changes go to the keys' lifetime totals too (``_keys``; ``keys=False`` only for a
    ledger that has none yet)."""
    if not changes:
        return
    table, column = grain.table, grain.column
    mark = "?" if kind == "sqlite" else "%s"
    names = ", ".join(SUMS)
    update = ", ".join(f"{n} = {table}.{n} + excluded.{n}" for n in SUMS)
    rest_pg = f", cost_rest = CASE WHEN excluded.cost_rest IS NULL THEN {table}.cost_rest " \
              f"ELSE COALESCE({table}.cost_rest, 0) + excluded.cost_rest END" if kind != "sqlite" else ""
    sql = (f"INSERT INTO {table} (dim, {column}, key, {names}, cost_rest) "
           f"VALUES ({', '.join([mark] * (len(SUMS) + 4))}) "
           f"ON CONFLICT (dim, {column}, key) DO UPDATE SET {update}{rest_pg}")
    ordered = sorted(changes.items())
    params: list[tuple[Any, ...]] = []
    for (dim, day, key), cell in ordered:
        rest = None if cell.rest is None else (cell.rest if sign > 0 else -cell.rest)
        params.append((dim, day, key, *(sign * v for v in cell.sums),
                       None if rest is None else (str(rest) if kind == "sqlite" else rest)))
    if kind == "sqlite":
        # SQLite holds the write lock: the decimal rest is read, added exactly and written.
        plain = (f"INSERT INTO {table} (dim, {column}, key, {names}) VALUES ({', '.join(['?'] * (len(SUMS) + 3))}) "
                 f"ON CONFLICT (dim, {column}, key) DO UPDATE SET {update}")
        conn.executemany(plain, [p[:-1] for p in params])
        empty = [p[:3] for p in params] if sign < 0 else []
        for param in params:
            if param[-1] is None:
                continue
            [(old,)] = conn.execute(f"SELECT cost_rest FROM {table} WHERE dim = ? AND {column} = ? AND key = ?",
                                    param[:3]).fetchall()
            total = _CTX.add(_decimal(old) or Decimal(0), Decimal(param[-1]))
            conn.execute(f"UPDATE {table} SET cost_rest = ? WHERE dim = ? AND {column} = ? AND key = ?",
                         (_text(total), *param[:3]))
        # Only a subtraction (prune) can empty a cell: drop those it touched, by key (a
        # scan of every cell per batch would grow with the ledger).
        conn.executemany(f"DELETE FROM {table} WHERE dim = ? AND {column} = ? AND key = ? AND calls = 0", empty)
    else:
        with conn.cursor() as cur:
            cur.executemany(sql, params)
            if sign < 0:
                cur.executemany(f"DELETE FROM {table} WHERE dim = %s AND {column} = %s AND key = %s AND calls = 0",
                                [p[:3] for p in params])
    if grain is DAY and keys:
        _keys.apply(conn, kind, changes, sign)


def _text(value: Decimal) -> str:
    return format(value.normalize(_CTX), "f")


#: The SQL terms of :data:`SUMS` over ``llm_calls`` rows (a decimal-only cost is counted
#: as priced afterwards, in Python).
_TERMS = ", ".join([
    "COUNT(*)", *(f"COALESCE(SUM({k}_tokens), 0)" for k in ("input", "output", "cache_read", "cache_write",
                                                             "reasoning")),
    f"COALESCE(SUM(cost_pico / {SPLIT}), 0)", f"COALESCE(SUM(cost_pico % {SPLIT}), 0)",
    "COUNT(cost_pico)", "COUNT(cost_pico)",
    f"COUNT(CASE WHEN usage_source = '{semconv.SOURCE_ESTIMATED}' THEN 1 END)", "COUNT(error_type)",
    f"COUNT(CASE WHEN error_type IS NOT NULL AND cost_usd IS NULL AND status = '{semconv.STATUS_NO_USAGE}' "
    "THEN 1 END)"])


def batches(conn: Any) -> Iterator[tuple[int, int]]:
    """``[lo, hi)`` ranges of ``end_time_unix_nano``, one UTC day each, of every day that
    has rows (the next one found through the time index: empty days cost one look-up).

    Why by day: :func:`rebuild` and :func:`recompute` run one statement per day and
    grouping, so no statement reads more than one day of rows — on PostgreSQL each stays far
    below ``statement_timeout`` (``_pg``) however big the ledger is.
    """
    mark = "?" if _kind(conn) == "sqlite" else "%s"
    [(first,)] = conn.execute("SELECT MIN(end_time_unix_nano) FROM llm_calls").fetchall()
    while first is not None:
        lo = int(first) - int(first) % _DAY_NS
        yield lo, lo + _DAY_NS
        [(first,)] = conn.execute(f"SELECT MIN(end_time_unix_nano) FROM llm_calls WHERE end_time_unix_nano >= {mark}",
                                  (lo + _DAY_NS,)).fetchall()


def _kind(conn: Any) -> str:
    import sqlite3

    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgresql"


def _rests(conn: Any, lo: int, hi: int, grain: Grain = DAY,
           dims: Sequence[str] = DIMS) -> dict[tuple[str, str, str], tuple[Decimal, int]]:
    """The decimal-only costs (no ``cost_pico``) of the rows in ``[lo, hi)``: per cell,
    their exact sum and how many they are (each one a priced call)."""
    out: dict[tuple[str, str, str], tuple[Decimal, int]] = {}
    for dim in dims:
        key_sql = KEY_SQL[dim]
        for day, key, text in _query(conn, f"SELECT substr(end_time, 1, {grain.width}), {key_sql}, cost_usd "
                                           "FROM llm_calls "
                                           f"WHERE end_time_unix_nano >= {lo} AND end_time_unix_nano < {hi} "
                                           "AND cost_pico IS NULL AND cost_usd IS NOT NULL"):
            value = _decimal(text)
            if value is not None:
                known, count = out.get((dim, day, key), (Decimal(0), 0))
                out[(dim, day, key)] = (_CTX.add(known, value), count + 1)
    return out


def _attribute_cells(conn: Any, lo: int, hi: int, grain: Grain = DAY) -> dict[tuple[str, str, str], Cell]:
    """The ``attr:<name>`` cells of ``grain`` of the rows in ``[lo, hi)`` that have
    attributes, summed by the writer's own function (:func:`deltas`) from their
    ``attributes`` column."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls WHERE end_time_unix_nano >= {lo} "
                        f"AND end_time_unix_nano < {hi} AND attributes IS NOT NULL").fetchall()
    return {key: cell for key, cell in deltas(rows, grain).items() if key[0].startswith(attributes.DIM_PREFIX)}


def recompute(conn: Any, kind: str, grain: Grain = DAY) -> dict[tuple[str, str, str], Cell]:
    """Every rollup cell of ``grain`` computed from the rows (the database sums, decimals in
    Python), one day of rows per statement."""
    cells: dict[tuple[str, str, str], Cell] = {}
    for lo, hi in batches(conn):
        _merge(cells, cells_of(conn, lo, hi, grain))
    return cells


def cells_of(conn: Any, lo: int, hi: int, grain: Grain = DAY) -> dict[tuple[str, str, str], Cell]:
    """The rollup cells of ``grain`` that the rows in ``[lo, hi)`` (one UTC day of
    ``end_time_unix_nano``) add up to. Normally all of that day; a row whose ``end_time``
    text names another day than its unix time adds to a cell of that other day."""
    cells: dict[tuple[str, str, str], Cell] = {}
    bucket = f"substr(end_time, 1, {grain.width})"
    _merge(cells, _attribute_cells(conn, lo, hi, grain))
    for dim, key_sql in KEY_SQL.items():
        for day, key, *sums in _query(conn, f"SELECT {bucket}, {key_sql}, {_TERMS} "
                                            f"FROM llm_calls WHERE end_time_unix_nano >= {lo} "
                                            f"AND end_time_unix_nano < {hi} "
                                            f"GROUP BY {bucket}, {key_sql}"):
            _merge(cells, {(dim, day, key): Cell([int(v) for v in sums])})
    for cell_key, (rest, count) in _rests(conn, lo, hi, grain).items():
        cell = cells[cell_key]
        cell.sums[_PRICED] += count
        cell.rest = rest if cell.rest is None else _CTX.add(cell.rest, rest)
    return cells


def _merge(into: dict[tuple[str, str, str], Cell], cells: dict[tuple[str, str, str], Cell]) -> None:
    for cell_key, cell in cells.items():
        known = into.get(cell_key)
        if known is None:
            into[cell_key] = cell
        else:
            known.add(cell)


def stored(conn: Any, grain: Grain = DAY) -> dict[tuple[str, str, str], Cell]:
    """Every rollup cell of ``grain`` as the table holds it."""
    return {(dim, day, key): Cell([int(v) for v in sums], _decimal(rest))
            for dim, day, key, *sums, rest in _query(
                conn, f"SELECT dim, {grain.column}, key, {', '.join(SUMS)}, cost_rest FROM {grain.table}")}


def rebuild(conn: Any, kind: str, grain: Grain = DAY, keys: bool = True, dims: Sequence[str] | None = None) -> int:
    """Replace every rollup of ``grain`` by its value recomputed from the rows (in the open
    transaction); with ``dims``, build only those (a migration step adding them: none exist
    yet); for the day cells, with ``keys``, the keys' lifetime totals from them.

    The database sums each day straight into the table (``INSERT … SELECT``:
    no row or cell passes through Python); only the rare decimal-only costs, and the
    attribute dims, are added in Python. Returns the number of cells.
    """
    table, column = grain.table, grain.column
    if dims is None:
        conn.execute(f"DELETE FROM {table}")
    else:
        conn.execute(f"DELETE FROM {table} WHERE dim IN ({', '.join(repr(d) for d in dims)})")
    names = ", ".join(SUMS)
    update = ", ".join(f"{n} = {table}.{n} + excluded.{n}" for n in SUMS)
    mark = "?" if kind == "sqlite" else "%s"
    bucket = f"substr(end_time, 1, {grain.width})"
    for lo, hi in batches(conn):
        if dims is None:  # the key totals, if kept, are built below from the day cells
            apply(conn, kind, _attribute_cells(conn, lo, hi, grain), grain=grain, keys=False)
        for dim in dims or DIMS:
            key_sql = KEY_SQL[dim]
            conn.execute(f"INSERT INTO {table} (dim, {column}, key, {names}) "
                         f"SELECT '{dim}', {bucket}, {key_sql}, {_TERMS} FROM llm_calls "
                         f"WHERE end_time_unix_nano >= {lo} AND end_time_unix_nano < {hi} "
                         f"GROUP BY {bucket}, {key_sql} "
                         f"ON CONFLICT (dim, key, {column}) DO UPDATE SET {update}")
        for (dim, day, key), (rest, count) in sorted(_rests(conn, lo, hi, grain, dims or DIMS).items()):
            [(old,)] = conn.execute(f"SELECT cost_rest FROM {table} WHERE dim = {mark} AND key = {mark} "
                                    f"AND {column} = {mark}", (dim, key, day)).fetchall()
            total = _CTX.add(_decimal(old) or Decimal(0), rest)
            conn.execute(f"UPDATE {table} SET cost_rest = {mark}, priced = priced + {mark} WHERE dim = {mark} "
                         f"AND key = {mark} AND {column} = {mark}",
                         (_text(total) if kind == "sqlite" else total, count, dim, key, day))
    if grain is DAY and keys:
        conn.execute("DELETE FROM llm_key_totals")
        conn.execute(_keys.build_sql(kind))
    [(count,)] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchall()
    return int(count)


def verify(conn: Any, kind: str, grains: Sequence[Grain] = GRAINS, keys: bool = True) -> list[str]:
    """Each difference between the rollups (of every grain in ``grains``, and with ``keys``
    the keys' lifetime totals) and the rows, described (``user/2025-03-12/u1``, an hour's
    ``user/2025-03-12T05/u1``, a key's ``key user/u1``); empty when they agree.

    One UTC day at a time: the rows' cells of a day are compared with the cells stored for
    that day and let go, so what is held is one day's cells, the keys' expected lifetime
    totals and the list of days — not every cell of the ledger (which at ten million calls
    took gigabytes). A row whose ``end_time`` text names another day than its unix time
    (rare: written by hand or by a clock that moved) is found first, per day, by a count,
    and its cells are held until their own day is compared.
    """
    problems = []
    days: list[tuple[int, int, str]] = []
    for lo, hi in batches(conn):
        problems += attributes.index_problems(conn, lo, hi)
        days.append((lo, hi, day_of(datetime.fromtimestamp(lo // 10**9, UTC))))
    [(orphans,)] = conn.execute(f"SELECT COUNT(*) FROM {attributes.INDEX_TABLE} a WHERE NOT EXISTS (SELECT 1 FROM "
                                "llm_calls c WHERE c.trace_id = a.trace_id AND c.span_id = a.span_id)").fetchall()
    if orphans:
        problems.append(f"{attributes.INDEX_TABLE}: {orphans} entries of no ledger row")
    for grain in grains:
        want_keys: dict[tuple[str, str], list[Any]] | None = {} if grain is DAY and keys else None
        problems += _verify_grain(conn, kind, grain, days, want_keys)
        if want_keys is not None:
            problems += _verify_keys(conn, kind, want_keys)
    return problems


def _verify_grain(conn: Any, kind: str, grain: Grain, days: list[tuple[int, int, str]],
                  want_keys: dict[tuple[str, str], list[Any]] | None) -> list[str]:
    """The cells of ``grain``, day by day (see :func:`verify`); ``want_keys``, if given, is
    filled with the keys' lifetime totals the rows give."""
    mark = "?" if kind == "sqlite" else "%s"
    # Cells of rows filed under another day than their unix time's: held for that day.
    strays: dict[str, dict[tuple[str, str, str], Cell]] = {}
    for lo, hi, day in days:
        [(count,)] = conn.execute(f"SELECT COUNT(*) FROM llm_calls WHERE end_time_unix_nano >= {lo} "
                                  f"AND end_time_unix_nano < {hi} AND substr(end_time, 1, 10) <> {mark}",
                                  (day,)).fetchall()
        if count:
            for cell_key, cell in cells_of(conn, lo, hi, grain).items():
                if cell_key[1][:10] != day:
                    _merge(strays.setdefault(cell_key[1][:10], {}), {cell_key: cell})
    problems: list[str] = []
    compared = set()
    for lo, hi, day in days:
        want = {k: c for k, c in cells_of(conn, lo, hi, grain).items() if k[1][:10] == day}
        _merge(want, strays.pop(day, {}))
        problems += _compare(want, _stored_day(conn, mark, grain, day), want_keys)
        compared.add(day)
    # Days with stored cells but no rows (or only rows filed under them from another day).
    for (day,) in conn.execute(f"SELECT DISTINCT substr({grain.column}, 1, 10) FROM {grain.table}").fetchall():
        if day not in compared:
            problems += _compare(strays.pop(day, {}), _stored_day(conn, mark, grain, day), want_keys)
    for cells in strays.values():  # rows filed under a day the rollup has nothing of
        problems += _compare(cells, {}, want_keys)
    return problems


def _stored_day(conn: Any, mark: str, grain: Grain, day: str) -> dict[tuple[str, str, str], Cell]:
    """The cells of ``grain`` stored for one UTC day (``YYYY-MM-DD``): a range of the time
    column (an hour is ``YYYY-MM-DDTHH``, and ``T`` sorts before ``U``)."""
    return {(dim, when, key): Cell([int(v) for v in sums], _decimal(rest))
            for dim, when, key, *sums, rest in conn.execute(
                f"SELECT dim, {grain.column}, key, {', '.join(SUMS)}, cost_rest FROM {grain.table} "
                f"WHERE {grain.column} >= {mark} AND {grain.column} < {mark}", (day, day + "U")).fetchall()}


def _compare(want: dict[tuple[str, str, str], Cell], have: dict[tuple[str, str, str], Cell],
             want_keys: dict[tuple[str, str], list[Any]] | None) -> list[str]:
    problems = []
    for cell_key in sorted(set(want) | set(have)):
        a, b = want.get(cell_key), have.get(cell_key)
        a_rest = (a.rest or Decimal(0)) if a else Decimal(0)
        b_rest = (b.rest or Decimal(0)) if b else Decimal(0)
        if a is None or b is None or a.sums != b.sums or a_rest != b_rest:
            problems.append(f"{'/'.join(cell_key)}: rows give {_show(a)}, the rollup holds {_show(b)}")
    if want_keys is not None:
        _keys.add_expected(want_keys, want)
    return problems


def _verify_keys(conn: Any, kind: str, want_keys: dict[tuple[str, str], list[Any]]) -> list[str]:
    """The stored key totals, read a page at a time, against those the rows gave (each
    taken out of ``want_keys`` as it is matched; what is left the table lacks)."""
    problems = []
    for name, have in _keys.stored_pages(conn, kind):
        known = want_keys.pop(name, None)
        want = _keys.total(known) if known is not None else None
        if want != have:
            problems.append(f"key {'/'.join(name)}: rows give {_show_key(want)}, "
                            f"the rollup holds {_show_key(have)}")
    for name, total in sorted(_keys.finish_expected(want_keys).items()):
        problems.append(f"key {'/'.join(name)}: rows give {_show_key(total)}, the rollup holds nothing")
    return problems


def _show_key(total: tuple | None) -> str:
    if total is None:
        return "nothing"
    return ", ".join(f"{n} {v}" for n, v in zip(("first_day", "last_day", "calls", "pico_hi", "pico_lo"), total,
                                                strict=True))


def _show(cell: Cell | None) -> str:
    if cell is None:
        return "nothing"
    return ", ".join(f"{n} {v}" for n, v in zip(SUMS, cell.sums, strict=True)) + (
        f", cost_rest {cell.rest}" if cell.rest else "")


def _query(conn: Any, sql: str) -> list[tuple]:
    # No parameters: psycopg then reads '%' (the modulo above) as itself, not a placeholder.
    return list(conn.execute(sql).fetchall())


def day_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def spend(store: Any, dim: str, key: str, start: datetime, end: datetime) -> Any:
    """The exact totals of one scope (``dim`` = ``user``, ``session``, ``model`` or
    ``provider``; ``key`` as stored) over ``[start, end)``: a ``_report.Group``.

    Whole UTC days come from the rollups; the partial days at either edge from the rows.
    """
    from ._report import Group, _unix_nano, sum_groups

    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = Group(key)
    if end <= start:
        return total
    first_whole = (start if start == _midnight(start) else _midnight(start) + timedelta(days=1))
    last_whole = _midnight(end)  # exclusive
    key_sql = KEY_SQL[dim]
    # The rows of the edge days: a user's or a session's through its index (user_id, time) or
    # (session_id, time) — a plain comparison of the column, which COALESCE would hide.
    column = _INDEXED.get(dim)
    if column is not None and key:
        match, match_params = f"{column} = ?", (key,)
    else:
        match, match_params = f"{key_sql} = ?", (key,)
    edges = []
    if first_whole >= last_whole:
        edges.append((start, end))
    else:
        edges += [(start, first_whole), (last_whole, end)]
        mark = "?"
        rows = store.query(
            f"SELECT {', '.join(f'SUM({n})' for n in SUMS)} FROM llm_rollup WHERE dim = {mark} AND key = {mark} "
            f"AND day >= {mark} AND day < {mark}", (dim, key, day_of(first_whole), day_of(last_whole)))
        if rows and rows[0][0]:
            total.merge(Group.from_row(key, rows[0]))
            for (text,) in store.query("SELECT cost_rest FROM llm_rollup WHERE dim = ? AND key = ? AND day >= ? "
                                       "AND day < ? AND cost_rest IS NOT NULL",
                                       (dim, key, day_of(first_whole), day_of(last_whole))):
                total.cost = _CTX.add(total.cost, _decimal(text) or Decimal(0))
            total.decimal_rows = 0
    for lo, hi in edges:
        if lo >= hi:
            continue
        parts = sum_groups(store, [key_sql], f"WHERE {match} AND end_time_unix_nano >= ? AND end_time_unix_nano < ?",
                           (*match_params, _unix_nano(lo), _unix_nano(hi)))
        for part in parts.values():
            total.merge(part)
    return total


#: The groupings whose column leads an index of ``llm_calls`` (with the time).
_INDEXED = {"user": "user_id", "session": "session_id"}


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)



def cost_sql(dim: str, key: str | None, first_day: str, last_day: str) -> tuple[str, tuple[Any, ...]]:
    """One ``SELECT`` of ``(tag, hi, lo, text)`` rows: the exact cost of the whole UTC days
    ``[first_day, last_day)`` (``YYYY-MM-DD``) of one ``key`` of ``dim``, or of every key
    when ``key`` is None (each call is under exactly one key of a dim: the whole ledger).

    Tag 0 is the pico-dollar sums (``_money.from_parts(hi, lo)``), tag 1 each cell's
    decimal rest as text. For a caller that must read its spend in one statement (one
    snapshot, one round trip — the budgets' check, under its lock), ``UNION ALL`` with
    other parts; :func:`spend` is the same sum as a report ``Group``. One key's days are one
    range of the primary key (``(dim, key, day)`` since schema 7, which every ledger a budget
    reads has: the budgets migrate it first). The statement's text is the same whatever the
    window, so the driver and the server parse and plan it once: a list of the days, one
    parameter each, made a new statement for every window length and cost more to plan
    than to run.
    """
    params: tuple[Any, ...]
    if key is None:
        where, params = "dim = ? AND day >= ? AND day < ?", (dim, first_day, last_day)
    else:
        where, params = "dim = ? AND key = ? AND day >= ? AND day < ?", (dim, key, first_day, last_day)
    sql = (f"SELECT 0, SUM(pico_hi), SUM(pico_lo), NULL FROM llm_rollup WHERE {where} "
           f"UNION ALL SELECT 1, NULL, NULL, CAST(cost_rest AS TEXT) FROM llm_rollup WHERE {where} "
           "AND cost_rest IS NOT NULL")
    return sql, params + params
