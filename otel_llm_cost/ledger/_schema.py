"""The ledger's SQLite schema, its version history, and opening a database safely.

The ledger outlives any one version of this package: a database written by an old
release must keep working after an upgrade. The schema version lives in
``PRAGMA user_version``; :func:`migrate` walks a database from whatever version it is
at up to :data:`CURRENT_VERSION`, one recorded step at a time, inside one write
transaction so two processes opening the same new file cannot both migrate it.

Several processes (a web server's workers, a batch job) may append at once: the
database runs in WAL mode (readers never block the writer) with a busy timeout so a
writer waits for the lock instead of failing.

The ledger holds user and session ids: a file we create is owner-only (0600, and so are
SQLite's ``-wal``/``-shm`` files, which take the database's mode; directories we create
0700), whatever the umask. An existing file keeps its mode (its owner may share it on
purpose), with one warning when others may read it.

A ledger is stamped with :data:`APPLICATION_ID` (``PRAGMA application_id``) when it is
created. Any other SQLite database — the application's own, say — is refused before
anything is written to it; ledgers from before the stamp are known by their schema (the
``llm_calls`` table alone, a schema version) and stamped.
"""

from __future__ import annotations

import os
import re
import stat
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from .. import semconv
from ._money import to_pico

if TYPE_CHECKING:  # imported where a SQLite ledger is opened: a PostgreSQL reader never needs it
    import sqlite3

__all__ = [
    "CURRENT_VERSION",
    "SCHEMA_V1",
    "LedgerError",
    "connect",
    "default_path",
    "migrate",
    "resolve_path",
]


#: ``PRAGMA application_id`` of every ledger we create ("ollc"): how we know our own file.
APPLICATION_ID = 0x6F6C6C63

#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 10_000

#: Version 1: the first released layout. Kept verbatim: migrations start from it.
SCHEMA_V1 = """
CREATE TABLE llm_calls (
    id                  INTEGER PRIMARY KEY,
    end_time            TEXT    NOT NULL,
    end_time_unix_nano  INTEGER NOT NULL,
    service             TEXT,
    provider            TEXT,
    model               TEXT,
    response_model      TEXT,
    operation           TEXT,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    cost_usd            TEXT,
    status              TEXT,
    usage_source        TEXT,
    error_type          TEXT,
    session_id          TEXT,
    trace_id            TEXT    NOT NULL,
    span_id             TEXT    NOT NULL,
    UNIQUE (trace_id, span_id)
);
"""

#: Version 2 adds the catalog model, 1-hour cache writes, reasoning tokens, the user,
#: and the time index reports filter on.
_V1_TO_V2 = """
ALTER TABLE llm_calls ADD COLUMN catalog_model TEXT;
ALTER TABLE llm_calls ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE llm_calls ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE llm_calls ADD COLUMN user_id TEXT;
CREATE INDEX IF NOT EXISTS llm_calls_end_time ON llm_calls (end_time_unix_nano);
"""

#: Version 3 adds ``cost_pico``, the cost as whole pico-dollars (NULL when the cost is not
#: exactly that; see ``_money``) so the database can sum it exactly, filled in for the rows
#: already there, and the indexes the report's ``--by user`` / ``--by session`` and the
#: ``session`` view read by.
_V2_TO_V3 = """
ALTER TABLE llm_calls ADD COLUMN cost_pico INTEGER;
UPDATE llm_calls SET cost_pico = otel_llm_cost_pico(cost_usd) WHERE cost_usd IS NOT NULL;
CREATE INDEX IF NOT EXISTS llm_calls_session ON llm_calls (session_id, end_time_unix_nano);
CREATE INDEX IF NOT EXISTS llm_calls_user ON llm_calls (user_id, end_time_unix_nano);
"""

#: Version 4 says which price was used: the catalog layer and its version (``catalog``),
#: the service tier that was served (``service_tier``), and whether the cost is the
#: provider's own figure (``cost_source``: ``provider``; NULL for our price) with our price
#: beside it (``local_cost_usd``). Rows from before stay NULL there: not known, not guessed.
_V3_TO_V4 = """
ALTER TABLE llm_calls ADD COLUMN catalog TEXT;
ALTER TABLE llm_calls ADD COLUMN service_tier TEXT;
ALTER TABLE llm_calls ADD COLUMN cost_source TEXT;
ALTER TABLE llm_calls ADD COLUMN local_cost_usd TEXT;
"""

#: Version 5 adds ``llm_quarantine``: a row the database refused even after its text was
#: made storable (``_values``) is kept there with the reason, as JSON, instead of costing
#: its batch (or being dropped).
_V4_TO_V5 = """
CREATE TABLE llm_quarantine (
    id              INTEGER PRIMARY KEY,
    quarantined_at  TEXT    NOT NULL,
    trace_id        TEXT,
    span_id         TEXT,
    reason          TEXT    NOT NULL,
    row_json        TEXT    NOT NULL
);
"""

#: Version 6 adds ``llm_rollup``, exact per-day totals by model, provider, user and session,
#: kept in the rows' transaction (``_rollup``); the migration builds them from the rows.
_V5_TO_V6 = "ROLLUP"

#: Version 7 keys ``llm_rollup`` by (dim, key, day), the order the report ranks keys and
#: ``_rollup.spend`` reads one key in, and indexes the cells with a decimal rest; the cells
#: are copied unchanged (``_rollup.ROLLUP_V7_SQLITE``).
_V6_TO_V7 = "ROLLUP_V7"

#: Version 8 keeps a call's allow-listed attributes (a tenant): the ``attributes`` column
#: (canonical JSON), its index table ``llm_call_attributes`` and the rollup dims
#: ``attr:<name>`` (``_attributes``); and adds the rollup dim ``service``, built from the
#: rows by the migration (rows from before have no attributes: nothing to build there).
_V7_TO_V8 = "ATTRIBUTES"

#: Version 9 adds ``llm_rollup_hour``, the same cells per UTC hour (``_rollup.HOUR``), built
#: from the rows, and ``llm_key_totals`` (``_keys``), built from the day cells: a report
#: whose window starts mid-day reads whole hours from it and only the rows of the first
#: partial hour.
_V8_TO_V9 = "ROLLUP_HOUR"

#: Version 10 makes the budgets' holds part of the ledger (``_holds``): ``llm_budget_holds``
#: (already there where budgets were used) with an index of settled holds by their row's
#: key, so that the exporter deletes a call's holds in the transaction that writes its row.
_V9_TO_V10 = "HOLDS"

#: ``_STEPS[n]`` takes a database from version ``n + 1`` to ``n + 2``.
_STEPS: tuple[str, ...] = (_V1_TO_V2, _V2_TO_V3, _V3_TO_V4, _V4_TO_V5, _V5_TO_V6, _V6_TO_V7, _V7_TO_V8,
                          _V8_TO_V9, _V9_TO_V10)
CURRENT_VERSION = 1 + len(_STEPS)

#: Every column of the current schema, in insert order (``id`` excluded).
COLUMNS: tuple[str, ...] = (
    "end_time", "end_time_unix_nano", "service", "provider", "model", "response_model",
    "catalog_model", "operation", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cache_write_1h_tokens", "reasoning_tokens", "cost_usd", "cost_pico", "status",
    "usage_source", "error_type", "session_id", "user_id", "trace_id", "span_id",
    "catalog", "service_tier", "cost_source", "local_cost_usd", "attributes",
)


class LedgerError(Exception):
    """The ledger file cannot be used; the message names the file."""


def default_path() -> Path:
    """``$XDG_DATA_HOME/otel-llm-cost/ledger.db`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "otel-llm-cost" / "ledger.db"


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The argument, else ``OTEL_LLM_COST_LEDGER_PATH``, else :func:`default_path`."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get(semconv.ENV_LEDGER_PATH)
    return Path(env).expanduser() if env else default_path()


_URL = re.compile(r"^postgres(ql)?://", re.IGNORECASE)
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
#: libpq connection keys whose value is a secret (``?password=``, ``?sslpassword=``), and
#: any other key that names a password.
SECRET_KEYS = frozenset({"password", "sslpassword"})
_QUERY_SECRET = re.compile(r"([?&])([^=&#]*password[^=&#]*)=([^&#]*)", re.IGNORECASE)


def is_url(target: object) -> bool:
    """Whether a ledger target names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and bool(_URL.match(target))


def redact(url: str) -> str:
    """The URL with every secret replaced by ``***``, for messages and report headers:
    the password of ``user:password@`` and the value of ``?password=``, ``?sslpassword=``
    (any query key naming a password)."""
    return _QUERY_SECRET.sub(r"\1\2=***", _PASSWORD.sub(r"\1***@", url))


def secrets_of(url: str) -> list[str]:
    """The secret values in ``url``, as written and percent-decoded (longest first)."""
    from urllib.parse import unquote

    found: list[str] = []
    match = _PASSWORD.search(url)
    if match:
        found.append(url[match.end(1):match.end() - 1])
    found += [m.group(3) for m in _QUERY_SECRET.finditer(url)]
    values = {v for text in found if text for v in (text, unquote(text), unquote(text.replace("+", " ")))}
    return sorted((v for v in values if v), key=len, reverse=True)


def scrub(text: str, url: str) -> str:
    """``text`` (an error from the driver, say) with ``url`` shown redacted and every secret
    of it masked, in whatever form the text repeats it."""
    text = text.replace(url, redact(url))
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text


def resolve_target(target: str | os.PathLike[str] | None = None) -> Path | str:
    """Where the ledger is: a ``postgresql://`` URL (str) or a SQLite file (Path).

    The argument (a URL or a path), else ``OTEL_LLM_COST_LEDGER_URL``, else
    ``OTEL_LLM_COST_LEDGER_PATH``, else :func:`default_path`.
    """
    if isinstance(target, str) and is_url(target):
        return target
    if target:
        return Path(target).expanduser()
    url = os.environ.get(semconv.ENV_LEDGER_URL, "").strip()
    if url:
        if not is_url(url):
            raise LedgerError(f"{semconv.ENV_LEDGER_URL}={redact(url)!r} is not a postgresql:// URL")
        return url
    return resolve_path(None)


def describe(target: Path | str) -> str:
    """The target as shown to people: a path, or a URL without its password."""
    return redact(target) if isinstance(target, str) else str(target)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the ledger at ``path`` for writing, migrated to current.

    Autocommit mode (``isolation_level=None``): transactions are explicit, so a batch is
    exactly one ``BEGIN IMMEDIATE … COMMIT`` and nothing is left open between exports.
    """
    import sqlite3

    _make_private_dirs(path.parent)
    if not _create_private(path):
        _warn_if_shared(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        check_ours(conn, path)  # before WAL: switching to it writes to the file
        _enable_wal(conn)
        # In WAL mode NORMAL is durable against application crashes, and much faster.
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (persistent in the file), waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock and SQLite does not run the busy
    handler for it, so processes creating the same new ledger at once see "database is
    locked" here; retry until the busy timeout instead.
    """
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def migrate(conn: sqlite3.Connection, path: Path | str = "<ledger>") -> int:
    """Bring the database to :data:`CURRENT_VERSION`; returns the version it was at.

    A fresh file gets version 1 and then every step, so new and upgraded ledgers are
    built by the same statements and cannot drift apart.
    """
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == CURRENT_VERSION and conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
        return version
    # The v3 step fills cost_pico from the decimal text with the one conversion the
    # exporter uses, so old and new rows cannot disagree.
    conn.create_function("otel_llm_cost_pico", 1, _pico_of_text, deterministic=True)
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        check_ours(conn, path)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > CURRENT_VERSION:
            raise LedgerError(
                f"{path}: ledger schema version {version} is newer than this otel-llm-cost "
                f"understands ({CURRENT_VERSION}); upgrade otel-llm-cost")
        if version == 0:
            if _has_table(conn):
                raise LedgerError(f"{path}: has an llm_calls table but no schema version; "
                                  "not an otel-llm-cost ledger")
            _run(conn, SCHEMA_V1)
            start = 1
        else:
            start = version
        for step in _STEPS[start - 1:]:
            if step == _V5_TO_V6:
                from ._rollup import ROLLUP_SQLITE, V6_DIMS, rebuild

                _run(conn, ROLLUP_SQLITE)
                rebuild(conn, "sqlite", dims=V6_DIMS, keys=False)  # no key totals before version 9
            elif step == _V6_TO_V7:
                from ._rollup import ROLLUP_V7_SQLITE

                _run(conn, ROLLUP_V7_SQLITE)
            elif step == _V7_TO_V8:
                from ._attributes import SQLITE_V8
                from ._rollup import rebuild

                _run(conn, SQLITE_V8)
                rebuild(conn, "sqlite", dims=("service",), keys=False)
            elif step == _V8_TO_V9:
                from ._keys import ROLLUP_KEY_SQLITE, build_sql
                from ._rollup import HOUR, ROLLUP_HOUR_SQLITE, rebuild

                _run(conn, ROLLUP_HOUR_SQLITE)
                rebuild(conn, "sqlite", HOUR)
                _run(conn, ROLLUP_KEY_SQLITE)
                conn.execute(build_sql("sqlite"))
            elif step == _V9_TO_V10:
                from ._holds import HOLDS_SQLITE

                _run(conn, HOLDS_SQLITE)
            else:
                _run(conn, step)
        conn.execute(f"PRAGMA user_version = {CURRENT_VERSION}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return version


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already.

    After some errors (SQLITE_FULL "database or disk is full", SQLITE_IOERR) SQLite rolls
    the transaction back itself; a ROLLBACK then fails with "cannot rollback - no
    transaction is active", which would replace the real cause in the log line.
    """
    import sqlite3

    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def check_ours(conn: sqlite3.Connection, path: Path | str) -> None:
    """Raise :class:`LedgerError` unless the database is a ledger, or new (no tables).

    Only reads. Ours: stamped with :data:`APPLICATION_ID`; or, from before the stamp, an
    unstamped file whose only table is ``llm_calls`` and that has a schema version.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    tables = sorted(name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"))
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id == 0 and (not tables or ("llm_calls" in tables and version > 0
                                        and set(tables) <= {"llm_calls", "llm_quarantine", "llm_rollup",
                                                             "llm_call_attributes", "llm_rollup_hour",
                                                             "llm_key_totals", "llm_budget_holds"})):
        return
    found = ", ".join(tables[:10]) + (", …" if len(tables) > 10 else "") if tables else "no tables"
    raise LedgerError(
        f"{path}: not an otel-llm-cost ledger but another SQLite database (tables: {found}; "
        f"application_id {app_id}, user_version {version}); nothing was written to it. "
        f"Point {semconv.ENV_LEDGER_PATH} at a file of its own")


def _make_private_dirs(directory: Path) -> None:
    """Create the missing directories up to ``directory``, owner-only; existing ones stay."""
    missing = []
    while not directory.exists() and directory != directory.parent:
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue  # another process made it first: not ours to change
        os.chmod(folder, 0o700)  # the umask may have taken bits off


def _create_private(path: Path) -> bool:
    """Create ``path`` empty and owner-only (an empty file is a new SQLite database);
    False when it exists already."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        return False
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
    finally:
        os.close(fd)
    return True


#: Ledgers already warned about in this process (one warning each, not one per batch).
_warned: set[str] = set()


def _warn_if_shared(path: Path) -> None:
    try:
        status = os.stat(path)
    except OSError:
        return
    mode = stat.S_IMODE(status.st_mode)
    if stat.S_ISREG(status.st_mode) and mode & 0o077 and str(path) not in _warned:
        _warned.add(str(path))
        import logging  # imported here: a report (read-only, never here) starts without it

        log = logging.getLogger("otel_llm_cost")
        log.warning("otel_llm_cost: the cost ledger %s is open to other users (mode %04o) and holds user and "
                    "session ids; run `chmod 600 %s` to keep it private (its mode is left as it is)",
                    path, mode, path)


def _pico_of_text(text: str | None) -> int | None:
    try:
        return to_pico(Decimal(text)) if text is not None else None
    except (InvalidOperation, ValueError, TypeError):
        return None


def _has_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'llm_calls'")
    return row.fetchone() is not None


def _run(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT our transaction first; run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
