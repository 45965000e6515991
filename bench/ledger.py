"""The ledger report on a big ledger: build one, time ``otel-llm-cost report``, check totals.

    python -m bench.ledger build --rows 1000000 --days 30 --out /tmp/ledger-1m.db
    python -m bench.ledger time --db /tmp/ledger-1m.db [--before DIR] [--runs 3]
    python -m bench.ledger time --db postgresql://…   # a PostgreSQL ledger (see ``load-pg``)
    python -m bench.ledger load-pg --db /tmp/ledger-1m.db --url postgresql://…
    python -m bench.ledger writers --db postgresql://… --processes 8 --calls 5000
    python -m bench.ledger write-cost   # the exporter's CPU for 20,000 calls (what rollups cost)

``build`` writes a ledger as release 0.1 (schema v2, costs as decimal text only) left
it: that is the ledger users have today. Rows are spread evenly over ``--days`` days
ending now, over 2,000 users, sessions of about 10 calls, 5 services and 12 models;
2 % unpriced (unknown model), 3 % estimated, 1 % failed. Costs are exact catalog prices
(integers of pico-dollars rendered as decimal text), built once: reuse the file.

``writers`` starts that many processes writing one ledger at once, every span through two
exporters, and counts rows, duplicates and the report's exact total.

``time`` runs ``report --since <--since ago> --by model|provider|user|session|day`` (table to
/dev/null) as the user does, one fresh process per run, best of ``--runs`` (and the same
report in this process, to show its own work apart from Python's start-up); every ``--by``
total is checked against the exact ``Decimal`` sum of the window's rows, and ``ledger
verify`` (rollups recomputed from every row) is timed and must pass (``--no-verify``
skips it). A ledger of an older schema is migrated first (timed). With ``--before DIR`` (a
checkout of the old release, e.g. ``git worktree add /tmp/before main``) it first times
the old code on the v2 ledger, then lets the new code migrate it (timed: the one-time
cost of upgrading), then times the new code, and checks that both print the same groups
and totals (JSON) — and that those equal the exact ``Decimal`` sum of every row.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (model, provider, USD per 1M tokens: input, output, cache read), weight.
_MODELS = [
    (("gpt-4o", "openai", "2.50", "10.00", "1.25"), 20),
    (("gpt-4o-mini", "openai", "0.15", "0.60", "0.075"), 25),
    (("gpt-4.1", "openai", "2.00", "8.00", "0.50"), 8),
    (("gpt-4.1-mini", "openai", "0.40", "1.60", "0.10"), 8),
    (("o3", "openai", "2.00", "8.00", "0.50"), 4),
    (("o4-mini", "openai", "1.10", "4.40", "0.275"), 4),
    (("claude-sonnet-4-5", "anthropic", "3.00", "15.00", "0.30"), 12),
    (("claude-haiku-4-5", "anthropic", "1.00", "5.00", "0.10"), 6),
    (("claude-opus-4-1", "anthropic", "15.00", "75.00", "1.50"), 2),
    (("gemini-2.5-flash", "gcp.gemini", "0.30", "2.50", "0.03"), 5),
    (("gemini-1.5-flash", "gcp.gemini", "0.075", "0.30", "0.01875"), 4),
    (("my-finetune", "openai", None, None, None), 2),  # unknown model: unpriced
]
_SERVICES = ["web", "agent", "retrieval", "batch", "support-bot"]
_BYS = ("model", "provider", "user", "session", "day")


def _pico_per_token(rate: str) -> int:
    """USD per 1M tokens -> pico-dollars per token (exact: 5 decimals at most)."""
    value = Decimal(rate) * 10**6
    assert value == value.to_integral_value()
    return int(value)


def build(out: Path, rows: int, days: int, seed: int = 7) -> None:
    from otel_llm_cost.ledger._schema import _STEPS, SCHEMA_V1

    if out.exists():
        raise SystemExit(f"{out} exists; remove it or reuse it")
    rng = random.Random(seed)
    models = [m for m, _ in _MODELS]
    weights = [w for _, w in _MODELS]
    rates = {m[0]: tuple(_pico_per_token(r) for r in m[2:]) if m[2] else None for m in models}
    end = time.time_ns()
    start = end - days * 86_400 * 10**9
    step = (end - start) // rows
    conn = sqlite3.connect(out, isolation_level=None)
    # A bench file built once: no journal, no fsync, and a page cache big enough (up to
    # 2 GB) that the random inserts into the (trace_id, span_id) index stay in memory; the
    # ledger's own connections use WAL and synchronous=NORMAL.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{min(2_000_000, 200 + rows // 5)}")
    conn.execute("BEGIN")
    for statement in (SCHEMA_V1 + _STEPS[0]).split(";"):
        if statement.strip() and "CREATE INDEX" not in statement:
            conn.execute(statement)
    insert = ("INSERT INTO llm_calls (end_time, end_time_unix_nano, service, provider, model, response_model, "
              "catalog_model, operation, input_tokens, output_tokens, cache_read_tokens, reasoning_tokens, "
              "cost_usd, status, usage_source, error_type, session_id, user_id, trace_id, span_id) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, 'chat', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
    session, left, user = 0, 0, "u0"
    t0 = time.perf_counter()

    def rows_iter():
        nonlocal session, left, user
        for i in range(rows):
            if left == 0:  # a new session of 1..19 calls, one user, one main model
                session += 1
                left = rng.randint(1, 19)
                user = f"user-{rng.randrange(2000):04d}"
            left -= 1
            model, provider, *_ = rng.choices(models, weights)[0]
            ts = start + i * step + rng.randrange(step or 1)
            inp = rng.randint(50, 12_000)
            out_tokens = rng.randint(1, 1_500)
            cached = inp // 2 if rng.random() < 0.3 else 0
            reasoning = out_tokens // 3 if model in ("o3", "o4-mini") else 0
            roll = rng.random()
            failed = roll < 0.01
            estimated = 0.01 <= roll < 0.04
            rate = rates[model]
            if failed:
                inp = out_tokens = cached = reasoning = 0
                cost, status = None, "no_usage"
            elif rate is None:
                cost, status = None, "unknown_model"
            else:
                pico = (inp - cached) * rate[0] + out_tokens * rate[1] + cached * rate[2]
                cost, status = format(Decimal(pico).scaleb(-12).normalize(), "f"), "priced"
            seconds, nanos = divmod(ts, 10**9)
            iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"
            yield (iso, ts, rng.choice(_SERVICES), provider, model, model, None if rate is None else model,
                   inp, out_tokens, cached, reasoning, cost, status,
                   None if failed else ("estimated" if estimated else "reported"),
                   "RateLimitError" if failed else None, f"sess-{session:08d}", user,
                   f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(64):016x}")

    conn.executemany(insert, rows_iter())
    conn.execute("CREATE INDEX llm_calls_end_time ON llm_calls (end_time_unix_nano)")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    print(f"built {out}: {rows:,} calls over {days} days, {session:,} sessions "
          f"in {time.perf_counter() - t0:.1f} s ({out.stat().st_size / 1e6:.0f} MB)", file=sys.stderr)


#: The start of the report window, fixed once per run so every timed run and both
#: versions read exactly the same rows (what ``--since 7d`` meant when the bench started).
_SINCE = (datetime.now(UTC) - timedelta(days=7)).isoformat()


def _set_since(days: float) -> None:
    global _SINCE
    _SINCE = (datetime.now(UTC) - timedelta(days=days)).isoformat()


def _report_cmd(src: Path, db: str, by: str, fmt: str) -> list[str]:
    code = (f"import sys; sys.path.insert(0, {str(src)!r}); from otel_llm_cost.cli import main; "
            f"sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code, "report", "--db", db, "--since", _SINCE, "--by", by, "--format", fmt]


def _compiled(src: Path) -> None:
    """Give the package at ``src`` its bytecode (``__pycache__``, ignored by git), as pip
    does when it installs a wheel: a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would
    otherwise compile every module of ours from source on every start (about 15 ms of CPU a
    report on a quiet machine), which a user's install never does."""
    import compileall

    compileall.compile_dir(src / "otel_llm_cost", quiet=1)


def _time(src: Path, db: str, by: str, runs: int) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of ``runs`` fresh report processes,
    after one untimed run (bytecode compiled, the server's caches as a second report finds them).

    The CPU time is reported too because this machine is shared: when other work competes
    for the cores, wall time grows and CPU time much less.
    """
    _compiled(src)
    subprocess.run(_report_cmd(src, db, by, "table"), check=True, stdout=subprocess.DEVNULL)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(_report_cmd(src, db, by, "table"), check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best, best_cpu


def _json(src: Path, db: str, by: str) -> dict:
    out = subprocess.run(_report_cmd(src, db, by, "json"), check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    data.pop("ledger")
    return data


def _exact_total(db: str, since_ns: int) -> tuple[int, str]:
    """Every row's decimal text added as ``Decimal`` in Python: the reference total."""
    from otel_llm_cost.cost import format_usd

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    total, calls = Decimal(0), 0
    for (text,) in conn.execute("SELECT cost_usd FROM llm_calls WHERE end_time_unix_nano >= ?", (since_ns,)):
        calls += 1
        if text is not None:
            total += Decimal(text)
    return calls, format_usd(total)


def _exact_total_pg(url: str, since_ns: int) -> tuple[int, str]:
    """The window's rows summed by PostgreSQL itself (``SUM`` of ``NUMERIC`` is exact): the
    reference for a PostgreSQL ledger."""
    import psycopg

    from otel_llm_cost.cost import format_usd

    with psycopg.connect(url) as conn:
        conn.execute("SET statement_timeout = 0")
        calls, total = conn.execute("SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM llm_calls "
                                    "WHERE end_time_unix_nano >= %s", (since_ns,)).fetchone()
    return int(calls), format_usd(Decimal(total))


def _in_process(db: str, runs: int, result: dict) -> None:
    """The report's own work, without starting Python and importing: ``load_report`` and the
    table, best of ``runs`` in this process (CPU seconds)."""
    from otel_llm_cost.ledger._render import render
    from otel_llm_cost.ledger._report import DEFAULT_TOP_SESSIONS, load_report, parse_since

    since = parse_since(_SINCE)
    for by in _BYS:
        best = float("inf")
        for _ in range(runs):
            t0 = time.process_time()
            render(load_report(db, by, since, top=DEFAULT_TOP_SESSIONS if by == "session" else None), "table")
            best = min(best, time.process_time() - t0)
        result.setdefault("in_process_cpu_s", {})[by] = round(best, 3)
        print(f"in process --by {by:<8} cpu {best:.3f} s", file=sys.stderr)


def time_reports(db: str, before: Path | None, runs: int, verify: bool = True) -> dict:
    result: dict = {"db": db, "since": _SINCE, "runs": runs, "before_s": {}, "after_s": {}}
    is_file = not db.startswith("postgres")
    if before is not None:
        for by in _BYS:
            wall, cpu = _time(before, db, by, runs)
            result["before_s"][by], result.setdefault("before_cpu_s", {})[by] = round(wall, 3), round(cpu, 3)
            print(f"before  --by {by:<8} {wall:7.3f} s  (cpu {cpu:.3f} s)", file=sys.stderr)
        reference = {by: _json(before, db, by) for by in _BYS}
    if is_file:
        from otel_llm_cost.ledger._schema import connect

        t0 = time.perf_counter()
        connect(Path(db)).close()
        result["migrate_s"] = round(time.perf_counter() - t0, 3)
        print(f"migrate to the current schema: {result['migrate_s']:.3f} s", file=sys.stderr)
    for by in _BYS:
        load = os.getloadavg()[0]
        wall, cpu = _time(ROOT, db, by, runs)
        result["after_s"][by], result.setdefault("after_cpu_s", {})[by] = round(wall, 3), round(cpu, 3)
        result.setdefault("load_average", {})[by] = round(load, 1)
        print(f"after   --by {by:<8} {wall:7.3f} s  (cpu {cpu:.3f} s; load average {load:.1f})", file=sys.stderr)
    _in_process(db, runs, result)
    after = {by: _json(ROOT, db, by) for by in _BYS}
    if before is not None:
        # The time window moves between runs; compare what both saw of the same rows.
        for by in _BYS:
            same = after[by]["groups"] == reference[by]["groups"] and after[by]["total"] == reference[by]["total"]
            result.setdefault("identical_to_before", {})[by] = same
    # The report's total against every row's exact Decimal sum, over the same window.
    from otel_llm_cost.ledger._report import _unix_nano

    since_ns = _unix_nano(datetime.fromisoformat(_SINCE))
    calls, exact = _exact_total(db, since_ns) if is_file else _exact_total_pg(db, since_ns)
    total = after["model"]["total"]
    every = all(after[by]["total"]["cost_usd"] == exact and after[by]["total"]["calls"] == calls for by in _BYS)
    result["exact_check"] = {"calls": calls, "decimal_sum": exact, "report_total": total["cost_usd"],
                             "equal": every}
    print(f"total over {calls:,} calls: report {total['cost_usd']} / Decimal sum {exact} "
          f"(every --by equal: {every})", file=sys.stderr)
    if not verify:
        return result
    t0 = time.perf_counter()
    verified = subprocess.run([sys.executable, "-m", "otel_llm_cost.cli", "ledger", "verify", "--db", db],
                              capture_output=True, text=True, cwd=ROOT)
    import resource

    # The largest child waited for so far: run last, on a ledger this size verify is it.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["verify"] = {"ok": verified.returncode == 0, "seconds": round(time.perf_counter() - t0, 3),
                        "peak_rss_mb_of_any_child": round(peak_mb, 1)}
    print(f"ledger verify: exit {verified.returncode} in {result['verify']['seconds']:.1f} s "
          f"(largest child's peak RSS {peak_mb:,.0f} MB)", file=sys.stderr)
    return result


def load_pg(db: Path, url: str) -> None:
    """Copy a SQLite bench ledger into a PostgreSQL ledger (created and migrated as a writer would)."""
    from otel_llm_cost.ledger._pg import connect_pg
    from otel_llm_cost.ledger._schema import COLUMNS, connect

    connect(db).close()  # migrate: cost_pico filled
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn = connect_pg(url)
    conn.execute("SET statement_timeout = 0")  # one COPY of every row: past the writers' 30 s
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        with cur.copy(f"COPY llm_calls ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in src.execute(f"SELECT {', '.join(COLUMNS)} FROM llm_calls"):
                copy.write_row(row)
    from otel_llm_cost.ledger._rollup import GRAINS, rebuild

    with conn.transaction():  # COPY went past the writers: build the rollups from the rows
        conn.execute("SET LOCAL statement_timeout = 0")
        for grain in GRAINS:
            rebuild(conn, "postgresql", grain)
    conn.execute("ANALYZE llm_calls")
    for table in (*(grain.table for grain in GRAINS), "llm_key_totals"):
        # As autovacuum leaves a live ledger: the visibility map set, so that the report's
        # index-only scans (counting a window's keys) read no table pages.
        conn.execute(f"VACUUM (ANALYZE) {table}")
    print(f"copied into {url.split('@')[-1]} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def _writer(target: str, process: int, count: int, barrier) -> None:
    """One writer process of ``writers``: ``count`` priced calls, each span sent to the ledger
    by two exporters (two pipelines, or a retry), in small interleaved batches."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from otel_llm_cost import semconv as s
    from otel_llm_cost.ledger import LedgerSpanExporter

    provider = TracerProvider(resource=Resource.create({s.SERVICE_NAME: f"writer-{process}"}))
    for n in range(2):
        provider.add_span_processor(BatchSpanProcessor(
            LedgerSpanExporter(target), max_export_batch_size=25 + 7 * n, schedule_delay_millis=5))
    tracer = provider.get_tracer(s.SCOPE_NAME)
    barrier.wait()
    for index in range(count):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
            s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai", s.GEN_AI_REQUEST_MODEL: "gpt-4o",
            s.GEN_AI_USAGE_INPUT_TOKENS: index + 1, s.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
            s.LLM_COST_USD: str(_writer_cost(process, index)), s.LLM_COST_STATUS: s.STATUS_PRICED}):
            pass
        if index % 1000 == 999:
            provider.force_flush()  # keep within the SDK's export queue (else it drops spans)
    provider.shutdown()


def _writer_cost(process: int, index: int) -> Decimal:
    return Decimal(f"0.{process:02d}{index:07d}0000017")


def writers(target: str, processes: int, calls: int) -> dict:
    """``processes`` × ``calls`` through two exporters each; rows stored, duplicates, exact sum."""
    import multiprocessing

    from otel_llm_cost.cost import format_usd
    from otel_llm_cost.ledger._report import load_report

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    t0 = time.perf_counter()
    workers = [ctx.Process(target=_writer, args=(target, p, calls, barrier)) for p in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    if target.startswith("postgres"):
        import psycopg

        with psycopg.connect(target) as conn:
            rows, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT (trace_id, span_id)) FROM llm_calls").fetchone()
    else:
        with sqlite3.connect(target) as conn:
            rows, distinct = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT trace_id || span_id) FROM llm_calls").fetchone()
    expected = sum((_writer_cost(p, i) for p in range(processes) for i in range(calls)), Decimal(0))
    total = load_report(target).total.cost
    result = {"processes": processes, "calls_per_process": calls, "span_exports": 2 * processes * calls,
              "rows": rows, "duplicates": rows - distinct, "exit_codes": [w.exitcode for w in workers],
              "report_total": format_usd(total), "expected_total": format_usd(expected), "exact": total == expected,
              "seconds": round(elapsed, 1)}
    print(f"{processes} processes x {calls} calls, 2 exporters each: {rows:,} rows, {rows - distinct} duplicates, "
          f"total {format_usd(total)} (exact: {total == expected}), {elapsed:.1f} s", file=sys.stderr)
    return result


def write_cost(calls: int = 20_000, batch: int = 512, runs: int = 3) -> float:
    """CPU seconds (best of ``runs``) for the ledger exporter to write ``calls`` calls, in
    batches of ``batch``, into a new SQLite file: what the rollups cost the writers."""
    import tempfile

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_llm_cost import semconv as s
    from otel_llm_cost.ledger import LedgerSpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(s.SCOPE_NAME)
    for i in range(calls):
        with tracer.start_as_current_span("chat", attributes={
            s.GEN_AI_OPERATION_NAME: "chat", s.GEN_AI_PROVIDER_NAME: "openai",
            s.GEN_AI_REQUEST_MODEL: ["gpt-4o", "gpt-4o-mini", "o3"][i % 3], s.GEN_AI_USAGE_INPUT_TOKENS: 100 + i,
            s.GEN_AI_USAGE_OUTPUT_TOKENS: 10, s.LLM_COST_USD: f"0.000{i % 997:03d}25",
            s.LLM_COST_STATUS: s.STATUS_PRICED, s.SESSION_ID: f"sess-{i // 10}", s.USER_ID: f"user-{i % 200}"}):
            pass
    spans = list(memory.get_finished_spans())
    best = float("inf")
    for _ in range(runs):
        exporter = LedgerSpanExporter(Path(tempfile.mkdtemp()) / "ledger.db")
        exporter.export(spans[:1])  # created and migrated outside the timing
        t0 = time.process_time()
        for i in range(1, len(spans), batch):
            exporter.export(spans[i:i + batch])
        best = min(best, time.process_time() - t0)
        exporter.shutdown()
    print(f"{calls - 1:,} calls in batches of {batch}: {best:.3f} s CPU", file=sys.stderr)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("time")
    p.add_argument("--db", required=True)
    p.add_argument("--before", type=Path, help="a checkout of the old release, to time it first")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--since-days", type=float, default=7, help="the report window, in days before now")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip `ledger verify` (every rollup recomputed from every row: minutes at 10M calls)")
    p = sub.add_parser("writers", help="many processes writing one (new) ledger at once")
    p.add_argument("--db", required=True, help="a new SQLite path or an empty PostgreSQL database")
    p.add_argument("--processes", type=int, default=8)
    p.add_argument("--calls", type=int, default=5000)
    p = sub.add_parser("write-cost", help="the exporter's CPU for 20,000 calls into a new SQLite ledger")
    p = sub.add_parser("load-pg")
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        build(args.out, args.rows, args.days)
    elif args.cmd == "time":
        _set_since(args.since_days)
        result = time_reports(args.db, args.before, args.runs, args.verify)
        text = json.dumps(result, indent=2)
        print(text)
        if args.json:
            args.json.write_text(text + "\n")
    elif args.cmd == "write-cost":
        print(json.dumps({"cpu_s": round(write_cost(), 3)}))
    elif args.cmd == "writers":
        print(json.dumps(writers(args.db, args.processes, args.calls), indent=2))
    else:
        load_pg(args.db, args.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
