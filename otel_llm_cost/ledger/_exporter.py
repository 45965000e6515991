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
from ..cost import format_usd
from ..foreign_spans import may_be_a_call, record_of_span, should_count
from ..usage import Usage
from ._money import to_pico
from ._pg import connect_pg
from ._schema import COLUMNS, LedgerError, connect, describe, redact, resolve_path, resolve_target, rollback

__all__ = ["LedgerSpanExporter"]

_log = logging.getLogger("otel_llm_cost")

_INSERT = (f"INSERT OR IGNORE INTO llm_calls ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
_INSERT_PG = (f"INSERT INTO llm_calls ({', '.join(COLUMNS)}) "
              f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (trace_id, span_id) DO NOTHING")
#: Seconds between connection attempts to a PostgreSQL ledger that refused one.
_RECONNECT_S = 5.0
#: Connections inherited across fork(), kept referenced so the child never finalises them.
_inherited: list[Any] = []


class _Writer:
    """One process's connection to the ledger, opened on first use.

    A connection belongs to the process that opened it. After ``fork()`` the child drops
    the inherited one without closing it (closing would act on the parent's file state
    or say goodbye to the server on the parent's behalf; it is kept referenced so its
    finaliser never runs either) and opens its own.
    """

    def __init__(self) -> None:
        self._conn: Any = None
        self._pid = 0

    def write(self, rows: list[tuple[Any, ...]]) -> None:
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


class _SqliteWriter(_Writer):
    """A SQLite ledger file; one ``BEGIN IMMEDIATE`` transaction per batch."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def _open(self) -> sqlite3.Connection:
        return connect(self.path)

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)  # the error that got us here is the one to report
            raise


class _PostgresWriter(_Writer):
    """A PostgreSQL ledger; one transaction per batch.

    After a failed connection attempt the next one waits :data:`_RECONNECT_S`: while the
    database is down each batch fails at once instead of waiting out a connect timeout,
    so neither the export thread nor the application's shutdown is held up.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._next_attempt = 0.0

    def _usable(self, conn: Any) -> bool:
        return not conn.closed

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

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connection()
        with conn.transaction():
            with conn.cursor() as cur:
                cur.executemany(_INSERT_PG, rows)


class LedgerSpanExporter(SpanExporter):
    """Append LLM spans to the ledger: a SQLite file, or a shared PostgreSQL database.

    ``target`` is a path or a ``postgresql://`` URL; it defaults to
    ``OTEL_LLM_COST_LEDGER_URL``, then ``OTEL_LLM_COST_LEDGER_PATH``, then
    ``$XDG_DATA_HOME/otel-llm-cost/ledger.db``. The database is opened on the first export,
    not here, so building the exporter (e.g. at ``opentelemetry-instrument`` start-up)
    never fails, and a forked worker opens its own connection.
    """

    def __init__(self, target: str | os.PathLike[str] | None = None) -> None:
        self._config_error: LedgerError | None = None
        try:
            resolved = resolve_target(target)
        except LedgerError as exc:
            self._config_error, resolved = exc, resolve_path(None)
        #: The SQLite file, or None on PostgreSQL.
        self.path: Path | None = None if isinstance(resolved, str) else resolved
        #: The PostgreSQL URL, or None on SQLite.
        self.url: str | None = resolved if isinstance(resolved, str) else None
        self._writer: _Writer = (
            _PostgresWriter(resolved) if isinstance(resolved, str) else _SqliteWriter(resolved))
        self._lock = threading.Lock()
        self._failing = False
        self._shutdown = False

    @property
    def target(self) -> str:
        """Where this exporter writes, as shown in messages (no password)."""
        return describe(self.url) if self.url is not None else str(self.path)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        try:
            if self._config_error is not None:
                raise self._config_error
            rows = [row_for(span) for span in spans if _is_llm_span(span)]
            if not rows:
                return SpanExportResult.SUCCESS
            with self._lock:
                self._writer.write(rows)
        except Exception as exc:  # noqa: BLE001 - an exporter must never raise into the app
            self._fail(exc)
            return SpanExportResult.FAILURE
        self._failing = False
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._shutdown = True
            self._writer.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export commits before returning; nothing is buffered here

    def _fail(self, exc: Exception) -> None:
        # Log the first failure of a run of failures loudly (with the ledger at fault),
        # then quietly: an unwritable ledger must not flood the application's log.
        if not self._failing:
            self._failing = True
            _log.error("otel_llm_cost: cannot write the cost ledger %s: %s "
                       "(LLM calls are not recorded until it is writable; set %s or %s to change it)",
                       self.target, exc, semconv.ENV_LEDGER_URL, semconv.ENV_LEDGER_PATH)
        else:
            _log.debug("otel_llm_cost: ledger %s still failing: %s", self.target, exc)
        with self._lock:
            self._writer.close()


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
    return None if value is None or value == "" else str(value)


def _exact_cost(value: Any) -> str | None:
    """The ``llm_cost.usd`` string, checked and canonical; None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return format_usd(number) if number.is_finite() else None


def row_for(span: ReadableSpan) -> tuple[Any, ...]:
    """The ledger row of one LLM span, in :data:`COLUMNS` order."""
    attrs = span.attributes or {}
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
            cost_text = None if record.cost.usd is None else format_usd(record.cost.usd)
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
    )
