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

from ._report import _unix_nano, add_db_argument, parse_since
from ._schema import LedgerError, resolve_target
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
            count = store.execute(
                "DELETE FROM llm_calls WHERE id IN (SELECT id FROM llm_calls "
                "WHERE end_time_unix_nano < ? ORDER BY end_time_unix_nano LIMIT ?)", (cutoff, batch))
            deleted += count
            if count < batch:
                break
        _give_back_space(store, vacuum)
        [(kept,)] = store.query("SELECT COUNT(*) FROM llm_calls")
    return PruneResult(store.name, deleted, int(kept), vacuum)


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


def add_command(sub: argparse._SubParsersAction) -> None:
    ledger = sub.add_parser("ledger", help="maintain the ledger (prune old calls, migrate)")
    actions = ledger.add_subparsers(dest="ledger_command", required=True)
    p = actions.add_parser("migrate", help="bring the ledger to the current schema now "
                                           "(else the first writer does it)")
    add_db_argument(p)
    p.set_defaults(func=_cmd_migrate)
    p = actions.add_parser("prune", help="delete calls older than --before, safely while writers run")
    p.add_argument("--before", type=parse_since, required=True, metavar="WHEN",
                   help="delete calls that ended before 90d / 12w ago, or an ISO date (UTC)")
    add_db_argument(p)
    p.add_argument("--vacuum", action="store_true",
                   help="also give the space back: SQLite VACUUM (writers wait while it runs) and "
                        "incremental auto-vacuum from then on; PostgreSQL VACUUM")
    p.set_defaults(func=_cmd_prune)
