"""What a declared hard budget adds to a call: the check-and-hold before it is sent, and
the settle when it ends, against a ledger on the same host.

    python -m bench.budgets --url postgresql://user@127.0.0.1:5432/db [--rows 20000] [--calls 3000]
    python -m bench.budgets --sqlite /tmp/budget-bench.db

The ledger gets ``--rows`` calls of the benchmarked user spread over the current month
(and as many of other users), then ``--calls`` times: the observer's ``before_call``
(the user's monthly hard budget: lock, read the spend and the holds, insert a hold) is
timed, then its ``on_call_end`` (settle the hold to the exact cost), then the call's row
is written as the exporter would. Prints p50 / p99 / max in milliseconds of each.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanContext

import otel_llm_cost
from otel_llm_cost import budgets, semconv
from otel_llm_cost.budgets._enforce import Enforcer
from otel_llm_cost.cost import Cost
from otel_llm_cost.ledger._money import to_pico
from otel_llm_cost.record import CallRecord
from otel_llm_cost.usage import Usage

_INSERT = ("INSERT INTO llm_calls (end_time, end_time_unix_nano, model, user_id, cost_usd, cost_pico, status, "
           "trace_id, span_id) VALUES (?, ?, ?, ?, ?, ?, 'priced', ?, ?)")
COST = Decimal("0.0035")


def _execute(conn: Any, pg: bool, sql: str, rows: list[tuple]) -> None:
    if pg:
        with conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)
        conn.commit()
    else:
        conn.executemany(sql, rows)
        conn.commit()


def _row(user: str, when_ns: int) -> tuple:
    stamp = datetime.fromtimestamp(when_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (stamp, when_ns, "gpt-4o", user, str(COST), to_pico(COST), uuid.uuid4().hex, uuid.uuid4().hex[:16])


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms  "
            f"max {ordered[-1] * 1e3:.3f} ms  (n={len(ordered)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url")
    where.add_argument("--sqlite", type=Path)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=3_000)
    args = parser.parse_args()
    target: Any = args.url or args.sqlite
    pg = args.url is not None
    budgets.set_budgets("user:* 1000000 per month hard", ledger=target, default_reservation_usd="0.01")
    enforcer = budgets._enforcer
    assert isinstance(enforcer, Enforcer)
    with otel_llm_cost.session(user_id="bench-user"):
        enforcer.before_call()  # creates / migrates the ledger and the holds table
        enforcer.on_call_start(None)
    if pg:
        import psycopg

        conn: Any = psycopg.connect(args.url)
    else:
        import sqlite3

        conn = sqlite3.connect(args.sqlite)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    lo, hi = int(month_start.timestamp() * 1e9), int(now.timestamp() * 1e9)
    rng = random.Random(7)
    for user in ("bench-user", *(f"other-{i}" for i in range(20))):
        count = args.rows if user == "bench-user" else args.rows // 20
        _execute(conn, pg, _INSERT, [_row(user, rng.randrange(lo, hi)) for _ in range(count)])
    holds, settles = [], []
    cost = Cost(semconv.STATUS_PRICED, COST)
    with otel_llm_cost.session(user_id="bench-user"):
        for i in range(args.calls):
            t0 = time.perf_counter()
            attrs = enforcer.before_call()
            t1 = time.perf_counter()
            enforcer.on_call_start(None)
            assert attrs is not None
            trace_id, span_id = rng.getrandbits(128), rng.getrandbits(64)
            record = CallRecord({**attrs, semconv.USER_ID: "bench-user", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"},
                                Usage(1000, 100), cost, 0.0, SpanContext(trace_id, span_id, False))
            t2 = time.perf_counter()
            enforcer.on_call_end(record)
            t3 = time.perf_counter()
            row = list(_row("bench-user", time.time_ns()))
            row[6], row[7] = format(trace_id, "032x"), format(span_id, "016x")
            _execute(conn, pg, _INSERT, [tuple(row)])  # the exporter's row
            if i >= 50:  # warm-up excluded
                holds.append(t1 - t0)
                settles.append(t3 - t2)
    print(f"ledger: {'postgresql' if pg else 'sqlite'}, {args.rows} rows of the user this month, "
          f"{args.calls} calls")
    print(f"check + hold (before_call): {_percentiles(holds)}")
    print(f"settle (on_call_end):       {_percentiles(settles)}")
    print(f"both:                       {_percentiles([a + b for a, b in zip(holds, settles, strict=True)])}")
    # The floor on this machine: one round trip to the same server (a hold is five:
    # BEGIN, lock, read, insert, COMMIT).
    floor = []
    for _ in range(len(holds)):
        t0 = time.perf_counter()
        conn.execute("SELECT 1").fetchall()
        floor.append(time.perf_counter() - t0)
    print(f"one round trip (SELECT 1):  {_percentiles(floor)}")
    budgets.clear_budgets()


if __name__ == "__main__":
    main()
