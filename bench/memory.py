"""Memory over many sessions: does the session roll-up stay bounded?

    python -m bench memory [--sessions 1000000]

Each iteration opens a *new* session (``end=False``: it stays live after the block,
the worst case — nobody calls ``end_session``), ends one priced LLM span inside it
through an SDK ``TracerProvider`` carrying the ``SessionSpanProcessor``, and moves
on. The store must stay bounded by its live-session cap (default 100 000, least
recently active evicted), so memory should rise until the cap is reached and then
stay flat. Reported at every tenth of the run: RSS (``/proc/self/status``), and the
live Python heap blocks (``sys.getallocatedblocks``, free to read) and, when asked
(``--tracemalloc``, which slows every allocation ~3× and inflates RSS with its own
bookkeeping), the bytes traced by ``tracemalloc`` (current and peak).
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
from typing import Any

__all__ = ["run"]


def _rss_kib() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def run(sessions_total: int = 1_000_000, checkpoints: int = 10, trace_python: bool = False,
        cap: int | None = None) -> dict[str, Any]:
    """``cap`` lowers the live-session cap (default: the library's), for quick runs."""
    from opentelemetry.sdk.trace import TracerProvider

    from otel_llm_cost import semconv, sessions
    from otel_llm_cost.sessions._store import STORE

    if cap is not None:
        sessions.set_limits(max_sessions=cap)

    provider = TracerProvider()
    provider.add_span_processor(sessions.SessionSpanProcessor())
    tracer = provider.get_tracer(semconv.SCOPE_NAME)
    attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_PROVIDER_NAME: "openai",
             semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
             semconv.GEN_AI_USAGE_INPUT_TOKENS: 28, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
             semconv.LLM_COST_STATUS: "priced", semconv.LLM_COST_USD: "0.0000162",
             semconv.LLM_COST_MODEL: "gpt-4o-mini", semconv.LLM_COST_USAGE_SOURCE: "reported"}
    cap = STORE.max_sessions
    every = max(1, sessions_total // checkpoints)
    gc.collect()
    if trace_python:
        tracemalloc.start()
    base_rss = _rss_kib().get("VmRSS", 0)
    rows = []
    start = time.perf_counter()
    for i in range(1, sessions_total + 1):
        with sessions.session(f"session-{i}", user_id=f"user-{i % 1000}", end=False):
            tracer.start_span("chat gpt-4o-mini", attributes=attrs).end()
        if i % every == 0:
            row: dict[str, Any] = {"sessions": i, "live_sessions": len(STORE.sessions)
                                   if hasattr(STORE, "sessions") else None}
            rss = _rss_kib()
            row["rss_mib"] = round(rss.get("VmRSS", 0) / 1024, 1)
            row["rss_growth_mib"] = round((rss.get("VmRSS", 0) - base_rss) / 1024, 1)
            row["heap_blocks_k"] = round(sys.getallocatedblocks() / 1000, 1)
            if trace_python:
                current, peak = tracemalloc.get_traced_memory()
                row["traced_current_mib"] = round(current / 2**20, 1)
                row["traced_peak_mib"] = round(peak / 2**20, 1)
            rows.append(row)
    elapsed = time.perf_counter() - start
    if trace_python:
        tracemalloc.stop()
    provider.shutdown()
    after_cap = [r for r in rows if r["sessions"] >= 2 * cap] or rows[-1:]
    key = "traced_current_mib" if trace_python else "heap_blocks_k"
    steady = [r[key] for r in after_cap]
    return {
        "sessions": sessions_total,
        "tracemalloc": trace_python,
        "live_session_cap": cap,
        "seconds": round(elapsed, 1),
        "us_per_session": round(elapsed / sessions_total * 1e6, 2),
        "checkpoints": rows,
        "peak_rss_mib": round(_rss_kib().get("VmHWM", 0) / 1024, 1),
        "steady_state": {
            "measure": key,
            "from_sessions": after_cap[0]["sessions"],
            "min": min(steady),
            "max": max(steady),
            "flat": max(steady) - min(steady) <= max(1.0, 0.05 * max(steady)),
        },
    }
