"""What a declared hard budget adds to a call: the check-and-hold before it is sent, and
the settle when it ends, against a ledger on the same host.

    python -m bench.budgets --url postgresql://user@127.0.0.1:5432/db [--rows 20000] [--calls 3000] [--tz UTC]
                            [--scope user|tenant]
    python -m bench.budgets --sqlite /tmp/budget-bench.db

``--scope tenant`` benchmarks a tenant's budget instead (``tenant:*``: the user's calls are
those of the tenant ``bench-tenant``, the other users' of other tenants), read from the
rollup dim ``attr:tenant`` and the ledger's attribute index.

The ledger gets ``--rows`` calls of the benchmarked user spread over the last 30 days
(and as many of other users), with the per-day rollups the exporter keeps; then
``--calls`` times: the observer's ``before_call`` (the user's monthly hard budget in
``--tz``: lock, read the spend — whole UTC days from the rollups, the edge days from the
rows — and the holds, insert a hold) is timed, then its ``on_call_end`` (settle the hold
to the exact cost), then the call's row is written as the exporter writes it (row and
rollups in one transaction). Prints p50 / p99 / max in milliseconds of each, the rows
the check reads at the period's edges, and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanContext

import otel_llm_cost
from otel_llm_cost import budgets, semconv
from otel_llm_cost.budgets._enforce import Enforcer
from otel_llm_cost.budgets._periods import parse_period, to_unix_nano
from otel_llm_cost.cost import Cost
from otel_llm_cost.ledger import _attributes, _holds, _rollup
from otel_llm_cost.ledger._money import to_pico
from otel_llm_cost.ledger._schema import COLUMNS
from otel_llm_cost.record import CallRecord
from otel_llm_cost.usage import Usage

_INSERT = f"INSERT INTO llm_calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
COST = Decimal("0.0035")


def _execute(conn: Any, pg: bool, rows: list[tuple]) -> None:
    """Rows and their rollups in one transaction, as the exporter writes them, deleting the
    holds the rows replace."""
    if pg:
        with conn.cursor() as cur:
            cur.executemany(_INSERT.replace("?", "%s"), rows)
    else:
        conn.executemany(_INSERT, rows)
    _rollup.record(conn, "postgresql" if pg else "sqlite", rows)
    _attributes.index(conn, "postgresql" if pg else "sqlite", rows)
    _holds.release(conn, "postgresql" if pg else "sqlite", rows)
    conn.commit()


def _row(user: str, when_ns: int, trace_id: str | None = None, span_id: str | None = None) -> tuple:
    stamp = datetime.fromtimestamp(when_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    values: dict[str, Any] = dict.fromkeys(COLUMNS)
    values.update({
        "end_time": stamp, "end_time_unix_nano": when_ns, "service": "bench", "provider": "openai",
        "model": "gpt-4o", "response_model": "gpt-4o", "operation": "chat", "input_tokens": 1000,
        "output_tokens": 100, "cache_read_tokens": 0, "cache_write_tokens": 0, "cache_write_1h_tokens": 0,
        "reasoning_tokens": 0, "cost_usd": str(COST), "cost_pico": to_pico(COST), "status": "priced",
        "usage_source": "reported", "user_id": user, "trace_id": trace_id or uuid.uuid4().hex,
        "span_id": span_id or uuid.uuid4().hex[:16],
        "attributes": _attributes.encode({"tenant": _tenant(user)}, ("tenant",))})
    return tuple(values[c] for c in COLUMNS)


def _tenant(user: str) -> str:
    return "bench-tenant" if user == "bench-user" else f"tenant-of-{user}"


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
    parser.add_argument("--tz", default="UTC", help="the budget's time zone (a month with edges inside UTC days)")
    parser.add_argument("--scope", choices=("user", "tenant"), default="user",
                        help="whose monthly budget: each user's, or each tenant's (an attribute)")
    args = parser.parse_args()
    target: Any = args.url or args.sqlite
    pg = args.url is not None
    os.environ.setdefault(semconv.ENV_LEDGER_ATTRIBUTES, "tenant")  # as the exporter would keep it
    budgets.set_budgets(f"{args.scope}:* 1000000 per month hard tz={args.tz}", ledger=target,
                        default_reservation_usd="0.01")
    enforcer = budgets._enforcer
    assert isinstance(enforcer, Enforcer)
    session = {"user_id": "bench-user", "attributes": {"tenant": _tenant("bench-user")}}
    with otel_llm_cost.session(**session):
        enforcer.before_call()  # creates / migrates the ledger and the holds table
        enforcer.on_call_start(None)
    if pg:
        import psycopg

        conn: Any = psycopg.connect(args.url)
    else:
        import sqlite3

        conn = sqlite3.connect(args.sqlite)
    now = datetime.now(UTC)
    lo, hi = to_unix_nano(now - timedelta(days=30)), to_unix_nano(now)
    rng = random.Random(7)
    for user in ("bench-user", *(f"other-{i}" for i in range(20))):
        count = args.rows if user == "bench-user" else args.rows // 20
        _execute(conn, pg, [_row(user, rng.randrange(lo, hi)) for _ in range(count)])
    # The rows the check reads (``_ledger.spend_sql``): those of the partial UTC days at the
    # period's edges — none for a UTC month, whose whole days (today's too) are rollups.
    start, end = parse_period("month", args.tz).bounds(now)
    day = 86_400_000_000_000
    start_ns, end_ns = to_unix_nano(start), to_unix_nano(end)
    edges = (start_ns, -(-start_ns // day) * day, end_ns // day * day, end_ns)
    [(edge_rows,)] = conn.execute(
        "SELECT COUNT(*) FROM llm_calls WHERE user_id = 'bench-user' AND ((end_time_unix_nano >= {} AND "
        "end_time_unix_nano < {}) OR (end_time_unix_nano >= {} AND end_time_unix_nano < {}))".format(*edges)
    ).fetchall()
    [(in_month,)] = conn.execute(
        f"SELECT COUNT(*) FROM llm_calls WHERE user_id = 'bench-user' AND end_time_unix_nano >= {start_ns}"
    ).fetchall()
    holds, settles = [], []
    cost = Cost(semconv.STATUS_PRICED, COST)
    with otel_llm_cost.session(**session):
        for i in range(args.calls):
            t0 = time.perf_counter()
            attrs = enforcer.before_call()
            t1 = time.perf_counter()
            enforcer.on_call_start(None)
            assert attrs is not None
            trace_id, span_id = rng.getrandbits(128), rng.getrandbits(64)
            record = CallRecord({**attrs, semconv.USER_ID: "bench-user", "tenant": _tenant("bench-user"),
                                 semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"},
                                Usage(1000, 100), cost, 0.0, SpanContext(trace_id, span_id, False))
            t2 = time.perf_counter()
            enforcer.on_call_end(record)
            t3 = time.perf_counter()
            row = _row("bench-user", time.time_ns(), format(trace_id, "032x"), format(span_id, "016x"))
            _execute(conn, pg, [row])  # the exporter's row
            if i >= 50:  # warm-up excluded
                holds.append(t1 - t0)
                settles.append(t3 - t2)
    print(f"ledger: {'postgresql' if pg else 'sqlite'}, {args.scope} budget, {args.rows} rows of the user "
          "over 30 days, "
          f"{in_month} of them in the {args.tz} month, {edge_rows} in its edge days (read as rows) before the run; "
          f"{args.calls} calls")
    print(f"load average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print(f"check + hold (before_call): {_percentiles(holds)}")
    print(f"settle (on_call_end):       {_percentiles(settles)}")
    print(f"both:                       {_percentiles([a + b for a, b in zip(holds, settles, strict=True)])}")
    # The floor on this machine: one round trip to the same server (a check or a settle is
    # one on PostgreSQL: the server-side function ``llm_budget_hold``).
    floor = []
    for _ in range(len(holds)):
        t0 = time.perf_counter()
        conn.execute("SELECT 1").fetchall()
        floor.append(time.perf_counter() - t0)
    print(f"one round trip (SELECT 1):  {_percentiles(floor)}")
    # Holds the next check would read: the exporter deletes a call's holds with its row.
    [(holds_left,)] = conn.execute("SELECT COUNT(*) FROM llm_budget_holds").fetchall()
    print(f"holds left in llm_budget_holds: {holds_left}")
    budgets.clear_budgets()


if __name__ == "__main__":
    main()
