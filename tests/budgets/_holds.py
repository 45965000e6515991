"""What ``llm_budget_holds`` holds, read straight from the ledger (SQLite file or PostgreSQL URL)."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg


def hold_ids(target: Any) -> set[str]:
    """The ids of every hold in the ledger at ``target``."""
    if isinstance(target, str):
        with psycopg.connect(target) as conn:
            return {r[0] for r in conn.execute("SELECT id FROM llm_budget_holds").fetchall()}
    with sqlite3.connect(target) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM llm_budget_holds").fetchall()}
