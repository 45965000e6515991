"""``python -m bench.instructions``: CPU instructions per call, counted by callgrind — steady under load.

On a machine shared with other work every clock measures the neighbours too;
an instruction count does not. For each workload one process (under
``valgrind --tool=callgrind``) makes ``--calls`` calls three ways, after a warm-up:
bare, with ours instrumented, and with the ``sdk-floor`` (our span and our metric
points through the plain SDK, no code of ours, ``bench/_floor.py``). Each timed loop
runs inside a C function used nowhere else (``sys.call_tracing``, ``functools.reduce``,
``operator.call``) that callgrind is told to collect in (``--toggle-collect``), so
imports, warm-up and start-up are not counted and each loop's count is that
function's inclusive cost. Background threads (the batch span processor) are not
counted: the figure is the caller's path.

Instructions are not time (a cache miss costs more than an add), but they compare
before/after of our own code to within a fraction of a percent, where a loaded
2-core machine gives ±30 % on wall or CPU time.

    python -m bench.instructions [--calls 200] [--only chat embeddings] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Loop driver (C function callgrind collects in) per mode.
_TOGGLES = {"bare": "sys_call_tracing", "ours": "functools_reduce", "floor": "_operator_call"}


def _child(workload: str, calls: int, peer: str | None = None) -> None:
    """The process callgrind watches: warm up, then the counted loops — bare, ours and
    the floor; or, in a peer's venv, bare and the peer (counted where ours is)."""
    import functools
    import operator

    from bench._setup import Rig

    rig = Rig(workload)

    def loop(*_: Any) -> None:
        for _i in range(calls):
            rig.call()

    rig.warm()
    sys.call_tracing(loop, ())
    with rig.peer(peer) if peer else rig.ours():
        loop()
        functools.reduce(lambda acc, _i: rig.call(), range(calls), None)
    if not peer:
        with rig.floor():
            loop()
            operator.call(loop)
    os._exit(0)  # skip the exporters' shutdown (nothing to count there)


def _inclusive(out_file: str) -> dict[str, int]:
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out_file],
                          capture_output=True, text=True, check=True).stdout
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s.*?:(\w+)\s", line + " ")
        if m and m.group(2) in _TOGGLES.values():
            found.setdefault(m.group(2), int(m.group(1).replace(",", "")))
    return found


def _callgrind(workload: str, calls: int, peer: str | None = None) -> dict[str, Any]:
    """Instructions per call of each counted loop (``_TOGGLES``), or ``{"error": …}``."""
    python = sys.executable
    toggles = dict(_TOGGLES)
    if peer:
        from bench._venvs import ensure_venv

        found = ensure_venv(peer, log=lambda m: print(m, file=sys.stderr))
        if found is None:
            return {"error": f"no venv for {peer}"}
        python = str(found)
        del toggles["floor"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
               *(f"--toggle-collect={f}" for f in toggles.values()),
               python, "-W", "ignore", "-m", "bench.instructions", "--child", workload, "--calls", str(calls),
               *(["--peer", peer] if peer else [])]
        env = {**os.environ, "PYTHONHASHSEED": "0",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode != 0:
            return {"error": proc.stderr[-2000:]}
        inc = _inclusive(out)
    if len(inc) != len(toggles):
        return {"error": f"callgrind_annotate found {inc} only"}
    return {mode: inc.get(fn, 0) / calls for mode, fn in toggles.items()}


def count(workload: str, calls: int, peers: Sequence[str] = ()) -> dict[str, Any]:
    """Ours and the floor, and each peer that instruments this workload, in instructions
    added per call over the same process's bare call."""
    per = _callgrind(workload, calls)
    if "error" in per:
        return per
    ours, floor = per["ours"] - per["bare"], per["floor"] - per["bare"]
    result: dict[str, Any] = {
        "calls": calls, "bare": round(per["bare"]), "ours_added": round(ours), "floor_added": round(floor),
        "ours_minus_floor": round(ours - floor),
        "ours_minus_floor_share_of_floor": round((ours - floor) / floor, 3) if floor else None}
    for peer in peers:
        if peer == "openai-v2" and workload == "anthropic_messages":
            continue  # it instruments OpenAI only
        got = _callgrind(workload, calls, peer)
        if "error" in got:
            result.setdefault("peer_errors", {})[peer] = got["error"][-500:]
            continue
        result.setdefault("peers", {})[peer] = {"bare": round(got["bare"]), "added": round(got["ours"] - got["bare"])}
    if result.get("peers"):
        best = min(result["peers"], key=lambda name: result["peers"][name]["added"])
        result["leanest_peer"] = best
        result["ours_over_leanest"] = round(ours / result["peers"][best]["added"], 3)
        result["floor_over_leanest"] = round(floor / result["peers"][best]["added"], 3)
    return result


def main(argv: list[str] | None = None) -> int:
    from bench.workloads import WORKLOADS

    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--only", nargs="*", choices=sorted(WORKLOADS))
    parser.add_argument("--peers", nargs="*", metavar="PEER",
                        help="also count these peers, each in its own venv (default with no names: "
                             "openai-v2 contrib-genai)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.calls, args.peer)
        return 0
    peers = (args.peers or ["openai-v2", "contrib-genai"]) if args.peers is not None else []
    results = {}
    print(f"{'workload':20} {'bare':>12} {'ours added':>12} {'floor added':>12} {'ours-floor':>11} {'share':>7}"
          "  (instructions per call)", flush=True)
    for name in args.only or WORKLOADS:
        r = results[name] = count(name, args.calls, peers)
        if "error" in r:
            print(f"{name:20} ERROR {r['error'][-500:]}", flush=True)
            continue
        print(f"{name:20} {r['bare']:12,} {r['ours_added']:+12,} {r['floor_added']:+12,} "
              f"{r['ours_minus_floor']:+11,} {r['ours_minus_floor_share_of_floor']:7.2f}", flush=True)
        for peer, got in r.get("peers", {}).items():
            print(f"  {peer:18} {got['bare']:12,} {got['added']:+12,}", flush=True)
        for peer, error in r.get("peer_errors", {}).items():
            print(f"  {peer:18} ERROR {error}", flush=True)
        if "leanest_peer" in r:
            print(f"  ours ÷ {r['leanest_peer']}: ×{r['ours_over_leanest']:.2f}; "
                  f"floor ÷ {r['leanest_peer']}: ×{r['floor_over_leanest']:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
