"""The shared ledger on PostgreSQL: schema, migrations, and connecting (psycopg 3).

Why PostgreSQL. A SQLite file belongs to one machine; an agent spread over several
services has one conversation and several files. Pointing every service at one
PostgreSQL database (``OTEL_LLM_COST_LEDGER_URL=postgresql://…``) gives one place where a
session's calls add up, with the same table, the same columns and the same report.

The table is the SQLite ledger's current layout (``_schema.COLUMNS``) with PostgreSQL
types: ``cost_usd`` is ``NUMERIC`` (exact; Grafana and ``psql`` can ``SUM`` it directly)
and ``cost_pico`` ``BIGINT``. Rows are keyed by ``UNIQUE (trace_id, span_id)`` and
inserted with ``ON CONFLICT DO NOTHING``: a retried batch, or a second exporter sending
the same spans, stores each call once, however many processes write at once.

The schema version lives in ``llm_ledger_schema``; creating and migrating run under a
transaction-scoped advisory lock, so services starting together migrate once. PostgreSQL
ledgers start at version 3 (the first with a PostgreSQL form) and are then taken through
the same later steps as the SQLite ones (:data:`_STEPS`).
"""

from __future__ import annotations

from ._schema import CURRENT_VERSION, LedgerError, is_url, redact, scrub

__all__ = ["is_url", "redact", "connect_pg", "connect_settings", "migrate_pg", "catalog", "PG_FIRST_VERSION"]

#: Seconds to wait for the server: a down database must not hold an export (or a
#: shutdown) for long.
CONNECT_TIMEOUT_S = 3
#: Any statement over this is cancelled by the server (milliseconds).
STATEMENT_TIMEOUT_MS = 30_000
#: libpq settings that bound the waits the kernel can see: TCP keep-alives find a peer
#: that vanished (a failed-over host, a dropped NAT mapping) in ~20 s, and unacknowledged
#: data gives up after 15 s. A value in the URL wins. (A server that stops answering on an
#: open socket is bounded by the exporter's own clock, ``_exporter.WRITE_TIMEOUT_S``.)
TCP_SETTINGS = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5",
                "keepalives_count": "2", "tcp_user_timeout": "15000"}
PG_FIRST_VERSION = 3
#: An arbitrary constant naming the advisory lock migrations hold.
_LOCK_KEY = 0x6C6C6D636F7374  # "llmcost"

_SCHEMA = """
CREATE TABLE llm_calls (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    end_time               TEXT    NOT NULL,
    end_time_unix_nano     BIGINT  NOT NULL,
    service                TEXT,
    provider               TEXT,
    model                  TEXT,
    response_model         TEXT,
    catalog_model          TEXT,
    operation              TEXT,
    input_tokens           BIGINT  NOT NULL DEFAULT 0,
    output_tokens          BIGINT  NOT NULL DEFAULT 0,
    cache_read_tokens      BIGINT  NOT NULL DEFAULT 0,
    cache_write_tokens     BIGINT  NOT NULL DEFAULT 0,
    cache_write_1h_tokens  BIGINT  NOT NULL DEFAULT 0,
    reasoning_tokens       BIGINT  NOT NULL DEFAULT 0,
    cost_usd               NUMERIC,
    cost_pico              BIGINT,
    status                 TEXT,
    usage_source           TEXT,
    error_type             TEXT,
    session_id             TEXT,
    user_id                TEXT,
    trace_id               TEXT    NOT NULL,
    span_id                TEXT    NOT NULL,
    UNIQUE (trace_id, span_id)
);
CREATE INDEX llm_calls_end_time ON llm_calls (end_time_unix_nano);
CREATE INDEX llm_calls_session ON llm_calls (session_id, end_time_unix_nano);
CREATE INDEX llm_calls_user ON llm_calls (user_id, end_time_unix_nano);
CREATE TABLE llm_ledger_schema (version INTEGER NOT NULL);
"""

#: ``_STEPS[v]`` takes a PostgreSQL ledger from version ``v`` to ``v + 1``.
_STEPS: dict[int, str] = {
    3: """
ALTER TABLE llm_calls ADD COLUMN catalog TEXT;
ALTER TABLE llm_calls ADD COLUMN service_tier TEXT;
ALTER TABLE llm_calls ADD COLUMN cost_source TEXT;
ALTER TABLE llm_calls ADD COLUMN local_cost_usd NUMERIC;
""",
    4: """
CREATE TABLE llm_quarantine (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    quarantined_at  TEXT    NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    reason          TEXT    NOT NULL,
    row_json        TEXT    NOT NULL
);
""",
    5: "ROLLUP",
    6: "ROLLUP_V7",
    7: "ATTRIBUTES",
    8: "ROLLUP_HOUR",
    9: "HOLDS",
}

def _driver():
    try:
        import psycopg
    except ImportError:
        raise LedgerError("a postgresql:// ledger needs psycopg 3: pip install 'otel-llm-cost[postgres]'") from None
    return psycopg


#: The libpq environment variable that sets each connection keyword we give a default for:
#: a setting the user made there, like one in the URL, is theirs and wins over ours.
_ENV = {"connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME", "options": "PGOPTIONS"}


def connect_settings(*, application_name: str = "otel-llm-cost", read_only: bool = False,
                     given: dict[str, str] | None = None) -> dict[str, str]:
    """The connection keywords we add to ``url``: our defaults for what the user did not set
    (in the URL, ``given``, or libpq's environment variables), never in place of it.

    ``options`` is the exception, merged rather than replaced: ours first (the statement
    timeout), then the user's (``-c search_path=…``, even their own timeout: later settings
    win), then, for ``read_only``, ``default_transaction_read_only`` last, which no option
    undoes. Sent in the start-up packet, they cost no round trip (a ``SET`` after connecting
    costs one). Nothing is said about SSL or GSSAPI encryption: libpq's defaults and the
    user's ``sslmode``/``gssencmode`` decide (see docs/ledger.md, "Speed", for what each
    costs a connection).
    """
    import os

    given = {} if given is None else given
    mine = {"connect_timeout": str(CONNECT_TIMEOUT_S), "application_name": application_name, **TCP_SETTINGS}
    out = {k: v for k, v in mine.items() if k not in given and not os.environ.get(_ENV.get(k, ""))}
    theirs = given.get("options") or os.environ.get("PGOPTIONS", "")
    options = [f"-c statement_timeout={STATEMENT_TIMEOUT_MS}", *([theirs] if theirs.strip() else []),
               *(["-c default_transaction_read_only=on"] if read_only else [])]
    out["options"] = " ".join(options)
    return out


def connect_pg(url: str, *, migrate: bool = True, application_name: str = "otel-llm-cost",
               read_only: bool = False):
    """An autocommit psycopg connection to the ledger at ``url``, migrated when ``migrate``;
    every transaction read-only when ``read_only`` (the report's)."""
    psycopg = _driver()
    try:
        given = psycopg.conninfo.conninfo_to_dict(url)
        settings = connect_settings(application_name=application_name, read_only=read_only,
                                    given={k: str(v) for k, v in given.items() if v is not None})
        conn = psycopg.connect(url, autocommit=True, **settings)
    except psycopg.Error as exc:
        raise LedgerError(f"{redact(url)}: cannot connect ({scrub(str(exc).strip(), url)})") from None
    try:
        if migrate:
            migrate_pg(conn, url)
    except BaseException:
        conn.close()
        raise
    return conn


def _table_exists(conn, name: str) -> bool:
    # A query on pg_class, not to_regclass(): after waiting for the migration lock we must
    # see the tables the previous holder committed, and a plain query takes a fresh
    # snapshot, where to_regclass() may answer from this backend's stale catalog cache.
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
        "ON n.oid = c.relnamespace WHERE c.relname = %s AND n.nspname = current_schema())",
        (name,)).fetchone()[0]


def schema_version(conn) -> int:
    """0 for a database without a ledger, else its recorded version."""
    if not _table_exists(conn, "llm_ledger_schema"):
        return -1 if _table_exists(conn, "llm_calls") else 0
    row = conn.execute("SELECT max(version) FROM llm_ledger_schema").fetchone()
    return int(row[0] or 0)


def catalog(conn) -> tuple[int, set[str], set[str]]:
    """The ledger's schema version (as :func:`schema_version`), its tables and the columns
    of ``llm_calls``, in two short statements on ``pg_catalog`` — what a reader needs before
    its first query (``information_schema`` gives the same through views that take tens of
    milliseconds to plan and run on a new connection)."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema() "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND c.relname = 'llm_calls' "
        "AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')").fetchall()
    tables = {table for table, _ in rows}
    columns = {column for _, column in rows if column is not None}
    if "llm_ledger_schema" not in tables:
        return (-1 if "llm_calls" in tables else 0), tables, columns
    row = conn.execute("SELECT max(version) FROM llm_ledger_schema").fetchone()
    return int(row[0] or 0), tables, columns


def migrate_pg(conn, url: str = "<ledger>") -> int:
    """Create or upgrade the ledger tables to :data:`CURRENT_VERSION`; returns the old version."""
    version = schema_version(conn)
    if version == CURRENT_VERSION:
        return version
    with conn.transaction():
        # One migrator at a time; the others wait here and then find nothing to do.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        version = schema_version(conn)
        if version == -1:
            raise LedgerError(f"{redact(url)}: has an llm_calls table but no ledger schema version; "
                              "not an otel-llm-cost ledger")
        if version > CURRENT_VERSION:
            raise LedgerError(
                f"{redact(url)}: ledger schema version {version} is newer than this otel-llm-cost "
                f"understands ({CURRENT_VERSION}); upgrade otel-llm-cost")
        if version == 0:
            _run(conn, _SCHEMA)
            conn.execute("INSERT INTO llm_ledger_schema (version) VALUES (%s)", (PG_FIRST_VERSION,))
            start = PG_FIRST_VERSION
        else:
            start = version
        for step in range(start, CURRENT_VERSION):
            if _STEPS[step] == "ROLLUP":
                from ._rollup import ROLLUP_PG, V6_DIMS, rebuild

                _run(conn, ROLLUP_PG)
                rebuild(conn, "postgresql", dims=V6_DIMS, keys=False)  # no key totals before version 9
            elif _STEPS[step] == "ROLLUP_V7":
                from ._rollup import ROLLUP_V7_PG

                _run(conn, ROLLUP_V7_PG)
            elif _STEPS[step] == "ATTRIBUTES":
                from ._attributes import PG_V8
                from ._rollup import rebuild

                _run(conn, PG_V8)
                rebuild(conn, "postgresql", dims=("service",), keys=False)
            elif _STEPS[step] == "ROLLUP_HOUR":
                from ._keys import ROLLUP_KEY_PG, build_sql
                from ._rollup import HOUR, ROLLUP_HOUR_PG, rebuild

                _run(conn, ROLLUP_HOUR_PG)
                rebuild(conn, "postgresql", HOUR)
                _run(conn, ROLLUP_KEY_PG)
                conn.execute(build_sql("postgresql"))
            elif _STEPS[step] == "HOLDS":
                from ._holds import HOLD_FUNCTION_PG, HOLDS_PG

                _run(conn, HOLDS_PG)
                conn.execute(HOLD_FUNCTION_PG)  # one statement: its body has semicolons
            else:
                _run(conn, _STEPS[step])
        if start != CURRENT_VERSION:
            conn.execute("UPDATE llm_ledger_schema SET version = %s", (CURRENT_VERSION,))
    return version


def _run(conn, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
