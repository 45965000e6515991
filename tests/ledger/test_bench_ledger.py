"""``python -m bench.ledger`` runs end to end on a small ledger and its totals check out
(the 1M/10M figures come from the same code, run by hand; never a timing assertion)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from otel_llm_cost.ledger import CURRENT_VERSION

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.ledger", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_build_then_time_migrates_and_matches_the_decimal_sum(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    _bench("build", "--rows", "3000", "--days", "30", "--out", str(db))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # as release 0.1 left it
    assert conn.execute("SELECT COUNT(*), COUNT(cost_usd) FROM llm_calls").fetchone()[0] == 3000
    conn.close()
    result = json.loads(_bench("time", "--db", str(db), "--runs", "1").stdout)
    assert set(result["after_s"]) == {"model", "provider", "user", "session", "day"}
    assert result["verify"]["ok"]
    check = result["exact_check"]
    assert check["equal"] and 0 < check["calls"] < 3000  # the last 7 of 30 days
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION
