"""Reading (and pruning) a ledger, whichever database holds it.

The report, the session view and ``ledger prune`` write their SQL once, with ``?``
placeholders and only what SQLite and PostgreSQL both understand (``COALESCE``,
``CASE``, integer ``/`` and ``%`` on integer columns, ``substr``); :class:`Store` hides
the rest — placeholders, opening read-only, and which columns an older ledger lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import semconv
from ._schema import CURRENT_VERSION, LedgerError, connect, describe, is_url, rollback

__all__ = ["Store", "StoreError", "open_store"]


#: PostgreSQL's SQLSTATE for a number out of its type's range (a ``bigint`` sum past 2⁶³).
_OUT_OF_RANGE = "22003"


class StoreError(Exception):
    """The ledger cannot be read; the message names it (path, or URL without password)."""


class Store:
    """An open ledger: ``query`` runs one statement and returns all its rows."""

    def __init__(self, kind: str, name: str, conn: Any, columns: set[str], tables: set[str] | None = None) -> None:
        self.kind = kind
        #: The ledger's tables (``llm_rollup`` from schema version 6 on).
        self.tables = tables or {"llm_calls"}
        #: The path, or the URL without its password.
        self.name = name
        self.conn = conn
        #: The columns of ``llm_calls`` (an unmigrated SQLite ledger lacks newer ones).
        self.columns = columns
        self.errors: tuple[type[BaseException], ...] = (
            (_sqlite3().Error,) if kind == "sqlite" else (_psycopg().Error,))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self.kind == "postgresql":
            sql = sql.replace("%", "%%").replace("?", "%s")
        try:
            return list(self.conn.execute(sql, tuple(params)).fetchall())
        except self.errors as exc:
            if ((self.kind == "sqlite" and "integer overflow" in str(exc))
                    or getattr(exc, "sqlstate", None) == _OUT_OF_RANGE):
                raise OverflowError(str(exc)) from None
            raise StoreError(f"{self.name}: cannot read the ledger ({str(exc).strip()})") from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a write statement in its own transaction; the number of rows it changed."""
        if self.kind == "postgresql":
            sql = sql.replace("%", "%%").replace("?", "%s")
            with self.conn.transaction():
                return self.conn.execute(sql, tuple(params)).rowcount
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            count = self.conn.execute(sql, tuple(params)).rowcount
            self.conn.execute("COMMIT")
        except BaseException:
            rollback(self.conn)
            raise
        return count

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _psycopg():
    import psycopg

    return psycopg


def _sqlite3():
    # Imported for a SQLite ledger only: a report on PostgreSQL starts without it.
    import sqlite3

    return sqlite3


def open_store(target: Path | str, *, write: bool = False) -> Store:
    """Open the ledger at ``target``: a ``postgresql://`` URL, else a SQLite file path.

    Read-only unless ``write``: a report never creates, migrates or locks the ledger. With
    ``write`` the ledger is opened as a writer would (created and migrated if needed).
    """
    if is_url(target):
        return _open_pg(str(target), write)
    return _open_sqlite(Path(target), write)


def _open_sqlite(path: Path, write: bool) -> Store:
    sqlite3 = _sqlite3()
    if not path.exists():
        raise StoreError(
            f"no ledger at {path}: nothing has been recorded there yet (record calls with "
            f"OTEL_TRACES_EXPORTER=llm_cost_ledger, or pass --db / set {semconv.ENV_LEDGER_PATH})")
    if not path.is_file():
        raise StoreError(f"{path} is not a file")
    try:
        if write:
            conn = connect(path)
        else:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(llm_calls)")}
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except LedgerError as exc:
        raise StoreError(str(exc)) from None
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot read the ledger ({exc})") from None
    if not columns:
        conn.close()
        raise StoreError(f"{path}: not an otel-llm-cost ledger (no llm_calls table)")
    if version > CURRENT_VERSION:
        conn.close()
        raise StoreError(f"{path}: ledger schema version {version} is newer than this "
                         f"otel-llm-cost understands ({CURRENT_VERSION}); upgrade otel-llm-cost")
    if not write:
        conn.execute("PRAGMA query_only = ON")
    return Store("sqlite", str(path), conn, columns, tables)


def _open_pg(url: str, write: bool) -> Store:
    from ._pg import catalog, connect_pg

    try:
        # A reader's connection is read-only from its start-up packet (no SET afterwards).
        conn = connect_pg(url, migrate=write, application_name="otel-llm-cost", read_only=not write)
    except LedgerError as exc:
        raise StoreError(str(exc)) from None
    name = describe(url)
    try:
        version, tables, columns = catalog(conn)
        if version == 0:
            raise StoreError(f"{name}: no ledger in this database yet (nothing has been recorded there; "
                             f"record calls with {semconv.ENV_LEDGER_URL} set to it)")
        if version < 0:
            raise StoreError(f"{name}: not an otel-llm-cost ledger (llm_calls has no schema version)")
        if version > CURRENT_VERSION:
            raise StoreError(f"{name}: ledger schema version {version} is newer than this "
                             f"otel-llm-cost understands ({CURRENT_VERSION}); upgrade otel-llm-cost")
    except BaseException:
        conn.close()
        raise
    return Store("postgresql", name, conn, columns, tables)
