"""Start-up and first-call cost of the price data, each figure in a fresh process.

    python -m bench.first_call

``import otel_llm_cost`` (must stay under 150 ms, genai-prices is not imported with it);
building the catalog, which ``instrument()`` does at start-up (genai-prices imported
here, and the bundled LiteLLM snapshot read); then the first priced call of a model in
our list, of one only genai-prices has and of one only the snapshot has (each must stay
under 5 ms), and a later call of that last one.
"""

from __future__ import annotations

import subprocess
import sys

_PROBE = r"""
import time
t0 = time.perf_counter()
import otel_llm_cost
t1 = time.perf_counter()
from otel_llm_cost.cost import price_usage
from otel_llm_cost.pricing import get_catalog
from otel_llm_cost.usage import Usage
get_catalog()
t2 = time.perf_counter()
price_usage("gpt-4o", Usage(1000, 100), provider="openai")
t3 = time.perf_counter()
price_usage("llama-3.3-70b-versatile", Usage(1000, 100), provider="groq")
t4 = time.perf_counter()
cost = price_usage("accounts/fireworks/models/yi-large", Usage(1000, 100), provider="fireworks")
t5 = time.perf_counter()
assert cost.catalog.endswith("(bundled snapshot)"), cost.catalog
price_usage("accounts/fireworks/models/yi-large", Usage(1000, 100), provider="fireworks")
t6 = time.perf_counter()
print(f"{(t1 - t0) * 1e3:.1f} {(t2 - t1) * 1e3:.1f} {(t3 - t2) * 1e3:.3f} {(t4 - t3) * 1e3:.3f} "
      f"{(t5 - t4) * 1e3:.3f} {(t6 - t5) * 1e3:.3f}")
"""


def main(runs: int = 5) -> int:
    rows = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
        rows.append([float(x) for x in out.stdout.split()])
    names = ("import otel_llm_cost", "build catalog (at instrument())", "first call, our list",
             "first call, genai-prices", "first call, bundled snapshot", "later call, bundled snapshot")
    print(f"{runs} fresh processes, median (min–max), ms")
    for i, name in enumerate(names):
        values = sorted(r[i] for r in rows)
        print(f"  {name:34} {values[len(values) // 2]:8.3f}  ({values[0]:.3f}–{values[-1]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
