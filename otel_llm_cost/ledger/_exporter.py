"""A span exporter that keeps one row per LLM call: a cost ledger in SQLite or PostgreSQL.

It sits in the ordinary export pipeline (``OTEL_TRACES_EXPORTER=otlp,llm_cost_ledger``
or ``BatchSpanProcessor(LedgerSpanExporter())``), so it sees exactly the spans the
rest of the telemetry sees, after the cost attributes were set. Only LLM spans (those
with ``gen_ai.operation.name``, except agent and tool operations) are kept; everything
else is skipped.

One export batch is one transaction of rows keyed by (trace_id, span_id), inserted with
``INSERT OR IGNORE`` (SQLite) or ``ON CONFLICT DO NOTHING`` (PostgreSQL): a batch the SDK
retries, or a span exported twice (two exporters, two services), is stored once.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .. import semconv
from .._cost_range import bounded_cost
from ..cost import format_usd
from ..foreign_spans import may_be_a_call, record_of_span, should_count
from ..usage import Usage
from . import _attributes as attributes
from . import _holds as holds
from . import _rollup as rollup
from ._money import to_pico
from ._pg import connect_pg
from ._schema import COLUMNS, LedgerError, connect, describe, redact, resolve_path, resolve_target, rollback, scrub
from ._spool import Spool, spool_max_bytes
from ._spool import spool_dir as default_spool_dir
from ._values import storable

__all__ = ["LedgerSpanExporter"]

_log = logging.getLogger("otel_llm_cost")

_INSERT = (f"INSERT OR IGNORE INTO llm_calls ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
_INSERT_PG = (f"INSERT INTO llm_calls ({', '.join(COLUMNS)}) "
              f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (trace_id, span_id) DO NOTHING")
_INSERT_PG_RETURNING = _INSERT_PG + " RETURNING trace_id, span_id"
_QUARANTINE = ("INSERT INTO llm_quarantine (quarantined_at, trace_id, span_id, reason, row_json) "
               "VALUES (?, ?, ?, ?, ?)")
#: Seconds between connection attempts to a PostgreSQL ledger that refused one.
_RECONNECT_S = 5.0
#: Client-side bound of one PostgreSQL batch, connecting included: a server that stops
#: answering (frozen, a dead network path with no reset) cannot hold the export thread,
#: a ``force_flush`` or a shutdown longer than this.
WRITE_TIMEOUT_S = 10.0
#: Spooled batches delivered per export once the database answers again (the rest next time).
_DELIVER_PER_EXPORT = 20
#: Connections inherited across fork(), or abandoned to a server that stopped answering,
#: kept referenced so their finaliser never runs (it would act for another process, or block).
_inherited: list[Any] = []
_INT64 = range(-(2**63), 2**63)


class DatabaseFault(Exception):
    """The database (not a row) failed the batch: unreachable, down, full, locked, timed out."""


class _Written:
    """What one batch came to: rows handed to the database, and how many of them were quarantined."""

    __slots__ = ("rows", "quarantined")

    def __init__(self, rows: int, quarantined: int = 0) -> None:
        self.rows, self.quarantined = rows, quarantined


def _row_json(values: dict[str, Any]) -> str:
    """A refused row as JSON text any database stores (ASCII; out-of-range integers as text)."""
    clean = {}
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            value = f"<integer of {value.bit_length()} bits>"
        clean[name] = value
    return json.dumps(clean, ensure_ascii=True, default=str)


def _reason(exc: BaseException) -> str:
    return storable(f"{type(exc).__name__}: {str(exc).strip()}")


def _quarantine_params(row: Sequence[Any] | dict[str, Any], exc: BaseException) -> tuple[Any, ...]:
    values = row if isinstance(row, dict) else dict(zip(COLUMNS, row, strict=True))
    trace, span = values.get("trace_id"), values.get("span_id")
    return (_iso(time.time_ns()), trace if isinstance(trace, str) else None,
            span if isinstance(span, str) else None, _reason(exc), _row_json(values))


def _unbuildable(span: ReadableSpan, exc: Exception) -> tuple[Any, ...]:
    """The quarantine entry of a span whose row could not even be built (a broken clock …)."""
    ctx = span.context
    values = {"trace_id": format(ctx.trace_id, "032x") if ctx is not None else None,
              "span_id": format(ctx.span_id, "016x") if ctx is not None else None,
              "name": storable(str(span.name)), "end_time_unix_nano": span.end_time}
    return _quarantine_params(values, exc)


class _Writer:
    """One process's connection to the ledger, opened on first use.

    A connection belongs to the process that opened it. After ``fork()`` the child drops
    the inherited one without closing it (closing would act on the parent's file state
    or say goodbye to the server on the parent's behalf; it is kept referenced so its
    finaliser never runs either) and opens its own.

    :meth:`write` isolates rows: a batch the database refuses for one of its values is
    written again row by row, each in a savepoint, and a row that still fails is kept in
    ``llm_quarantine`` with the reason (same transaction). A fault of the database
    itself raises :class:`DatabaseFault` (or the driver's error) and writes nothing.
    """

    def __init__(self) -> None:
        self._conn: Any = None
        self._pid = 0

    def write(self, rows: list[tuple[Any, ...]], rejected: Sequence[tuple[Any, ...]] = ()) -> _Written:
        """Store ``rows`` and the quarantine entries ``rejected`` (see ``_quarantine_params``)."""
        raise NotImplementedError

    def _open(self) -> Any:
        raise NotImplementedError

    def _usable(self, conn: Any) -> bool:
        return True

    def _connection(self) -> Any:
        pid = os.getpid()
        if self._conn is not None and self._pid != pid:
            _inherited.append(self._conn)
            self._conn = None
        if self._conn is not None and not self._usable(self._conn):
            self._conn = None
        if self._conn is None:
            self._conn = self._open()
            self._pid = pid
        return self._conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        self._conn = None


#: Errors of one row's values (SQLite): anything else is the database's fault.
_SQLITE_ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                      sqlite3.ProgrammingError, OverflowError, ValueError, TypeError)


class _SqliteWriter(_Writer):
    """A SQLite ledger file; one ``BEGIN IMMEDIATE`` transaction per batch."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self) -> sqlite3.Connection:
        return connect(self.path)

    def write(self, rows: list[tuple[Any, ...]], rejected: Sequence[tuple[Any, ...]] = ()) -> _Written:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            inserted = [row for row in rows if conn.execute(_INSERT, row).rowcount]
            rollup.record(conn, "sqlite", inserted)
            attributes.index(conn, "sqlite", inserted)
            holds.release(conn, "sqlite", inserted)
            conn.executemany(_QUARANTINE, rejected)
            conn.execute("COMMIT")
            return _Written(len(rows) + len(rejected), len(rejected))
        except _SQLITE_ROW_ERRORS:
            rollback(conn)
        except BaseException:
            rollback(conn)  # the error that got us here is the one to report
            raise
        return self._write_each(conn, rows, rejected)

    def _write_each(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]],
                    rejected: Sequence[tuple[Any, ...]]) -> _Written:
        quarantined = len(rejected)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_QUARANTINE, rejected)
            inserted = []
            for row in rows:
                conn.execute("SAVEPOINT one_row")
                try:
                    if conn.execute(_INSERT, row).rowcount:
                        inserted.append(row)
                except _SQLITE_ROW_ERRORS as exc:
                    conn.execute("ROLLBACK TO one_row")
                    conn.execute(_QUARANTINE, _quarantine_params(row, exc))
                    quarantined += 1
                conn.execute("RELEASE one_row")
            rollup.record(conn, "sqlite", inserted)
            attributes.index(conn, "sqlite", inserted)
            holds.release(conn, "sqlite", inserted)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
        return _Written(len(rows) + len(rejected), quarantined)


class _Box:
    """What a PostgreSQL write attempt left behind, for the thread that waits on it."""

    __slots__ = ("conn", "written", "error")

    def __init__(self) -> None:
        self.conn: Any = None
        self.written: _Written | None = None
        self.error: BaseException | None = None


class _PostgresWriter(_Writer):
    """A PostgreSQL ledger; one transaction per batch, bounded in time, retried once.

    * A batch that meets a broken connection (a restart, ``idle_session_timeout``, a
      NAT or pgbouncer that dropped it) is written again on a fresh connection: rows are
      keyed by trace and span, so a batch the server did commit is not stored twice.
    * Every attempt runs on a helper thread and is waited for at most
      :data:`WRITE_TIMEOUT_S` (libpq's ``connect_timeout`` and TCP keep-alives bound the
      waits the kernel can see; a server that stops answering on an open socket is only
      bounded by a client clock). A connection that timed out is abandoned, never reused.
    * After a failed connection attempt the next one waits :data:`_RECONNECT_S`: while
      the database is down each batch fails at once instead of waiting out a timeout.
    """

    def __init__(self, url: str, timeout: float = WRITE_TIMEOUT_S) -> None:
        super().__init__()
        self.url = url
        self.timeout = timeout
        self._next_attempt = 0.0

    def _usable(self, conn: Any) -> bool:
        return not conn.closed and not conn.broken

    def _open(self) -> Any:
        now = time.monotonic()
        if now < self._next_attempt:
            raise LedgerError(f"{redact(self.url)}: not retrying the connection yet (it failed "
                              f"less than {_RECONNECT_S:g} s ago)")
        try:
            return connect_pg(self.url)
        except Exception:
            self._next_attempt = now + _RECONNECT_S
            raise

    def write(self, rows: list[tuple[Any, ...]], rejected: Sequence[tuple[Any, ...]] = ()) -> _Written:
        for attempt in (1, 2):
            box = self._attempt(rows, rejected)
            if box.error is None:
                assert box.written is not None
                return box.written
            conn = box.conn
            lost = conn is not None and (conn.closed or conn.broken)
            if lost:
                self._conn = None
            if attempt == 1 and lost and isinstance(box.error, _psycopg().OperationalError):
                _log.debug("otel_llm_cost: ledger %s: connection lost (%s); writing the batch again "
                           "on a new connection", redact(self.url), scrub(str(box.error), self.url))
                continue
            raise box.error
        raise AssertionError("unreachable")

    def _attempt(self, rows: list[tuple[Any, ...]], rejected: Sequence[tuple[Any, ...]]) -> _Box:
        box = _Box()
        pid = os.getpid()
        if self._conn is not None and self._pid != pid:
            _inherited.append(self._conn)
            self._conn = None
        current = self._conn if self._conn is not None and self._usable(self._conn) else None

        def run() -> None:
            try:
                box.conn = current if current is not None else self._open()
                box.written = _write_pg(box.conn, rows, rejected)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box.error = exc

        worker = threading.Thread(target=run, name="otel-llm-cost-ledger-write", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            # The server stopped answering. Leave the connection to the helper thread (it
            # may still finish, harmlessly: the batch is spooled and written idempotently).
            if box.conn is not None:
                _inherited.append(box.conn)
            self._conn = None
            self._next_attempt = time.monotonic() + _RECONNECT_S
            box.error = DatabaseFault(f"no answer from the database within {self.timeout:g} s")
            box.conn = None
            return box
        self._conn, self._pid = box.conn, pid
        return box


def _inserted(rows: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows whose (trace_id, span_id) the database reports inserted (a span twice in
    one batch is inserted once)."""
    waiting: dict[tuple[Any, Any], int] = {}
    for key in keys:
        waiting[tuple(key)] = waiting.get(tuple(key), 0) + 1
    out = []
    trace, span = COLUMNS.index("trace_id"), COLUMNS.index("span_id")
    for row in rows:
        key = (row[trace], row[span])
        if waiting.get(key):
            waiting[key] -= 1
            out.append(row)
    return out


def _psycopg():
    import psycopg

    return psycopg


def _write_pg(conn: Any, rows: list[tuple[Any, ...]], rejected: Sequence[tuple[Any, ...]]) -> _Written:
    psycopg = _psycopg()
    row_errors = (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.ProgramLimitExceeded,
                  psycopg.errors.UntranslatableCharacter, OverflowError, ValueError, TypeError)
    quarantine = _QUARANTINE.replace("?", "%s")
    try:
        with conn.transaction():
            with conn.cursor() as cur:
                if rows:
                    cur.executemany(_INSERT_PG_RETURNING, rows, returning=True)
                    keys = []
                    while True:
                        keys += cur.fetchall()
                        if not cur.nextset():
                            break
                    inserted = _inserted(rows, keys)
                    rollup.record(conn, "postgresql", inserted)
                    attributes.index(conn, "postgresql", inserted)
                    holds.release(conn, "postgresql", inserted)
                if rejected:
                    cur.executemany(quarantine, rejected)
        return _Written(len(rows) + len(rejected), len(rejected))
    except row_errors:
        if conn.closed or conn.broken:
            raise
    quarantined = len(rejected)
    with conn.transaction():
        with conn.cursor() as cur:
            if rejected:
                cur.executemany(quarantine, rejected)
            inserted = []
            for row in rows:
                try:
                    with conn.transaction():  # a savepoint
                        cur.execute(_INSERT_PG_RETURNING, row)
                        if cur.fetchall():
                            inserted.append(row)
                except row_errors as exc:
                    if conn.closed or conn.broken:
                        raise
                    cur.execute(quarantine, _quarantine_params(row, exc))
                    quarantined += 1
            rollup.record(conn, "postgresql", inserted)
            attributes.index(conn, "postgresql", inserted)
            holds.release(conn, "postgresql", inserted)
    return _Written(len(rows) + len(rejected), quarantined)


class LedgerSpanExporter(SpanExporter):
    """Append LLM spans to the ledger: a SQLite file, or a shared PostgreSQL database.

    ``target`` is a path or a ``postgresql://`` URL; it defaults to
    ``OTEL_LLM_COST_LEDGER_URL``, then ``OTEL_LLM_COST_LEDGER_PATH``, then
    ``$XDG_DATA_HOME/otel-llm-cost/ledger.db``. The database is opened on the first export,
    not here, so building the exporter (e.g. at ``opentelemetry-instrument`` start-up)
    never fails, and a forked worker opens its own connection.

    A batch the database cannot take (PostgreSQL down, restarting, frozen; a SQLite file
    locked past its busy timeout by a ``VACUUM`` or another long transaction) waits in a
    local spool (``_spool``; ``spool_dir`` or ``OTEL_LLM_COST_LEDGER_SPOOL``) and is
    delivered by a later export. :attr:`counters` says what happened to the rows.
    """

    def __init__(self, target: str | os.PathLike[str] | None = None, *,
                 spool_dir: str | os.PathLike[str] | None = None,
                 write_timeout: float = WRITE_TIMEOUT_S, attributes: Sequence[str] | None = None) -> None:
        self._config_error: LedgerError | None = None
        #: The span attributes kept on each row (``_attributes.allowed``: ``attributes``,
        #: else ``OTEL_LLM_COST_LEDGER_ATTRIBUTES``, else the metric allow-list).
        self.attributes = _allowed(attributes)
        try:
            resolved = resolve_target(target)
        except LedgerError as exc:
            self._config_error, resolved = exc, resolve_path(None)
        #: The SQLite file, or None on PostgreSQL.
        self.path: Path | None = None if isinstance(resolved, str) else resolved
        #: The PostgreSQL URL, or None on SQLite.
        self.url: str | None = resolved if isinstance(resolved, str) else None
        self._writer: _Writer = (
            _PostgresWriter(resolved, write_timeout) if isinstance(resolved, str) else _SqliteWriter(resolved))
        #: Rows wait here while the ledger cannot take them (None when it is misconfigured).
        self.spool: Spool | None = None
        if self._config_error is None:
            name = resolved if isinstance(resolved, str) else os.path.abspath(resolved)
            self.spool = Spool(Path(spool_dir) if spool_dir is not None else default_spool_dir(name),
                               spool_max_bytes())
        self._stored = 0
        self._quarantined = 0
        self._lock = threading.Lock()
        self._failing = False
        self._spooling = False
        self._shutdown = False

    @property
    def target(self) -> str:
        """Where this exporter writes, as shown in messages (no password)."""
        return describe(self.url) if self.url is not None else str(self.path)

    @property
    def counters(self) -> dict[str, int]:
        """Rows stored (handed to the database; a duplicate is stored once), quarantined
        (refused by the database, kept in ``llm_quarantine``), spooled, delivered from the
        spool, and dropped (only past the spool's bound)."""
        spool = self.spool
        return {"stored": self._stored, "quarantined": self._quarantined,
                "spooled": spool.spooled if spool else 0, "delivered": spool.delivered if spool else 0,
                "dropped": spool.dropped if spool else 0}

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        rows: list[tuple[Any, ...]] = []
        rejected: list[tuple[Any, ...]] = []
        try:
            if self._config_error is not None:
                raise self._config_error
            for span in spans:
                if _is_llm_span(span):
                    try:
                        rows.append(row_for(span, self.attributes))
                    except Exception as exc:  # noqa: BLE001 - one span's values, not the batch's
                        rejected.append(_unbuildable(span, exc))
            if not rows and not rejected and not self._spool_waiting():
                return SpanExportResult.SUCCESS
            with self._lock:
                if rows or rejected:
                    self._count(self._writer.write(rows, rejected))
                    rows = []  # stored: a failed delivery below must not spool them again
                self._deliver()
        except Exception as exc:  # noqa: BLE001 - an exporter must never raise into the app
            self._fail(exc, rows)
            return SpanExportResult.FAILURE
        self._failing = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._shutdown = True
            self._writer.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export commits (or spools) before returning; nothing is buffered here

    def _count(self, written: _Written) -> None:
        self._stored += written.rows - written.quarantined
        if written.quarantined:
            self._quarantined += written.quarantined
            _log.warning("otel_llm_cost: the cost ledger %s refused %d of %d rows; they are kept in its "
                         "llm_quarantine table with the reason (the other rows are stored)",
                         self.target, written.quarantined, written.rows)

    def _spool_waiting(self) -> bool:
        return self.spool is not None and bool(self.spool.batches())

    def _deliver(self) -> None:
        """Write spooled batches, oldest first, while the database takes them."""
        spool = self.spool
        if spool is None:
            return
        for path in spool.batches()[:_DELIVER_PER_EXPORT]:
            rows = spool.read(path)
            if rows is None:
                continue
            self._count(self._writer.write(rows))
            spool.done(path, len(rows))
            if self._spooling and not spool.batches():
                self._spooling = False
                _log.warning("otel_llm_cost: the cost ledger %s answers again; every spooled row is delivered "
                             "(%s)", self.target, _counts(self.counters))

    def _fail(self, exc: Exception, rows: list[tuple[Any, ...]]) -> None:
        # Log the first failure of a run of failures loudly (with the ledger at fault),
        # then quietly: an unwritable ledger must not flood the application's log.
        cause = _cause(exc, self.target, self.url)
        kept = ""
        if self.spool is not None and rows:
            try:
                if self.spool.put(rows):
                    kept = f"; {len(rows)} rows spooled to {self.spool.directory}, delivered when it answers"
                    if not self._spooling:
                        self._spooling = True
                        _log.warning("otel_llm_cost: the cost ledger %s cannot take rows now (%s); they wait in %s "
                                     "(at most %d MiB) and are delivered when it answers",
                                     self.target, cause, self.spool.directory, self.spool.max_bytes // 2**20)
                else:
                    kept = f"; {len(rows)} rows DROPPED: the spool {self.spool.directory} is full"
                    _log.error("otel_llm_cost: the cost ledger %s cannot be reached and its spool is full: "
                               "%d rows dropped (%s)", self.target, len(rows), _counts(self.counters))
            except OSError as spool_error:
                self.spool.dropped += len(rows)
                _log.error("otel_llm_cost: cannot spool %d rows for the cost ledger %s: %s; they are dropped",
                           len(rows), self.target, spool_error)
        if not self._failing:
            self._failing = True
            if self.spool is None:
                _log.error("otel_llm_cost: cannot write the cost ledger %s: %s "
                           "(LLM calls are not recorded until it can be written; set %s or %s to change it)",
                           self.target, cause, semconv.ENV_LEDGER_URL, semconv.ENV_LEDGER_PATH)
            else:
                _log.error("otel_llm_cost: cannot write the cost ledger %s: %s%s",
                           self.target, cause, kept)
        else:
            _log.debug("otel_llm_cost: ledger %s still failing: %s%s", self.target, cause, kept)
        with self._lock:
            self._writer.close()


def _counts(counters: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counters.items())


def _cause(exc: Exception, target: str, url: str | None) -> str:
    """The error as the database gave it, without the ledger's name (said once already)
    and without any secret of the URL, whatever form the driver echoed it in."""
    text = str(exc).strip()
    if url is not None:
        text = scrub(text, url)
    for prefix in (f"{target}: ", f"{target}:"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text or type(exc).__name__


def _is_llm_span(span: ReadableSpan) -> bool:
    attrs = span.attributes
    if not attrs:
        return False
    if span.instrumentation_scope is None or span.instrumentation_scope.name != semconv.SCOPE_NAME:
        # Another tool's span, in whatever names it was written (OpenLLMetry, OpenInference,
        # an SDK's own without an operation name): a row exactly when sessions count it.
        return may_be_a_call(span.instrumentation_scope.name if span.instrumentation_scope else None,
                             attrs) and should_count(span)
    operation = attrs.get(semconv.GEN_AI_OPERATION_NAME)
    if operation is None or operation in semconv.NON_MODEL_OPERATIONS:
        return False
    # One row per call: an SDK's own span is skipped while ours covers the same call.
    return should_count(span)


def _iso(unix_nano: int) -> str:
    seconds, nanos = divmod(unix_nano, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any) -> str | None:
    """Text as the ledger stores it (``_values.storable``); None for absent or empty."""
    return None if value is None or value == "" else storable(str(value))


def _exact_cost(value: Any) -> str | None:
    """The ``llm_cost.usd`` string, checked, in the declared range of a cost and quantized
    to its unit (``_cost_range``), canonical; None when absent, not a number or out of range."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(value if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        return None
    bounded = bounded_cost(number)
    return None if bounded is None else format_usd(bounded)


def _allowed(names: Sequence[str] | None) -> tuple[str, ...]:
    try:
        return attributes.allowed(names)
    except Exception:  # noqa: BLE001 - building the exporter never fails
        _log.exception("otel_llm_cost: cannot read the ledger's attribute allow-list; no attribute is kept")
        return ()


def row_for(span: ReadableSpan, kept: Sequence[str] = ()) -> tuple[Any, ...]:
    """The ledger row of one LLM span, in :data:`COLUMNS` order; ``kept``: the allow-listed
    attribute names stored in its ``attributes`` column."""
    attrs = span.attributes or {}
    extra = attributes.encode(attrs, kept) if kept else None
    scope = span.instrumentation_scope.name if span.instrumentation_scope is not None else None
    cost_text = _exact_cost(attrs.get(semconv.LLM_COST_USD))
    status = _text(attrs.get(semconv.LLM_COST_STATUS))
    catalog_model = _text(attrs.get(semconv.LLM_COST_MODEL))
    catalog = _text(attrs.get(semconv.LLM_COST_CATALOG))
    if scope == semconv.SCOPE_NAME:
        usage = Usage.from_span_attributes(attrs)
    else:
        # Another tool's span (e.g. the Anthropic SDK's own): read and priced by the one
        # function every consumer uses, so the ledger agrees with sessions and metrics.
        record = record_of_span(span)
        attrs = record.attributes  # in the conventions' names, the provider normalised
        usage = record.usage
        if cost_text is None and usage is not None:
            cost_text = None if record.cost.usd is None else _exact_cost(record.cost.usd)
            status = status or record.cost.status
            catalog_model = catalog_model or _text(record.cost.model)
            catalog = catalog or _text(record.cost.catalog)
    usage = usage or Usage(source="")
    end = span.end_time or span.start_time or 0
    ctx = span.context
    resource = span.resource.attributes if span.resource is not None else {}
    return (
        _iso(end),
        end,
        _text(resource.get(semconv.SERVICE_NAME)),
        _text(attrs.get(semconv.GEN_AI_PROVIDER_NAME) or attrs.get(semconv.GEN_AI_SYSTEM)),
        _text(attrs.get(semconv.GEN_AI_REQUEST_MODEL)),
        _text(attrs.get(semconv.GEN_AI_RESPONSE_MODEL)),
        catalog_model,
        _text(attrs.get(semconv.GEN_AI_OPERATION_NAME)),
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.cache_write_1h_tokens,
        usage.reasoning_tokens,
        cost_text,
        None if cost_text is None else to_pico(Decimal(cost_text)),
        status,
        _text(attrs.get(semconv.LLM_COST_USAGE_SOURCE)) or _text(usage.source),
        _text(attrs.get(semconv.ERROR_TYPE)),
        _text(attrs.get(semconv.SESSION_ID)),
        _text(attrs.get(semconv.USER_ID)),
        format(ctx.trace_id, "032x") if ctx is not None else "0" * 32,
        format(ctx.span_id, "016x") if ctx is not None else "0" * 16,
        catalog,
        _text(attrs.get(semconv.LLM_COST_SERVICE_TIER) or attrs.get(semconv.GEN_AI_OPENAI_RESPONSE_SERVICE_TIER)),
        _text(attrs.get(semconv.LLM_COST_COST_SOURCE)),
        _exact_cost(attrs.get(semconv.LLM_COST_LOCAL_USD)),
        extra,
    )
