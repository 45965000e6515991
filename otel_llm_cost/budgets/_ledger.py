"""The budgets' side of the shared ledger: spend over a period, and fleet-wide holds.

Spend. A scope's spend over ``[start, end)`` is read in one statement (:func:`spend_sql`
on SQLite, the same parts inside ``llm_budget_hold`` on PostgreSQL): its whole UTC days
from the ledger's per-day rollups
(``llm_rollup``, kept in the rows' transaction), the partial days at the window's edges
from ``llm_calls`` by the scope's index (``(user_id, end_time_unix_nano)``; an
attribute's through the ledger's attribute index ``llm_call_attributes``; the time index
for ``app`` and a service), summed exactly as the report sums (``_money``: pico-dollar integers
split in two, and the rare non-pico cost as a ``Decimal``). A check thus reads a month in
about as many rows as it has days, plus the edge days' calls of the scope.

Holds. A call under a hard budget first *holds* its worst-case cost in
``llm_budget_holds``, a table of the shared ledger every process sees; when it ends the
hold is *settled*: it takes the call's exact cost and the call's trace and span ids, and
keeps counting until the exporter has written that call's row (then the row counts and
the hold no longer does: ``NOT EXISTS`` on the row's unique key). Every hold expires
(``expires_unix_nano``): a process that crashed mid-call, or a row the exporter never
wrote, stops counting after the hold's time to live, and is deleted by a later sweep.

Atomic across processes. Check and hold run in one transaction under a lock per
(budget, scope): PostgreSQL ``pg_advisory_xact_lock`` on a hash of the key, SQLite
``BEGIN IMMEDIATE`` (one writer for the file). Two processes racing the last dollar of a
budget are serialised; one of them sees the other's hold. On PostgreSQL the transaction is
one statement, a call of the ledger's function ``llm_budget_hold`` (``ledger._holds``):
one round trip per check and per settle. The exporter deletes a call's holds in the
transaction that writes its row; the sweep is the backstop.

Never a hang. Every statement runs under a client clock (:class:`_Watchdog`): past the
budget timeout the connection's socket is shut down, the call gets
:class:`LedgerUnavailable` and the budget's ``on_unavailable`` decides. A connection
that failed is dropped, and for :data:`RETRY_S` every thread fails at once instead of
waiting for a server that is down.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..ledger._attributes import INDEX_TABLE
from ..ledger._attributes import dim as attribute_dim
from ..ledger._holds import HOLD_CALL_PG
from ..ledger._money import SPLIT, from_parts
from ..ledger._pg import migrate_pg
from ..ledger._rollup import cost_sql
from ..ledger._schema import LedgerError, describe, redact, rollback
from ..ledger._schema import connect as connect_sqlite
from ..ledger._values import storable

__all__ = ["BudgetLedger", "LedgerUnavailable", "Scope", "Totals", "RETRY_S"]

_log = logging.getLogger("otel_llm_cost")

#: After a failure to reach the ledger, how long every check fails at once.
RETRY_S = 5.0
class LedgerUnavailable(Exception):
    """The ledger could not be read or written in time; the message says why."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Which calls a spend covers: ``column = value`` (``user_id``, ``service``), an
    attribute's value (``attr``: through the ledger's attribute index), or all (``app``).
    ``value`` is as the ledger stores it (``_values.storable``)."""

    column: str | None
    value: str | None
    #: ``user``, ``service``, ``attr`` or ``app``.
    kind: str = "app"
    #: The attribute of an ``attr`` scope.
    attribute: str | None = None

    @property
    def dim(self) -> str:
        """The rollup dim that holds this scope's whole days (``app``: every key of one
        dim sums the whole ledger)."""
        return attribute_dim(self.attribute or "") if self.kind == "attr" else _ROLLUP_DIMS[self.kind]

    def rows(self, lo: int, hi: int) -> tuple[str, tuple[Any, ...]]:
        """``FROM … WHERE …``: the scope's rows of ``llm_calls`` ending in ``[lo, hi)``, read
        by an index that leads with the scope (the time index for ``app`` and ``service``).
        Columns of ``llm_calls`` are unambiguous in it (the attribute index is ``a``)."""
        if self.kind == "attr":
            return (f"FROM {INDEX_TABLE} a JOIN llm_calls c ON c.trace_id = a.trace_id AND c.span_id = a.span_id "
                    "WHERE a.name = ? AND a.value = ? AND a.end_time_unix_nano >= ? AND a.end_time_unix_nano < ?",
                    (self.attribute, self.value, lo, hi))
        if self.column is None:
            return "FROM llm_calls WHERE end_time_unix_nano >= ? AND end_time_unix_nano < ?", (lo, hi)
        return (f"FROM llm_calls WHERE {self.column} = ? AND end_time_unix_nano >= ? AND end_time_unix_nano < ?",
                (self.value, lo, hi))


@dataclass
class Totals:
    """Exact spend read from the ledger (rows, and settled holds not yet rows)."""

    total: Decimal = Decimal(0)
    calls: int = 0
    unpriced_calls: int = 0
    estimated_calls: int = 0
    #: In-flight holds (worst cases of calls not yet ended).
    reserved: Decimal = Decimal(0)
    by_model: dict[str, Decimal] = field(default_factory=dict)


_COLUMNS = {"user": "user_id", "service": "service", "app": None, "attr": None}


def scope_of(kind: str, value: str | None, attribute: str | None = None) -> Scope:
    """The scope of a budget (or a ``spend()``) for ``value``, matched as the ledger keys
    it: the one function of the writer (``_values.storable``), so an over-long user id (a
    JWT) or a value with a NUL matches the rows, rollups and holds it was stored under."""
    key = None if value is None or kind == "app" else storable(value)
    return Scope(_COLUMNS[kind], key, kind, storable(attribute) if attribute else None)


_ROLLUP_DIMS = {"user": "user", "service": "service", "app": "provider"}
_DAY_NS = 86_400 * 1_000_000_000


def spend_sql(scope: Scope, start_ns: int, end_ns: int) -> tuple[str, tuple[Any, ...]]:
    """One statement: the exact spend of ``scope`` over ``[start_ns, end_ns)``, as
    ``(tag, hi, lo, text)`` rows (tag 0 pico sums, tag 1 a cost that is not whole pico-dollars).

    The whole UTC days inside the window come from the ledger's per-day rollups
    (``_rollup.cost_sql``: a few rows per scope), the partial days at its edges from the
    rows, by the scope's ``(column, end_time_unix_nano)`` index. A window in another time
    zone (a Paris month starts at 23:00 or 22:00 UTC) has such an edge at either end; a
    window shorter than a day is all edge. One statement is one snapshot: the rows and
    rollups the exporter changes in one transaction are read together.
    """
    days, edges = split_window(start_ns, end_ns)
    parts: list[str] = []
    params: list[Any] = []
    if days is not None:
        sql, day_params = cost_sql(scope.dim, scope.value if scope.kind != "app" else None, *days)
        parts.append(sql)
        params += day_params
    for lo, hi in edges:
        rows, where = scope.rows(lo, hi)
        parts.append(f"SELECT 0, SUM(cost_pico / {SPLIT}), SUM(cost_pico % {SPLIT}), NULL {rows} "
                     f"UNION ALL SELECT 1, NULL, NULL, CAST(cost_usd AS TEXT) {rows} "
                     f"AND cost_pico IS NULL AND cost_usd IS NOT NULL")
        params += [*where, *where]
    if not parts:
        return "SELECT 0, NULL, NULL, NULL", ()
    return " UNION ALL ".join(parts), tuple(params)


def split_window(start_ns: int, end_ns: int) -> tuple[tuple[str, str] | None, list[tuple[int, int]]]:
    """``[start_ns, end_ns)`` as its whole UTC days (``[first, last)`` as ``YYYY-MM-DD``, or
    None) and the non-empty ranges of end times at its edges, read from rows."""
    first_whole = -(-start_ns // _DAY_NS) * _DAY_NS
    last_whole = end_ns // _DAY_NS * _DAY_NS
    if first_whole < last_whole:
        days: tuple[str, str] | None = (_day(first_whole), _day(last_whole))
        edges = [(start_ns, first_whole), (last_whole, end_ns)]
    else:
        days, edges = None, [(start_ns, end_ns)]
    return days, [(lo, hi) for lo, hi in edges if lo < hi]


def _day(unix_ns: int) -> str:
    return datetime.fromtimestamp(unix_ns // 1_000_000_000, UTC).strftime("%Y-%m-%d")


#: Holds that still count: not expired, and not yet a ledger row.
_HELD_SQL = (f"UNION ALL SELECT 2, SUM(usd_pico / {SPLIT}), SUM(usd_pico % {SPLIT}), NULL FROM llm_budget_holds h "
             "WHERE budget = ? AND scope_key = ? AND expires_unix_nano > ? AND id <> ? "
             "AND NOT EXISTS (SELECT 1 FROM llm_calls c WHERE c.trace_id = h.trace_id AND c.span_id = h.span_id)")


def _committed(rows: Sequence[Sequence[Any]]) -> Decimal:
    total = Decimal(0)
    for tag, hi, lo, text in rows:
        if tag == 1:
            try:
                total += Decimal(str(text))
            except InvalidOperation:
                continue
        else:
            total += from_parts(hi, lo)
    return total


class _Watchdog:
    """One thread that shuts down the socket of a statement past its deadline.

    psycopg waits on the socket; a server that stopped answering (frozen, a half-open
    connection) would hold the call for ever, and server-side timeouts cannot fire then.
    Shutting the socket down wakes the waiting thread with an error at once.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, int]] = []
        self._live: dict[int, int] = {}
        self._ids = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def deadline(self, fd: int, seconds: float) -> Iterator[None]:
        token = next(self._ids)
        with self._cond:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._heap, self._live, self._pid = [], {}, os.getpid()
                self._thread = threading.Thread(target=self._run, name="otel-llm-cost-budget-watchdog", daemon=True)
                self._thread.start()
            when = time.monotonic() + seconds
            # Wake the thread only when this deadline comes first: deadlines are "now +
            # the same timeout", so nearly always the thread sleeps on, and a statement
            # costs no thread switch (which, on a busy machine, costs a time slice).
            wake = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, token, fd))
            self._live[token] = fd
            if wake:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._live.pop(token, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                # Statements that finished in time leave their entries: drop them.
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                when, token, fd = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
                del self._live[token]
            try:
                sock = socket.socket(fileno=os.dup(fd))
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()
            except OSError:
                pass


_WATCHDOG = _Watchdog()


class BudgetLedger:
    """Budget reads and holds on one ledger (a SQLite path or a ``postgresql://`` URL)."""

    def __init__(self, target: Path | str, timeout_s: float = 1.0) -> None:
        self.target = target
        self.pg = isinstance(target, str)
        self.timeout_s = timeout_s
        self._local = threading.local()
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_pid = 0
        self._sqlite_lock = threading.Lock()
        self._retry_at = 0.0
        self._ready = False

    @property
    def name(self) -> str:
        return describe(self.target)

    # -- connections --------------------------------------------------------------------
    def _fail_fast(self) -> None:
        if time.monotonic() < self._retry_at:
            raise LedgerUnavailable(f"{self.name}: unreachable less than {RETRY_S:g} s ago; not retrying yet")

    def _broken(self, exc: BaseException) -> LedgerUnavailable:
        self._retry_at = time.monotonic() + RETRY_S
        text = str(exc).strip() or type(exc).__name__
        if self.pg:
            assert isinstance(self.target, str)
            text = text.replace(self.target, redact(self.target))
        return LedgerUnavailable(f"{self.name}: {text}")

    def _pg_conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", 0) == os.getpid() and not conn.closed and not conn.broken:
            return conn
        self._fail_fast()
        import psycopg

        assert isinstance(self.target, str)
        ms = max(1, int(self.timeout_s * 1000))
        try:
            # The user's own settings stay: their URL's (or PGOPTIONS') options come first —
            # a search_path puts our tables where theirs are — and ours after them, so that
            # the budget's timeouts, which bound the call's wait, are the ones in force; their
            # application name (URL or PGAPPNAME) is kept.
            given = psycopg.conninfo.conninfo_to_dict(self.target)
            theirs = str(given.get("options") or os.environ.get("PGOPTIONS", "")).strip()
            ours = f"-c statement_timeout={ms} -c lock_timeout={ms} -c synchronous_commit=off"
            named = given.get("application_name") is not None or bool(os.environ.get("PGAPPNAME"))
            name: dict[str, Any] = {} if named else {"application_name": "otel-llm-cost-budgets"}
            conn = psycopg.connect(self.target, autocommit=True, connect_timeout=max(2, int(self.timeout_s + 0.999)),
                                   **name,
                                   options=f"{theirs} {ours}".strip(),
                                   keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=2,
                                   # Prepared at its first use (one extra round trip then), not at
                                   # psycopg's fifth: from then on every check is one round trip.
                                   prepare_threshold=0)
            if not self._ready:
                # A budget may be checked before the exporter has written anything: the
                # ledger's tables, the holds and the check function (schema 10) first.
                migrate_pg(conn, self.target)
                self._ready = True
        except (psycopg.Error, LedgerError) as exc:
            raise self._broken(exc) from None
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    @contextmanager
    def _pg(self, transaction: bool = True) -> Iterator[Any]:
        """The thread's connection under the client clock: in a transaction, or (``False``)
        in autocommit, where each statement is its own transaction."""
        import psycopg

        conn = self._pg_conn()
        try:
            with _WATCHDOG.deadline(conn.fileno(), self.timeout_s):
                if transaction:
                    with conn.transaction():
                        yield _PgCursor(conn)
                else:
                    yield _PgCursor(conn)
        except (psycopg.Error, OSError) as exc:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._local.conn = None
            raise self._broken(exc) from None

    @contextmanager
    def _sql(self) -> Iterator[Any]:
        """A write transaction holding the ledger's lock (per scope on PostgreSQL)."""
        if self.pg:
            with self._pg() as cur:
                yield cur
            return
        with self._sqlite_lock:
            conn = self._sqlite
            if conn is None or self._sqlite_pid != os.getpid():
                self._fail_fast()
                try:
                    assert isinstance(self.target, Path)
                    conn = connect_sqlite(self.target)
                    conn.execute(f"PRAGMA busy_timeout = {max(1, int(self.timeout_s * 1000))}")
                except Exception as exc:  # noqa: BLE001 - LedgerError, sqlite3.Error, OSError
                    raise self._broken(exc) from None
                self._sqlite, self._sqlite_pid = conn, os.getpid()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteCursor(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise self._broken(exc) from None

    # -- operations ---------------------------------------------------------------------
    def hold(self, budget: str, scope: Scope, start_ns: int, end_ns: int, now_ns: int, hold_id: str,
             usd_pico: int, expires_ns: int, *, usd: Decimal = Decimal(0), limit: Decimal | None = None,
             model: str | None = None, trace_id: str | None = None,
             span_id: str | None = None) -> tuple[Decimal, bool]:
        """Under the lock of (``budget``, ``scope``): the scope's committed spend over
        ``[start_ns, end_ns)`` (rows, rollups and the live holds other than ``hold_id``),
        and whether the hold ``hold_id`` of ``usd_pico`` was written.

        With a ``limit`` (a check) the hold is written only if the spend is below it and
        the spend plus ``usd`` does not pass it; without (a settle) it is always written,
        replacing the call's hold of the same id. On PostgreSQL this is one statement, one
        round trip (``_holds.HOLD_FUNCTION_PG``); on SQLite one ``BEGIN IMMEDIATE``
        transaction, the file's one writer being the lock.
        """
        key = scope.value or ""  # as the ledger stores it: an over-long id is a digest there
        if self.pg:
            days, edges = split_window(start_ns, end_ns)
            first, last = days or ("", "")
            (lo1, hi1), (lo2, hi2) = (edges + [(0, 0), (0, 0)])[:2]
            from psycopg.types.numeric import Int8

            # The same parameter types every time (psycopg would send a small integer as
            # int2): the statement is prepared once per connection.
            params = (f"{budget}\x1f{key}", budget, key, scope.kind, scope.dim,
                      scope.value if scope.kind != "app" else None, scope.attribute, first, last,
                      Int8(lo1), Int8(hi1), Int8(lo2), Int8(hi2), Int8(now_ns), hold_id, Int8(usd_pico), usd,
                      limit, Int8(expires_ns), model, trace_id, span_id)
            with self._pg(transaction=False) as cur:
                [(committed, held)] = cur.conn.execute(HOLD_CALL_PG, params).fetchall()
            return Decimal(committed), bool(held)
        with self._sql() as cur:
            committed = self.committed(cur, budget, key, scope, start_ns, end_ns, now_ns, exclude=hold_id)
            if limit is not None and (committed >= limit or committed + usd > limit):
                return committed, False
            if limit is None:
                cur.query("DELETE FROM llm_budget_holds WHERE id = ?", (hold_id,), fetch=False)
            self.insert_hold(cur, hold_id, budget, key, usd_pico, expires_ns, model, trace_id, span_id)
        return committed, True

    def committed(self, cur: Any, budget: str, scope_key: str, scope: Scope, start_ns: int, end_ns: int,
                  now_ns: int, exclude: str = "") -> Decimal:
        sql, params = spend_sql(scope, start_ns, end_ns)
        rows = cur.query(sql + " " + _HELD_SQL, (*params, budget, scope_key, now_ns, exclude))
        return _committed(rows)

    def insert_hold(self, cur: Any, hold_id: str, budget: str, scope_key: str, usd_pico: int, expires_ns: int,
                    model: str | None = None, trace_id: str | None = None, span_id: str | None = None) -> None:
        cur.query("INSERT INTO llm_budget_holds (id, budget, scope_key, usd_pico, model, trace_id, span_id, "
                  "expires_unix_nano) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                  (hold_id, budget, scope_key, usd_pico, model, trace_id, span_id, expires_ns), fetch=False)

    def delete_holds(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._sql() as cur:
            cur.query(f"DELETE FROM llm_budget_holds WHERE id IN ({', '.join('?' * len(ids))})", tuple(ids),
                      fetch=False)

    def sweep(self, now_ns: int) -> None:
        """Delete holds that expired or whose call is now a ledger row.

        It runs on a calling thread (every ``SWEEP_S``), so it must cost a few index probes
        whatever the ledger's size: see :data:`SWEEP_PG` for why PostgreSQL gets its own
        statement. One statement, so on PostgreSQL it runs in autocommit (one round trip).
        """
        if self.pg:
            with self._pg(transaction=False) as cur:
                cur.query(SWEEP_PG, (now_ns,), fetch=False)
            return
        with self._sql() as cur:
            cur.query(SWEEP_SQLITE, (now_ns,), fetch=False)

    def totals(self, scope: Scope, start_ns: int, end_ns: int, now_ns: int, budget: str | None = None,
               scope_key: str = "", by_model: bool = True) -> Totals:
        """The exact spend of ``scope`` over the window, with flags, and (``by_model``) by model.

        The whole UTC days come from the ledger's per-day rollups and only the partial days
        at the window's edges from the rows, as in the check (:func:`split_window`) —
        except for a breakdown by model of a user, a service or an attribute value: the
        rollups keep each dim alone (a user's cells, a model's cells), never a user's
        cells per model, so that breakdown sums the period's rows. ``app``'s breakdown
        is the rollup dim ``model`` itself.
        """
        out = Totals()
        amounts: dict[str, Decimal] = {}

        def add(model: str, amount: Decimal) -> None:
            amounts[model] = amounts.get(model, Decimal(0)) + amount

        def add_texts(rows: Iterable[tuple[Any, Any]]) -> None:
            """Costs kept only as decimal text (finer than a pico-dollar), by model."""
            for model, text in rows:
                try:
                    add(str(model), Decimal(str(text)))
                except InvalidOperation:
                    continue

        from_rollups = not by_model or scope.kind == "app"
        days, edges = split_window(start_ns, end_ns) if from_rollups else (None, [(start_ns, end_ns)])
        with self._sql() as cur:
            if self.pg:  # every statement below reads one snapshot
                cur.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", fetch=False)
            if days is not None:
                dim, key = ("model", None) if scope.kind == "app" else (scope.dim, scope.value)
                where = "dim = ? AND day >= ? AND day < ?" if key is None else \
                    "dim = ? AND key = ? AND day >= ? AND day < ?"
                params: tuple[Any, ...] = (dim, *days) if key is None else (dim, key, *days)
                for model, calls, hi, lo, priced, estimated in cur.query(
                        "SELECT key, SUM(calls), SUM(pico_hi), SUM(pico_lo), SUM(priced), SUM(estimated) "
                        f"FROM llm_rollup WHERE {where} GROUP BY key", params):
                    add(str(model), from_parts(hi, lo))
                    out.calls += int(calls)
                    out.unpriced_calls += int(calls) - int(priced or 0)
                    out.estimated_calls += int(estimated or 0)
                add_texts(cur.query(f"SELECT key, CAST(cost_rest AS TEXT) FROM llm_rollup WHERE {where} "
                                    "AND cost_rest IS NOT NULL", params))
            for lo_ns, hi_ns in edges:
                source, where_params = scope.rows(lo_ns, hi_ns)
                for model, calls, hi, lo, unpriced, estimated in cur.query(
                        f"SELECT COALESCE(model, response_model, ''), COUNT(*), SUM(cost_pico / {SPLIT}), "
                        f"SUM(cost_pico % {SPLIT}), SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), "
                        f"SUM(CASE WHEN usage_source = 'estimated' THEN 1 ELSE 0 END) {source} GROUP BY 1",
                        where_params):
                    add(model, from_parts(hi, lo))
                    out.calls += int(calls)
                    out.unpriced_calls += int(unpriced or 0)
                    out.estimated_calls += int(estimated or 0)
                add_texts(cur.query(f"SELECT COALESCE(model, response_model, ''), cost_usd {source} "
                                    "AND cost_pico IS NULL AND cost_usd IS NOT NULL", where_params))
            holds = cur.query(
                "SELECT COALESCE(model, ''), usd_pico, trace_id FROM llm_budget_holds h WHERE budget = ? "
                "AND scope_key = ? AND expires_unix_nano > ? AND NOT EXISTS (SELECT 1 FROM llm_calls c "
                "WHERE c.trace_id = h.trace_id AND c.span_id = h.span_id)",
                (budget or "", scope_key, now_ns)) if budget else []
        for model, pico, trace_id in holds:
            amount = from_parts(int(pico) // SPLIT, int(pico) % SPLIT)
            if trace_id is None:
                out.reserved += amount
            else:  # a finished call the exporter has not written yet
                add(model, amount)
                out.calls += 1
        out.total = sum(amounts.values(), Decimal(0))
        if by_model:
            out.by_model = amounts
        return out

    def top(self, kind: str, start_ns: int, end_ns: int, limit: int, attribute: str | None = None) -> list[str]:
        """The ``limit`` users (services, values of ``attribute``) that spent most over the
        window, most first."""
        if kind == "attr":
            with self._sql() as cur:
                rows = cur.query(f"SELECT a.value FROM {INDEX_TABLE} a JOIN llm_calls c ON c.trace_id = a.trace_id "
                                 "AND c.span_id = a.span_id WHERE a.name = ? AND a.end_time_unix_nano >= ? "
                                 f"AND a.end_time_unix_nano < ? GROUP BY a.value "
                                 f"ORDER BY SUM(c.cost_pico / {SPLIT}) DESC, a.value LIMIT ?",
                                 (storable(attribute or ""), start_ns, end_ns, limit))
            return [str(r[0]) for r in rows]
        column = _COLUMNS[kind]
        assert column is not None
        with self._sql() as cur:
            rows = cur.query(f"SELECT {column} FROM llm_calls WHERE {column} IS NOT NULL AND end_time_unix_nano >= ? "
                             f"AND end_time_unix_nano < ? GROUP BY {column} "
                             f"ORDER BY SUM(cost_pico / {SPLIT}) DESC, {column} LIMIT ?", (start_ns, end_ns, limit))
        return [str(r[0]) for r in rows]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", 0) == os.getpid():
            conn.close()
            self._local.conn = None
        if self._sqlite is not None and self._sqlite_pid == os.getpid():
            self._sqlite.close()
            self._sqlite = None


#: The sweep on SQLite: a correlated ``EXISTS`` is always a probe of ``llm_calls``' key per hold.
SWEEP_SQLITE = ("DELETE FROM llm_budget_holds WHERE expires_unix_nano <= ? OR EXISTS (SELECT 1 FROM llm_calls c "
                "WHERE c.trace_id = llm_budget_holds.trace_id AND c.span_id = llm_budget_holds.span_id)")
#: The sweep on PostgreSQL. Written as :data:`SWEEP_SQLITE`, PostgreSQL may plan the
#: ``EXISTS`` beside an ``OR`` as a *hashed* subplan — every row of ``llm_calls`` read into a
#: hash, once per sweep — whenever the holds it expects (a holds table never analysed, or
#: analysed while it was busy) times a key probe cost more than reading every call: 34 ms
#: over 42,000 calls, on a calling thread, where the probes take 0.2 ms. A ``LATERAL``
#: subquery with ``LIMIT 1`` cannot be pulled up or hashed: each hold is one probe of the
#: ``(trace_id, span_id)`` key, whatever the plan (``tests/budgets/test_sweep.py``).
SWEEP_PG = ("DELETE FROM llm_budget_holds WHERE expires_unix_nano <= ? OR id IN (SELECT h.id FROM "
            "llm_budget_holds h CROSS JOIN LATERAL (SELECT 1 FROM llm_calls c WHERE c.trace_id = h.trace_id "
            "AND c.span_id = h.span_id LIMIT 1) AS written)")


class _PgCursor:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = (), fetch: bool = True) -> list[tuple]:
        cur = self.conn.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        return list(cur.fetchall()) if fetch else []


class _SqliteCursor:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = (), fetch: bool = True) -> list[tuple]:
        cur = self.conn.execute(sql, tuple(params))
        return list(cur.fetchall()) if fetch else []
