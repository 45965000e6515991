"""``otel-llm-cost ledger prune --before 90d``: drop old calls while the writers keep writing.

Safe alongside running exporters because nothing here holds the database for long:
rows are deleted oldest first in batches of :data:`BATCH` rows, each batch its own short
transaction. A SQLite writer waiting for the lock (busy timeout 10 s) waits for one batch
at most; on PostgreSQL a delete and an insert never wait for each other.

Space. PostgreSQL's autovacuum reuses the freed space; ``--vacuum`` also runs a plain
``VACUUM`` (which does not block writers). SQLite keeps freed pages for new rows; to give
them back to the file system:

* ``--vacuum`` rebuilds the file (``VACUUM``) and turns on incremental auto-vacuum. The
  rebuild takes the write lock for as long as it runs — seconds for a large ledger — so
  writers wait, and a writer waiting past its busy timeout drops that batch (logged, never
  raised). Run it when traffic is low.
* After that once, every prune hands the freed pages back in small steps
  (``PRAGMA incremental_vacuum``), each as short as a delete batch.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from . import _attributes as attributes
from . import _rollup as rollup
from ._report import _unix_nano, add_db_argument, parse_since
from ._schema import COLUMNS, LedgerError, resolve_target, rollback
from ._store import Store, StoreError, open_store

__all__ = ["prune", "PruneResult", "add_command", "BATCH"]

#: Rows per delete transaction.
BATCH = 5_000
#: Pages per incremental-vacuum step (SQLite).
_PAGES = 2_000


class PruneResult:
    def __init__(self, ledger: str, deleted: int, kept: int, vacuumed: bool) -> None:
        self.ledger, self.deleted, self.kept, self.vacuumed = ledger, deleted, kept, vacuumed


def prune(target: Path | str, before: datetime, *, vacuum: bool = False, batch: int = BATCH) -> PruneResult:
    """Delete every call that ended before ``before``; see the module docstring."""
    cutoff = _unix_nano(before)
    with open_store(target, write=True) as store:
        deleted = 0
        while True:
            count = _delete_batch(store, cutoff, batch)
            deleted += count
            if count < batch:
                break
        _give_back_space(store, vacuum)
        [(kept,)] = store.query("SELECT COUNT(*) FROM llm_calls")
    return PruneResult(store.name, deleted, int(kept), vacuum)


def _delete_batch(store: Store, cutoff: int, batch: int) -> int:
    """Delete up to ``batch`` of the oldest rows before ``cutoff`` and take them out of the
    rollups and the attribute index, in one transaction (they never disagree with the rows)."""
    sql = (f"DELETE FROM llm_calls WHERE id IN (SELECT id FROM llm_calls WHERE end_time_unix_nano < ? "
           f"ORDER BY end_time_unix_nano LIMIT ?) RETURNING {', '.join(COLUMNS)}")
    conn = store.conn
    if store.kind == "postgresql":
        with conn.transaction():
            rows = conn.execute(sql.replace("?", "%s"), (cutoff, batch)).fetchall()
            rollup.record(conn, "postgresql", rows, sign=-1)
            attributes.unindex(conn, "postgresql", rows)
        return len(rows)
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(sql, (cutoff, batch)).fetchall()
        rollup.record(conn, "sqlite", rows, sign=-1)
        attributes.unindex(conn, "sqlite", rows)
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return len(rows)


def _give_back_space(store: Store, vacuum: bool) -> None:
    conn = store.conn
    if store.kind == "postgresql":
        if vacuum:
            conn.execute("VACUUM (ANALYZE) llm_calls")
        return
    if vacuum:
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect with the VACUUM below
        conn.execute("VACUUM")
    elif conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # INCREMENTAL
        while conn.execute("PRAGMA freelist_count").fetchone()[0]:
            conn.execute(f"PRAGMA incremental_vacuum({_PAGES})").fetchall()  # it works as rows are read
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _cmd_prune(args: argparse.Namespace) -> int:
    try:
        result = prune(resolve_target(args.db), args.before, vacuum=args.vacuum)
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost ledger prune: {exc}", file=sys.stderr)
        return 1
    print(f"{result.ledger}: deleted {result.deleted:,} calls that ended before "
          f"{args.before:%Y-%m-%d %H:%M} UTC; {result.kept:,} kept"
          + ("; vacuumed" if result.vacuumed else ""))
    return 0


def _cmd_migrate(args: argparse.Namespace) -> int:
    import time

    from ._schema import CURRENT_VERSION, describe

    target = None
    try:
        target = resolve_target(args.db)
        started = time.perf_counter()
        open_store(target, write=True).close()
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost ledger migrate: {exc}", file=sys.stderr)
        return 1
    print(f"{describe(target)}: at schema version {CURRENT_VERSION} "
          f"({time.perf_counter() - started:.1f} s)")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    try:
        with open_store(resolve_target(args.db)) as store:
            if "llm_rollup" not in store.tables or "llm_call_attributes" not in store.tables:
                print(f"otel-llm-cost ledger verify: {store.name}: the ledger is at an older schema version "
                      "(run `otel-llm-cost ledger migrate`)", file=sys.stderr)
                return 1
            # A ledger not yet at schema 9 (a report never migrates) has day cells only.
            grains = [grain for grain in rollup.GRAINS if grain.table in store.tables]
            problems = rollup.verify(store.conn, store.kind, grains, keys="llm_key_totals" in store.tables)
            [(calls,)] = store.query("SELECT COUNT(*) FROM llm_calls")
    except (StoreError, LedgerError) as exc:
        print(f"otel-llm-cost ledger verify: {exc}", file=sys.stderr)
        return 1
    if problems:
        print(f"{store.name}: {len(problems)} rollup(s) differ from the rows:", file=sys.stderr)
        for line in problems[:50]:
            print(f"  {line}", file=sys.stderr)
        return 2
    print(f"{store.name}: the rollups equal the sums of the {calls:,} rows")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="maintain the ledger (prune old calls, migrate, verify)")
    actions = ledger.add_subparsers(dest="ledger_command", required=True)
    p = actions.add_parser("migrate", help="bring the ledger to the current schema now "
                                           "(else the first writer does it)")
    add_db_argument(p)
    p.set_defaults(func=_cmd_migrate)
    p = actions.add_parser("verify", help="recompute the per-day and per-hour rollups and the keys' totals from the "
                                          "rows; exit 2 on any difference")
    add_db_argument(p)
    p.set_defaults(func=_cmd_verify)
    p = actions.add_parser("prune", help="delete calls older than --before, safely while writers run")
    p.add_argument("--before", type=parse_since, required=True, metavar="WHEN",
                   help="delete calls that ended before 90d / 12w ago, or an ISO date (UTC)")
    add_db_argument(p)
    p.add_argument("--vacuum", action="store_true",
                   help="also give the space back: SQLite VACUUM (writers wait while it runs) and "
                        "incremental auto-vacuum from then on; PostgreSQL VACUUM")
    p.set_defaults(func=_cmd_prune)
