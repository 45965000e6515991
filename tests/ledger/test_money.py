"""Pico-dollar sums: the premise (catalog costs are whole pico-dollars), the conversion,
and the report's database sums against the all-Decimal reference."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_llm_cost.cost import format_usd, price_usage
from otel_llm_cost.ledger import CURRENT_VERSION, LedgerSpanExporter
from otel_llm_cost.ledger._money import MAX_PICO, SPLIT, from_parts, to_pico
from otel_llm_cost.ledger._report import load_report
from otel_llm_cost.pricing import bundled_snapshot, get_catalog
from otel_llm_cost.usage import Usage

from ._spans import llm_span, provider_with


def test_every_catalog_rate_makes_whole_pico_dollar_costs() -> None:
    """USD per 1M tokens × 10⁶ pUSD/USD ÷ 10⁶ tokens: a whole number of pUSD per token."""
    # Our list and the bundled LiteLLM snapshot (the bottom layer that ships with the package).
    snapshot = bundled_snapshot()
    assert snapshot is not None
    entries = [*get_catalog().entries().values(), *snapshot.entries().values()]
    assert len(entries) > 850
    for entry in entries:
        rate_sets = [entry.rates, *(r for _, r in entry.tiers), *entry.service_tiers.values()]
        for rates in rate_sets:
            for f in fields(rates):
                rate = getattr(rates, f.name)
                if rate is None:  # an audio / image rate left out: the text rate, checked above
                    continue
                pico_per_token = rate.scaleb(12 - 6)  # USD/1M tokens -> pUSD/token
                assert pico_per_token == pico_per_token.to_integral_value(), (entry.key, f.name)
        for charge, per_thousand in entry.per_1k_calls.items():
            pico_per_call = per_thousand.scaleb(12 - 3)  # USD/1,000 calls -> pUSD/call
            assert pico_per_call == pico_per_call.to_integral_value(), (entry.key, charge)


@given(model=st.sampled_from(sorted(get_catalog().entries())),
       inp=st.integers(0, 2_000_000), out=st.integers(0, 200_000), read=st.integers(0, 1_000_000))
@settings(max_examples=200, deadline=None)
def test_a_priced_call_is_always_a_whole_pico_dollar_amount(model: str, inp: int, out: int, read: int) -> None:
    cost = price_usage(model, Usage(input_tokens=inp + read, output_tokens=out, cache_read_tokens=read))
    if cost.usd is not None:
        pico = to_pico(cost.usd)
        assert pico is not None and Decimal(pico).scaleb(-12) == cost.usd


@pytest.mark.parametrize("text, pico", [
    ("0.01275", 12_750_000_000), ("0", 0), ("0.000000000001", 1), ("1E-12", 1), ("12", 12 * 10**12),
    ("0.0000000000001", None),        # finer than a pico-dollar: summed as a Decimal instead
    ("0.0000000000010", 1),           # trailing zeros are not finer
    ("-0.5", None), ("NaN", None), ("Infinity", None),
    ("9223372.036854775807", MAX_PICO), ("9223372.036854775808", None),  # past a 64-bit integer
])
def test_to_pico(text: str, pico: int | None) -> None:
    assert to_pico(Decimal(text)) == pico
    assert to_pico(None) is None


@given(st.lists(st.integers(0, MAX_PICO), max_size=50))
def test_the_split_sum_is_the_sum(picos: list[int]) -> None:
    hi, lo = sum(p // SPLIT for p in picos), sum(p % SPLIT for p in picos)
    assert from_parts(hi, lo) == sum((Decimal(p).scaleb(-12) for p in picos), Decimal(0))


_COSTS = st.one_of(
    st.none(),
    st.decimals(min_value=0, max_value=1000, places=11, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=1, places=16, allow_nan=False, allow_infinity=False),
)


@given(calls=st.lists(st.tuples(_COSTS, st.sampled_from(["a", "b", "c"]), st.integers(0, 72)),
                      min_size=1, max_size=25))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_database_sums_equal_decimal_sums(tmp_path_factory, calls) -> None:
    path = tmp_path_factory.mktemp("money") / "ledger.db"
    provider = provider_with(LedgerSpanExporter(path))
    tracer = provider.get_tracer("otel_llm_cost")
    for cost, user, hour in calls:
        llm_span(tracer, model="m-" + user, cost=None if cost is None else format_usd(cost), inp=1, out=1,
                 user=user, end_ns=1_741_600_800_000_000_000 + hour * 3_600_000_000_000)
    provider.shutdown()
    for by in ("model", "user", "day"):
        fast, exact = load_report(path, by), load_report(path, by, exact=True)
        assert [(g.key, g.cost, g.calls, g.unpriced) for g in fast.groups] == [
            (g.key, g.cost, g.calls, g.unpriced) for g in exact.groups]
        assert fast.timeline == exact.timeline
    total = sum((c for c, _, _ in calls if c is not None), Decimal(0))
    assert fast.total.cost == total
    assert fast.total.unpriced == sum(c is None for c, _, _ in calls)


def test_a_v2_ledger_is_read_exactly_before_and_after_migration(tmp_path: Path) -> None:
    """An old ledger (no cost_pico) is summed as decimals; once migrated, by the database."""
    from otel_llm_cost.cli import main
    from otel_llm_cost.ledger._schema import _STEPS, SCHEMA_V1

    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1 + _STEPS[0])
    conn.execute("PRAGMA user_version = 2")
    conn.executemany("INSERT INTO llm_calls (end_time, end_time_unix_nano, model, cost_usd, trace_id, span_id) "
                     "VALUES ('2025-01-01T00:00:00.000000Z', 1735689600000000000, 'm', ?, 't', ?)",
                     [("0.1", "1"), ("0.0000000000001", "2"), (None, "3"), ("0.2", "4")])
    conn.commit()
    conn.close()
    before = load_report(path)
    assert main(["ledger", "migrate", "--db", str(path)]) == 0
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == CURRENT_VERSION
    after = load_report(path)
    assert before.total.cost == after.total.cost == Decimal("0.3000000000001")
    assert before.total.unpriced == after.total.unpriced == 1
    picos = [r[0] for r in sqlite3.connect(path).execute("SELECT cost_pico FROM llm_calls ORDER BY id")]
    assert picos == [100_000_000_000, None, None, 200_000_000_000]
