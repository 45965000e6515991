"""A live session's per-model table is bounded: the model name comes from the response,
and a proxy or a bug that sends a new one on every call must not grow a long-lived
session without limit. Past the bound, calls share one ``other`` row; totals stay exact."""

from __future__ import annotations

import tracemalloc

import otel_llm_cost
from otel_llm_cost.sessions._store import MAX_MODELS_PER_SESSION, OTHER_MODELS, STORE


def test_distinct_model_names_fold_into_other(otel):
    n = 500
    with otel_llm_cost.session("many-models") as s:
        for i in range(n):
            otel.call(model=f"gpt-4o-{i:05d}")
    summary = s.summary()
    assert summary.calls == n
    assert len(summary.by_model) == MAX_MODELS_PER_SESSION + 1
    other = summary.by_model[OTHER_MODELS]
    assert other.calls == n - MAX_MODELS_PER_SESSION
    assert sum(m.calls for m in summary.by_model.values()) == n
    assert sum(m.usage.input_tokens for m in summary.by_model.values()) == summary.usage.input_tokens == n * 1000


def test_80000_model_names_keep_a_session_small():
    tally = STORE.open("memory", None)[0]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(80_000):
            STORE.add(tally.chain, None, None, f"model-{i}", False, "unknown_model")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert tally.calls == 80_000 and len(tally.by_model) == MAX_MODELS_PER_SESSION + 1
    assert grown < 1_000_000  # was about 40 MB: a row per name
