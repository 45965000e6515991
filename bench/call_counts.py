"""``python -m bench.call_counts``: function calls per LLM call, counted by cProfile — exact under any load.

For each workload, one process makes ``--calls`` calls bare, with ours instrumented
(inside a session, as in the timed bench) and with the ``sdk-floor`` (our span and our
metric points through the plain SDK, ``bench/_floor.py``), each with telemetry of its
own, after a warm-up, under ``cProfile``. It prints the Python and C function calls
each adds per call, split by where the called function lives (our package, the
OpenTelemetry API/SDK, the rest), and the functions of ours called most per call.
Counts, not times: a profiler's clock is meaningless on a loaded machine, the number
of calls is not (a call count per call over N calls can still include whatever the
loop happens to trigger once, so compare rows with the same ``--calls``).

    python -m bench.call_counts [--calls 200] [--only chat embeddings] [--top 15] [--json PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def _where(filename: str) -> str:
    if "otel_llm_cost" in filename:
        return "ours"
    if "opentelemetry" in filename:
        return "otel"
    return "other"


def _counts(fn: Any, calls: int) -> tuple[Counter[str], Counter[str]]:
    """(calls per place, calls per function of ours) over ``calls`` runs of ``fn``."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    stats: Any = pstats.Stats(profiler).stats
    by_place: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    for (filename, line, name), (_cc, ncalls, _tt, _ct, _callers) in stats.items():
        place = _where(filename) if filename != "~" else "other"
        if filename == "~":  # a C function: attributed to its caller's place below
            continue
        by_place[place] += ncalls
        if place == "ours":
            ours[f"{filename.split('otel_llm_cost/')[-1]}:{line}({name})"] += ncalls
    # C functions (dict.get, isinstance …) counted by the place of the Python code calling them.
    for (filename, _line, name), (_cc, _ncalls, _tt, _ct, callers) in stats.items():
        if filename != "~":
            continue
        for (caller_file, _cl, _cn), caller_stats in callers.items():
            place = _where(caller_file)
            by_place[place] += caller_stats[1]
            if place == "ours":
                ours[name] += caller_stats[1]
    return by_place, ours


def measure(workload: str, calls: int) -> dict[str, Any]:
    from bench._setup import Rig

    rig = Rig(workload)
    rig.warm()
    bare, _ = _counts(rig.call, calls)
    with rig.ours():
        rig.warm()
        ours, ours_functions = _counts(rig.call, calls)
    with rig.floor():
        rig.warm()
        floor, _ = _counts(rig.call, calls)

    def per_call(counter: Counter[str]) -> dict[str, float]:
        return {k: round(v / calls, 1) for k, v in sorted(counter.items())}

    total = {name: sum(c.values()) / calls for name, c in (("bare", bare), ("ours", ours), ("floor", floor))}
    return {
        "calls": calls,
        "bare": round(total["bare"], 1),
        "ours_added": round(total["ours"] - total["bare"], 1),
        "floor_added": round(total["floor"] - total["bare"], 1),
        "ours_by_place": per_call(ours - bare),
        "floor_by_place": per_call(floor - bare),
        "ours_functions": {k: round(v / calls, 1) for k, v in ours_functions.most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    from bench.workloads import WORKLOADS

    parser = argparse.ArgumentParser(prog="python -m bench.call_counts", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS))
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    results = {}
    for name in args.only or WORKLOADS:
        r = results[name] = measure(name, args.calls)
        print(f"{name}: function calls per call: bare {r['bare']:,}, ours {r['ours_added']:+,} "
              f"(ours {r['ours_by_place'].get('ours', 0)}, OTel {r['ours_by_place'].get('otel', 0)}, "
              f"other {r['ours_by_place'].get('other', 0)}), sdk-floor {r['floor_added']:+,} "
              f"(OTel {r['floor_by_place'].get('otel', 0)}, other {r['floor_by_place'].get('other', 0)})",
              flush=True)
        for function, n in list(r["ours_functions"].items())[:args.top]:
            print(f"    {n:7.1f}  {function}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip the exporters' shutdown: they point at a closed port and would retry for minutes.
    os._exit(0)


if __name__ == "__main__":
    main()
