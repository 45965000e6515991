"""Statements run straight on a test's ledger, SQLite file or PostgreSQL URL alike: to take a
ledger back to an older schema, or to tamper with it, behind the package's back."""

from __future__ import annotations

import sqlite3

import psycopg


def execute(target: str, *statements: str) -> None:
    """Run ``statements`` in order on the ledger at ``target`` and commit them."""
    if target.startswith("postgresql://"):
        with psycopg.connect(target, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)
        return
    conn = sqlite3.connect(target)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()
